#!/usr/bin/env bash
# The VictoriaMetrics side of `mon bench ingest`'s TSBS comparison: the same
# shape (4,000 hosts x 10 cpu fields with the TSBS host tags, values in
# 0..100) as Influx line protocol, posted by 4 curl processes at once to a
# fresh `victoria-metrics` on loopback, timed from the first byte sent until
# VictoriaMetrics has flushed (/internal/force_flush).
#
#   server/benches/victoria_metrics.sh [HOSTS] [ROUNDS]   (default 4000 30)
#
# Needs /usr/bin/victoria-metrics (Debian package victoria-metrics), curl
# and python3. Prints samples/s. VictoriaMetrics acknowledges a write once
# it is buffered in memory (it flushes about every second); `mon` acks after
# fsync, so this comparison favours VictoriaMetrics.
set -euo pipefail
hosts=${1:-4000}
rounds=${2:-30}
vm=${VICTORIA_METRICS:-/usr/bin/victoria-metrics}
[ -x "$vm" ] || { echo "skipped: $vm not installed (apt-get install victoria-metrics)"; exit 0; }
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$vm" -storageDataPath "$work/data" -httpListenAddr "127.0.0.1:$port" -loggerLevel ERROR >"$work/vm.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

python3 - "$hosts" "$rounds" "$work" <<'PY'
import random, sys, time
hosts, rounds, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
fields = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
          "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
regions = ["us-east-1", "eu-west-1", "ap-northeast-1"]
start = int(time.time() * 1000) - rounds * 5000
outs = [open(f"{work}/part{i}.txt", "w") for i in range(4)]
for h in range(hosts):
    r = regions[h % 3]
    tags = (f"cpu,hostname=host-{h},region={r},datacenter={r}a,rack={h % 100},os=Ubuntu16.10,"
            f"arch=x86,team=SF,service={h % 20},service_version={h % 2},service_environment=production")
    out = outs[h % 4]
    for k in range(rounds):
        vals = ",".join(f"{f}={random.random() * 100:.2f}" for f in fields)
        out.write(f"{tags} {vals} {(start + k * 5000) * 1000000}\n")
for o in outs:
    o.close()
PY
samples=$((hosts * rounds * 10))
t0=$(date +%s.%N)
posters=()
for i in 0 1 2 3; do
    curl -sf --data-binary "@$work/part$i.txt" "http://127.0.0.1:$port/write" &
    posters+=($!)
done
wait "${posters[@]}"
curl -sf "http://127.0.0.1:$port/internal/force_flush" >/dev/null
t1=$(date +%s.%N)
stored=$(curl -sf "http://127.0.0.1:$port/api/v1/series/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0])')
python3 -c "s=$samples; t=$t1-$t0; print(f'victoria-metrics: {s} samples in {t:.2f}s = {s/t:,.0f} samples/s ({$stored} series)')"
