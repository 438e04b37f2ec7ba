//! Ingest of pushed samples (remote-write, OTLP): the same steps as a gRPC
//! report, in the same order (the host's report rate, validation, publish,
//! the store writer), then one answer for the whole request once every
//! accepted sample is committed.
//!
//! The one thing to know: [`PushSlot`] is where the aggregator hands its
//! ingest path to an HTTP router once the store is open, and takes it back
//! before the store closes; a request arriving outside that window is told
//! to retry, never half-stored.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::publish::Publisher;
use super::rate::ReportRate;
use super::reject_log::RejectLog;
use super::validate::{SeriesIndex, check_report};
use super::{Limits, Stats};
use crate::interop::Problem;
use crate::proto;
use crate::stats::{Protocol, PushStats};
use crate::store::{StoreWriter, WriteJob};
use crate::time::now_ms;

/// The aggregator's ingest path, as the HTTP receivers use it.
#[derive(Clone)]
pub struct PushIngest {
    pub(super) limits: Arc<Limits>,
    pub(super) series: Arc<SeriesIndex>,
    pub(super) writer: StoreWriter,
    pub(super) publisher: Publisher,
    pub(super) rejects: Arc<RejectLog>,
    pub(super) rate: Option<Arc<ReportRate>>,
    pub(super) stats: Arc<Stats>,
}

/// Where a running aggregator's [`PushIngest`] can be found: empty before
/// its store is open and after it began to stop.
#[derive(Clone, Default)]
pub struct PushSlot(Arc<RwLock<Option<PushIngest>>>);

impl std::fmt::Debug for PushSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushSlot")
    }
}

impl PushSlot {
    pub fn get(&self) -> Option<PushIngest> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn set(&self, ingest: Option<PushIngest>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = ingest;
    }
}

/// Why a request should be sent again later (429 or 503).
#[derive(Debug, Clone, PartialEq)]
pub enum Retry {
    /// A host was over its report rate; retry after this long.
    Throttled {
        host: String,
        per_second: u32,
        wait: Duration,
    },
    /// The store could not make the samples durable.
    Unavailable(String),
}

/// What became of one pushed request.
#[derive(Debug, Default)]
pub struct PushOutcome {
    /// Samples committed (new or already stored by an earlier try).
    pub stored: usize,
    /// Of those, samples that were already stored: a retried request.
    pub duplicates: usize,
    /// Samples refused, with their reasons: not to be sent again.
    pub problems: Vec<Problem>,
    pub retry: Option<Retry>,
}

impl PushOutcome {
    pub fn refused(&self) -> usize {
        self.problems.iter().map(|p| p.samples).sum()
    }
}

impl PushIngest {
    /// Runs every report through the agents' path and waits until what was
    /// accepted is durable. Stops at the first report that must be retried:
    /// what was submitted before it is still awaited and kept, so a retry
    /// stores only what is missing (writes are idempotent).
    pub async fn ingest(&self, reports: Vec<proto::Report>) -> PushOutcome {
        let mut outcome = PushOutcome::default();
        let mut waiting = Vec::new();
        for report in reports {
            if let Some(rate) = &self.rate {
                let key = super::rate::ReportRate::key(&report.host, self.limits.max_host_len);
                if let Err(wait) = rate.take(&key, Instant::now()) {
                    self.stats.reports_throttled.fetch_add(1, Ordering::Relaxed);
                    outcome.retry = Some(Retry::Throttled {
                        host: key,
                        per_second: rate.per_second(),
                        wait,
                    });
                    break;
                }
            }
            let timestamp_ms = report.timestamp_ms;
            let total = report.samples.len();
            let mut checked = check_report(report, &self.limits, now_ms(), &self.series);
            self.rejects.record(
                &checked.accepted.host,
                checked.accepted.seq,
                checked.rejected,
                &checked.rejections,
            );
            self.stats
                .samples_rejected
                .fetch_add(checked.rejected as u64, Ordering::Relaxed);
            for r in &checked.rejections {
                let whole = r.index < 0;
                outcome.problems.push(Problem {
                    series: if whole {
                        format!("{total} samples of host {:?}", checked.accepted.host)
                    } else {
                        r.series.clone()
                    },
                    timestamp_ms: Some(timestamp_ms),
                    reason: r.reason.clone(),
                    samples: if whole { total } else { 1 },
                });
            }
            if checked.accepted.points.is_empty() {
                continue;
            }
            self.publisher.offer_report(&checked.accepted);
            let job = WriteJob {
                host: checked.accepted.host.clone(),
                meta: None,
                timestamp_ms: checked.accepted.timestamp_ms,
                points: std::mem::take(&mut checked.accepted.points),
                activity: Vec::new(),
            };
            match self.writer.submit(job).await {
                Ok(rx) => waiting.push(rx),
                Err(e) => {
                    outcome.retry = Some(Retry::Unavailable(e.to_string()));
                    break;
                }
            }
        }
        for rx in waiting {
            match rx.await {
                Ok(Ok(written)) => {
                    self.stats.stored(written);
                    outcome.stored += written.inserted + written.duplicates;
                    outcome.duplicates += written.duplicates;
                }
                Ok(Err(e)) => outcome.retry = Some(Retry::Unavailable(e.to_string())),
                Err(_) => {
                    outcome.retry = Some(Retry::Unavailable("the store writer has stopped".into()))
                }
            }
        }
        outcome
    }
}

impl PushStats {
    /// Counts a request that was read and ingested.
    pub(super) fn answered(&self, protocol: Protocol, outcome: &PushOutcome) {
        let c = self.of(protocol);
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.samples_stored
            .fetch_add(outcome.stored as u64, Ordering::Relaxed);
        c.samples_refused
            .fetch_add(outcome.refused() as u64, Ordering::Relaxed);
        if outcome.retry.is_some() {
            c.requests_retry.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request refused before ingest (unreadable, too large,
    /// another format, the aggregator starting).
    pub(super) fn unread(&self, protocol: Protocol, retry: bool) {
        let c = self.of(protocol);
        c.requests.fetch_add(1, Ordering::Relaxed);
        let counter = if retry {
            &c.requests_retry
        } else {
            &c.requests_bad
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
