//! The roles as separate processes meeting only through Redis and the
//! store, as on separate machines: agent → aggregator → Redis → gateway and
//! alerts → gateway's API.

use std::time::Duration;

use crate::process::{Running, eventually, free_port, http_get, mon};
use crate::redis::RedisServer;

#[test]
fn split_roles_meet_through_redis_and_the_gateway_serves_live_state_history_and_alerts() {
    let redis = RedisServer::start();
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let dir = tempfile::tempdir().unwrap();
    let grpc = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());

    let mut aggregator = mon();
    aggregator
        .args([
            "aggregator",
            "--listen",
            &grpc,
            "--redis",
            &redis_url,
            "--data-dir",
        ])
        .arg(dir.path());
    let _aggregator = Running::spawn(aggregator);

    let mut gateway = mon();
    gateway
        .args([
            "gateway",
            "--listen",
            &http,
            "--redis",
            &redis_url,
            "--data-dir",
        ])
        .arg(dir.path());
    let gateway = Running::spawn(gateway);

    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: test\n    rules:\n      - alert: AlwaysBusy\n        expr: cpu_usage_percent >= 0\n        labels:\n          severity: warning\n        annotations:\n          summary: \"{{ $labels.host }} is at {{ $value }}\"\n",
    )
    .unwrap();
    let mut alerts = mon();
    alerts
        .args(["alerts", "--redis", &redis_url, "--rules"])
        .arg(&rules)
        .arg("--data-dir")
        .arg(dir.path().join("alerts"));
    let alerts = Running::spawn(alerts);

    let mut agent = mon();
    agent.args([
        "agent",
        "--interval",
        "200ms",
        "--host",
        "split-1",
        "--aggregator",
        &format!("http://{grpc}"),
    ]);
    let _agent = Running::spawn(agent);

    let base = format!("http://{http}");
    assert!(
        eventually(Duration::from_secs(10), || std::net::TcpStream::connect(
            &http
        )
        .is_ok()),
        "the gateway listens on {http}; stderr:\n{}",
        gateway.stderr_text()
    );
    let live = eventually(Duration::from_secs(15), || {
        let (status, body) = http_get(&format!("{base}/api/hosts/split-1"));
        status == 200 && body.contains("cpu_usage_percent")
    });
    assert!(
        live,
        "the gateway shows the host live; gateway:\n{}",
        gateway.stderr_text()
    );

    let history = eventually(Duration::from_secs(10), || {
        let (status, body) = http_get(&format!(
            "{base}/api/series?host=split-1&metric=cpu_usage_percent"
        ));
        status == 200 && body.contains("\"points\":[{")
    });
    assert!(
        history,
        "the gateway reads history from the aggregator's store"
    );

    let alerted = eventually(Duration::from_secs(15), || {
        let (status, body) = http_get(&format!("{base}/api/alerts"));
        status == 200 && body.contains("AlwaysBusy") && body.contains("split-1")
    });
    assert!(
        alerted,
        "the alerts role's event reached the gateway through Redis; alerts:\n{}",
        alerts.stderr_text()
    );
}
