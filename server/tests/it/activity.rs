//! Process and cgroup tables through the aggregator, the bus and the
//! gateway over real sockets: cleaned on the way in, sent only to the
//! clients that watch the host, the watch answered in the agent's acks,
//! and one table a minute kept as history for `?at=`.

use std::time::Duration;

use futures::SinkExt;
use server::gateway::GatewayConfig;
use server::proto::{Process, ProcessTable, Report, Sample};
use server::testkit::Pipeline;
use server::time::now_ms;
use tokio_tungstenite::tungstenite::Message;

use crate::gateway::{Ws, connect, next_json, next_of};
use crate::harness::{RawAgent, http_get};

fn process(pid: u32, name: &str, cpu: f64) -> Process {
    Process {
        pid,
        name: name.into(),
        command: format!("{name} --serve"),
        user: "root".into(),
        cpu_percent: cpu,
        memory_bytes: 1 << 20,
        read_bytes_per_second: 0.0,
        write_bytes_per_second: 512.0,
    }
}

fn report(seq: u64, ts: i64, processes: Option<ProcessTable>) -> Report {
    Report {
        host: "web-1".into(),
        seq,
        timestamp_ms: ts,
        samples: vec![Sample {
            name: "cpu_usage_percent".into(),
            labels: vec![],
            value: 50.0,
        }],
        processes,
        ..Report::default()
    }
}

async fn watch(ws: &mut Ws, host: Option<&str>) {
    let text = serde_json::json!({"type": "watch", "host": host}).to_string();
    ws.send(Message::Text(text.into())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_hosts_processes_reach_its_viewer_cleaned_and_its_agent_hears_of_the_watch() {
    // The gateway reads the aggregator's store, for `?at=`.
    let pipeline = Pipeline::builder()
        .gateway(GatewayConfig::default())
        .start()
        .await;
    let (agg, gw) = (pipeline.aggregator(), pipeline.gateway());
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;
    let ts = now_ms();

    // Nobody watches yet: the ack says so.
    let ack = agent.send(report(1, ts, None)).await;
    assert!(!ack.watched);

    let mut viewer = connect(&gw.ws_url()).await;
    let mut bystander = connect(&gw.ws_url()).await;
    next_of(&mut viewer, "snapshot").await;
    next_of(&mut bystander, "snapshot").await;
    watch(&mut viewer, Some("WEB-1")).await;

    // A hostile and oversized table: 70 rows, one with an escape sequence
    // in its name and a 100 KB command line, one with a NaN.
    let mut rows: Vec<Process> = (0..70).map(|i| process(100 + i, "worker", 1.0)).collect();
    rows[0] = process(42, "evil\u{1b}]0;pwned\u{7}", 99.0);
    rows[0].command = "x".repeat(100_000);
    rows[1].cpu_percent = f64::NAN;
    let table = ProcessTable {
        total: 500,
        processes: rows,
    };
    // The watch reaches the aggregator through the bus within a moment.
    let mut seq = 2;
    let mut watched = false;
    for _ in 0..100 {
        let ack = agent
            .send(report(seq, ts + seq as i64, Some(table.clone())))
            .await;
        seq += 1;
        if ack.watched {
            watched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(watched, "no ack said the host is watched");

    let frame = next_of(&mut viewer, "processes").await;
    assert_eq!(frame["host"], "web-1");
    assert_eq!(frame["total"], 500);
    let listed = frame["processes"].as_array().unwrap();
    assert_eq!(listed.len(), 64, "rows past the limit are left out");
    let evil = listed.iter().find(|p| p["pid"] == 42).unwrap();
    assert_eq!(evil["name"], "evil ]0;pwned ");
    assert_eq!(evil["command"].as_str().unwrap().chars().count(), 256);
    assert!(
        listed.iter().all(|p| p["pid"] != 101),
        "the NaN row is left out"
    );

    // The bystander watches nothing: it sees metrics, never the table.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
    while tokio::time::Instant::now() < deadline {
        if let Ok(v) =
            tokio::time::timeout(Duration::from_millis(100), next_json(&mut bystander)).await
        {
            assert_ne!(v["type"], "processes", "an unwatched client got a table");
        }
    }

    // The API has it live, and in history at the time it was taken.
    let (status, body) = http_get(gw.addr, "/api/hosts/web-1/processes", &[]).await;
    assert_eq!(status, 200, "{body}");
    let live: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(live["total"], 500);
    assert!(live.get("type").is_none());
    let (status, body) = http_get(gw.addr, "/api/hosts/web-1", &[]).await;
    assert_eq!(status, 200, "{body}");
    let host: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(host["processes"]["total"], 500);
    assert!(host["cgroups"].is_null());

    let at = ts + seq as i64;
    let path = format!("/api/hosts/web-1/processes?at={at}");
    let mut found = None;
    for _ in 0..100 {
        let (status, body) = http_get(gw.addr, &path, &[]).await;
        if status == 200 {
            found = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored: serde_json::Value =
        serde_json::from_str(&found.expect("history has the table")).unwrap();
    assert_eq!(stored["host"], "web-1");
    // The first table of its minute is the one kept.
    assert!(stored["ts"].as_i64().unwrap() >= ts + 2);
    assert_eq!(stored["processes"].as_array().unwrap().len(), 64);

    // Long before any table: nothing; a bad time: an error naming it.
    let (status, body) = http_get(
        gw.addr,
        &format!("/api/hosts/web-1/processes?at={}", ts - 3_600_000),
        &[],
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no processes table"), "{body}");
    let (status, body) = http_get(gw.addr, "/api/hosts/web-1/cgroups?at=yesterday", &[]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at=yesterday is not accepted"), "{body}");

    // A client that starts watching later gets the latest table at once.
    let mut late = connect(&gw.ws_url()).await;
    next_of(&mut late, "snapshot").await;
    watch(&mut late, Some("web-1")).await;
    let frame = next_of(&mut late, "processes").await;
    assert_eq!(frame["total"], 500);

    // A bad watch is an error frame naming what is accepted.
    watch(&mut late, Some(&"h".repeat(300))).await;
    let error = next_of(&mut late, "error").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("1 to 253 characters"),
        "{error}"
    );

    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_filter_leaves_the_watched_hosts_frames_whole() {
    let pipeline = Pipeline::builder()
        .gateway(GatewayConfig::default())
        .start()
        .await;
    let (agg, gw) = (pipeline.aggregator(), pipeline.gateway());
    let mut viewer = connect(&gw.ws_url()).await;
    next_of(&mut viewer, "snapshot").await;
    let subscribe = r#"{"type":"subscribe","metrics":["cpu_*"]}"#;
    viewer.send(Message::Text(subscribe.into())).await.unwrap();
    next_of(&mut viewer, "subscribed").await;
    watch(&mut viewer, Some("web-1")).await;
    let two = |host: &str, seq: u64| Report {
        host: host.into(),
        seq,
        timestamp_ms: now_ms(),
        samples: ["cpu_usage_percent", "load1"]
            .into_iter()
            .map(|name| Sample {
                name: name.into(),
                labels: vec![],
                value: 1.0,
            })
            .collect(),
        ..Report::default()
    };
    let mut web = RawAgent::connect(&agg.url(), "web-1").await;
    let mut db = RawAgent::connect(&agg.url(), "db-1").await;
    // The watch is in place once the session has read it; the first frames
    // may come before, so look at the last of a few.
    let (mut web_values, mut db_values) = (0, 0);
    for seq in 1..=20 {
        web.send(two("web-1", seq)).await;
        db.send(two("db-1", seq)).await;
        for _ in 0..2 {
            let frame = next_of(&mut viewer, "metrics").await;
            let n = frame["values"].as_array().unwrap().len();
            match frame["host"].as_str() {
                Some("web-1") => web_values = n,
                _ => db_values = n,
            }
        }
        if web_values == 2 && seq > 2 {
            break;
        }
    }
    assert_eq!(web_values, 2, "the watched host's frames are whole");
    assert_eq!(db_values, 1, "other hosts' frames keep to the filter");
    pipeline.stop().await;
}

/// Behind an edge: the edge watches upstream what its clients watch, so
/// the agent hears of the watch and the tables reach the edge's client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_through_an_edge_reaches_the_agent_and_brings_the_tables_back() {
    let pipeline = Pipeline::builder()
        .gateway(GatewayConfig::default())
        .edge(|_| {})
        .start()
        .await;
    let agg = pipeline.aggregator();
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;
    let ts = now_ms();
    agent.send(report(1, ts, None)).await;

    let mut viewer = connect(&pipeline.edge().ws_url()).await;
    next_of(&mut viewer, "snapshot").await;
    watch(&mut viewer, Some("web-1")).await;
    let table = ProcessTable {
        total: 7,
        processes: vec![process(9, "behind-edge", 50.0)],
    };
    let mut watched = false;
    for seq in 2..200 {
        let ack = agent
            .send(report(seq, ts + seq as i64, Some(table.clone())))
            .await;
        if ack.watched {
            watched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(watched, "the edge's watch never reached the agent's acks");
    let frame = next_of(&mut viewer, "processes").await;
    assert_eq!(frame["host"], "web-1");
    assert_eq!(frame["processes"][0]["name"], "behind-edge");

    pipeline.stop().await;
}
