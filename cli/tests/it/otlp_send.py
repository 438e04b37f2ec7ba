"""Sends OTLP/HTTP metrics to mon with the OpenTelemetry Python SDK.

Usage: otlp_send.py ENDPOINT TOKEN. Exports an observable gauge, a counter
(monotonic sum), an up-down counter and a histogram for host otel-host-1,
then prints one line per export result.
"""

import sys

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

endpoint, token = sys.argv[1], sys.argv[2]
exporter = OTLPMetricExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {token}"})
reader = InMemoryMetricReader()
provider = MeterProvider(
    resource=Resource.create({"host.name": "otel-host-1", "service.name": "shop"}),
    metric_readers=[reader],
)
meter = provider.get_meter("mon-interop-test")
meter.create_observable_gauge(
    "room.temperature",
    callbacks=[lambda _options: [Observation(21.5, {"room": "lab"})]],
    unit="Cel",
)
orders = meter.create_counter("orders")
queue = meter.create_up_down_counter("queue.depth")
latency = meter.create_histogram("request.latency")

orders.add(3, {"shop.region": "eu"})
queue.add(5)
queue.add(-2)
latency.record(0.2)
print("first", exporter.export(reader.get_metrics_data()).name, flush=True)
orders.add(4, {"shop.region": "eu"})
print("second", exporter.export(reader.get_metrics_data()).name, flush=True)
provider.shutdown()
