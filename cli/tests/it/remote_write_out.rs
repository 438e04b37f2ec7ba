//! `mon serve --remote-write` into a real VictoriaMetrics: what mon stores
//! arrives there, and an outage of VictoriaMetrics (stopped, samples pushed
//! meanwhile, started again on the same port and data dir) loses nothing
//! and duplicates nothing, checked through VictoriaMetrics' own export API.

use std::path::Path;
use std::time::Duration;

use server::interop::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};

use crate::peers::{Peer, http, installed, start};
use crate::process::{eventually, free_port};
use crate::remote_write::serve;

/// VictoriaMetrics on `port` with its data in `dir`.
fn victoria(program: &str, port: u16, dir: &Path, log: &Path) -> Peer {
    let peer = start(
        "victoria-metrics",
        program,
        &[
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.display()),
            // Samples searchable at once rather than 30 s later.
            "-search.latencyOffset=0s".into(),
        ],
        log,
    );
    let addr = format!("127.0.0.1:{port}");
    let up = eventually(Duration::from_secs(20), || {
        std::net::TcpStream::connect(&addr).is_ok()
            && http(&addr, "GET", "/health", &[], b"").0 == 200
    });
    assert!(
        up,
        "victoria-metrics answers; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    peer
}

/// Stops VictoriaMetrics the way an operator would (SIGTERM), so what it
/// took is on disk when it comes back.
fn stop(mut peer: Peer) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &peer.child.id().to_string()])
        .status();
    let _ = peer.child.wait();
}

/// Every `(timestamp, value)` VictoriaMetrics holds for `vm_check`.
fn exported(vm: &str) -> Vec<(i64, f64)> {
    let _ = http(vm, "GET", "/internal/force_flush", &[], b"");
    let (status, _, body) = http(vm, "GET", "/api/v1/export?match%5B%5D=vm_check", &[], b"");
    assert_eq!(status, 200, "{body}");
    let mut out = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["metric"]["host"], "vmtest", "{v}");
        assert_eq!(v["metric"]["instance"], "vmtest:1", "{v}");
        let times = v["timestamps"].as_array().unwrap();
        let values = v["values"].as_array().unwrap();
        for (t, x) in times.iter().zip(values) {
            out.push((t.as_i64().unwrap(), x.as_f64().unwrap()));
        }
    }
    out.sort_by_key(|p| p.0);
    out
}

fn push(mon_http: &str, from: i64, n: i64) {
    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "vm_check".into(),
                },
                Label {
                    name: "instance".into(),
                    value: "vmtest:1".into(),
                },
            ],
            samples: (0..n)
                .map(|i| Sample {
                    value: (from + i) as f64,
                    timestamp: server::time::now_ms() - 120_000 + (from + i) * 1_000,
                })
                .collect(),
            histograms: Vec::new(),
        }],
    };
    let (status, _, body) = http(
        mon_http,
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
        ],
        &encode(&request),
    );
    assert_eq!(status, 204, "{body}");
}

#[test]
fn victoria_metrics_gets_every_sample_once_across_its_own_outage() {
    let Some(program) = installed("victoria-metrics", "victoria-metrics") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vm_port = free_port();
    let vm = format!("127.0.0.1:{vm_port}");
    let vm_data = dir.path().join("vm-data");
    let vm_log = dir.path().join("vm.log");
    let victoria_1 = victoria(&program, vm_port, &vm_data, &vm_log);

    let remote_write = format!("http://{vm}/api/v1/write");
    let (mut serve, mon_http) = serve(
        &dir.path().join("mon"),
        &["--remote-write", remote_write.as_str()],
    );

    // Ten samples, forwarded as they are stored.
    push(&mon_http, 0, 10);
    let arrived = eventually(Duration::from_secs(20), || exported(&vm).len() >= 10);
    assert!(
        arrived,
        "10 samples in VictoriaMetrics: {:?}; mon: {}",
        exported(&vm),
        serve.stderr_text()
    );

    // VictoriaMetrics goes away; mon keeps storing and says so.
    stop(victoria_1);
    push(&mon_http, 10, 10);
    let dest = format!("destination=\"http://{vm}/api/v1/write\"");
    let down = eventually(Duration::from_secs(20), || {
        let (_, _, metrics) = http(&mon_http, "GET", "/metrics", &[], b"");
        metrics.contains(&format!("mon_remote_write_up{{{dest}}} 0"))
    });
    assert!(down, "mon_remote_write_up says 0 while it is away");
    let (_, _, metrics) = http(&mon_http, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains(&format!("mon_remote_write_pending_samples{{{dest}}} 10")),
        "the 10 waiting samples are counted:\n{metrics}"
    );

    // Back on the same port and data dir: the backlog arrives, once.
    let _victoria_2 = victoria(&program, vm_port, &vm_data, &vm_log);
    let caught_up = eventually(Duration::from_secs(40), || exported(&vm).len() >= 20);
    let got = exported(&vm);
    assert!(caught_up, "20 samples after the outage: {got:?}");
    let values: Vec<f64> = got.iter().map(|p| p.1).collect();
    let want: Vec<f64> = (0..20).map(f64::from).collect();
    assert_eq!(values, want, "every sample once, none twice");
    let stderr = serve.stderr_text();
    assert!(
        stderr.contains("remote-write destination is down")
            && stderr.contains("remote-write destination is back"),
        "{stderr}"
    );
    let (_, _, metrics) = http(&mon_http, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains(&format!("mon_remote_write_samples_sent_total{{{dest}}} 20")),
        "{metrics}"
    );

    serve.signal("TERM");
    assert_eq!(serve.wait(Duration::from_secs(15)).code(), Some(0));
}
