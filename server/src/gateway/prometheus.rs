//! `/metrics` in the Prometheus text exposition format (0.0.4): the latest
//! value of every host series, labelled with its host, followed by this
//! process's own counters. A series' own `host` label is renamed
//! `exported_host`, as Prometheus does on a clash.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::GatewayState;
use crate::fanout::Fleet;

pub async fn metrics(State(state): State<GatewayState>) -> impl IntoResponse {
    let mut out = String::with_capacity(64 * 1024);
    state.hub.with_fleet(|fleet| write_fleet(&mut out, fleet));
    let hub = &state.hub.stats;
    let mut own = vec![
        (
            "mon_websocket_clients",
            "gauge",
            "WebSocket clients connected now.",
            hub.clients.load(Ordering::Relaxed),
        ),
        (
            "mon_websocket_clients_total",
            "counter",
            "WebSocket clients accepted since start.",
            hub.clients_total.load(Ordering::Relaxed),
        ),
        (
            "mon_websocket_frames_sent_total",
            "counter",
            "Frames sent to WebSocket clients.",
            hub.frames_sent.load(Ordering::Relaxed),
        ),
        (
            "mon_websocket_resyncs_total",
            "counter",
            "Snapshots sent to clients that fell behind.",
            hub.lag_resyncs.load(Ordering::Relaxed),
        ),
        (
            "mon_websocket_clients_dropped_slow_total",
            "counter",
            "Clients closed for being too slow.",
            hub.clients_dropped_slow.load(Ordering::Relaxed),
        ),
        (
            "mon_websocket_bad_frames_total",
            "counter",
            "Unreadable frames received from clients.",
            hub.bad_client_frames.load(Ordering::Relaxed),
        ),
        (
            "mon_gateway_events_total",
            "counter",
            "Events received from the bus.",
            hub.events_in.load(Ordering::Relaxed),
        ),
    ];
    if let Some(agg) = &state.aggregator {
        own.extend([
            (
                "mon_aggregator_samples_stored_total",
                "counter",
                "Samples written to the raw tier.",
                agg.samples_stored.load(Ordering::Relaxed),
            ),
            (
                "mon_aggregator_samples_duplicate_total",
                "counter",
                "Replayed samples already stored.",
                agg.samples_duplicate.load(Ordering::Relaxed),
            ),
            (
                "mon_aggregator_samples_rejected_total",
                "counter",
                "Samples rejected by validation.",
                agg.samples_rejected.load(Ordering::Relaxed),
            ),
            (
                "mon_aggregator_reports_acked_total",
                "counter",
                "Reports acknowledged to agents.",
                agg.reports_acked.load(Ordering::Relaxed),
            ),
            (
                "mon_aggregator_bus_errors_total",
                "counter",
                "Bus updates dropped because the bus failed or fell behind.",
                agg.bus_errors.load(Ordering::Relaxed),
            ),
            (
                "mon_aggregator_bus_published_total",
                "counter",
                "Bus updates (reports and host metadata) the bus accepted.",
                agg.bus_published.load(Ordering::Relaxed),
            ),
        ]);
    }
    let mut signed: Vec<(&str, &str, &str, i64)> = Vec::new();
    if let Some(store) = state.aggregator.as_ref().and_then(|a| a.store.get()) {
        own.extend([
            (
                "mon_store_maintenance_runs_total",
                "counter",
                "Maintenance runs of the store writer.",
                store.runs.load(Ordering::Relaxed),
            ),
            (
                "mon_store_head_rows_compacted_total",
                "counter",
                "Report rows compacted into raw chunks.",
                store.head_rows_compacted.load(Ordering::Relaxed),
            ),
            (
                "mon_store_buckets_materialized_total",
                "counter",
                "1m and 1h buckets materialized.",
                store.buckets_materialized.load(Ordering::Relaxed),
            ),
            (
                "mon_store_raw_samples_deleted_total",
                "counter",
                "Raw samples deleted by retention.",
                store.raw_samples_deleted.load(Ordering::Relaxed),
            ),
            (
                "mon_store_1m_rows_deleted_total",
                "counter",
                "metrics_1m rows deleted by retention.",
                store.one_minute_rows_deleted.load(Ordering::Relaxed),
            ),
            (
                "mon_store_1h_rows_deleted_total",
                "counter",
                "metrics_1h rows deleted by retention.",
                store.one_hour_rows_deleted.load(Ordering::Relaxed),
            ),
            (
                "mon_store_maintenance_errors_total",
                "counter",
                "Failed maintenance steps.",
                store.maintenance_errors.load(Ordering::Relaxed),
            ),
            (
                "mon_store_write_errors_total",
                "counter",
                "Ingest batches rolled back (disk full, read-only, I/O error); their reports are replayed.",
                store.write_errors.load(Ordering::Relaxed),
            ),
            (
                "mon_store_write_failing",
                "gauge",
                "1 while store writes fail and ingest is paused, else 0.",
                store.write_failing.load(Ordering::Relaxed),
            ),
        ]);
        signed.extend([
            (
                "mon_store_rollup_lag_seconds",
                "gauge",
                "How far the 1m watermark trails the clock.",
                store.rollup_lag_ms.load(Ordering::Relaxed),
            ),
            (
                "mon_store_watermark_1m_timestamp_seconds",
                "gauge",
                "Every 1m bucket before this is materialized.",
                store.watermark_1m_ms.load(Ordering::Relaxed),
            ),
            (
                "mon_store_watermark_1h_timestamp_seconds",
                "gauge",
                "Every 1h bucket before this is materialized.",
                store.watermark_1h_ms.load(Ordering::Relaxed),
            ),
        ]);
    }
    for (name, kind, help, ms) in signed {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
            ms as f64 / 1000.0
        );
    }
    if let Some(rss) = resident_memory_bytes() {
        own.push((
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss,
        ));
    }
    for (name, kind, help, value) in own {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

fn write_fleet(out: &mut String, fleet: &Fleet) {
    // name -> lines, so each metric family is written once with its TYPE.
    let mut families: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut last_seen = Vec::new();
    for (host, entry) in &fleet.hosts {
        last_seen.push(format!(
            "mon_host_last_seen_timestamp_seconds{{host=\"{}\"}} {}",
            escape(host),
            entry.last_seen_ms as f64 / 1000.0
        ));
        for (key, value) in &entry.values {
            let mut line = format!("{}{{host=\"{}\"", key.name, escape(host));
            for (k, v) in &key.labels {
                let k = if k == "host" { "exported_host" } else { k };
                let _ = write!(line, ",{k}=\"{}\"", escape(v));
            }
            let _ = write!(line, "}} {value}");
            families.entry(&key.name).or_default().push(line);
        }
    }
    for (name, lines) in families {
        let _ = writeln!(
            out,
            "# HELP {name} Latest value reported by mon agents.\n# TYPE {name} gauge"
        );
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    let _ = writeln!(
        out,
        "# HELP mon_host_last_seen_timestamp_seconds Time of the newest report of each host.\n# TYPE mon_host_last_seen_timestamp_seconds gauge"
    );
    for line in last_seen {
        out.push_str(&line);
        out.push('\n');
    }
}

/// This process's resident memory, from `/proc` (Linux only).
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fanout::HostEntry;
    use crate::model::SeriesKey;

    #[test]
    fn series_are_grouped_in_families_with_escaped_labels() {
        let mut fleet = Fleet::default();
        let mut entry = HostEntry {
            last_seen_ms: 1500,
            ..HostEntry::default()
        };
        entry.values.insert(SeriesKey::new("load1"), 0.5);
        entry.values.insert(
            SeriesKey::with_labels(
                "filesystem_used_percent",
                [("mount", "/we\"ird"), ("host", "x")],
            ),
            42.0,
        );
        fleet.hosts.insert("web-1".into(), entry);
        let mut out = String::new();
        write_fleet(&mut out, &fleet);
        assert!(
            out.contains("# TYPE load1 gauge\nload1{host=\"web-1\"} 0.5\n"),
            "{out}"
        );
        assert!(
            out.contains(
                r#"filesystem_used_percent{host="web-1",exported_host="x",mount="/we\"ird"} 42"#
            ),
            "{out}"
        );
        assert!(out.contains("mon_host_last_seen_timestamp_seconds{host=\"web-1\"} 1.5"));
    }
}
