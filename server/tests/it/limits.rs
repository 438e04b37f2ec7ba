//! Every configurable limit hit at the boundary by a real client, and the
//! answer that client gets: a status, close frame or HTTP body naming the
//! limit and the flag that moves it.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use server::agent::{self, AgentConfig, Spool};
use server::aggregator::Limits;
use server::bus::{EmbeddedBus, SharedBus};
use server::edge::EdgeConfig;
use server::fanout::SessionLimits;
use server::gateway::GatewayConfig;
use server::http::HttpLimits;
use server::http::ws::WsLimits;
use server::model::{Point, SeriesKey};
use server::proto::{AgentMessage, Report, Sample, agent_message::Kind};
use server::proto::{MAX_MESSAGE_BYTES, RETRY_AFTER_MS};
use server::store::Reader;
use server::testkit::{Edge, Gateway, Pipeline};
use server::time::now_ms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::instrument::WithSubscriber;

use crate::gateway::{connect, next_json};
use crate::harness::{RawAgent, eventually};

fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| server::proto::Label {
                name: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
        value,
    }
}

fn report(host: &str, seq: u64, ts: i64, samples: Vec<Sample>) -> Report {
    Report {
        host: host.into(),
        seq,
        timestamp_ms: ts,
        samples,
        ..Default::default()
    }
}

fn as_message(r: Report) -> AgentMessage {
    AgentMessage {
        kind: Some(Kind::Report(r)),
    }
}

async fn next_status(agent: &mut RawAgent) -> tonic::Status {
    tokio::time::timeout(Duration::from_secs(10), agent.acks.message())
        .await
        .expect("an answer within 10s")
        .expect_err("the stream ends with a status")
}

async fn start_limited(dir: &std::path::Path, limits: Limits) -> Pipeline {
    Pipeline::builder()
        .data_dir(dir)
        .aggregator(|c| c.limits = limits)
        .start()
        .await
}

#[tokio::test]
async fn a_message_over_the_size_limit_names_its_size_the_limit_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_message_bytes: 64 * 1024,
        ..Default::default()
    };
    let pipeline = start_limited(dir.path(), limits).await;
    let agg = pipeline.aggregator();
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;
    // A report read before the oversized one is still acknowledged first.
    let ack = agent
        .send(report(
            "web-1",
            1,
            now_ms(),
            vec![sample("load1", &[], 1.0)],
        ))
        .await;
    assert_eq!(ack.accepted, 1);
    let huge = (0..5_000)
        .map(|i| sample("x_total", &[("i", &i.to_string())], 1.0))
        .collect();
    agent
        .tx
        .send(as_message(report("web-1", 2, now_ms(), huge)))
        .await
        .unwrap();
    let status = next_status(&mut agent).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let text = status.message();
    assert!(
        text.contains("over this aggregator's limit of 65536 bytes (--max-message-bytes)"),
        "{text}"
    );
    let size: usize = text
        .strip_prefix("a message of ")
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in {text}"));
    assert!(size > 64 * 1024, "{text}");
    // The limit in metadata, for the agent to fit its reports to.
    assert_eq!(
        status
            .metadata()
            .get(MAX_MESSAGE_BYTES)
            .map(|v| v.to_str().unwrap()),
        Some("65536")
    );
    // The aggregator is still serving other agents.
    let mut other = RawAgent::connect(&agg.url(), "web-2").await;
    let ack = other
        .send(report(
            "web-2",
            1,
            now_ms(),
            vec![sample("load1", &[], 1.0)],
        ))
        .await;
    assert_eq!(ack.accepted, 1);
    drop((agent, other));
    pipeline.stop().await;
}

#[tokio::test]
async fn a_host_over_its_series_cap_is_told_the_cap_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_series_per_host: 2,
        ..Default::default()
    };
    let pipeline = start_limited(dir.path(), limits).await;
    let agg = pipeline.aggregator();
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;
    let samples = ["a_total", "b_total", "c_total"]
        .iter()
        .map(|n| sample(n, &[], 1.0))
        .collect();
    let ack = agent.send(report("web-1", 1, now_ms(), samples)).await;
    assert_eq!((ack.accepted, ack.rejected), (2, 1));
    let reason = &ack.reasons[0];
    assert_eq!(reason.series, "c_total");
    assert!(
        reason.reason.contains("already has 2 series")
            && reason.reason.contains("--max-series-per-host"),
        "{reason:?}"
    );
    drop(agent);
    pipeline.stop().await;
}

#[tokio::test]
async fn a_host_over_its_report_rate_is_refused_after_its_earlier_acks_on_every_stream() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_reports_per_second: 1,
        report_burst: 3,
        ..Default::default()
    };
    let pipeline = start_limited(dir.path(), limits).await;
    let agg = pipeline.aggregator();
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;
    let t0 = now_ms();
    for seq in 1..=4 {
        agent
            .tx
            .send(as_message(report(
                "web-1",
                seq,
                t0 + seq as i64,
                vec![sample("load1", &[], 1.0)],
            )))
            .await
            .unwrap();
    }
    // The burst is acknowledged in order, then the fourth report ends the stream.
    for seq in 1..=3 {
        let ack = tokio::time::timeout(Duration::from_secs(10), agent.acks.message())
            .await
            .unwrap()
            .unwrap()
            .expect("an ack");
        assert_eq!(ack.seq, seq);
    }
    let status = next_status(&mut agent).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let text = status.message();
    for want in [
        "host web-1",
        "limit of 1 reports per second",
        "--max-reports-per-second",
        "not stored",
        "retry in",
    ] {
        assert!(text.contains(want), "{want:?} missing from {text}");
    }
    let hint: u64 = status
        .metadata()
        .get(RETRY_AFTER_MS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a retry-after-ms hint");
    assert!((1..=3_000).contains(&hint), "{hint}");
    assert_eq!(Reader::open(dir.path()).unwrap().raw_count().unwrap(), 3);

    // Reconnecting does not refill the bucket: the bucket is the host's.
    let mut again = RawAgent::connect(&agg.url(), "web-1").await;
    again
        .tx
        .send(as_message(report(
            "web-1",
            4,
            t0 + 4,
            vec![sample("load1", &[], 1.0)],
        )))
        .await
        .unwrap();
    assert_eq!(
        next_status(&mut again).await.code(),
        tonic::Code::ResourceExhausted
    );
    // Another host has its own.
    let mut other = RawAgent::connect(&agg.url(), "web-2").await;
    let ack = other
        .send(report(
            "web-2",
            1,
            now_ms(),
            vec![sample("load1", &[], 1.0)],
        ))
        .await;
    assert_eq!(ack.accepted, 1);
    assert_eq!(
        agg.stats
            .reports_throttled
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    drop((agent, again, other));
    pipeline.stop().await;
}

/// Log lines written by a `tracing_subscriber::fmt` subscriber.
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Log;

    fn make_writer(&'a self) -> Log {
        self.clone()
    }
}

fn reports_stored(dir: &std::path::Path, host: &str) -> usize {
    Reader::open(dir)
        .and_then(|r| r.raw(host, &SeriesKey::new("cpu_usage_percent"), 0, i64::MAX))
        .map(|p| p.len())
        .unwrap_or(0)
}

/// The spool file an outage left in `dir`: `n` reports of `host` from the
/// last minute, 500 ms apart, each a `cpu_usage_percent` sample whose
/// value is its seq, then changed by `shape`. Returns the file and the
/// time the reports count from.
fn spooled(
    dir: &std::path::Path,
    host: &str,
    n: u64,
    mut shape: impl FnMut(&mut Report),
) -> (std::path::PathBuf, i64) {
    let spool_file = dir.join("agent-spool.bin");
    let (mut spool, _) = Spool::with_file(&spool_file, 1000).unwrap();
    let start = now_ms() - 60_000;
    for seq in 1..=n {
        let point = Point {
            key: SeriesKey::new("cpu_usage_percent"),
            value: seq as f64,
        };
        let mut report = Report::from_points(host, seq, start + seq as i64 * 500, vec![point]);
        shape(&mut report);
        spool.push(report);
    }
    spool.close().unwrap();
    (spool_file, start)
}

type AgentTask = tokio::task::JoinHandle<Result<agent::AgentSummary, agent::AgentError>>;

/// A real agent for `host` reporting every `interval_ms` to `aggregator`
/// from `spool_file`: its own log (to count its warnings), the sender
/// that stops it, and its task.
fn spawn_agent(
    aggregator: &str,
    host: &str,
    interval_ms: u64,
    spool_file: std::path::PathBuf,
) -> (Log, oneshot::Sender<()>, AgentTask) {
    let config = AgentConfig {
        aggregators: vec![aggregator.to_owned()],
        host: Some(host.into()),
        interval: Duration::from_millis(interval_ms),
        spool_capacity: 1000,
        drain_timeout: Duration::from_secs(5),
        spool_file: Some(spool_file),
        ..AgentConfig::default()
    };
    let log = Log::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(
        agent::run(config, async {
            let _ = stopped.await;
        })
        .with_subscriber(subscriber),
    );
    (log, stop, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_over_the_report_rate_still_gets_every_report_stored_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // Bursts of 20 at 100/s: a replay of 60 spooled reports is refused at
    // least twice before it drains, while the agent's own 20/s fits.
    let limits = Limits {
        max_reports_per_second: 100,
        report_burst: 20,
        ..Default::default()
    };
    let pipeline = start_limited(dir.path(), limits).await;
    let agg = pipeline.aggregator();
    // The spool an outage left behind: 60 reports from the last minute.
    let (spool_file, _) = spooled(dir.path(), "test-host", 60, |_| {});
    let (log, stop, agent) = spawn_agent(&agg.url(), "test-host", 50, spool_file);
    // Stored first, then acked: wait for the agent to hear the last acks.
    assert!(
        eventually(Duration::from_secs(20), || reports_stored(
            dir.path(),
            "test-host"
        ) >= 60 + 20
            && log.text().contains("caught up"))
        .await,
        "the spool drained through the rate limit"
    );
    stop.send(()).unwrap();
    let summary = agent.await.unwrap().unwrap();
    let throttled = agg
        .stats
        .reports_throttled
        .load(std::sync::atomic::Ordering::Relaxed);
    pipeline.stop().await;

    assert!(throttled >= 2, "the limit was hit ({throttled} refusals)");
    let log = log.text();
    assert_eq!(
        log.matches("refused reports over its rate limit").count(),
        1,
        "one warning for {throttled} refusals: {log}"
    );
    assert!(log.contains("--max-reports-per-second"), "{log}");
    assert_eq!(log.matches("caught up").count(), 1, "{log}");
    assert_eq!(summary.dropped, 0, "{summary:?}");
    assert_eq!(summary.unacknowledged, 0, "{summary:?}");
    assert_eq!(summary.acknowledged, 60 + summary.produced, "{summary:?}");
    assert_eq!(
        reports_stored(dir.path(), "test-host"),
        60 + summary.produced as usize,
        "every report, replayed or new, is stored exactly once"
    );
}

/// A spooled report over the aggregator's message size limit used to end
/// every stream at the same place, so nothing after it was stored again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_over_the_message_size_limit_goes_without_its_tables_and_the_rest_are_stored() {
    use server::proto::{Process, ProcessTable};
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_message_bytes: 16 * 1024,
        ..Default::default()
    };
    let pipeline = start_limited(dir.path(), limits).await;
    let agg = pipeline.aggregator();
    // What an outage left spooled: 30 reports of a CPU sample each (its
    // value the seq). Every fifth carries a process table of about 60 KB;
    // seq 20 also has 3,000 samples, over the limit even without it.
    let (spool_file, start) = spooled(dir.path(), "big-host", 30, |r| {
        if r.seq % 5 == 0 {
            r.processes = Some(ProcessTable {
                total: 200,
                processes: (0..200)
                    .map(|pid| Process {
                        pid,
                        name: "postgres".into(),
                        command: "postgres: parallel worker for PID 4242 ".repeat(7),
                        ..Default::default()
                    })
                    .collect(),
            });
        }
        if r.seq == 20 {
            r.samples
                .extend((0..3_000).map(|i| sample("x_total", &[("i", &i.to_string())], 1.0)));
        }
    });
    let (log, stop, agent) = spawn_agent(&agg.url(), "big-host", 100, spool_file);
    let replayed = |dir: &std::path::Path| -> Vec<u64> {
        Reader::open(dir)
            .and_then(|r| {
                r.raw(
                    "big-host",
                    &SeriesKey::new("cpu_usage_percent"),
                    0,
                    i64::MAX,
                )
            })
            .map(|points| {
                points
                    .iter()
                    .filter(|p| p.ts <= start + 30 * 500)
                    .map(|p| p.value as u64)
                    .collect()
            })
            .unwrap_or_default()
    };
    // The replay gets past the oversized reports, and the agent's own
    // reports after it are stored too.
    assert!(
        eventually(Duration::from_secs(30), || replayed(dir.path()).len() >= 29
            && reports_stored(dir.path(), "big-host") >= 29 + 5)
        .await,
        "stored of the replay: {:?}; log: {}",
        replayed(dir.path()),
        log.text()
    );
    stop.send(()).unwrap();
    let summary = agent.await.unwrap().unwrap();
    pipeline.stop().await;

    let mut want: Vec<u64> = (1..=30).filter(|&seq| seq != 20).collect();
    let mut got = replayed(dir.path());
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "every report but the one too large is stored");
    let log = log.text();
    assert_eq!(
        log.matches("over the aggregator's message size limit")
            .count(),
        1,
        "one warning: {log}"
    );
    assert!(log.contains("limit=16384"), "{log}");
    assert!(log.contains("without_tables=5"), "{log}");
    assert_eq!(summary.dropped, 1, "{summary:?}");
    assert_eq!(summary.unacknowledged, 0, "{summary:?}");
}

#[tokio::test]
async fn a_websocket_client_over_the_client_limit_is_told_the_limit_and_the_flag() {
    let bus: SharedBus = std::sync::Arc::new(EmbeddedBus::default());
    let config = GatewayConfig {
        ws: WsLimits {
            max_clients: 1,
            ..WsLimits::default()
        },
        ..GatewayConfig::default()
    };
    let gw = Gateway::start(bus, config).await;
    let mut first = connect(&gw.ws_url()).await;
    // The hello means the first session is counted.
    assert_eq!(next_json(&mut first).await["type"], "hello");
    let refused = tokio_tungstenite::connect_async(gw.ws_url()).await;
    let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = refused else {
        panic!("the second client was let in: {refused:?}");
    };
    assert_eq!(response.status(), 503);
    let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
    assert!(
        body.contains("limit of 1 WebSocket clients (--max-ws-clients)"),
        "{body}"
    );
    drop(first);
    gw.stop().await;
}

#[tokio::test]
async fn a_websocket_message_over_the_frame_limit_closes_with_1009_naming_the_limit() {
    let bus: SharedBus = std::sync::Arc::new(EmbeddedBus::default());
    let config = GatewayConfig {
        ws: WsLimits {
            session: SessionLimits {
                max_message_bytes: 1024,
                ..SessionLimits::default()
            },
            ..WsLimits::default()
        },
        ..GatewayConfig::default()
    };
    let gw = Gateway::start(bus, config).await;
    let mut ws = connect(&gw.ws_url()).await;
    let padding = "h".repeat(2_000);
    let oversized = format!(r#"{{"type":"subscribe","hosts":["{padding}"]}}"#);
    ws.send(Message::text(oversized)).await.unwrap();
    let close = loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10s")
            .expect("the socket is open")
            .expect("a readable frame");
        if let Message::Close(frame) = msg {
            break frame.expect("a close frame with a code");
        }
    };
    assert_eq!(close.code, CloseCode::Size);
    assert!(
        close
            .reason
            .contains("limit of 1024 bytes (--max-ws-frame-bytes)"),
        "{close:?}"
    );
    gw.stop().await;
}

/// Sends `head` (request line and headers, no blank line) plus `body` over a
/// plain TCP socket: (status, body).
async fn http_raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    // The server may answer (and close) before it reads the body.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

#[tokio::test]
async fn an_http_body_over_the_limit_gets_413_naming_the_limit_and_the_flag() {
    let bus: SharedBus = std::sync::Arc::new(EmbeddedBus::default());
    let config = GatewayConfig {
        http: HttpLimits {
            max_body_bytes: 100,
            ..HttpLimits::default()
        },
        ..GatewayConfig::default()
    };
    let gw = Gateway::start(bus, config).await;
    let (status, _) = http_raw(
        gw.addr,
        "GET /healthz HTTP/1.1\r\nContent-Length: 100",
        &[b'x'; 100],
    )
    .await;
    assert_eq!(status, 200, "a body at the limit is fine");
    let (status, body) = http_raw(
        gw.addr,
        "GET /healthz HTTP/1.1\r\nContent-Length: 101",
        &[b'x'; 101],
    )
    .await;
    assert_eq!(status, 413);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["error"],
        "a request body of 101 bytes is over this server's limit of 100 bytes (--max-body-bytes)"
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_edge_answers_504_naming_the_request_timeout_when_its_upstream_never_answers() {
    // An "upstream gateway" that accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let edge = Edge::start(EdgeConfig {
        http: HttpLimits {
            request_timeout: Duration::from_millis(300),
            ..HttpLimits::default()
        },
        ..EdgeConfig::new(format!("ws://{silent_addr}/ws"))
    })
    .await;
    let started = std::time::Instant::now();
    let (status, body) = http_raw(
        edge.addr,
        "GET /api/series?host=web-1&metric=load1 HTTP/1.1",
        b"",
    )
    .await;
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["error"],
        "/api/series got no answer within this server's request timeout of 300ms (--request-timeout)"
    );
    edge.stop().await;
    holder.abort();
}
