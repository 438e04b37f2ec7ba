//! A gateway with 1,000 WebSocket clients, one of which stops reading: the
//! other 999 get every event, in order, without waiting for it, and the
//! stuck one is resynchronized or dropped — never fed a silently gappy
//! stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use server::bus::{Bus, EmbeddedBus, SharedBus};
use server::event::encode_metrics;
use server::fanout::SessionLimits;
use server::gateway::GatewayConfig;
use server::http::ws::WsLimits;
use server::model::{AcceptedReport, Point, SeriesKey};
use server::time::now_ms;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::gateway::{Ws, connect, next_of, wait_until_a_slow_client_is_handled};
use server::testkit::Gateway;

const CLIENTS: usize = 1_000;
const EVENTS: usize = 30;
const BATCH: usize = 5;

/// The `seq` of a `metrics` frame, read without parsing the whole frame.
fn seq_of(frame: &str) -> Option<u64> {
    if !frame.starts_with(r#"{"type":"metrics""#) {
        return None;
    }
    let rest = &frame[frame.find(r#""seq":"#)? + 6..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

/// Waits until `count` reaches `want`, failing with `what` after 20 s.
async fn wait_for(count: &AtomicUsize, want: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while count.load(Ordering::Relaxed) < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stalled waiting for {what}: {} of {want}",
            count.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A client whose receive buffer is tiny and which, after the handshake,
/// reads nothing: its socket fills after a few frames.
async fn stuck_client(gw: &Gateway) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(gw.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(gw.ws_url(), stream)
        .await
        .unwrap();
    tokio_tungstenite::WebSocketStream::from_raw_socket(
        tokio_tungstenite::MaybeTlsStream::Plain(ws.into_inner()),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_get_every_event_while_one_stops_reading() {
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(
        bus.clone() as SharedBus,
        GatewayConfig {
            ring: 64,
            ws: WsLimits {
                session: SessionLimits {
                    send_timeout: Duration::from_secs(1),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;

    let stuck = stuck_client(&gw).await;
    // 999 readers of the `web-*` hosts, each checking that it sees seq 0,
    // 1, 2, ... with no gap. The stuck client takes every host, so the bulk
    // host's large events fill its socket without costing the readers.
    let received = Arc::new(AtomicUsize::new(0));
    let ready: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let mut readers = Vec::new();
    for _ in 0..CLIENTS - 1 {
        let url = gw.ws_url();
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            let mut ws = connect(&url).await;
            next_of(&mut ws, "snapshot").await;
            ws.send(Message::text(r#"{"type":"subscribe","hosts":["web-*"]}"#))
                .await
                .unwrap();
            next_of(&mut ws, "subscribed").await;
            next_of(&mut ws, "snapshot").await;
            ready.fetch_add(1, Ordering::Relaxed);
            let mut expected = 0u64;
            while expected < EVENTS as u64 {
                let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
                    .await
                    .expect("a frame within 20s")
                    .expect("the socket stays open")
                    .expect("a readable frame");
                if let Message::Text(t) = msg
                    && let Some(seq) = seq_of(t.as_str())
                {
                    assert_eq!(
                        seq, expected,
                        "a reading client missed or reordered an event"
                    );
                    expected += 1;
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
            ws
        }));
    }
    wait_for(ready, CLIENTS - 1, "readers subscribed").await;
    // ~200 KB per bulk event, in a few long label values (cheap to encode
    // and parse): the kernel buffers a few MB for a socket that is not
    // read, so the stuck client's is full well before the end.
    let padding: Vec<Point> = (0..20)
        .map(|i| Point {
            key: SeriesKey::with_labels(
                "pad_value",
                [("blob", format!("{i}{}", "x".repeat(10_000)))],
            ),
            value: i as f64,
        })
        .collect();
    let base = now_ms();
    // Publish in lockstep with the readers: a batch goes out only once every
    // reader has the previous one, so a stuck client that held the hub back
    // would stall this loop.
    for i in 0..EVENTS {
        let web = AcceptedReport {
            host: "web-1".into(),
            seq: i as u64,
            timestamp_ms: base + i as i64,
            points: vec![Point {
                key: SeriesKey::new("cpu_usage_percent"),
                value: 1.0,
            }],
        };
        let bulk = AcceptedReport {
            host: "bulk-1".into(),
            points: padding.clone(),
            ..web.clone()
        };
        for report in [bulk, web] {
            bus.publish_report(&report, encode_metrics(&report))
                .await
                .unwrap();
        }
        if (i + 1) % BATCH == 0 {
            wait_for(
                &received,
                (CLIENTS - 1) * (i + 1),
                &format!("event {i} delivered"),
            )
            .await;
        }
    }
    let mut fine = Vec::new();
    for r in readers {
        fine.push(r.await.expect("every reader got every event in order"));
    }
    assert_eq!(received.load(Ordering::Relaxed), (CLIENTS - 1) * EVENTS);

    // The gateway noticed the stuck client and says so on /metrics.
    wait_until_a_slow_client_is_handled(gw.addr).await;

    // Reading again, the stuck client never sees a silent gap: its events
    // arrive in order until it is closed with 1008 or given a fresh snapshot.
    let mut stuck = stuck;
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    let mut ended_clearly = false;
    loop {
        let msg = match tokio::time::timeout(Duration::from_secs(3), stuck.next()).await {
            Ok(Some(msg)) => msg,
            // Dropped after the send timeout: the connection is cut.
            Ok(None) => {
                ended_clearly = true;
                break;
            }
            Err(_) => break,
        };
        match msg {
            Ok(Message::Text(t)) => {
                if t.as_str().starts_with(r#"{"type":"snapshot""#) {
                    ended_clearly = true;
                    last.clear();
                } else if let Some(seq) = seq_of(t.as_str()) {
                    let host = if t.as_str().contains(r#""host":"web-1""#) {
                        "web-1"
                    } else {
                        "bulk-1"
                    };
                    if let Some(prev) = last.insert(host.to_string(), seq) {
                        assert_eq!(
                            seq,
                            prev + 1,
                            "the stuck client saw a gap in {host} with no resync"
                        );
                    }
                }
            }
            Ok(Message::Close(frame)) => {
                assert_eq!(frame.expect("a close reason").code, CloseCode::Policy);
                ended_clearly = true;
                break;
            }
            Ok(_) => {}
            // Dropped after the send timeout: the connection is cut.
            Err(_) => {
                ended_clearly = true;
                break;
            }
        }
    }
    assert!(
        ended_clearly,
        "the stuck client was neither resynced nor closed"
    );
    drop(fine);
    gw.stop().await;
}
