//! `/metrics` in the Prometheus text exposition format (0.0.4): the latest
//! value of every host series, labelled with its host, followed by this
//! process's own counters.
//!
//! The one thing to know: whatever names and labels agents send, the text
//! stays valid, because one sample that breaks it makes Prometheus refuse
//! the whole scrape, every host's metrics with it. So `exported_` is
//! prefixed, once, to what could clash: a label named `host` (ours),
//! starting with `__` (reserved) or with `exported_` (so the renaming can
//! never produce a label that already exists), and a metric named like the
//! gateway's own families (`mon_*`, `process_*`), reserved (`__*`) or
//! starting with `exported_`. Prefixing exactly those names is one-to-one,
//! so two series never merge.

use std::borrow::Cow;
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
    let mut own: Vec<(&str, &str, &str, f64)> = own
        .into_iter()
        .map(|(name, kind, help, value)| (name, kind, help, value as f64))
        .collect();
    own.extend(
        signed
            .into_iter()
            .map(|(name, kind, help, ms)| (name, kind, help, ms as f64 / 1000.0)),
    );
    if let Some(rss) = resident_memory_bytes() {
        own.push((
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss as f64,
        ));
    }
    write_own(&mut out, &own);
    if let Some(agg) = &state.aggregator {
        crate::stats::write_metrics(&mut out, agg);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// The gateway's own families: every name is `mon_*` or `process_*`, which
/// no exported agent metric can be.
fn write_own(out: &mut String, own: &[(&str, &str, &str, f64)]) {
    for (name, kind, help, value) in own {
        debug_assert!(name.starts_with("mon_") || name.starts_with("process_"));
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}

/// An agent's metric name as written: `exported_` in front of one that
/// could clash with ours or is reserved.
fn exported_name(name: &str) -> Cow<'_, str> {
    if ["mon_", "process_", "exported_", "__"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        Cow::Owned(format!("exported_{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// A series' label name as written: `exported_` in front of `host` (the
/// gateway's), a reserved `__` name, and any `exported_` one.
fn exported_label(name: &str) -> Cow<'_, str> {
    if name == "host" || name.starts_with("__") || name.starts_with("exported_") {
        Cow::Owned(format!("exported_{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

fn write_fleet(out: &mut String, fleet: &Fleet) {
    // name -> lines, so each metric family is written once with its TYPE.
    let mut families: BTreeMap<Cow<'_, str>, Vec<String>> = BTreeMap::new();
    let mut last_seen = Vec::new();
    for (host, entry) in &fleet.hosts {
        last_seen.push(format!(
            "mon_host_last_seen_timestamp_seconds{{host=\"{}\"}} {}",
            escape(host),
            entry.last_seen_ms as f64 / 1000.0
        ));
        for (key, value) in &entry.values {
            let name = exported_name(&key.name);
            let mut line = format!("{name}{{host=\"{}\"", escape(host));
            for (k, v) in &key.labels {
                let _ = write!(line, ",{}=\"{}\"", exported_label(k), escape(v));
            }
            let _ = write!(line, "}} {value}");
            families.entry(name).or_default().push(line);
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

    /// A strict reading of the text format: one HELP and one TYPE per
    /// family, each family's samples together and named after it, label
    /// names valid and not reserved, no label twice, no series twice,
    /// every value a number. What Prometheus refuses a scrape for.
    fn check_exposition(text: &str) -> Result<(), String> {
        use std::collections::HashSet;
        let mut helped = HashSet::new();
        let mut typed = HashSet::new();
        let mut closed: HashSet<String> = HashSet::new();
        let mut current: Option<String> = None;
        let mut series = HashSet::new();
        let valid_name = |n: &str| {
            let mut chars = n.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default().to_owned();
                if !helped.insert(name.clone()) || closed.contains(&name) {
                    return Err(format!("second HELP for {name}"));
                }
                if let Some(prev) = current.replace(name) {
                    closed.insert(prev);
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap_or_default().to_owned();
                if !typed.insert(name.clone()) || current.as_deref() != Some(&name) {
                    return Err(format!("TYPE for {name} out of place"));
                }
                continue;
            }
            let end = line.find(['{', ' ']).ok_or(format!("no value: {line}"))?;
            let name = &line[..end];
            if !valid_name(name) || current.as_deref() != Some(name) {
                return Err(format!("sample {name} outside its family: {line}"));
            }
            let mut rest = &line[end..];
            let mut labels = Vec::new();
            if let Some(body) = rest.strip_prefix('{') {
                rest = body;
                loop {
                    let eq = rest.find('=').ok_or(format!("label without '=': {line}"))?;
                    let label = &rest[..eq];
                    if !valid_name(label) || label.contains(':') || label.starts_with("__") {
                        return Err(format!("label name {label:?}: {line}"));
                    }
                    if labels.iter().any(|(l, _)| l == label) {
                        return Err(format!("label {label} twice: {line}"));
                    }
                    rest = rest[eq + 1..].strip_prefix('"').ok_or("unquoted value")?;
                    let mut value = String::new();
                    let mut chars = rest.char_indices();
                    let close = loop {
                        match chars.next().ok_or(format!("unterminated value: {line}"))? {
                            (_, '\\') => match chars.next().map(|(_, c)| c) {
                                Some('\\') => value.push('\\'),
                                Some('"') => value.push('"'),
                                Some('n') => value.push('\n'),
                                other => return Err(format!("bad escape {other:?}: {line}")),
                            },
                            (i, '"') => break i,
                            (_, '\n') => return Err("raw newline".into()),
                            (_, c) => value.push(c),
                        }
                    };
                    labels.push((label.to_owned(), value));
                    rest = &rest[close + 1..];
                    if let Some(r) = rest.strip_prefix(',') {
                        rest = r;
                    } else {
                        rest = rest
                            .strip_prefix('}')
                            .ok_or(format!("bad label list: {line}"))?;
                        break;
                    }
                }
            }
            let value = rest.strip_prefix(' ').ok_or(format!("no value: {line}"))?;
            value
                .parse::<f64>()
                .map_err(|_| format!("value {value:?}: {line}"))?;
            labels.sort();
            if !series.insert((name.to_owned(), labels)) {
                return Err(format!("series twice: {line}"));
            }
        }
        Ok(())
    }

    /// `promtool check metrics`: a parse error or a lint not about the
    /// client's choice of names fails (see `NAMING_LINTS` in the
    /// integration tests for why those pass).
    fn promtool(text: &str) -> Result<(), String> {
        use std::io::Write;
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool is installed (Debian package prometheus; .ci/run installs it)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let naming = [
            "use base unit",
            "suffix",
            "should not include type",
            "abbreviated units",
            "should not have \"le\" label",
            "should not have \"quantile\" label",
        ];
        let only_naming = out.status.code() == Some(3)
            && said
                .lines()
                .filter(|l| !l.trim().is_empty())
                .all(|l| naming.iter().any(|n| l.contains(n)));
        if out.status.success() || only_naming {
            Ok(())
        } else {
            Err(said)
        }
    }

    fn name() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("mon_websocket_clients".to_owned()),
            Just("mon_host_last_seen_timestamp_seconds".to_owned()),
            Just("process_resident_memory_bytes".to_owned()),
            Just("exported_mon_websocket_clients".to_owned()),
            Just("exported_load1".to_owned()),
            Just("load1".to_owned()),
            Just("__name__".to_owned()),
            "[a-z_][a-z0-9_]{0,10}",
        ]
    }

    fn label() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("host".to_owned()),
            Just("exported_host".to_owned()),
            Just("exported_exported_host".to_owned()),
            Just("__name__".to_owned()),
            Just("__x".to_owned()),
            "[a-z_][a-z0-9_]{0,8}",
        ]
    }

    fn fleet() -> impl proptest::strategy::Strategy<Value = Fleet> {
        use proptest::prelude::*;
        let value = prop_oneof![
            Just(0.0),
            -1e290..1e290f64,
            proptest::num::f64::NORMAL,
            proptest::num::f64::SUBNORMAL
        ];
        let series = (
            name(),
            prop::collection::vec((label(), "[a-z\"\\\\\n {}=,é]{0,6}"), 0..5),
            value,
        );
        let host = (
            "[a-z0-9][a-z0-9.-]{0,8}",
            prop::collection::vec(series, 0..8),
        );
        prop::collection::vec(host, 0..4).prop_map(|hosts| {
            let mut fleet = Fleet::default();
            for (host, series) in hosts {
                let mut entry = HostEntry::default();
                for (name, mut labels, value) in series {
                    // Validation refuses a label given twice.
                    let mut seen = std::collections::HashSet::new();
                    labels.retain(|(k, _)| seen.insert(k.clone()));
                    entry
                        .values
                        .insert(SeriesKey::with_labels(name, labels), value);
                }
                fleet.hosts.insert(host, entry);
            }
            fleet
        })
    }

    fn render(fleet: &Fleet) -> String {
        let mut out = String::new();
        write_fleet(&mut out, fleet);
        write_own(
            &mut out,
            &[
                ("mon_websocket_clients", "gauge", "Clients.", 1.0),
                ("mon_store_rollup_lag_seconds", "gauge", "Lag.", -0.5),
                ("process_resident_memory_bytes", "gauge", "RSS.", 1e6),
            ],
        );
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any names and labels an agent can send render text that a
        /// strict parser of the format reads.
        #[test]
        fn any_names_and_labels_render_a_valid_exposition(fleet in fleet()) {
            let text = render(&fleet);
            proptest::prop_assert!(check_exposition(&text).is_ok(), "{:?}\n{}", check_exposition(&text), text);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// The same, judged by promtool itself (fewer cases: one process each).
        #[test]
        fn any_names_and_labels_pass_promtool(fleet in fleet()) {
            let text = render(&fleet);
            proptest::prop_assert!(promtool(&text).is_ok(), "{:?}\n{}", promtool(&text), text);
        }
    }

    #[test]
    fn the_strict_reader_catches_what_broke_the_scrape() {
        for bad in [
            "# HELP a x\n# TYPE a gauge\na{exported_host=\"1\",exported_host=\"2\"} 1\n",
            "# HELP a x\n# TYPE a gauge\na{__name__=\"x\"} 1\n",
            "# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n# TYPE a gauge\na 2\n",
        ] {
            assert!(check_exposition(bad).is_err(), "{bad}");
            assert!(promtool(bad).is_err(), "{bad}");
        }
    }
}
