//! The forwarders' families in `/metrics` (Prometheus text format), one
//! series per destination: what was sent, dropped and failed, and how far
//! behind each destination is.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::{DestinationStats, ErrorKind, ForwardStats};

type Read = fn(&DestinationStats) -> f64;

const FAMILIES: [(&str, &str, &str, Read); 6] = [
    (
        "mon_remote_write_samples_sent_total",
        "counter",
        "Samples a remote-write destination accepted.",
        |d| d.samples_sent.load(Ordering::Relaxed) as f64,
    ),
    (
        "mon_remote_write_samples_dropped_total",
        "counter",
        "Samples in requests a remote-write destination refused for good (a 4xx other than 429).",
        |d| d.samples_dropped.load(Ordering::Relaxed) as f64,
    ),
    (
        "mon_remote_write_requests_total",
        "counter",
        "Requests sent to a remote-write destination, retries included.",
        |d| d.requests_sent.load(Ordering::Relaxed) as f64,
    ),
    (
        "mon_remote_write_pending_samples",
        "gauge",
        "Samples stored but not yet sent to a remote-write destination.",
        |d| d.pending_samples.load(Ordering::Relaxed) as f64,
    ),
    (
        "mon_remote_write_lag_seconds",
        "gauge",
        "How far behind the clock the oldest sample not yet sent is (0 when caught up).",
        |d| d.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0,
    ),
    (
        "mon_remote_write_up",
        "gauge",
        "1 while a remote-write destination answers, 0 while it is down.",
        |d| d.up.load(Ordering::Relaxed) as f64,
    ),
];

/// Appends every forwarder family; nothing when no destination is set.
pub fn write_metrics(out: &mut String, stats: &ForwardStats) {
    if stats.destinations.is_empty() {
        return;
    }
    for (name, kind, help, read) in FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for d in &stats.destinations {
            let _ = writeln!(
                out,
                "{name}{{destination=\"{}\"}} {}",
                escape(&d.destination),
                read(d)
            );
        }
    }
    let name = "mon_remote_write_errors_total";
    let _ = writeln!(
        out,
        "# HELP {name} Failed requests to a remote-write destination by kind: network (no answer), server_error (5xx), throttled (429), refused (other 4xx, dropped).\n# TYPE {name} counter"
    );
    for d in &stats.destinations {
        for kind in ErrorKind::ALL {
            let _ = writeln!(
                out,
                "{name}{{destination=\"{}\",kind=\"{}\"}} {}",
                escape(&d.destination),
                kind.label(),
                d.errors(kind)
            );
        }
    }
}

/// A label value as the text format wants it.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
