//! The aggregator's families in `/metrics` that `mon serve`'s gateway and
//! `mon aggregator --http-listen` both serve: pushed requests (remote-write,
//! OTLP) by protocol, and the `--remote-write` forwarders.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Stats;
use super::push::PushOutcome;

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

/// Appends the push and forwarder families.
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
