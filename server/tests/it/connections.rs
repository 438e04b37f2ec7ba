//! Connections that never earn their keep, on real listeners: silent
//! sockets, a half-sent HTTP/2 preface and a slow-loris HTTP/1 header are
//! closed within the first-request timeout, and a flood of idle sockets past
//! the connection cap does not lock out an agent or a browser.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use server::conn::ConnLimits;
use server::gateway::GatewayConfig;
use server::proto::{Report, Sample};
use server::testkit::Pipeline;
use server::time::now_ms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{RawAgent, http_get};

/// How a hostile client holds a connection open.
#[derive(Debug, Clone, Copy)]
enum Stall {
    /// Connects and sends nothing.
    Silent,
    /// Sends half of the HTTP/2 client preface, then nothing.
    HalfPreface,
    /// Sends an HTTP/1 request head one byte every 200 ms, never ending it.
    SlowLoris,
}

/// Holds a connection open the way `stall` says until the server closes
/// it; the time that took, or `None` if it was still open after `limit`.
async fn held_for(addr: SocketAddr, stall: Stall, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    match stall {
        Stall::Silent => {}
        Stall::HalfPreface => tcp.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap(),
        Stall::SlowLoris => {}
    }
    let mut sent = 0;
    let mut buf = [0u8; 256];
    while started.elapsed() < limit {
        if let Stall::SlowLoris = stall
            && sent < head.len()
            && tcp.write_all(&head[sent..sent + 1]).await.is_err()
        {
            return Some(started.elapsed());
        }
        sent += 1;
        match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
            // Closed (or reset): the server let go.
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // An answer (an error page): read on until the close.
            Ok(Ok(_)) => {}
            Err(_) => {}
        }
    }
    None
}

fn quick() -> ConnLimits {
    ConnLimits {
        first_request_timeout: Duration::from_secs(1),
        ..ConnLimits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_half_preface_and_slow_loris_connections_are_closed_within_the_first_request_timeout()
 {
    let pipeline = Pipeline::builder()
        .aggregator(|c| c.conn = quick())
        .gateway(GatewayConfig {
            conn: quick(),
            ..GatewayConfig::default()
        })
        .start()
        .await;
    let (agg, gw) = (pipeline.aggregator(), pipeline.gateway());
    let limit = Duration::from_secs(6);
    for (what, addr) in [("gRPC", agg.addr), ("HTTP", gw.addr)] {
        let stalls = [Stall::Silent, Stall::HalfPreface, Stall::SlowLoris];
        let held =
            futures::future::join_all(stalls.iter().map(|&s| held_for(addr, s, limit))).await;
        for (stall, held) in stalls.iter().zip(held) {
            let held = held.unwrap_or_else(|| {
                panic!(
                    "a {stall:?} connection to the {what} listener was still open after {limit:?}"
                )
            });
            // The timeout is 1 s; HTTP/1's header timer starts at the head.
            assert!(
                held < Duration::from_secs(4),
                "{what} {stall:?} held for {held:?}"
            );
        }
    }
    // A real client still gets its answer after the stalls.
    assert_eq!(http_get(gw.addr, "/healthz", &[]).await.0, 200);
    pipeline.stop().await;
}

fn report(host: &str, seq: u64) -> Report {
    Report {
        host: host.into(),
        seq,
        timestamp_ms: now_ms(),
        samples: vec![Sample {
            name: "load1".into(),
            labels: vec![],
            value: 0.5,
        }],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_sockets_past_the_connection_cap_does_not_lock_out_an_agent_or_a_browser() {
    // A first-request timeout far longer than the test: the idle sockets
    // are shed to make room, not because they timed out.
    let limits = ConnLimits {
        max_connections: 20,
        first_request_timeout: Duration::from_secs(60),
    };
    let pipeline = Pipeline::builder()
        .aggregator(|c| {
            c.conn = limits.clone();
            c.token = Some("t0k".into());
        })
        .gateway(GatewayConfig {
            conn: limits,
            ..GatewayConfig::default()
        })
        .start()
        .await;
    let (agg, gw) = (pipeline.aggregator(), pipeline.gateway());
    let mut flood = Vec::new();
    for addr in [agg.addr, gw.addr] {
        for _ in 0..100 {
            flood.push(TcpStream::connect(addr).await.unwrap());
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let mut agent = tokio::time::timeout(
        Duration::from_secs(5),
        RawAgent::connect_with_token(&agg.url(), "flooded-1", Some("t0k")),
    )
    .await
    .expect("the agent connects within 5 s of a flood")
    .expect("the token is accepted");
    let ack = agent.send(report("flooded-1", 1)).await;
    assert_eq!(ack.accepted, 1);
    let (status, body) =
        tokio::time::timeout(Duration::from_secs(5), http_get(gw.addr, "/api/hosts", &[]))
            .await
            .expect("the gateway answers within 5 s of a flood");
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // At most the cap's worth of the flood is still held on each listener.
    let mut open = 0;
    let mut per = [0; 2];
    for (i, tcp) in flood.iter_mut().enumerate() {
        // Read past what the server sent (HTTP/2 sends its settings at
        // once) to the end, if the server closed the socket.
        let mut buf = [0u8; 256];
        let closed = loop {
            match tokio::time::timeout(Duration::from_millis(5), tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) => continue,
                Err(_) => break false,
            }
        };
        if !closed {
            open += 1;
            per[i / 100] += 1;
        }
    }
    assert!(open <= 40, "{open} of 200 idle sockets still open: {per:?}");
    drop(flood);
    drop(agent);
    pipeline.stop().await;
}
