//! The limits validation enforces. Every one is configurable; the defaults
//! suit a fleet of ordinary hosts.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Longest host name accepted (DNS allows 253).
    pub max_host_len: usize,
    /// Longest metric or label name accepted.
    pub max_name_len: usize,
    /// Most labels on one sample.
    pub max_labels: usize,
    /// Longest label value accepted.
    pub max_label_value_len: usize,
    /// Most samples stored from one report; the rest are rejected.
    pub max_samples_per_report: usize,
    /// Most distinct series one host may create (cardinality cap).
    pub max_series_per_host: usize,
    /// Most series one ingest stream may define (interned protocol): the
    /// bound of its table, so a stream's memory stays bounded.
    pub max_series_per_stream: usize,
    /// Oldest report accepted, relative to now: the raw tier's retention.
    pub max_age: Duration,
    /// Furthest into the future a report's timestamp may be (clock skew).
    pub max_future: Duration,
    /// How far past 0..100 a `_percent` value may stray and still be clamped
    /// instead of rejected (rounding in the kernel's counters).
    pub percent_tolerance: f64,
    /// Largest encoded gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Largest pushed body (remote-write, OTLP) accepted, in bytes, both as
    /// received and once decompressed.
    pub max_write_bytes: usize,
    /// Reports one host may send per second, averaged over time; 0 means
    /// unlimited (the benchmarks run so).
    pub max_reports_per_second: u32,
    /// Reports a host may send at once beyond that rate: what an agent
    /// replays from its spool after an outage must fit.
    pub report_burst: u32,
}

/// Seconds' worth of reports a host may send at once: two minutes at the
/// default rate is 2,400 reports, more than a default spool (720) replayed
/// together with what the agent collected while reconnecting.
pub const BURST_SECONDS: u32 = 120;

impl Limits {
    /// The burst that goes with a rate: [`BURST_SECONDS`] worth of reports.
    pub fn burst_for(reports_per_second: u32) -> u32 {
        reports_per_second.saturating_mul(BURST_SECONDS)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_host_len: crate::host_name::MAX_LEN,
            max_name_len: 128,
            max_labels: 16,
            max_label_value_len: 256,
            max_samples_per_report: 10_000,
            max_series_per_host: 10_000,
            // Room for a relay carrying ten hosts at their cap.
            max_series_per_stream: 100_000,
            max_age: Duration::from_secs(24 * 3600),
            max_future: Duration::from_secs(5 * 60),
            percent_tolerance: 1.0,
            max_message_bytes: 4 * 1024 * 1024,
            // Prometheus sends at most 2,000 samples per request by default,
            // about 200 KiB decompressed: 16 MiB leaves room for senders
            // configured with far larger batches.
            max_write_bytes: 16 * 1024 * 1024,
            // Twice what an agent sends at its shortest interval (100ms).
            max_reports_per_second: 20,
            report_burst: Limits::burst_for(20),
        }
    }
}
