//! `mon bench ingest`: a simulated fleet streaming to a real aggregator over
//! real gRPC, as fast as the aggregator acknowledges.
//!
//! Hosts are spread over `streams` concurrent gRPC streams; each stream keeps
//! up to `window` reports in flight. Simulated time is compressed: every host
//! sends one report per `interval` of simulated time, so the run measures the
//! aggregator, not the clock. By default the simulated clock starts a few
//! seconds back and, once it has caught up with the wall clock, follows it
//! (a millisecond on per round): the steady state of a live fleet, writing
//! into the open head. `backfill` starts 23 hours back instead, so every
//! sample takes the late-data path (its window is already compactable), as
//! an agent replaying a long outage does. Ack latency is the time from a
//! report's send to its ack (acks arrive in order).
//!
//! A simulated host sends far more reports per second than a real agent,
//! so the aggregator under test must run without the per-host report rate:
//! `mon aggregator --max-reports-per-second 0` (or `mon serve` with the same
//! flag). Against a limited one the run stops at the first refusal, whose
//! message names the flag.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;

use super::latency::{Latencies, ms};
use super::process;
use super::workload::{Shape, SimHost};
use crate::error_chain;
use crate::proto::{AgentMessage, Hello, agent_message::Kind, ingest_client::IngestClient};
use crate::time::now_ms;

#[derive(Clone, Debug)]
pub struct IngestBench {
    pub target: String,
    pub hosts: usize,
    pub series: usize,
    /// Simulated collection interval of every host.
    pub interval: Duration,
    pub duration: Duration,
    pub shape: Shape,
    pub streams: usize,
    /// Reports in flight per stream.
    pub window: usize,
    /// Write 23 hours back (the late-data path) instead of near now.
    pub backfill: bool,
    /// Send every sample with its name and labels (protocol 1) instead of
    /// defining each series once per stream (protocol 2).
    pub plain: bool,
    /// The aggregator's process, whose CPU time the summary reports.
    pub aggregator_pid: Option<u32>,
}

/// Why a bench run failed. A message that tells a cause keeps it as its
/// source too (the whole chain on one line for a transport error: tonic's
/// own says only "transport error").
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot reach the aggregator at {target} within {secs}s: timed out")]
    Timeout { target: String, secs: u64 },
    #[error(
        "cannot reach the aggregator at {target} within {secs}s: {}",
        error_chain::one_line(.source)
    )]
    Unreachable {
        target: String,
        secs: u64,
        #[source]
        source: tonic::transport::Error,
    },
    /// The aggregator answered a stream with an error status.
    #[error("the aggregator ended a stream: {}", .0.message())]
    Refused(#[source] tonic::Status),
    #[error("the aggregator ended a stream: {0}")]
    Stream(&'static str),
    #[error("the aggregator ended a stream: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Counters shared by the streams and read by the progress printer.
#[derive(Debug, Default)]
pub struct Counters {
    pub reports_acked: AtomicU64,
    pub samples_accepted: AtomicU64,
    pub samples_rejected: AtomicU64,
}

#[derive(Debug)]
pub struct IngestSummary {
    pub elapsed: Duration,
    pub reports_acked: u64,
    pub samples_accepted: u64,
    pub samples_rejected: u64,
    pub latencies: Latencies,
    /// True when the run was cut short by the shutdown signal.
    pub interrupted: bool,
    /// The aggregator's CPU over the run, in cores (1.0 = one core busy).
    pub aggregator_cores: Option<f64>,
    /// This load generator's CPU over the run, in cores.
    pub generator_cores: Option<f64>,
    /// Bytes of the encoded reports sent, per sample.
    pub bytes_per_sample: f64,
}

impl IngestSummary {
    pub fn samples_per_second(&self) -> f64 {
        self.samples_accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The human summary printed at the end of a run.
    pub fn render(&mut self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "{}elapsed {:.1}s\nsamples accepted {} ({:.0}/s)\nreports acked {} ({:.0}/s)\nsamples rejected {}\nack latency p50 {} p99 {} max {}\nwire {:.1} bytes/sample (encoded reports, steady state)\naggregator CPU {}\ngenerator CPU {}",
            if self.interrupted {
                "interrupted: partial results\n"
            } else {
                ""
            },
            secs,
            self.samples_accepted,
            self.samples_accepted as f64 / secs,
            self.reports_acked,
            self.reports_acked as f64 / secs,
            self.samples_rejected,
            ms(self.latencies.quantile(0.5)),
            ms(self.latencies.quantile(0.99)),
            ms(self.latencies.quantile(1.0)),
            self.bytes_per_sample,
            cores(self.aggregator_cores, "give --aggregator-pid to measure it"),
            cores(self.generator_cores, "not available here"),
        )
    }
}

fn cores(c: Option<f64>, otherwise: &str) -> String {
    match c {
        Some(c) => format!("{:.0}% of a core", c * 100.0),
        None => format!("not measured ({otherwise})"),
    }
}

/// Bytes sent, counted by the streams.
#[derive(Debug, Default)]
struct Wire {
    bytes: AtomicU64,
    samples: AtomicU64,
}

impl IngestBench {
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: String| Err(BenchError::Invalid(m));
        if self.hosts == 0 {
            return bad("--hosts 0: give at least 1 host".into());
        }
        if self.series == 0 && self.shape == Shape::Generic {
            return bad("--series 0: give at least 1 series per host".into());
        }
        if self.duration.is_zero() {
            return bad("--duration 0s: give a positive duration such as 10s".into());
        }
        if self.streams == 0 || self.window == 0 {
            return bad("--streams and --window must be at least 1".into());
        }
        Ok(())
    }
}

/// Runs the load until `duration` passes or `shutdown` resolves; `progress`
/// is called about once a second with the counters so far.
pub async fn run(
    config: IngestBench,
    counters: Arc<Counters>,
    shutdown: impl Future<Output = ()>,
) -> Result<IngestSummary, BenchError> {
    config.validate()?;
    // Several aggregators (comma-separated) share the streams round-robin:
    // a fleet's aggregators in front of one shared store.
    let mut endpoints = Vec::new();
    for target in config
        .target
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let endpoint = Endpoint::from_shared(target.to_owned())
            .map_err(|e| {
                BenchError::Invalid(format!(
                    "--target {target:?}: {e}; expected e.g. http://127.0.0.1:7070 (or several, comma-separated)"
                ))
            })?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        endpoints.push((target.to_owned(), endpoint));
    }
    if endpoints.is_empty() {
        return Err(BenchError::Invalid(
            "--target is empty; expected e.g. http://127.0.0.1:7070".into(),
        ));
    }
    let streams = config
        .streams
        .min(config.hosts)
        .max(endpoints.len().min(config.hosts));
    let mut channels = Vec::with_capacity(streams);
    for i in 0..streams {
        let (target, endpoint) = &endpoints[i % endpoints.len()];
        let channel = tokio::time::timeout(Duration::from_secs(5), endpoint.connect())
            .await
            .map_err(|_| BenchError::Timeout {
                target: target.clone(),
                secs: 5,
            })?
            .map_err(|source| BenchError::Unreachable {
                target: target.clone(),
                secs: 5,
                source,
            })?;
        channels.push(channel);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let wire = Arc::new(Wire::default());
    let cpu_at_start = (
        config
            .aggregator_pid
            .and_then(|pid| process::cpu_nanos(pid).ok()),
        process::cpu_nanos(std::process::id()).ok(),
    );
    let start_ms = if config.backfill {
        now_ms() - 23 * 3600 * 1000
    } else {
        now_ms() - 10_000
    };
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(streams);
    for (i, channel) in channels.into_iter().enumerate() {
        let hosts: Vec<SimHost> = (i..config.hosts)
            .step_by(streams)
            .map(|h| SimHost::new(h, config.shape, config.series))
            .collect();
        tasks.push(tokio::spawn(drive_stream(
            IngestClient::new(channel),
            hosts,
            config.clone(),
            start_ms,
            stop.clone(),
            counters.clone(),
            wire.clone(),
        )));
    }

    let interrupted = tokio::select! {
        _ = tokio::time::sleep(config.duration) => false,
        _ = shutdown => true,
    };
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let over_run = |before: Option<u64>, pid: Option<u32>| -> Option<f64> {
        let after = process::cpu_nanos(pid?).ok()?;
        Some(after.saturating_sub(before?) as f64 / 1e9 / secs)
    };
    let aggregator_cores = over_run(cpu_at_start.0, config.aggregator_pid);
    let generator_cores = over_run(cpu_at_start.1, Some(std::process::id()));
    let mut latencies = Latencies::default();
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok(l)) => latencies.extend(l),
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(BenchError::Task(e)),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(IngestSummary {
        elapsed,
        reports_acked: counters.reports_acked.load(Ordering::Relaxed),
        samples_accepted: counters.samples_accepted.load(Ordering::Relaxed),
        samples_rejected: counters.samples_rejected.load(Ordering::Relaxed),
        latencies,
        interrupted,
        aggregator_cores,
        generator_cores,
        bytes_per_sample: wire.bytes.load(Ordering::Relaxed) as f64
            / wire.samples.load(Ordering::Relaxed).max(1) as f64,
    })
}

async fn drive_stream(
    mut client: IngestClient<tonic::transport::Channel>,
    mut hosts: Vec<SimHost>,
    config: IngestBench,
    start_ms: i64,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    wire: Arc<Wire>,
) -> Result<Latencies, BenchError> {
    let (tx, rx) = mpsc::channel::<AgentMessage>(config.window + 1);
    tx.send(AgentMessage {
        kind: Some(Kind::Hello(Hello {
            host: hosts[0].name.clone(),
            agent_version: format!("bench-{}", env!("CARGO_PKG_VERSION")),
            interval_ms: config.interval.as_millis() as u64,
            protocol: if config.plain {
                1
            } else {
                crate::proto::PROTOCOL
            },
            ..Hello::default()
        })),
    })
    .await
    .map_err(|_| BenchError::Stream("stream closed before hello"))?;
    let mut acks = client
        .stream(ReceiverStream::new(rx))
        .await
        .map_err(BenchError::Refused)?
        .into_inner();

    let window = Arc::new(Semaphore::new(config.window));
    let sent = Arc::new(std::sync::Mutex::new(VecDeque::<Instant>::new()));
    let sender = {
        let (window, sent, stop) = (window.clone(), sent.clone(), stop.clone());
        let interval_ms = config.interval.as_millis() as i64;
        let backfill = config.backfill;
        let plain = config.plain;
        // Each host's series take their own range of this stream's ids.
        let first_ids: Vec<u32> = hosts
            .iter()
            .scan(0u32, |next, h| {
                let first = *next;
                *next += h.series() as u32;
                Some(first)
            })
            .collect();
        tokio::spawn(async move {
            let mut seq = 0u64;
            let mut last_ts = i64::MIN;
            'rounds: for round in 0i64.. {
                let simulated = start_ms + round * interval_ms;
                let ts = if backfill {
                    simulated
                } else {
                    // Never ahead of the wall clock, never twice the same instant.
                    simulated.min(now_ms()).max(last_ts.saturating_add(1))
                };
                last_ts = ts;
                for (host, &first_id) in hosts.iter_mut().zip(&first_ids) {
                    if stop.load(Ordering::Relaxed) {
                        break 'rounds;
                    }
                    let Ok(permit) = window.acquire().await else {
                        break 'rounds;
                    };
                    permit.forget();
                    seq += 1;
                    let report = if plain {
                        host.report(seq, ts)
                    } else {
                        host.interned_report(seq, ts, first_id, round == 0)
                    };
                    // Counted once a round in a hundred: encoding twice
                    // would cost the generator what it measures.
                    if round % 100 == 1 {
                        wire.bytes.fetch_add(
                            prost::Message::encoded_len(&report) as u64,
                            Ordering::Relaxed,
                        );
                        wire.samples.fetch_add(
                            (report.samples.len() + report.ids.len()) as u64,
                            Ordering::Relaxed,
                        );
                    }
                    sent.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_back(Instant::now());
                    if tx
                        .send(AgentMessage {
                            kind: Some(Kind::Report(report)),
                        })
                        .await
                        .is_err()
                    {
                        break 'rounds;
                    }
                }
            }
            // Dropping `tx` ends the request stream once the acks are in.
        })
    };

    let mut latencies = Latencies::default();
    let result = loop {
        let outstanding = sent.lock().unwrap_or_else(|e| e.into_inner()).len();
        if sender.is_finished() && outstanding == 0 {
            break Ok(());
        }
        match tokio::time::timeout(Duration::from_secs(10), acks.message()).await {
            Ok(Ok(Some(ack))) => {
                let at = sent.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                if let Some(at) = at {
                    latencies.record(at.elapsed());
                }
                window.add_permits(1);
                counters.reports_acked.fetch_add(1, Ordering::Relaxed);
                counters
                    .samples_accepted
                    .fetch_add(ack.accepted as u64, Ordering::Relaxed);
                counters
                    .samples_rejected
                    .fetch_add(ack.rejected as u64, Ordering::Relaxed);
            }
            Ok(Ok(None)) => break Ok(()),
            Ok(Err(status)) => break Err(BenchError::Refused(status)),
            Err(_) => {
                break Err(BenchError::Stream("no ack for 10s; the aggregator stalled"));
            }
        }
    };
    window.close();
    sender.abort();
    result.map(|()| latencies)
}
