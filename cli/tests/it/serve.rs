//! `mon serve`, `mon aggregator` and `mon agent` as processes.

use std::time::Duration;

use std::path::Path;

use crate::process::{Running, eventually, free_port, mon, sqlite, stop_agent, try_sqlite};

/// Raw samples of `host`'s `cpu_usage_percent` in the last hour, as
/// `mon query --json` prints them (0 while the store does not exist yet).
pub fn cpu_samples(data_dir: &Path, host: &str) -> u64 {
    let out = mon()
        .args([
            "query",
            "--host",
            host,
            "--metric",
            "cpu_usage_percent",
            "--since",
            "1h",
            "--json",
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .unwrap();
    if !out.status.success() {
        return 0;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["tier"], "raw", "{json}");
    json["points"].as_array().unwrap().len() as u64
}

#[test]
fn serve_stores_this_machines_metrics_within_two_intervals_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = mon();
    cmd.args([
        "serve",
        "--interval",
        "1s",
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(dir.path());
    let mut serve = Running::spawn(cmd);
    let db = dir.path().join("mon.db");
    // A series row is written in the transaction of its first sample, so a
    // series listed here has samples stored.
    let categories = "SELECT count(DISTINCT CASE
            WHEN name LIKE 'cpu_%' THEN 'cpu'
            WHEN name LIKE 'memory_%' THEN 'memory'
            WHEN name LIKE 'filesystem_%' THEN 'filesystem'
            WHEN name LIKE 'network_%' THEN 'network' END)
        FROM series";
    // The network rates need two readings, two intervals; the rest is
    // start-up and synced writes, slow on a loaded machine.
    let found = eventually(Duration::from_secs(20), || {
        db.exists() && try_sqlite(&db, categories).is_ok_and(|n| n == "4")
    });
    let host = sqlite(&db, "SELECT host FROM hosts");
    assert!(
        cpu_samples(dir.path(), &host) >= 1,
        "mon query shows the stored CPU samples"
    );
    assert!(
        found,
        "cpu, memory, filesystem and network rows in {}; stderr:\n{}",
        db.display(),
        serve.stderr_text()
    );
    assert!(
        serve.stdout_text().contains("gRPC ingest"),
        "serve prints where it listens"
    );
    assert!(
        serve.stdout_text().contains(&db.display().to_string()),
        "serve prints where the data lives"
    );

    // The dashboard's server answers, and /metrics has this host's series and
    // the store's own counters.
    let dashboard = serve
        .stdout_text()
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with('/'))
        .expect("serve prints the dashboard URL")
        .to_owned();
    let (status, page) = crate::process::http_get(&dashboard);
    assert_eq!(status, 200);
    assert!(page.contains("<html"), "{page}");
    let (status, metrics) = crate::process::http_get(&format!("{dashboard}metrics"));
    assert_eq!(status, 200);
    assert!(metrics.contains("cpu_usage_percent{host="), "{metrics}");
    // File systems as df counts them, with both of its remaining-space figures.
    for name in ["filesystem_free_bytes", "filesystem_available_bytes"] {
        assert!(
            metrics.contains(&format!("# TYPE {name} gauge\n{name}{{")),
            "{metrics}"
        );
    }
    assert!(
        metrics.contains("mon_store_rollup_lag_seconds"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mon_aggregator_samples_stored_total"),
        "{metrics}"
    );

    serve.signal("TERM");
    let status = serve.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", serve.stderr_text());
    // The final checkpoint folded the WAL back into the database file.
    let wal = dir.path().join("mon.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[test]
fn an_aggregator_killed_with_sigkill_loses_no_report_and_duplicates_none() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let aggregator = |dir: &std::path::Path| {
        let mut cmd = mon();
        cmd.args(["aggregator", "--listen", &listen, "--data-dir"])
            .arg(dir);
        Running::spawn(cmd)
    };
    let stored = || cpu_samples(dir.path(), "kill-test");

    let mut first = aggregator(dir.path());
    let mut agent_cmd = mon();
    agent_cmd.args([
        "--log-format",
        "json",
        "agent",
        "--interval",
        "200ms",
        "--host",
        "kill-test",
        "--aggregator",
        &format!("http://{listen}"),
    ]);
    let mut agent = Running::spawn(agent_cmd);
    assert!(
        eventually(Duration::from_secs(10), || stored() >= 3),
        "agent → aggregator works"
    );

    first.signal("KILL");
    first.wait(Duration::from_secs(5));
    let at_kill = stored();
    std::thread::sleep(Duration::from_millis(1500));
    let mut second = aggregator(dir.path());
    assert!(
        eventually(Duration::from_secs(15), || stored() >= at_kill + 8),
        "the agent replayed its spool; stderr:\n{}",
        agent.stderr_text()
    );

    let produced = stop_agent(&mut agent);
    second.signal("TERM");
    assert_eq!(second.wait(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(
        stored(),
        produced,
        "every report produced is stored exactly once"
    );
    let logs = agent.stderr_text();
    assert!(
        logs.contains("disconnected from aggregator") && logs.contains("reconnected to aggregator"),
        "{logs}"
    );
}

#[test]
fn an_agent_killed_with_sigkill_replays_its_spool_on_the_next_start() {
    let store = tempfile::tempdir().unwrap();
    let agent_dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let agent = || {
        let mut cmd = mon();
        cmd.args(["--log-format", "json", "--data-dir"])
            .arg(agent_dir.path())
            .args(["agent", "--interval", "100ms", "--host", "crash-test"])
            .args(["--aggregator", &format!("http://{listen}")]);
        Running::spawn(cmd)
    };
    let spool = agent_dir.path().join("agent-spool.bin");
    // Reports in the spool file, read from a copy so the agent's own file
    // is left exactly as the kill left it.
    let spooled = || -> Vec<u64> {
        let copy = agent_dir.path().join("copy.bin");
        std::fs::copy(&spool, &copy).unwrap();
        let (s, _) = server::agent::Spool::with_file(&copy, 10_000).unwrap();
        s.iter().map(|r| r.seq).collect()
    };

    // First run: no aggregator, so every report stays spooled; then the
    // agent is killed, with no chance to save anything.
    let mut first = agent();
    assert!(
        eventually(Duration::from_secs(10), || spool.exists()
            && spooled().len() >= 5),
        "the agent journals its spool; stderr:\n{}",
        first.stderr_text()
    );
    first.signal("KILL");
    first.wait(Duration::from_secs(5));
    let kept = spooled();
    assert_eq!(
        kept,
        (1..=kept.len() as u64).collect::<Vec<_>>(),
        "every report of the killed run is in its spool"
    );

    // Second run, aggregator up: the killed run's reports are replayed.
    let mut aggregator = {
        let mut cmd = mon();
        cmd.args(["aggregator", "--listen", &listen, "--data-dir"])
            .arg(store.path());
        Running::spawn(cmd)
    };
    let mut second = agent();
    let stored = || cpu_samples(store.path(), "crash-test");
    assert!(
        eventually(Duration::from_secs(15), || stored() > kept.len() as u64),
        "the killed run's reports were replayed; stderr:\n{}",
        second.stderr_text()
    );
    let produced = stop_agent(&mut second);
    aggregator.signal("TERM");
    assert_eq!(aggregator.wait(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(
        stored(),
        kept.len() as u64 + produced,
        "both runs' reports are stored exactly once"
    );
    assert!(
        second
            .stderr_text()
            .contains("restored unacknowledged reports from the last run")
    );
    assert!(!spool.exists(), "an empty spool leaves no file behind");
}
