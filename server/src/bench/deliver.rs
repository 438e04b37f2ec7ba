//! `mon bench deliver`: time from a report leaving an agent to the
//! `metrics` frame reaching WebSocket clients, through a real aggregator and
//! gateway.
//!
//! Hosts report in real time (one report per host per `interval`, spread
//! evenly), stamped with the send time; every client measures
//! `arrival - ts` on each frame, so sender and clients share this machine's
//! clock. The gateway's memory per client comes from its `/metrics`
//! (`process_resident_memory_bytes`) before and after the clients connect.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_tungstenite::tungstenite::Message;
use tonic::transport::Endpoint;

use super::latency::{Latencies, ms};
use super::workload::{Shape, SimHost};
use crate::proto::{AgentMessage, Hello, agent_message::Kind, ingest_client::IngestClient};
use crate::time::now_ms;

#[derive(Clone, Debug)]
pub struct DeliverBench {
    pub ingest: String,
    pub ws: String,
    pub hosts: usize,
    pub series: usize,
    /// What each host sends.
    pub shape: Shape,
    pub clients: usize,
    pub interval: Duration,
    pub duration: Duration,
    /// Clients that record latencies (all clients count frames).
    pub measured_clients: usize,
}

#[derive(Debug)]
pub struct DeliverSummary {
    /// True when the run was cut short by the shutdown signal.
    pub interrupted: bool,
    pub elapsed: Duration,
    pub clients_connected: usize,
    pub frames: u64,
    pub latencies: Latencies,
    pub gateway_rss_before: Option<u64>,
    pub gateway_rss_after: Option<u64>,
}

impl DeliverSummary {
    pub fn render(&mut self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let per_client = match (self.gateway_rss_before, self.gateway_rss_after) {
            (Some(b), Some(a)) if self.clients_connected > 0 => format!(
                "{:.1} KiB",
                a.saturating_sub(b) as f64 / 1024.0 / self.clients_connected as f64
            ),
            _ => "- (gateway /metrics unreadable)".into(),
        };
        format!(
            "{}clients connected {}\nmetrics frames delivered {} ({:.0}/s)\ndelivery latency p50 {} p99 {} max {}\ngateway RSS per client {}",
            if self.interrupted {
                "interrupted: partial results\n"
            } else {
                ""
            },
            self.clients_connected,
            self.frames,
            self.frames as f64 / secs,
            ms(self.latencies.quantile(0.5)),
            ms(self.latencies.quantile(0.99)),
            ms(self.latencies.quantile(1.0)),
            per_client
        )
    }
}

/// Runs until `duration` has passed or `shutdown` resolves (then with a
/// partial summary).
pub async fn run(
    config: DeliverBench,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<DeliverSummary, String> {
    if config.hosts == 0 || config.clients == 0 {
        return Err("--hosts and --clients must be at least 1".into());
    }
    let metrics_url = config
        .ws
        .replacen("ws://", "http://", 1)
        .trim_end_matches("/ws")
        .to_owned()
        + "/metrics";
    let rss_before = gateway_rss(&metrics_url).await;

    // Connect the clients, a few hundred at a time.
    let frames = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut readers = Vec::with_capacity(config.clients);
    for i in 0..config.clients {
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(config.ws.as_str()),
        )
        .await
        .map_err(|_| {
            format!(
                "client {i}: no WebSocket handshake from {} within 10s",
                config.ws
            )
        })?
        .map_err(|e| format!("client {i}: cannot connect to {}: {e}", config.ws))?;
        let measure = i < config.measured_clients;
        readers.push(tokio::spawn(read_frames(
            ws,
            measure,
            frames.clone(),
            stopped.clone(),
        )));
        if i % 256 == 255 {
            tokio::task::yield_now().await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = gateway_rss(&metrics_url).await;

    // Load: hosts report in real time, each stamped with its send time.
    let endpoint = Endpoint::from_shared(config.ingest.clone())
        .map_err(|e| format!("--ingest {:?}: {e}", config.ingest))?;
    let channel = tokio::time::timeout(Duration::from_secs(5), endpoint.connect())
        .await
        .map_err(|_| format!("cannot reach the aggregator at {} within 5s", config.ingest))?
        .map_err(|e| {
            let why = crate::error_chain::one_line(&e);
            format!("cannot reach the aggregator at {}: {why}", config.ingest)
        })?;
    let streams = config.hosts.min(8);
    let mut senders = Vec::new();
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let frames_before = frames.load(Ordering::Relaxed);
    let started = Instant::now();
    for s in 0..streams {
        let hosts: Vec<SimHost> = (s..config.hosts)
            .step_by(streams)
            .map(|h| SimHost::new(h, config.shape, config.series))
            .collect();
        senders.push(tokio::spawn(send_real_time(
            IngestClient::new(channel.clone()),
            hosts,
            config.interval,
            started + config.duration,
            cut.clone(),
        )));
    }
    let all = futures::future::join_all(senders);
    tokio::pin!(all);
    tokio::pin!(shutdown);
    let (results, interrupted) = tokio::select! {
        r = &mut all => (r, false),
        _ = &mut shutdown => {
            cut.store(true, Ordering::Relaxed);
            (all.await, true)
        }
    };
    for r in results {
        r.map_err(|e| e.to_string())??;
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    let mut latencies = Latencies::default();
    for r in readers {
        if let Ok(l) = r.await {
            latencies.extend(l);
        }
    }
    Ok(DeliverSummary {
        interrupted,
        elapsed,
        clients_connected: config.clients,
        frames: frames.load(Ordering::Relaxed) - frames_before,
        latencies,
        gateway_rss_before: rss_before,
        gateway_rss_after: rss_after,
    })
}

async fn read_frames(
    mut ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    measure: bool,
    frames: Arc<AtomicU64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Latencies {
    let mut latencies = Latencies::default();
    loop {
        let msg = tokio::select! {
            m = ws.next() => match m {
                Some(Ok(m)) => m,
                _ => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let Message::Text(text) = msg else { continue };
        let text = text.as_str();
        if wire::frame_type(text) != Some(wire::kind::METRICS) {
            continue;
        }
        frames.fetch_add(1, Ordering::Relaxed);
        if measure && let Some(ts) = field_i64(text, "\"ts\":") {
            let lag = now_ms() - ts;
            latencies.record(Duration::from_millis(lag.max(0) as u64));
        }
    }
    latencies
}

/// Reads an integer field without parsing the whole frame.
fn field_i64(text: &str, key: &str) -> Option<i64> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Sends `hosts`' reports in real time over one stream, each host once per
/// `interval`, until `until` or `cut`.
pub(super) async fn send_real_time(
    mut client: IngestClient<tonic::transport::Channel>,
    mut hosts: Vec<SimHost>,
    interval: Duration,
    until: Instant,
    cut: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), String> {
    let (tx, rx) = mpsc::channel::<AgentMessage>(1024);
    let _ = tx
        .send(AgentMessage {
            kind: Some(Kind::Hello(Hello {
                host: hosts[0].name.clone(),
                agent_version: "bench".into(),
                interval_ms: interval.as_millis() as u64,
                ..Hello::default()
            })),
        })
        .await;
    let mut acks = client
        .stream(ReceiverStream::new(rx))
        .await
        .map_err(|s| s.message().to_owned())?
        .into_inner();
    tokio::spawn(async move { while let Ok(Some(_)) = acks.message().await {} });
    // Spread this stream's hosts evenly over the interval.
    let gap = interval / hosts.len().max(1) as u32;
    let mut ticker = tokio::time::interval(gap.max(Duration::from_micros(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut seq = 0;
    'outer: loop {
        for host in &mut hosts {
            ticker.tick().await;
            if Instant::now() >= until || cut.load(Ordering::Relaxed) {
                break 'outer;
            }
            seq += 1;
            let report = host.report(seq, now_ms());
            if tx
                .send(AgentMessage {
                    kind: Some(Kind::Report(report)),
                })
                .await
                .is_err()
            {
                return Err("the aggregator closed the stream".into());
            }
        }
    }
    Ok(())
}

/// `process_resident_memory_bytes` from the gateway's `/metrics`.
async fn gateway_rss(url: &str) -> Option<u64> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<axum::body::Body>();
    let uri: hyper::Uri = url.parse().ok()?;
    let response = tokio::time::timeout(Duration::from_secs(5), client.get(uri))
        .await
        .ok()?
        .ok()?;
    let body = response.into_body().collect().await.ok()?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn integer_fields_are_read_in_place() {
        let f = r#"{"type":"metrics","v":1,"host":"h","ts":1700000000123,"seq":4}"#;
        assert_eq!(super::field_i64(f, "\"ts\":"), Some(1_700_000_000_123));
        assert_eq!(super::field_i64(f, "\"nope\":"), None);
    }
}
