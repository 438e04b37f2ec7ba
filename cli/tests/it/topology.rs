//! The fleet topology as real processes: PostgreSQL + Redis, two
//! aggregators, two gateways, two `mon alerts` and three agents listing both
//! aggregators. The aggregator the agents use and the alerts leader are
//! killed with SIGKILL mid-run; afterwards every report is stored exactly
//! once, a gateway that only shares the database serves every host's
//! history, and an alert that fired before the kill resolves exactly once.

use std::time::Duration;

use server::store::postgres::test_server::PgServer;

use crate::alerts::receiver;
use crate::postgres::cpu_samples;
use crate::process::{Running, eventually, free_port, http_get, mon, stop_agent};
use crate::redis::RedisServer;

fn agent(host: &str, aggregators: &str, dir: &std::path::Path) -> Running {
    let mut cmd = mon();
    cmd.args(["--log-format", "json", "agent", "--interval", "200ms"])
        .args(["--host", host, "--aggregator", aggregators, "--data-dir"])
        .arg(dir);
    Running::spawn(cmd)
}

/// Webhook bodies about `alert` on `host` with `status`.
fn notified(bodies: &[String], alert: &str, host: &str, status: &str) -> usize {
    bodies
        .iter()
        .filter_map(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .filter(|v| {
            v["status"] == status
                && v["alerts"][0]["labels"]["alertname"] == alert
                && v["alerts"][0]["labels"]["host"] == host
        })
        .count()
}

#[test]
fn a_fleet_survives_losing_its_busy_aggregator_and_its_alerts_leader() {
    let Some(pg) = PgServer::shared() else {
        return;
    };
    let store = pg.database().to_string();
    let redis = RedisServer::start();
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let dir = tempfile::tempdir().unwrap();

    let (a, b) = (free_port(), free_port());
    let aggregator = |port: u16| {
        let mut cmd = mon();
        cmd.args(["aggregator", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--store", &store, "--redis", &redis_url]);
        Running::spawn(cmd)
    };
    let mut agg_a = aggregator(a);
    let agg_b = aggregator(b);
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: t\n    rules:\n      - alert: HostGone\n        expr: cpu_usage_percent\n        absent_for: 6s\n",
    )
    .unwrap();
    let (webhook, bodies) = receiver();
    let mut alerts: Vec<Running> = (0..2)
        .map(|_| {
            let mut cmd = mon();
            cmd.args(["--log-format", "json", "alerts", "--redis", &redis_url])
                .args([
                    "--store",
                    &store,
                    "--webhook",
                    &webhook,
                    "--lease-ttl",
                    "3s",
                ])
                .arg("--rules")
                .arg(&rules);
            Running::spawn(cmd)
        })
        .collect();

    let list = format!("http://127.0.0.1:{a},http://127.0.0.1:{b}");
    let hosts = ["topo-1", "topo-2", "topo-3"];
    let agent_dir = |h: &str| {
        let d = dir.path().join(h);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let mut agents: Vec<Running> = hosts
        .iter()
        .map(|h| agent(h, &list, &agent_dir(h)))
        .collect();
    for h in hosts {
        assert!(
            eventually(Duration::from_secs(30), || cpu_samples(&store, h) >= 5),
            "{h} reaches the store; aggregator A:\n{}",
            agg_a.stderr_text()
        );
    }

    // Gateways read a schema the aggregators made: started once data flows.
    let gateways: Vec<(u16, Running)> = (0..2)
        .map(|_| {
            let port = free_port();
            let mut cmd = mon();
            cmd.args(["gateway", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--store", &store, "--redis", &redis_url]);
            (port, Running::spawn(cmd))
        })
        .collect();

    // topo-3 goes quiet: its HostGone alert fires once.
    let mut produced = [0u64; 3];
    produced[2] += stop_agent(&mut agents[2]);
    assert!(
        eventually(Duration::from_secs(30), || notified(
            &bodies.lock().unwrap(),
            "HostGone",
            "topo-3",
            "firing"
        ) == 1),
        "HostGone fired; alerts:\n{}\n{}",
        alerts[0].stderr_text(),
        alerts[1].stderr_text()
    );

    // Kill the aggregator every agent streams to, and the alerts leader.
    agg_a.signal("KILL");
    agg_a.wait(Duration::from_secs(5));
    let leader = alerts
        .iter()
        .position(|p| p.stderr_text().contains("leader:"))
        .expect("one alerts instance leads");
    alerts[leader].signal("KILL");
    alerts[leader].wait(Duration::from_secs(5));

    // topo-3 comes back through the surviving aggregator: resolved, once.
    agents[2] = agent("topo-3", &list, &agent_dir("topo-3"));
    let standby = 1 - leader;
    assert!(
        eventually(Duration::from_secs(30), || notified(
            &bodies.lock().unwrap(),
            "HostGone",
            "topo-3",
            "resolved"
        ) == 1),
        "the standby took over and resolved HostGone; it logged:\n{}",
        alerts[standby].stderr_text()
    );
    let at_resolve: Vec<u64> = hosts.iter().map(|h| cpu_samples(&store, h)).collect();
    for (i, h) in hosts.iter().enumerate() {
        assert!(
            eventually(Duration::from_secs(20), || cpu_samples(&store, h)
                >= at_resolve[i] + 5),
            "{h} streams through aggregator B; it logged:\n{}",
            agents[i].stderr_text()
        );
    }
    for (i, agent) in agents.iter_mut().enumerate() {
        produced[i] += stop_agent(agent);
    }
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(
            cpu_samples(&store, h),
            produced[i],
            "{h}: every report its agents produced is stored exactly once"
        );
    }

    // Each gateway serves the history of a host that reported through both
    // aggregators, from the database alone.
    for (port, _) in &gateways {
        let (status, body) = http_get(&format!(
            "http://127.0.0.1:{port}/api/series?host=topo-1&metric=cpu_usage_percent"
        ));
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["points"].as_array().unwrap().len() as u64,
            produced[0],
            "{body}"
        );
    }

    // No second firing or resolution from the switch.
    std::thread::sleep(Duration::from_secs(2));
    let bodies = bodies.lock().unwrap();
    assert_eq!(
        notified(&bodies, "HostGone", "topo-3", "firing"),
        1,
        "{bodies:?}"
    );
    assert_eq!(
        notified(&bodies, "HostGone", "topo-3", "resolved"),
        1,
        "{bodies:?}"
    );
    drop(agg_b);
}
