//! What ingest did, counted: the aggregator counts, and `/metrics` reads
//! the counters, on the aggregator's own `--http-listen` and on a gateway
//! beside it in one process (`mon serve`). Here, below both roles, so
//! neither imports the other for them.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::forward::ForwardStats;
use crate::store::StoreStats;

/// Counters of what the aggregator did, for logs, tests and `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub samples_stored: AtomicU64,
    pub samples_duplicate: AtomicU64,
    pub samples_rejected: AtomicU64,
    pub reports_acked: AtomicU64,
    /// Reports refused because their host was over its report rate (each
    /// ends a stream; the agent replays the report later).
    pub reports_throttled: AtomicU64,
    /// Bus updates (reports and host metadata) dropped: the bus failed or
    /// could not keep up.
    pub bus_errors: AtomicU64,
    /// Bus updates the bus accepted.
    pub bus_published: AtomicU64,
    /// The store's maintenance counters, once the store is open.
    pub store: OnceLock<Arc<StoreStats>>,
    /// Pushed requests (remote-write, OTLP) received and what became of them.
    pub push: PushStats,
    /// The `--remote-write` forwarders' counters, once they run.
    pub forward: OnceLock<Arc<ForwardStats>>,
}

/// A protocol samples are pushed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    RemoteWrite,
    Otlp,
}

impl Protocol {
    const ALL: [Protocol; 2] = [Protocol::RemoteWrite, Protocol::Otlp];

    fn label(self) -> &'static str {
        match self {
            Protocol::RemoteWrite => "remote_write",
            Protocol::Otlp => "otlp",
        }
    }
}

/// Counters of one protocol's requests.
#[derive(Debug, Default)]
pub struct PushCounters {
    /// Requests answered, whatever the answer.
    pub requests: AtomicU64,
    /// Samples committed (new or already stored).
    pub samples_stored: AtomicU64,
    /// Samples refused, in translation or validation.
    pub samples_refused: AtomicU64,
    /// Requests answered 429 or 503: the sender was told to retry.
    pub requests_retry: AtomicU64,
    /// Requests whose body could not be read or was of another format.
    pub requests_bad: AtomicU64,
}

/// Pushed requests by protocol.
#[derive(Debug, Default)]
pub struct PushStats {
    pub remote_write: PushCounters,
    pub otlp: PushCounters,
}

impl PushStats {
    pub fn of(&self, protocol: Protocol) -> &PushCounters {
        match protocol {
            Protocol::RemoteWrite => &self.remote_write,
            Protocol::Otlp => &self.otlp,
        }
    }
}

type Read = fn(&PushCounters) -> u64;

const PUSH_FAMILIES: [(&str, &str, Read); 5] = [
    (
        "mon_push_requests_total",
        "Pushed requests answered, by protocol.",
        |c| c.requests.load(Ordering::Relaxed),
    ),
    (
        "mon_push_samples_stored_total",
        "Pushed samples committed to the store (a retried one counts again).",
        |c| c.samples_stored.load(Ordering::Relaxed),
    ),
    (
        "mon_push_samples_refused_total",
        "Pushed samples refused in translation or validation.",
        |c| c.samples_refused.load(Ordering::Relaxed),
    ),
    (
        "mon_push_requests_retry_total",
        "Pushed requests answered 429 or 503 (the sender retries).",
        |c| c.requests_retry.load(Ordering::Relaxed),
    ),
    (
        "mon_push_requests_bad_total",
        "Pushed requests refused unread: not the expected format, too large or unreadable.",
        |c| c.requests_bad.load(Ordering::Relaxed),
    ),
];

/// Appends the push and forwarder families of `/metrics`.
pub fn write_metrics(out: &mut String, stats: &Stats) {
    for (name, help, read) in PUSH_FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for p in Protocol::ALL {
            let _ = writeln!(
                out,
                "{name}{{protocol=\"{}\"}} {}",
                p.label(),
                read(stats.push.of(p))
            );
        }
    }
    if let Some(forward) = stats.forward.get() {
        crate::forward::write_metrics(out, forward);
    }
}
