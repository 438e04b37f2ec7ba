//! `--remote-write`: every sample the aggregator stores, forwarded to
//! Prometheus remote-write receivers, one task per destination.
//!
//! The one thing to know: a forwarder never holds samples of its own. It
//! reads the store's forward log behind its destination's cursor (see
//! `store/forward_log.rs`), sends, and moves the cursor only once the
//! receiver has answered 2xx (or refused the request for good), so an
//! outage of the receiver, a restart or a crash of `mon` loses nothing
//! within raw retention: the backlog goes out in order when it is back.
//! Delivery is at least once: a request whose answer was lost is sent
//! again, and receivers drop an identical sample they already have.
//!
//! On a PostgreSQL store shared by several aggregators, only the one that
//! runs maintenance forwards (the log and the cursors are shared, so it
//! sends what every aggregator stored); the others stand by and take over
//! with the maintenance election.

mod metrics;
mod send;
mod target;
mod task;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use metrics::write_metrics;
pub use send::{Answer, ErrorKind, classify};
pub use target::{RemoteWriteTarget, TargetError};

use crate::store::{Readers, StoreError, StoreWriter};

/// Timings of every forwarder; the defaults suit a receiver on a network.
#[derive(Debug, Clone)]
pub struct SendPolicy {
    /// Most samples per request (a report with more is sent whole, alone).
    pub max_samples: usize,
    /// How long one request may take, connecting included.
    pub timeout: Duration,
    /// First and longest wait before retrying a failed request; a receiver's
    /// `Retry-After` is honoured up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// How often an idle forwarder looks for new rows.
    pub poll: Duration,
}

impl Default for SendPolicy {
    fn default() -> Self {
        Self {
            max_samples: 2_000,
            timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

/// The destinations, and the timings of their forwarders.
#[derive(Debug, Clone, Default)]
pub struct RemoteWrite {
    pub targets: Vec<RemoteWriteTarget>,
    pub policy: SendPolicy,
}

impl RemoteWrite {
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// Counters of one destination, for `/metrics` and tests.
#[derive(Debug, Default)]
pub struct DestinationStats {
    /// The URL without its credentials.
    pub destination: String,
    /// Samples the receiver accepted (2xx).
    pub samples_sent: AtomicU64,
    /// Samples in requests the receiver refused for good (4xx but 429).
    pub samples_dropped: AtomicU64,
    pub requests_sent: AtomicU64,
    /// Failed attempts by [`ErrorKind`], in its order.
    pub errors: [AtomicU64; ErrorKind::ALL.len()],
    /// Samples stored but not sent yet, as last counted.
    pub pending_samples: AtomicU64,
    /// How far behind the clock the oldest unsent sample is, in ms (0 when
    /// nothing waits).
    pub lag_ms: AtomicI64,
    /// 1 while the destination answers, 0 while it is down.
    pub up: AtomicU64,
}

impl DestinationStats {
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize].load(Ordering::Relaxed)
    }
}

/// Every destination's counters, in the order they were configured.
#[derive(Debug, Default)]
pub struct ForwardStats {
    pub destinations: Vec<Arc<DestinationStats>>,
}

/// The running forwarders.
pub struct Forwarders {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pub stats: Arc<ForwardStats>,
}

/// Registers every destination's cursor (so nothing stored from now on is
/// missed; call it before ingest starts) and starts one forwarder each.
pub async fn start(
    remote_write: &RemoteWrite,
    writer: &StoreWriter,
    readers: &Readers,
) -> Result<Forwarders, StoreError> {
    let (stop, stopped) = watch::channel(false);
    let mut stats = ForwardStats::default();
    let mut tasks = Vec::new();
    for target in &remote_write.targets {
        let cursor = writer.forward_register(target.destination()).await?;
        tracing::info!(
            destination = %target.destination(),
            auth = target.auth_kind(),
            ca = ?target.ca_file(),
            cursor,
            "remote-write: forwarding every stored sample"
        );
        let dest = Arc::new(DestinationStats {
            destination: target.destination().to_owned(),
            up: AtomicU64::new(1),
            ..DestinationStats::default()
        });
        stats.destinations.push(dest.clone());
        tasks.push(tokio::spawn(task::run(
            target.clone(),
            remote_write.policy.clone(),
            writer.clone(),
            readers.clone(),
            dest,
            stopped.clone(),
        )));
    }
    Ok(Forwarders {
        stop,
        tasks,
        stats: Arc::new(stats),
    })
}

impl Forwarders {
    /// Stops every forwarder: a request in flight gets `grace` to be
    /// answered; what is not sent waits in the log for the next start.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                abort.abort();
            }
        }
    }
}
