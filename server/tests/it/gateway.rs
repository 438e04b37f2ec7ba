//! The gateway over real sockets: WebSocket protocol, slow clients, bad
//! frames, the HTTP API and access control.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use server::bus::{Bus, EmbeddedBus, SharedBus};
use server::event::encode_metrics;
use server::gateway::GatewayConfig;
use server::http::Access;
use server::model::{AcceptedReport, Point, SeriesKey};
use server::proto::{Report, Sample};
use server::testkit::{Gateway, Pipeline};
use server::time::now_ms;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::harness::{RawAgent, http_get, http_get_with_head};

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next text frame as JSON, skipping pings.
pub async fn next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10s")
            .expect("the socket is open")
            .expect("a readable frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads frames until one of type `kind` arrives.
pub async fn next_of(ws: &mut Ws, kind: &str) -> serde_json::Value {
    loop {
        let v = next_json(ws).await;
        if v["type"] == kind {
            return v;
        }
    }
}

/// Waits until the gateway's `/metrics` counts a slow client resynced or
/// dropped; fails after 10 s.
pub async fn wait_until_a_slow_client_is_handled(addr: std::net::SocketAddr) {
    let counter = |body: &str, name: &str| -> u64 {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = http_get(addr, "/metrics", &[]).await;
        let handled = counter(&body, "mon_websocket_resyncs_total")
            + counter(&body, "mon_websocket_clients_dropped_slow_total");
        if handled > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow client was neither resynced nor dropped:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn report(host: &str, ts: i64, cpu: f64) -> AcceptedReport {
    AcceptedReport {
        host: host.into(),
        seq: ts as u64,
        timestamp_ms: ts,
        points: vec![
            Point {
                key: SeriesKey::new("cpu_usage_percent"),
                value: cpu,
            },
            Point {
                key: SeriesKey::new("load1"),
                value: 0.5,
            },
        ],
    }
}

async fn publish(bus: &EmbeddedBus, r: &AcceptedReport) {
    bus.publish_report(r, encode_metrics(r)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_hello_snapshot_then_live_metrics_from_a_report() {
    // The gateway reads the aggregator's store, as in `mon serve`.
    let pipeline = Pipeline::builder()
        .gateway(GatewayConfig::default())
        .start()
        .await;
    let (agg, gw) = (pipeline.aggregator(), pipeline.gateway());
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;
    let ts = now_ms();
    let sample = |name: &str, value| Sample {
        name: name.into(),
        labels: vec![],
        value,
    };
    agent
        .send(Report {
            host: "web-1".into(),
            seq: 1,
            timestamp_ms: ts,
            samples: vec![sample("cpu_usage_percent", 10.0)],
            ..Default::default()
        })
        .await;

    let mut ws = connect(&gw.ws_url()).await;
    let hello = next_json(&mut ws).await;
    assert_eq!(
        (hello["type"].as_str(), hello["v"].as_u64()),
        (Some("hello"), Some(1))
    );
    // The snapshot may predate the first report's arrival; wait for it to hold web-1.
    let mut snapshot = next_of(&mut ws, "snapshot").await;
    while snapshot["hosts"].as_array().unwrap().is_empty() {
        snapshot = next_json(&mut ws).await;
    }
    if snapshot["type"] == "snapshot" {
        assert_eq!(snapshot["hosts"][0]["host"], "web-1");
    }

    agent
        .send(Report {
            host: "web-1".into(),
            seq: 2,
            timestamp_ms: ts + 1000,
            samples: vec![sample("cpu_usage_percent", 55.5)],
            ..Default::default()
        })
        .await;
    let live = loop {
        let m = next_of(&mut ws, "metrics").await;
        if m["seq"] == 2 {
            break m;
        }
    };
    assert_eq!(live["host"], "web-1");
    assert_eq!(live["values"][0]["name"], "cpu_usage_percent");
    assert_eq!(live["values"][0]["value"], 55.5);

    // The same state is on the HTTP API.
    let (status, body) = http_get(gw.addr, "/api/hosts/web-1", &[]).await;
    assert_eq!(status, 200, "{body}");
    let host: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(host["values"][0]["value"], 55.5);
    let (status, body) = http_get(
        gw.addr,
        &format!(
            "/api/series?host=web-1&metric=cpu_usage_percent&from={}&to={}",
            ts - 60_000,
            ts + 60_000
        ),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let series: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(series["points"].as_array().unwrap().len(), 2, "{series}");

    drop((ws, agent));
    pipeline.stop().await;
}

#[tokio::test]
async fn subscribe_filters_hosts_and_metrics() {
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(bus.clone() as SharedBus, GatewayConfig::default()).await;
    let mut ws = connect(&gw.ws_url()).await;
    next_of(&mut ws, "snapshot").await;
    ws.send(Message::text(
        r#"{"type":"subscribe","hosts":["db-*"],"metrics":["load*"]}"#,
    ))
    .await
    .unwrap();
    let ack = next_of(&mut ws, "subscribed").await;
    assert_eq!(ack["hosts"][0], "db-*");
    next_of(&mut ws, "snapshot").await;

    let ts = now_ms();
    publish(&bus, &report("web-1", ts, 1.0)).await;
    publish(&bus, &report("db-1", ts, 2.0)).await;
    let m = next_of(&mut ws, "metrics").await;
    assert_eq!(m["host"], "db-1", "web-1 is filtered out");
    let names: Vec<&str> = m["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["load1"], "only load* metrics");
    drop(ws);
    gw.stop().await;
}

#[tokio::test]
async fn garbage_and_oversized_frames_get_clear_answers_and_the_server_stays_up() {
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(bus.clone() as SharedBus, GatewayConfig::default()).await;
    let mut ws = connect(&gw.ws_url()).await;
    next_of(&mut ws, "snapshot").await;

    for (frame, expect) in [
        (Message::text("hello?"), "cannot read message"),
        (
            Message::text(r#"{"type":"subscribe","hosts":"web"}"#),
            "expected {\"type\":\"subscribe\"",
        ),
        (
            Message::text(r#"{"type":"subscribe","hosts":["web-[12]"]}"#),
            "only `*` and `?`",
        ),
        (
            Message::Binary(Bytes::from_static(b"\x00\x01")),
            "binary frames are not accepted",
        ),
    ] {
        ws.send(frame).await.unwrap();
        let err = next_of(&mut ws, "error").await;
        assert_eq!(err["code"], "bad_message");
        assert!(err["message"].as_str().unwrap().contains(expect), "{err}");
    }

    // A frame over the 64 KiB limit closes this client with 1009.
    ws.send(Message::text("x".repeat(100 * 1024)))
        .await
        .unwrap();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.unwrap().code, CloseCode::Size);

    // Everyone else is unaffected.
    let mut other = connect(&gw.ws_url()).await;
    assert_eq!(next_json(&mut other).await["type"], "hello");
    drop(other);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_does_not_delay_a_fast_one() {
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(
        bus.clone() as SharedBus,
        GatewayConfig {
            ring: 256,
            ..Default::default()
        },
    )
    .await;
    // The slow client connects and then never reads.
    let slow = connect(&gw.ws_url()).await;
    let mut fast = connect(&gw.ws_url()).await;
    next_of(&mut fast, "snapshot").await;

    // Enough traffic to fill the slow client's socket buffers many times.
    let padding: Vec<Point> = (0..100)
        .map(|i| Point {
            key: SeriesKey::with_labels("pad_value", [("i", i.to_string())]),
            value: i as f64,
        })
        .collect();
    // Publish in lockstep with the fast client: each batch goes out only
    // once the fast client has read the previous one. If the slow client's
    // full socket held the hub back, the fast client would stall here.
    let total = 4000usize;
    let batch = 32usize;
    let (seen_tx, mut seen_rx) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        let mut seen = 0;
        while seen < total {
            let v = next_json(&mut fast).await;
            if v["type"] == "metrics" {
                seen += 1;
                let _ = seen_tx.send(seen);
            }
        }
        fast
    });
    let base = now_ms();
    for i in 0..total {
        let mut r = report("web-1", base + i as i64, 1.0);
        r.points.extend(padding.iter().cloned());
        publish(&bus, &r).await;
        if (i + 1) % batch == 0 {
            tokio::time::timeout(Duration::from_secs(10), seen_rx.wait_for(|n| *n > i))
                .await
                .unwrap_or_else(|_| panic!("the fast client stalled at event {i}"))
                .unwrap();
        }
    }
    let fast = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("the fast client got every event while the slow one was stuck")
        .unwrap();

    // The gateway noticed the slow client: it was resynced with a snapshot
    // or dropped, as its own counters on /metrics say.
    wait_until_a_slow_client_is_handled(gw.addr).await;
    // Reading again, it never gets the whole stale backlog: it is cut off
    // (close 1008 or a dropped connection) or resynced from a snapshot.
    let mut slow = slow;
    let mut metrics_frames = 0;
    let mut snapshots = 0;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(3), slow.next()).await {
        match msg {
            Message::Text(t) if t.as_str().starts_with(r#"{"type":"metrics""#) => {
                metrics_frames += 1
            }
            Message::Text(t) if t.as_str().starts_with(r#"{"type":"snapshot""#) => snapshots += 1,
            Message::Close(frame) => {
                assert_eq!(frame.unwrap().code, CloseCode::Policy);
                break;
            }
            _ => {}
        }
    }
    assert!(
        metrics_frames < total || snapshots > 1,
        "the slow client got {metrics_frames} of {total} events and {snapshots} snapshots"
    );
    drop((fast, slow));
    gw.stop().await;
}

#[tokio::test]
async fn the_token_guards_api_and_ws_and_foreign_origins_are_refused() {
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(
        bus as SharedBus,
        GatewayConfig {
            access: Access {
                token: Some("t0ken".into()),
                allowed_origins: vec![],
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    let (status, body) = http_get(gw.addr, "/api/hosts", &[]).await;
    assert_eq!(status, 401);
    assert!(body.contains("Authorization: Bearer"), "{body}");
    assert_eq!(
        http_get(gw.addr, "/api/hosts", &[("Authorization", "Bearer t0ken")])
            .await
            .0,
        200
    );
    assert_eq!(
        http_get(gw.addr, "/api/hosts?token=t0ken", &[]).await.0,
        200
    );
    assert_eq!(http_get(gw.addr, "/healthz", &[]).await.0, 200);
    assert_eq!(http_get(gw.addr, "/metrics", &[]).await.0, 401);
    assert_eq!(
        http_get(gw.addr, "/metrics", &[("Authorization", "Bearer t0ken")])
            .await
            .0,
        200
    );

    let err = tokio_tungstenite::connect_async(gw.ws_url())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let mut ok = connect(&format!("{}?token=t0ken", gw.ws_url())).await;
    assert_eq!(next_json(&mut ok).await["type"], "hello");

    let mut request = format!("{}?token=t0ken", gw.ws_url())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    drop(ok);
    gw.stop().await;
}

/// A debug build reads the dashboard from `web/static/` at each request
/// (a release build embeds it): the same files, with their types and the
/// page's Content-Security-Policy either way.
#[tokio::test]
async fn the_dashboard_is_served_with_its_types_and_in_a_debug_build_as_it_is_on_disk() {
    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(bus, GatewayConfig::default()).await;
    let (status, head, page) = http_get_with_head(gw.addr, "/", &[]).await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(page.contains("static/app.js"), "{page}");
    for (name, content_type) in web::FILES {
        let (status, head, body) =
            http_get_with_head(gw.addr, &format!("/static/{name}"), &[]).await;
        assert_eq!(status, 200, "{name}");
        assert!(
            head.contains(&format!("content-type: {content_type}")),
            "{name}: {head}"
        );
        if cfg!(debug_assertions) {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/static/");
            let on_disk = std::fs::read_to_string(format!("{dir}{name}")).unwrap();
            assert_eq!(body, on_disk, "{name}");
        }
    }
    let (status, _) = http_get(gw.addr, "/static/../Cargo.toml", &[]).await;
    assert_eq!(status, 404);
    gw.stop().await;
}

#[tokio::test]
async fn prometheus_metrics_list_every_host_series() {
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(bus.clone() as SharedBus, GatewayConfig::default()).await;
    let mut ws = connect(&gw.ws_url()).await;
    next_of(&mut ws, "snapshot").await;
    publish(&bus, &report("web-1", now_ms(), 12.5)).await;
    next_of(&mut ws, "metrics").await;
    let (status, body) = http_get(gw.addr, "/metrics", &[]).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE cpu_usage_percent gauge\ncpu_usage_percent{host=\"web-1\"} 12.5"),
        "{body}"
    );
    assert!(body.contains("mon_websocket_clients 1"), "{body}");
    // The text must pass Prometheus' own checker (.ci/run installs it).
    promtool_check(&body);
    drop(ws);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_appears_after_the_gateway_started_gets_its_metadata() {
    let pipeline = Pipeline::builder()
        .gateway(GatewayConfig::default())
        .start()
        .await;
    let (agg, gw) = (pipeline.aggregator(), pipeline.gateway());
    // The gateway has read the (empty) state; this host says hello later.
    let mut agent = RawAgent::connect(&agg.url(), "late-1").await;
    let mut seq = 0;
    let meta = loop {
        seq += 1;
        agent
            .send(Report {
                host: "late-1".into(),
                seq,
                timestamp_ms: now_ms(),
                samples: vec![Sample {
                    name: "cpu_usage_percent".into(),
                    labels: vec![],
                    value: 1.0,
                }],
                ..Default::default()
            })
            .await;
        let (status, body) = http_get(gw.addr, "/api/hosts/late-1", &[]).await;
        let host: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if status == 200 && !host["meta"].is_null() {
            break host["meta"].clone();
        }
        assert!(
            seq < 50,
            "no metadata for late-1 after {seq} reports: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(meta["agent_version"], "test", "{meta}");

    // New clients get it in their snapshot.
    let mut ws = connect(&gw.ws_url()).await;
    let snapshot = next_of(&mut ws, "snapshot").await;
    assert_eq!(
        snapshot["hosts"][0]["meta"]["agent_version"], "test",
        "{snapshot}"
    );
    drop((ws, agent));
    pipeline.stop().await;
}

/// Lints `promtool check metrics` makes about the names a client chose
/// (units, suffixes, reserved label names of histograms): style, which a
/// Prometheus server ignores; exit code 3 with only these is a pass.
const NAMING_LINTS: &[&str] = &[
    "use base unit",
    "should not have \"_count\" suffix",
    "should not have \"_sum\" suffix",
    "should not have \"_bucket\" suffix",
    "should not have \"_total\" suffix",
    "should not include type",
    "abbreviated units",
    "should not have \"le\" label",
    "should not have \"quantile\" label",
];

/// Runs `promtool check metrics` on `text`: a parse error, or a lint that
/// is not about naming, fails the test.
pub fn promtool_check(text: &str) {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus; .ci/run installs it)");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let only_naming = out.status.code() == Some(3)
        && said
            .lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| NAMING_LINTS.iter().any(|n| l.contains(n)));
    assert!(
        out.status.success() || only_naming,
        "promtool check metrics: {said}\n--- text:\n{text}"
    );
}

#[tokio::test]
async fn labels_host_exported_host_and_dunder_name_and_names_of_our_own_metrics_do_not_break_the_scrape()
 {
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(bus.clone() as SharedBus, GatewayConfig::default()).await;
    let mut ws = connect(&gw.ws_url()).await;
    next_of(&mut ws, "snapshot").await;
    let crafted = AcceptedReport {
        host: "evil-1".into(),
        seq: 1,
        timestamp_ms: now_ms(),
        points: [
            SeriesKey::with_labels("load1", [("host", "a"), ("exported_host", "b")]),
            SeriesKey::with_labels(
                "load5",
                [("__name__", "x"), ("exported_exported_host", "c")],
            ),
            SeriesKey::new("mon_websocket_clients"),
            SeriesKey::new("process_resident_memory_bytes"),
            SeriesKey::new("mon_host_last_seen_timestamp_seconds"),
            SeriesKey::with_labels("exported_load1", [("q", "\"\\\n")]),
        ]
        .into_iter()
        .map(|key| Point { key, value: 7.0 })
        .collect(),
    };
    publish(&bus, &crafted).await;
    publish(&bus, &report("web-1", now_ms(), 12.5)).await;
    next_of(&mut ws, "metrics").await;
    next_of(&mut ws, "metrics").await;
    let (status, body) = http_get(gw.addr, "/metrics", &[]).await;
    assert_eq!(status, 200);
    promtool_check(&body);
    for line in [
        r#"load1{host="evil-1",exported_exported_host="b",exported_host="a"} 7"#,
        r#"load5{host="evil-1",exported___name__="x",exported_exported_exported_host="c"} 7"#,
        r#"exported_mon_websocket_clients{host="evil-1"} 7"#,
        r#"exported_process_resident_memory_bytes{host="evil-1"} 7"#,
        "mon_websocket_clients 1",
        r#"cpu_usage_percent{host="web-1"} 12.5"#,
    ] {
        assert!(body.contains(line), "{line} missing:\n{body}");
    }
    drop(ws);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_the_socket_does_not_take_drops_the_client_within_the_send_timeout() {
    use server::fanout::SessionLimits;
    use server::http::ws::WsLimits;
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(
        bus.clone() as SharedBus,
        GatewayConfig {
            ws: WsLimits {
                session: SessionLimits {
                    ping_every: Duration::from_millis(200),
                    send_timeout: Duration::from_millis(500),
                    idle_timeout: Duration::from_secs(60),
                    ..SessionLimits::default()
                },
                ..WsLimits::default()
            },
            ..GatewayConfig::default()
        },
    )
    .await;
    // A client with a small receive buffer that floods the server with
    // pings and never reads: the pongs fill every buffer on the way, until
    // the server's own ping cannot be written. No event is published, so a
    // ping is the only frame the session tries to send.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(gw.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(gw.ws_url(), tcp)
        .await
        .unwrap();
    let (mut sink, _stream) = ws.split();
    let flood = tokio::spawn(async move {
        let payload = Bytes::from(vec![7u8; 125]);
        while sink.send(Message::Ping(payload.clone())).await.is_ok() {}
    });
    let counter = |body: &str, name: &str| -> u64 {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = http_get(gw.addr, "/metrics", &[]).await;
        if counter(&body, "mon_websocket_clients") == 0 {
            assert_eq!(
                counter(&body, "mon_websocket_clients_dropped_slow_total"),
                1,
                "{body}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client whose socket takes nothing is still connected:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    flood.abort();
    gw.stop().await;
}
