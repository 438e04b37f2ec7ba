//! More than one of a role, as real processes: an agent listing several
//! aggregators, and several `mon alerts` on one Redis electing a leader. What
//! is checked is what an operator reads: the log lines and the stored data.

use std::path::Path;
use std::time::Duration;

use crate::process::{Running, eventually, free_port, mon, stop_agent};
use crate::redis::RedisServer;

/// The JSON log lines of `process` whose message starts with `prefix`.
fn logged(process: &Running, prefix: &str) -> Vec<serde_json::Value> {
    process
        .stderr
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
        .collect()
}

/// Reports of `host` stored in `dir`, as `mon query` shows them.
fn stored(dir: &Path, host: &str) -> u64 {
    let out = mon()
        .args(["query", "--host", host, "--metric", "cpu_usage_percent"])
        .args(["--since", "1h", "--json", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    if !out.status.success() {
        return 0;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["points"].as_array().unwrap().len() as u64
}

#[test]
fn an_agent_whose_first_aggregator_is_down_logs_one_switch_and_stores_everything_in_the_second() {
    let dir = tempfile::tempdir().unwrap();
    let live = format!("http://127.0.0.1:{}", free_port());
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut aggregator = mon();
    aggregator
        .args([
            "aggregator",
            "--listen",
            &live["http://".len()..],
            "--data-dir",
        ])
        .arg(dir.path());
    let mut aggregator = Running::spawn(aggregator);

    let mut agent = mon();
    agent.args(["--log-format", "json", "agent", "--interval", "100ms"]);
    agent.args([
        "--host",
        "fleet-1",
        "--aggregator",
        &format!("{dead},{live}"),
    ]);
    let mut agent = Running::spawn(agent);
    assert!(
        eventually(Duration::from_secs(15), || stored(dir.path(), "fleet-1")
            >= 5),
        "the agent streams to the second aggregator; agent:\n{}",
        agent.stderr_text()
    );
    // A few more reports on the same stream: still one switch, not one per
    // report or per retry.
    std::thread::sleep(Duration::from_millis(500));
    let produced = stop_agent(&mut agent);
    aggregator.signal("TERM");
    assert_eq!(aggregator.wait(Duration::from_secs(10)).code(), Some(0));

    let switches = logged(&agent, "switching aggregator");
    assert_eq!(switches.len(), 1, "{}", agent.stderr_text());
    assert_eq!(switches[0]["from"], dead.as_str());
    assert_eq!(switches[0]["to"], live.as_str());
    assert!(
        switches[0]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{}",
        switches[0]
    );
    let connected = logged(&agent, "connected to aggregator");
    assert_eq!(connected.len(), 1, "{}", agent.stderr_text());
    assert_eq!(connected[0]["aggregator"], live.as_str());
    assert_eq!(stored(dir.path(), "fleet-1"), produced, "each report once");
}

#[test]
fn of_two_alerts_processes_on_one_redis_one_leads_and_the_standby_takes_over_after_a_kill() {
    let redis = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let start = |dir: &Path| {
        let mut cmd = mon();
        cmd.args(["--log-format", "json", "alerts", "--redis", &url])
            .args(["--lease-ttl", "1s", "--data-dir"])
            .arg(dir);
        Running::spawn(cmd)
    };
    let mut first = start(dirs[0].path());
    assert!(
        eventually(Duration::from_secs(10), || !logged(&first, "leader:")
            .is_empty()),
        "{}",
        first.stderr_text()
    );
    let second = start(dirs[1].path());
    assert!(
        eventually(Duration::from_secs(10), || !logged(&second, "standby:")
            .is_empty()),
        "{}",
        second.stderr_text()
    );
    assert!(logged(&second, "leader:").is_empty());

    first.signal("KILL");
    first.wait(Duration::from_secs(5));
    let killed = std::time::Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || !logged(&second, "leader:")
            .is_empty()),
        "{}",
        second.stderr_text()
    );
    // Within a few lease TTLs (1 s), not whenever: the log line is read
    // through a pipe from a real process on a loaded machine.
    assert!(
        killed.elapsed() < Duration::from_secs(3),
        "took over after {:?}",
        killed.elapsed()
    );
    // Waiting was said once, however many attempts it took.
    assert_eq!(
        logged(&second, "standby:").len(),
        1,
        "{}",
        second.stderr_text()
    );
}
