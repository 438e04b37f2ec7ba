//! Criterion benchmarks of the functions on the ingest and delivery hot
//! paths: validating a report, encoding raw samples, rolling up a minute,
//! and serializing and fanning in a WebSocket event.
//!
//! Run: `cargo bench -p server --bench hot`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use server::aggregator::{Limits, SeriesIndex, check_report};
use server::event::encode_metrics;
use server::fanout::Hub;
use server::model::AcceptedReport;
use server::proto::{Label, Report, Sample};
use server::store::{Bucket, decode_chunk, encode_chunk};

/// A report shaped like a real agent's on a 2-core host with a few disks
/// and interfaces: 40 samples, a third of them labelled.
fn agent_report(ts: i64) -> Report {
    let mut samples = Vec::new();
    let plain = [
        "cpu_usage_percent",
        "load1",
        "load5",
        "load15",
        "memory_total_bytes",
        "memory_used_bytes",
        "memory_available_bytes",
        "memory_used_percent",
        "swap_total_bytes",
        "swap_used_bytes",
        "uptime_seconds",
        "processes",
    ];
    for (i, name) in plain.iter().enumerate() {
        samples.push(Sample {
            name: (*name).into(),
            labels: vec![],
            value: 10.0 + i as f64,
        });
    }
    let label = |k: &str, v: &str| Label {
        name: k.into(),
        value: v.into(),
    };
    for core in 0..8 {
        samples.push(Sample {
            name: "cpu_core_usage_percent".into(),
            labels: vec![label("core", &core.to_string())],
            value: 20.0,
        });
    }
    for mount in ["/", "/home", "/var", "/boot"] {
        for name in [
            "filesystem_size_bytes",
            "filesystem_used_bytes",
            "filesystem_used_percent",
        ] {
            samples.push(Sample {
                name: name.into(),
                labels: vec![label("mount", mount), label("fstype", "ext4")],
                value: 42.0,
            });
        }
    }
    for iface in ["eth0", "eth1"] {
        for name in [
            "network_receive_bytes_per_second",
            "network_transmit_bytes_per_second",
        ] {
            samples.push(Sample {
                name: name.into(),
                labels: vec![label("iface", iface)],
                value: 1000.0,
            });
        }
    }
    for dev in ["vda", "vdb"] {
        for name in [
            "disk_read_bytes_per_second",
            "disk_written_bytes_per_second",
        ] {
            samples.push(Sample {
                name: name.into(),
                labels: vec![label("device", dev)],
                value: 500.0,
            });
        }
    }
    Report {
        host: "Web-1".into(),
        seq: 1,
        timestamp_ms: ts,
        samples,
        ..Report::default()
    }
}

fn accepted(report: &Report) -> AcceptedReport {
    check_report(
        report.clone(),
        &Limits::default(),
        report.timestamp_ms,
        &SeriesIndex::default(),
    )
    .accepted
}

fn validation(c: &mut Criterion) {
    let report = agent_report(1_800_000_000_000);
    let index = SeriesIndex::default();
    let limits = Limits::default();
    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(report.samples.len() as u64));
    g.bench_function("agent_report_40_samples", |b| {
        b.iter(|| check_report(report.clone(), &limits, report.timestamp_ms, &index))
    });
    g.finish();
}

fn raw_encoding(c: &mut Criterion) {
    // Half an hour of a 5 s series: a chunk as compaction writes it.
    let samples: Vec<(i64, f64)> = (0..360)
        .map(|i| {
            (
                1_800_000_000_000 + i * 5000,
                40.0 + ((i as f64) * 0.1).sin() * 5.0,
            )
        })
        .collect();
    let chunk = encode_chunk(&samples);
    let mut g = c.benchmark_group("raw_chunk");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("encode_360", |b| b.iter(|| encode_chunk(&samples)));
    g.bench_function("decode_360", |b| b.iter(|| decode_chunk(&chunk).unwrap()));
    g.finish();
}

fn rollup_minute(c: &mut Criterion) {
    // One minute of a 1 s series.
    let samples: Vec<(i64, f64)> = (0..60).map(|i| (i * 1000, i as f64 * 1.5)).collect();
    let mut g = c.benchmark_group("rollup");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("minute_of_60", |b| {
        b.iter(|| {
            let mut bucket = Bucket::of(0, samples[0].1);
            for (_, v) in &samples[1..] {
                bucket.push(*v);
            }
            bucket
        })
    });
    g.finish();
}

fn websocket_event(c: &mut Criterion) {
    let report = accepted(&agent_report(1_800_000_000_000));
    let payload = encode_metrics(&report);
    let hub = Hub::new("gateway", 1024);
    let mut g = c.benchmark_group("event");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode_metrics_40_values", |b| {
        b.iter(|| encode_metrics(&report))
    });
    g.bench_function("hub_ingest_40_values", |b| {
        b.iter(|| hub.ingest(payload.clone()).unwrap())
    });
    g.finish();
}

criterion_group!(
    benches,
    validation,
    raw_encoding,
    rollup_minute,
    websocket_event
);
criterion_main!(benches);
