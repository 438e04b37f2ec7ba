//! The edge relay over real sockets: fan-out, its own snapshot for new
//! clients, and surviving a gateway restart.

use std::sync::Arc;
use std::time::Duration;

use server::bus::{Bus, EmbeddedBus, SharedBus};
use server::edge::EdgeConfig;
use server::event::encode_metrics;
use server::gateway::GatewayConfig;
use server::model::{AcceptedReport, Point, SeriesKey};
use server::testkit::{Edge, Gateway};
use server::time::now_ms;

use crate::gateway::{connect, next_json, next_of};
use crate::harness::http_get;

pub fn report(host: &str, ts: i64, cpu: f64) -> AcceptedReport {
    AcceptedReport {
        host: host.into(),
        seq: 1,
        timestamp_ms: ts,
        points: vec![Point {
            key: SeriesKey::new("cpu_usage_percent"),
            value: cpu,
        }],
    }
}

pub async fn publish(bus: &EmbeddedBus, r: &AcceptedReport) {
    bus.publish_report(r, encode_metrics(r)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_relays_live_events_and_survives_a_gateway_restart() {
    let bus1 = Arc::new(EmbeddedBus::default());
    publish(&bus1, &report("web-1", now_ms(), 10.0)).await;
    let gw = Gateway::start(bus1.clone() as SharedBus, GatewayConfig::default()).await;
    let gw_addr = gw.addr;

    let edge = Edge::start(EdgeConfig::new(format!("ws://{gw_addr}/ws"))).await;
    let edge_addr = edge.addr;
    let edge_ws = edge.ws_url();

    // A browser on the edge sees the gateway's state, then live events.
    let mut client = connect(&edge_ws).await;
    assert_eq!(next_json(&mut client).await["role"], "edge");
    let mut snap = next_of(&mut client, "snapshot").await;
    while snap["hosts"].as_array().unwrap().is_empty() {
        snap = next_of(&mut client, "snapshot").await;
    }
    assert_eq!(snap["hosts"][0]["host"], "web-1");
    publish(&bus1, &report("web-1", now_ms() + 1, 42.0)).await;
    let m = next_of(&mut client, "metrics").await;
    assert_eq!(m["values"][0]["value"], 42.0);

    // The gateway goes away: the client is told, and a newcomer is still
    // served the last state from the edge's own copy.
    gw.stop().await;
    let status = next_of(&mut client, "status").await;
    assert_eq!(status["upstream"], "reconnecting");
    let mut newcomer = connect(&edge_ws).await;
    let snap = next_of(&mut newcomer, "snapshot").await;
    assert_eq!(
        snap["hosts"][0]["host"], "web-1",
        "served without the upstream"
    );
    let (status, _) = http_get(edge_addr, "/api/hosts/web-1", &[]).await;
    assert_eq!(status, 200);

    // A new gateway with other state comes up on the same address: every
    // client gets a fresh snapshot from it.
    let bus2 = Arc::new(EmbeddedBus::default());
    publish(&bus2, &report("db-7", now_ms(), 5.0)).await;
    let gw2 = Gateway::start_on(bus2.clone() as SharedBus, GatewayConfig::default(), gw_addr).await;
    for c in [&mut client, &mut newcomer] {
        let snap = loop {
            let s = tokio::time::timeout(Duration::from_secs(15), next_of(c, "snapshot"))
                .await
                .unwrap();
            if s["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["host"] == "db-7")
            {
                break s;
            }
        };
        assert!(
            snap["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|h| h["host"] != "web-1"),
            "old state replaced: {snap}"
        );
    }
    publish(&bus2, &report("db-7", now_ms() + 1, 6.0)).await;
    assert_eq!(next_of(&mut client, "metrics").await["host"], "db-7");

    // A host that says hello after the snapshot: its metadata reaches the
    // edge's clients and API live, as a `host` event.
    let meta = server::model::HostMeta {
        os: "Debian 12".into(),
        cores: 8,
        interval_ms: 5000,
        ..Default::default()
    };
    bus2.upsert_meta("db-9", &meta).await.unwrap();
    let host = next_of(&mut client, "host").await;
    assert_eq!(
        (host["host"].as_str(), host["meta"]["cores"].as_u64()),
        (Some("db-9"), Some(8))
    );
    publish(&bus2, &report("db-9", now_ms(), 1.0)).await;
    next_of(&mut client, "metrics").await;
    let (status, body) = http_get(edge_addr, "/api/hosts/db-9", &[]).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["meta"]["interval_ms"], 5000, "{answer}");

    drop((client, newcomer));
    edge.stop().await;
    gw2.stop().await;
}

#[tokio::test]
async fn the_edge_token_guards_api_and_ws() {
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(bus as SharedBus, GatewayConfig::default()).await;
    let edge = Edge::start(EdgeConfig {
        access: server::http::Access {
            token: Some("viewer".into()),
            allowed_origins: vec![],
            ..Default::default()
        },
        ..EdgeConfig::new(gw.ws_url())
    })
    .await;
    let edge_addr = edge.addr;
    for path in ["/api/hosts", "/api/alerts", "/api/series?host=a&metric=b"] {
        assert_eq!(http_get(edge_addr, path, &[]).await.0, 401, "{path}");
    }
    assert_eq!(
        http_get(
            edge_addr,
            "/api/hosts",
            &[("Authorization", "Bearer viewer")]
        )
        .await
        .0,
        200
    );
    let err = tokio_tungstenite::connect_async(format!("ws://{edge_addr}/ws"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let mut ok = connect(&format!("ws://{edge_addr}/ws?token=viewer")).await;
    assert_eq!(next_json(&mut ok).await["type"], "hello");
    drop(ok);
    edge.stop().await;
    gw.stop().await;
}
