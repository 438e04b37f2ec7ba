//! Short smoke runs of every `mon bench` mode against real processes: the
//! long runs that fill BENCHMARKS.md stay out of the test suite.

use std::time::Duration;

use crate::process::{Running, eventually, mon};

/// `mon serve --no-agent` on free ports, with no report rate limit (a
/// simulated host sends far faster than a real one); returns it with its
/// gRPC and WebSocket URLs.
fn serve(dir: &std::path::Path) -> (Running, String, String) {
    let mut cmd = mon();
    cmd.args([
        "serve",
        "--no-agent",
        "--max-reports-per-second",
        "0",
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(dir);
    let serve = Running::spawn(cmd);
    assert!(eventually(Duration::from_secs(10), || serve
        .stdout_text()
        .contains("ws://")));
    let out = serve.stdout_text();
    let grpc = out
        .split_whitespace()
        .find(|w| w.starts_with("http://") && !w.ends_with('/'))
        .unwrap()
        .to_owned();
    let ws = out
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap()
        .to_owned();
    (serve, grpc, ws)
}

fn field<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

/// The number in `text` between `before` and `after`.
fn between(text: &str, before: &str, after: &str) -> u64 {
    let rest = &text[text
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} in {text}"))
        + before.len()..];
    rest[..rest
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in {rest}"))]
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn bench_ingest_reports_accepted_samples_and_ack_latency() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, grpc, _) = serve(dir.path());
    let out = mon()
        .args([
            "bench",
            "ingest",
            "--target",
            &grpc,
            "--hosts",
            "20",
            "--series",
            "10",
            "--duration",
            "2s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let accepted: u64 = field(&text, "samples accepted ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(accepted > 0, "{text}");
    assert_eq!(field(&text, "samples rejected "), "0");
    assert!(
        field(&text, "ack latency ").contains("p99")
            && !field(&text, "ack latency ").contains("p50 -"),
        "{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("samples/s"),
        "progress is printed while it runs"
    );
}

#[test]
fn bench_deliver_measures_latency_at_websocket_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, grpc, ws) = serve(dir.path());
    let out = mon()
        .args([
            "bench",
            "deliver",
            "--ingest",
            &grpc,
            "--ws",
            &ws,
            "--hosts",
            "20",
            "--clients",
            "3",
            "--interval",
            "500ms",
            "--duration",
            "2s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let frames: u64 = field(&text, "metrics frames delivered ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(frames >= 3 * 20, "every client got frames: {text}");
    assert!(
        !field(&text, "delivery latency ").contains("p50 -"),
        "{text}"
    );
}

#[test]
fn bench_agent_measures_a_real_agent_process() {
    let out = mon()
        .args(["bench", "agent", "--interval", "200ms", "--duration", "1s"])
        .args(["--processes-interval", "30s,1s"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // One run per cadence, each named, then the wire sizes of a report.
    let mut runs: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(runs.len(), 3, "{text}");
    let wire = runs.pop().unwrap();
    assert!(
        wire.starts_with("wire, one report of this host ("),
        "{text}"
    );
    // The later reports on a stream are ids and values, well under the
    // plain form.
    let plain = between(wire, "tables aside): ", " bytes plain");
    let steady = between(wire, "on a stream, then ", " (");
    assert!(steady * 2 < plain, "{text}");
    assert!(
        runs[0].starts_with("process and cgroup tables every 30s"),
        "{text}"
    );
    assert!(
        runs[1].starts_with("process and cgroup tables every 1s"),
        "{text}"
    );
    for run in runs {
        assert!(
            field(run, "agent CPU ").ends_with("% of one core"),
            "{text}"
        );
        // Five reports in the second; each ack waits for a sync of the
        // aggregator's WAL, slow on a loaded machine.
        let acked: u64 = field(run, "reports acknowledged ").parse().unwrap();
        assert!(acked >= 1, "{text}");
    }
}

#[test]
fn bench_refuses_nonsense_and_unreachable_targets() {
    let out = mon()
        .args(["bench", "ingest", "--hosts", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = mon()
        .args(["bench", "ingest", "--duration", "0s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("out of range; a duration of at least 1ms is accepted")
    );
    let port = crate::process::free_port();
    let out = mon()
        .args([
            "bench",
            "ingest",
            "--target",
            &format!("http://127.0.0.1:{port}"),
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the aggregator"));
    // An agent executable that is not there is named.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("mon-agent-only");
    let out = mon()
        .args(["bench", "agent", "--duration", "1s", "--agent-exe"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot start {}", missing.display())),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_stops_a_bench_cleanly_with_a_partial_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, grpc, ws) = serve(dir.path());
    let runs: [Vec<&str>; 2] = [
        vec![
            "bench",
            "ingest",
            "--target",
            &grpc,
            "--hosts",
            "10",
            "--duration",
            "60s",
        ],
        vec![
            "bench",
            "deliver",
            "--ingest",
            &grpc,
            "--ws",
            &ws,
            "--hosts",
            "10",
            "--clients",
            "2",
            "--interval",
            "200ms",
            "--duration",
            "60s",
        ],
    ];
    for args in runs {
        let mut cmd = mon();
        cmd.args(&args);
        let mut bench = Running::spawn(cmd);
        // Wait until it is under way (ingest prints progress; deliver has connected its clients).
        std::thread::sleep(Duration::from_secs(2));
        bench.signal("INT");
        let status = bench.wait(Duration::from_secs(15));
        assert_eq!(status.code(), Some(0), "{args:?}: {}", bench.stderr_text());
        let out = bench.stdout_text();
        assert!(
            out.starts_with("interrupted: partial results"),
            "{args:?}: {out}"
        );
    }
}
