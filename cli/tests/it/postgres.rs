//! `--store postgres://…` as a user runs it: real `mon` processes against a
//! private PostgreSQL cluster (skipped, and said so, where the machine has
//! no PostgreSQL binaries).

use std::time::Duration;

use server::store::postgres::test_server::PgServer;

use crate::process::{Running, eventually, free_port, http_get, mon, stop_agent};

/// Raw `cpu_usage_percent` samples of `host` in the last hour, read back
/// with `mon query --store` (0 while there is nothing to read).
pub fn cpu_samples(store: &str, host: &str) -> u64 {
    let out = mon()
        .args(["query", "--host", host, "--metric", "cpu_usage_percent"])
        .args(["--since", "1h", "--json", "--store", store])
        .output()
        .unwrap();
    if !out.status.success() {
        return 0;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["points"].as_array().map_or(0, |p| p.len() as u64)
}

pub fn agent(host: &str, aggregators: &str) -> Running {
    let mut cmd = mon();
    cmd.args(["--log-format", "json", "agent", "--interval", "200ms"])
        .args(["--host", host, "--aggregator", aggregators]);
    Running::spawn(cmd)
}

pub fn aggregator(store: &str, listen: &str, extra: &[&str]) -> Running {
    let mut cmd = mon();
    cmd.args(["aggregator", "--listen", listen, "--store", store])
        .args(extra);
    Running::spawn(cmd)
}

#[test]
fn a_store_url_that_is_not_postgres_is_refused_by_name() {
    let out = mon()
        .args([
            "aggregator",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "mysql://db/mon",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("store URL \"mysql://db/mon\" is not accepted") && err.contains("postgres://"),
        "{err}"
    );
}

#[test]
fn an_unreachable_store_stops_the_start_with_its_url_and_no_password() {
    let port = free_port();
    let url = format!("postgres://mon:hunter2@127.0.0.1:{port}/mon");
    for role in [
        vec!["aggregator", "--listen", "127.0.0.1:0"],
        vec!["gateway", "--listen", "127.0.0.1:0"],
    ] {
        let out = mon().args(&role).args(["--store", &url]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{role:?}: {err}");
        assert!(
            err.contains(&format!("postgres://mon:***@127.0.0.1:{port}/mon"))
                && err.contains("check that PostgreSQL runs there"),
            "{role:?}: {err}"
        );
        assert!(!err.contains("hunter2"), "the password leaked: {err}");
        let errors = err.lines().filter(|l| l.starts_with("error:")).count();
        assert_eq!(errors, 1, "one error line: {err}");
        assert!(err.contains("Connection refused"), "says why: {err}");
    }
}

#[test]
fn the_database_going_away_pauses_ingest_and_loses_nothing() {
    let Some(mut pg) = PgServer::start() else {
        return;
    };
    let store = pg.database().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut agg = aggregator(&store, &listen, &[]);
    let mut agent = agent("pg-outage", &format!("http://{listen}"));
    assert!(
        eventually(Duration::from_secs(15), || cpu_samples(&store, "pg-outage")
            >= 3),
        "agent → aggregator → PostgreSQL works; aggregator:\n{}",
        agg.stderr_text()
    );
    pg.stop();
    std::thread::sleep(Duration::from_secs(2));
    pg.restart();
    let at_restart = cpu_samples(&store, "pg-outage");
    assert!(
        eventually(Duration::from_secs(20), || cpu_samples(&store, "pg-outage")
            >= at_restart + 10),
        "ingest resumed by itself; aggregator:\n{}",
        agg.stderr_text()
    );
    let produced = stop_agent(&mut agent);
    agg.signal("TERM");
    assert_eq!(agg.wait(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(
        cpu_samples(&store, "pg-outage"),
        produced,
        "every report produced is stored exactly once"
    );
    let logs = agg.stderr_text();
    let paused = logs.matches("ingest paused until it is back").count();
    assert_eq!(paused, 1, "the outage is one log line:\n{logs}");
    assert!(logs.contains("store writes succeed again"), "{logs}");
}

#[test]
fn a_gateway_with_only_a_store_url_serves_history() {
    let Some(pg) = PgServer::shared() else {
        return;
    };
    let store = pg.database().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let agg = aggregator(&store, &listen, &[]);
    let mut agent = agent("pg-history", &format!("http://{listen}"));
    assert!(
        eventually(Duration::from_secs(15), || cpu_samples(
            &store,
            "pg-history"
        ) >= 3),
        "stored; aggregator:\n{}",
        agg.stderr_text()
    );
    let http = format!("127.0.0.1:{}", free_port());
    let mut gw = mon();
    // No data dir at all: HOME points nowhere writable.
    gw.env("HOME", "/nonexistent")
        .args(["gateway", "--listen", &http, "--store", &store]);
    let gateway = Running::spawn(gw);
    assert!(
        eventually(Duration::from_secs(10), || gateway
            .stdout_text()
            .contains("dashboard")),
        "the gateway starts without a data dir:\n{}",
        gateway.stderr_text()
    );
    let url = format!("http://{http}/api/series?host=pg-history&metric=cpu_usage_percent");
    assert!(
        eventually(Duration::from_secs(10), || {
            let (status, body) = http_get(&url);
            status == 200
                && serde_json::from_str::<serde_json::Value>(&body)
                    .is_ok_and(|v| v["points"].as_array().is_some_and(|p| p.len() >= 3))
        }),
        "gateway:\n{}",
        gateway.stderr_text()
    );
    stop_agent(&mut agent);
}
