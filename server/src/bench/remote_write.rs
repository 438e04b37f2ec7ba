//! `mon bench remote-write`: Prometheus remote-write ingest, measured from
//! the outside like `mon bench ingest` measures gRPC. Every request is
//! encoded before the clock starts (a sender's own cost is not the
//! receiver's), then connections post them as fast as answers come back.
//!
//! The one thing to know: a sample counts only when its request was
//! answered 204, i.e. committed; the workload is the same simulated fleet
//! as `mon bench ingest` (its generic or TSBS shape), one timestamp per
//! round, starting 23 h back so every sample is within raw retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;

use super::workload::{Shape, SimHost};
use crate::interop::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};
use crate::time::now_ms;

#[derive(Clone, Debug)]
pub struct RemoteWriteBench {
    /// The receiver's URL, e.g. `http://127.0.0.1:7071/api/v1/write`.
    pub target: String,
    pub hosts: usize,
    pub series: usize,
    pub shape: Shape,
    /// Rounds of the whole fleet encoded up front (one timestamp each).
    pub rounds: usize,
    /// Samples per request at most (Prometheus sends 2,000 by default).
    pub samples_per_request: usize,
    pub connections: usize,
    pub duration: Duration,
}

#[derive(Debug)]
pub struct RemoteWriteSummary {
    pub elapsed: Duration,
    pub requests: u64,
    pub samples_stored: u64,
    pub failed: u64,
    pub first_failure: Option<String>,
}

impl RemoteWriteSummary {
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "elapsed {secs:.1}s\nsamples stored {} ({:.0}/s)\nrequests answered 204 {} ({:.0}/s)\nrequests failed {}{}",
            self.samples_stored,
            self.samples_stored as f64 / secs,
            self.requests,
            self.requests as f64 / secs,
            self.failed,
            self.first_failure
                .as_deref()
                .map(|f| format!(" (first: {f})"))
                .unwrap_or_default()
        )
    }
}

/// Encodes the fleet's rounds into bodies of at most `samples_per_request`
/// samples each, with their sample counts.
fn encode_all(config: &RemoteWriteBench) -> Vec<(Vec<u8>, u64)> {
    let mut hosts: Vec<SimHost> = (0..config.hosts)
        .map(|i| SimHost::new(i, config.shape, config.series))
        .collect();
    let start = now_ms() - 23 * 3600 * 1000;
    let mut bodies = Vec::new();
    let mut series = Vec::new();
    let flush = |series: &mut Vec<TimeSeries>, bodies: &mut Vec<(Vec<u8>, u64)>| {
        if !series.is_empty() {
            let n = series.len() as u64;
            let request = WriteRequest {
                timeseries: std::mem::take(series),
            };
            bodies.push((encode(&request), n));
        }
    };
    for round in 0..config.rounds {
        let ts = start + round as i64 * 5000;
        for host in &mut hosts {
            let report = host.report(round as u64, ts);
            for sample in report.samples {
                let mut labels = vec![
                    Label {
                        name: "__name__".into(),
                        value: sample.name,
                    },
                    Label {
                        name: "host".into(),
                        value: report.host.clone(),
                    },
                ];
                labels.extend(sample.labels.into_iter().map(|l| Label {
                    name: l.name,
                    value: l.value,
                }));
                series.push(TimeSeries {
                    labels,
                    samples: vec![Sample {
                        value: sample.value,
                        timestamp: ts,
                    }],
                    histograms: Vec::new(),
                });
                if series.len() >= config.samples_per_request {
                    flush(&mut series, &mut bodies);
                }
            }
        }
    }
    flush(&mut series, &mut bodies);
    bodies
}

/// Posts every pre-encoded request once, or until `duration` passes.
pub async fn run(config: RemoteWriteBench) -> Result<RemoteWriteSummary, String> {
    if config.hosts == 0 || config.rounds == 0 || config.connections == 0 {
        return Err("--hosts, --rounds and --connections must be at least 1".into());
    }
    let bodies = Arc::new(encode_all(&config));
    let encoded: usize = bodies.iter().map(|(b, _)| b.len()).sum();
    eprintln!(
        "bench remote-write: {} requests encoded ({} MiB), {} connections",
        bodies.len(),
        encoded / (1024 * 1024),
        config.connections
    );
    let next = Arc::new(AtomicUsize::new(0));
    let stored = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let started = Instant::now();
    let deadline = started + config.duration;
    let mut tasks = Vec::new();
    for _ in 0..config.connections {
        let (bodies, next, stored, requests, failed, first_failure) = (
            bodies.clone(),
            next.clone(),
            stored.clone(),
            requests.clone(),
            failed.clone(),
            first_failure.clone(),
        );
        let target = config.target.clone();
        tasks.push(tokio::spawn(async move {
            let client = crate::http::client::client();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, samples)) = bodies.get(i) else {
                    break;
                };
                let request = match axum::http::Request::post(&target)
                    .header("Content-Type", "application/x-protobuf")
                    .header("Content-Encoding", "snappy")
                    .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                    .body(Body::from(body.clone()))
                {
                    Ok(r) => r,
                    Err(e) => return Err(format!("bad target {target}: {e}")),
                };
                match client.request(request).await {
                    Ok(answer) if answer.status().as_u16() == 204 => {
                        stored.fetch_add(*samples, Ordering::Relaxed);
                        requests.fetch_add(1, Ordering::Relaxed);
                    }
                    outcome => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_failure.lock().unwrap_or_else(|e| e.into_inner());
                        if first.is_none() {
                            *first = Some(match outcome {
                                Ok(answer) => format!("HTTP {}", answer.status()),
                                Err(e) => e.to_string(),
                            });
                        }
                    }
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let first_failure = first_failure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(RemoteWriteSummary {
        elapsed: started.elapsed(),
        requests: requests.load(Ordering::Relaxed),
        samples_stored: stored.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        first_failure,
    })
}
