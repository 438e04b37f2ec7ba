//! One destination's forwarder: read the reports after its cursor, send
//! them as one request, move the cursor, again; wait for new rows when there
//! are none, and back off while the receiver fails.
//!
//! The log says when a destination goes down (once, with the reason) and
//! when it is back (once, with how long it was away); requests the receiver
//! refuses for good are logged at most once per [`REFUSED_LOG_EVERY`], with
//! how many were refused in between.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use super::send::{self, Answer, ErrorKind};
use super::{DestinationStats, RemoteWriteTarget, SendPolicy};
use crate::backoff::Backoff;
use crate::episode::{Episode, Throttle};
use crate::interop::{remote_write, remote_write_out};
use crate::model::SeriesKey;
use crate::store::{ForwardBatch, Reader, Readers, StoreError, StoreWriter};

/// Refused requests are logged at most this often per destination.
const REFUSED_LOG_EVERY: Duration = Duration::from_secs(60);
/// How often a standby (another aggregator forwards) asks again.
const STANDBY_POLL: Duration = Duration::from_secs(10);
/// How often the backlog is counted while a destination is behind.
const COUNT_EVERY: Duration = Duration::from_secs(5);

/// The task's state besides the store.
struct Forwarder {
    target: RemoteWriteTarget,
    policy: SendPolicy,
    writer: StoreWriter,
    readers: Readers,
    reader: Option<Reader>,
    stats: Arc<DestinationStats>,
    stop: watch::Receiver<bool>,
    names: HashMap<i64, SeriesKey>,
    /// The destination down, from the first failed request to the next
    /// answer.
    down: Episode,
    refused: Throttle,
    standby: bool,
    counted: Option<Instant>,
}

pub(super) async fn run(
    target: RemoteWriteTarget,
    policy: SendPolicy,
    writer: StoreWriter,
    readers: Readers,
    stats: Arc<DestinationStats>,
    stop: watch::Receiver<bool>,
) {
    let http = crate::http::client::client_with(target.tls());
    let mut f = Forwarder {
        target,
        policy,
        writer,
        readers,
        reader: None,
        stats,
        stop,
        names: HashMap::new(),
        down: Episode::new(),
        refused: Throttle::new(REFUSED_LOG_EVERY),
        standby: false,
        counted: None,
    };
    let mut store_failing = Episode::new();
    loop {
        if *f.stop.borrow() {
            break;
        }
        let batch = match f.next_batch().await {
            Ok(b) => b,
            Err(StoreError::Closed) => break,
            Err(e) => {
                if store_failing.fail() {
                    tracing::warn!(destination = %f.target.destination(), error = %e, "remote-write: cannot read the forward log; retrying");
                }
                f.reader = None;
                f.pause(f.policy.max_backoff).await;
                continue;
            }
        };
        let _ = store_failing.recover();
        if batch.entries.is_empty() {
            f.stats.pending_samples.store(0, Ordering::Relaxed);
            f.stats.lag_ms.store(0, Ordering::Relaxed);
            f.pause(f.policy.poll).await;
            continue;
        }
        match f.writer.forward_turn().await {
            Ok(true) => f.active(),
            Ok(false) => {
                f.standing_by();
                f.pause(STANDBY_POLL).await;
                continue;
            }
            Err(StoreError::Closed) => break,
            Err(_) => {
                f.pause(f.policy.max_backoff).await;
                continue;
            }
        }
        f.count_backlog(&batch).await;
        let Some(sent_to) = f.deliver(&http, &batch).await else {
            break;
        };
        match f
            .writer
            .forward_advance(f.target.destination(), sent_to)
            .await
        {
            Ok(_) if !batch.more => {
                f.stats.pending_samples.store(0, Ordering::Relaxed);
                f.stats.lag_ms.store(0, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(StoreError::Closed) => break,
            Err(e) => {
                // The batch goes again once the store takes the cursor: at
                // least once, never lost.
                tracing::warn!(destination = %f.target.destination(), error = %e, "remote-write: sent, but the cursor could not be saved; the batch will be sent again");
                f.pause(f.policy.max_backoff).await;
            }
        }
    }
    tracing::debug!(destination = %f.target.destination(), "remote-write forwarder stopped");
}

impl Forwarder {
    /// Runs `read` on this task's reader, off the executor.
    async fn read<T: Send + 'static>(
        &mut self,
        read: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        let reader = self.reader.take();
        let (reader, out) = tokio::task::spawn_blocking(move || {
            let reader = match reader {
                Some(r) => r,
                None => readers.reader()?,
            };
            let out = read(&reader);
            Ok::<_, StoreError>((reader, out))
        })
        .await
        .map_err(|e| StoreError::Read(crate::store::cause(e)))??;
        self.reader = Some(reader);
        out
    }

    /// The reports after the cursor, with every series they name known.
    async fn next_batch(&mut self) -> Result<ForwardBatch, StoreError> {
        let destination = self.target.destination().to_owned();
        let max = self.policy.max_samples;
        let batch = self
            .read(move |r| r.forward_batch(&destination, max))
            .await?;
        let mut missing: Vec<i64> = batch
            .entries
            .iter()
            .flat_map(|e| e.samples.iter().map(|s| s.0))
            .filter(|id| !self.names.contains_key(id))
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            missing.dedup();
            let found = self.read(move |r| r.series_by_id(&missing)).await?;
            self.names.extend(found);
        }
        Ok(batch)
    }

    /// Counts what waits: the batch itself when it is all there is, else
    /// the whole backlog (at most every [`COUNT_EVERY`]).
    async fn count_backlog(&mut self, batch: &ForwardBatch) {
        let oldest = batch.entries.iter().map(|e| e.ts).min();
        let mut pending = batch.samples() as u64;
        if batch.more {
            if self.counted.is_some_and(|t| t.elapsed() < COUNT_EVERY) {
                return;
            }
            self.counted = Some(Instant::now());
            let destination = self.target.destination().to_owned();
            if let Ok(p) = self.read(move |r| r.forward_pending(&destination)).await {
                pending = p.samples;
            }
        }
        self.stats.pending_samples.store(pending, Ordering::Relaxed);
        let lag = oldest.map_or(0, |ts| crate::time::now_ms().saturating_sub(ts).max(0));
        self.stats.lag_ms.store(lag, Ordering::Relaxed);
    }

    /// Sends the batch until it is accepted or refused for good; returns the
    /// cursor to move to, or `None` when told to stop first.
    async fn deliver(
        &mut self,
        http: &crate::http::client::HttpClient,
        batch: &ForwardBatch,
    ) -> Option<i64> {
        let built = remote_write_out::build(&batch.entries, &self.names);
        if built.unnamed > 0 {
            tracing::warn!(destination = %self.target.destination(), samples = built.unnamed, "remote-write: samples of series no longer in the store are skipped");
        }
        if built.request.timeseries.is_empty() {
            return Some(batch.last_seq());
        }
        let body = Bytes::from(remote_write::encode(&built.request));
        let samples = built.samples as u64;
        let mut backoff = Backoff::new(self.policy.min_backoff, self.policy.max_backoff);
        loop {
            let answer = send::post(http, &self.target, body.clone(), self.policy.timeout).await;
            self.stats.requests_sent.fetch_add(1, Ordering::Relaxed);
            match answer {
                Answer::Accepted => {
                    self.stats
                        .samples_sent
                        .fetch_add(samples, Ordering::Relaxed);
                    self.recovered();
                    return Some(batch.last_seq());
                }
                Answer::Refused { status, message } => {
                    self.count(ErrorKind::Refused);
                    self.stats
                        .samples_dropped
                        .fetch_add(samples, Ordering::Relaxed);
                    // The receiver answered, so it is up; it just will not
                    // take this request.
                    self.recovered();
                    self.log_refused(status, &message, samples);
                    return Some(batch.last_seq());
                }
                Answer::Retry {
                    kind,
                    reason,
                    after,
                } => {
                    self.count(kind);
                    self.went_down(&reason);
                    let delay = match after {
                        Some(d) => d.min(self.policy.max_backoff),
                        None => backoff.next_delay(),
                    };
                    tracing::debug!(destination = %self.target.destination(), %reason, retry_in = ?delay, "remote-write: request failed");
                    if !self.pause(delay).await {
                        return None;
                    }
                }
            }
        }
    }

    fn count(&self, kind: ErrorKind) {
        self.stats.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn went_down(&mut self, reason: &str) {
        if self.down.fail() {
            self.stats.up.store(0, Ordering::Relaxed);
            tracing::warn!(destination = %self.target.destination(), %reason, "remote-write destination is down; samples wait in the store's forward log and are sent in order once it is back");
        }
    }

    fn recovered(&mut self) {
        if let Some(ended) = self.down.recover() {
            self.stats.up.store(1, Ordering::Relaxed);
            tracing::info!(
                destination = %self.target.destination(),
                down_for = %ended.lasted_text(),
                pending_samples = self.stats.pending_samples.load(Ordering::Relaxed),
                "remote-write destination is back; sending what waited"
            );
        }
    }

    fn log_refused(&mut self, status: axum::http::StatusCode, message: &str, samples: u64) {
        let Some(also) = self.refused.hit(1) else {
            return;
        };
        tracing::error!(
            destination = %self.target.destination(),
            %status,
            receiver_said = %message,
            samples,
            refused_since_last_log = also,
            "remote-write destination refused a request; its samples are dropped (not retried, so what follows is not held up)"
        );
    }

    fn active(&mut self) {
        if std::mem::take(&mut self.standby) {
            tracing::info!(destination = %self.target.destination(), "remote-write: this aggregator forwards now");
        }
    }

    fn standing_by(&mut self) {
        if !self.standby {
            self.standby = true;
            tracing::info!(destination = %self.target.destination(), "remote-write: standby, the aggregator running the store's maintenance forwards");
        }
    }

    /// Waits `d` unless told to stop; false when stopping.
    async fn pause(&mut self, d: Duration) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = stop.wait_for(|s| *s) => false,
        }
    }
}
