//! The hot path: current state of every host plus pub/sub of its events.
//!
//! [`Bus`] has two implementations with the same semantics, held to them by
//! one conformance test suite: the embedded bus (tokio channels and a state
//! map, used by `mon serve`) and Redis (for roles on separate machines).
//! Publishing never blocks ingest: a bus that is down returns an error the
//! caller counts and logs, and SQLite stays the source of truth. A bus also
//! grants the [`Lease`] that elects one leader among the processes sharing
//! it (`leadership.rs`).

mod embedded;
mod leadership;
mod lease;
mod pattern;
mod redis;
mod subscription;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub use embedded::EmbeddedBus;
pub use leadership::{Fence, Leadership, Term, Timing};
pub use lease::{Acquired, AlwaysLeader, Lease};
pub use pattern::Pattern;
pub use redis::{RedisBus, RedisUrl, lease_key};
pub use subscription::{SUBSCRIBER_QUEUE, Subscription};

use crate::activity::ActivityKind;
use crate::model::{AcceptedReport, HostMeta, SeriesKey};

/// A bus shared by every role of one process.
pub type SharedBus = Arc<dyn Bus>;

/// How long a silent host stays in the current state by default.
pub const DEFAULT_EXPIRE_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    #[error("invalid subscription pattern {pattern:?}: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("invalid Redis URL {url:?}: {reason}; expected redis://HOST:PORT[/DB]")]
    BadUrl { url: String, reason: String },
}

/// One message received from a subscription.
#[derive(Clone, Debug, PartialEq)]
pub enum BusEvent {
    /// A payload published on `channel`.
    Message { channel: Arc<str>, payload: Bytes },
    /// The subscriber fell behind or the link dropped and `missed` messages
    /// (0 when unknown, as after a reconnect) were lost: re-read the current
    /// state to resync.
    Gap { missed: u64 },
}

/// One change ingest makes to the hot path. A batch of them is applied in
/// order, so a host's metadata and reports keep the order they arrived in.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// The host metadata an agent sent in its `Hello`.
    Meta { host: String, meta: HostMeta },
    /// An accepted report and its encoded `metrics` event.
    Report {
        report: AcceptedReport,
        payload: Bytes,
    },
    /// A host's process or cgroup table and its encoded event.
    Activity {
        host: String,
        kind: ActivityKind,
        timestamp_ms: i64,
        payload: Bytes,
    },
}

/// The latest known state of one host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostState {
    pub host: String,
    pub meta: Option<HostMeta>,
    /// Timestamp of the newest report applied, in Unix milliseconds.
    pub last_seen_ms: i64,
    /// Latest value of every series the host has reported.
    pub values: HashMap<SeriesKey, f64>,
    /// The latest `processes` event.
    pub processes: Option<KeptTable>,
    /// The latest `cgroups` event.
    pub cgroups: Option<KeptTable>,
}

/// A host's latest table as the bus keeps it: when it was taken (so a
/// replayed older one is recognised without reading the event again) and
/// the event as published.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptTable {
    pub ts: i64,
    pub event: Bytes,
}

impl HostState {
    /// The latest event of a table kind.
    pub fn table(&self, kind: ActivityKind) -> Option<&KeptTable> {
        match kind {
            ActivityKind::Processes => self.processes.as_ref(),
            ActivityKind::Cgroups => self.cgroups.as_ref(),
        }
    }

    pub fn table_mut(&mut self, kind: ActivityKind) -> &mut Option<KeptTable> {
        match kind {
            ActivityKind::Processes => &mut self.processes,
            ActivityKind::Cgroups => &mut self.cgroups,
        }
    }
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Upserts the host's current state with the report's values and
    /// publishes `payload` (the encoded `metrics` event) on `metrics.<host>`.
    /// A report older than the host's newest one is published but leaves the
    /// state alone, so a replay cannot roll it back.
    async fn publish_report(&self, report: &AcceptedReport, payload: Bytes)
    -> Result<(), BusError>;

    /// Records the host metadata an agent sent in its `Hello`. A host not
    /// seen yet counts as seen now.
    async fn upsert_meta(&self, host: &str, meta: &HostMeta) -> Result<(), BusError>;

    /// Keeps `payload` (an encoded `processes` or `cgroups` event) as the
    /// host's latest table of that kind, unless it already has a newer one,
    /// and publishes it on `processes.<host>` / `cgroups.<host>`.
    async fn publish_activity(
        &self,
        host: &str,
        kind: ActivityKind,
        timestamp_ms: i64,
        payload: Bytes,
    ) -> Result<(), BusError>;

    /// Publishes an arbitrary payload on a channel (alert transitions).
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError>;

    /// Subscribes to every channel matching one of the glob patterns, such as
    /// `metrics.*` or `alerts.web-*`.
    async fn subscribe(&self, patterns: &[&str]) -> Result<Subscription, BusError>;

    /// The current state of every host that has not expired, sorted by host.
    async fn hosts(&self) -> Result<Vec<HostState>, BusError>;

    /// The lease called `name` among every process on this bus, granted for
    /// `ttl` at a time (a bus only this process sees grants it forever).
    fn lease(&self, name: &str, ttl: Duration) -> Arc<dyn Lease>;

    /// Whether a `metrics` event published now may reach anyone. Only a
    /// bus that sees its every subscriber (the embedded one) can say no,
    /// and then the aggregator does not encode the events nobody hears: a
    /// report published with an empty payload updates the state alone.
    fn metrics_audience(&self) -> bool {
        true
    }

    /// [`Bus::publish_report`] at once, with no future to poll, when the bus
    /// can (the embedded one: a map and a channel): true when done. A
    /// batch of reports then costs no allocation per report.
    fn publish_report_now(&self, _report: &AcceptedReport, _payload: &Bytes) -> bool {
        false
    }

    /// Applies updates in order. A bus on the network overrides this to send
    /// the whole batch in one round trip.
    async fn publish_updates(&self, updates: &[Update]) -> Result<(), BusError> {
        for update in updates {
            match update {
                Update::Meta { host, meta } => self.upsert_meta(host, meta).await?,
                Update::Report { report, payload } => {
                    if !self.publish_report_now(report, payload) {
                        self.publish_report(report, payload.clone()).await?
                    }
                }
                Update::Activity {
                    host,
                    kind,
                    timestamp_ms,
                    payload,
                } => {
                    self.publish_activity(host, *kind, *timestamp_ms, payload.clone())
                        .await?
                }
            }
        }
        Ok(())
    }
}
