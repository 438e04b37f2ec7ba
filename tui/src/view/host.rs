//! The host view: summary, per-core bars, history charts that join stored
//! and live points, file systems and interfaces.

use std::collections::VecDeque;

use super::{CPU_LEVELS, Cell, ChartView, CoreBar, DISK_LEVELS, HostView, Level, RANGES, Ui};
use super::{percent_cell, threshold};
use crate::format::{age, bytes, rate, uptime};
use crate::state::{HistoryStatus, Store};

/// Past this many points in the range a chart is thinned: a terminal chart
/// is a few hundred braille dots wide.
const MAX_CHART_POINTS: usize = 1_000;
/// Columns a thinned chart keeps, each as its lowest and highest point.
const THIN_COLUMNS: i64 = 400;

/// One time column of a thinned chart: its index, its lowest and its
/// highest point.
type Column = (i64, (i64, f64), (i64, f64));

/// The points within `range_ms` before `now_ms`, as (seconds before now,
/// value). Thinned to [`THIN_COLUMNS`] time columns keeping each column's
/// minimum and maximum, so a one-sample spike survives a week's range.
fn chart_points(points: &VecDeque<(i64, f64)>, range_ms: i64, now_ms: i64) -> Vec<(f64, f64)> {
    let from = now_ms - range_ms;
    let x = |ts: i64| ((ts - now_ms) as f64 / 1000.0).min(0.0);
    let start = points.partition_point(|&(ts, _)| ts < from);
    let visible = points.range(start..);
    if visible.len() <= MAX_CHART_POINTS {
        return visible.map(|&(ts, v)| (x(ts), v)).collect();
    }
    let width = (range_ms / THIN_COLUMNS).max(1);
    let mut out = Vec::with_capacity(2 * THIN_COLUMNS as usize + 2);
    let mut column: Option<Column> = None;
    let flush = |c: Column, out: &mut Vec<(f64, f64)>| {
        let (_, lo, hi) = c;
        let (a, b) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
        out.push((x(a.0), a.1));
        if b != a {
            out.push((x(b.0), b.1));
        }
    };
    for &(ts, v) in visible {
        let key = (ts - from) / width;
        match &mut column {
            Some((k, lo, hi)) if *k == key => {
                if v < lo.1 {
                    *lo = (ts, v);
                }
                if v > hi.1 {
                    *hi = (ts, v);
                }
            }
            _ => {
                if let Some(c) = column.take() {
                    flush(c, &mut out);
                }
                column = Some((key, (ts, v), (ts, v)));
            }
        }
    }
    if let Some(c) = column {
        flush(c, &mut out);
    }
    out
}

fn percent_chart(
    title: &str,
    points: &VecDeque<(i64, f64)>,
    range_ms: i64,
    now_ms: i64,
) -> ChartView {
    let latest = points
        .back()
        .map(|&(_, v)| format!(" {v:.1}%"))
        .unwrap_or_default();
    ChartView {
        title: format!("{title}{latest}"),
        series: vec![(title.to_owned(), chart_points(points, range_ms, now_ms))],
        y_max: 100.0,
        y_labels: ["0%".into(), "100%".into()],
    }
}

pub(super) fn host_view(store: &Store, name: &str, ui: &Ui, now_ms: i64) -> HostView {
    let range_ms = ui.range_ms();
    let range = RANGES[ui.range.min(RANGES.len() - 1)].1;
    let Some(host) = store.hosts.get(name) else {
        let empty = percent_chart("CPU", &Default::default(), range_ms, now_ms);
        return HostView {
            name: name.to_owned(),
            stale: true,
            summary: "this host is no longer in the fleet".into(),
            cores: vec![],
            cpu: empty.clone(),
            memory: empty.clone(),
            network: empty,
            window_s: (range_ms / 1000) as f64,
            range,
            history_note: None,
            filesystems: vec![],
            interfaces: vec![],
            alerts: vec![],
            activity: super::activity::activity_view(store, ui.activity_sort, now_ms),
        };
    };
    let mut summary = Vec::new();
    if let Some(m) = &host.meta {
        summary.push(format!("{} · kernel {}", m.os, m.kernel));
        summary.push(format!("{} cores", m.cores));
        summary.push(format!("{} RAM", bytes(m.memory_bytes as f64)));
    }
    if let Some(up) = host.value("uptime_seconds") {
        summary.push(format!("up {}", uptime(up)));
    }
    if let Some(l1) = host.value("load1") {
        let l5 = host.value("load5").unwrap_or(f64::NAN);
        let l15 = host.value("load15").unwrap_or(f64::NAN);
        summary.push(format!("load {l1:.2} {l5:.2} {l15:.2}"));
    }
    summary.push(format!(
        "last sample {} ago, every {}",
        age(now_ms - host.last_seen_ms),
        age(host.interval_ms())
    ));

    let mut cores: Vec<(u32, f64)> = host
        .values_of("cpu_core_usage_percent")
        .filter_map(|(l, v)| {
            let core = l.iter().find(|(k, _)| k == "core")?.1.parse().ok()?;
            Some((core, v))
        })
        .collect();
    cores.sort_by_key(|&(c, _)| c);

    let rx = chart_points(&host.history.receive, range_ms, now_ms);
    let tx = chart_points(&host.history.transmit, range_ms, now_ms);
    let net_max = rx
        .iter()
        .chain(&tx)
        .map(|&(_, v)| v)
        .fold(0.0_f64, f64::max);
    let net_top = nice_ceiling(net_max);
    let net_latest = match (host.history.receive.back(), host.history.transmit.back()) {
        (Some(&(_, r)), Some(&(_, t))) => format!(" rx {} tx {}", rate(r), rate(t)),
        _ => String::new(),
    };

    let mut filesystems: Vec<[Cell; 5]> = host
        .values_of("filesystem_used_percent")
        .map(|(labels, pct)| {
            let label = |k: &str| {
                labels
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let size = host
                .labelled("filesystem_size_bytes", labels)
                .map_or_else(Cell::missing, |b| Cell::new(bytes(b), Level::Normal));
            let used = host
                .labelled("filesystem_used_bytes", labels)
                .map_or_else(Cell::missing, |b| Cell::new(bytes(b), Level::Normal));
            [
                Cell::new(label("mount"), Level::Normal),
                Cell::new(label("fstype"), Level::Faint),
                size,
                used,
                percent_cell(Some(pct), DISK_LEVELS.0, DISK_LEVELS.1),
            ]
        })
        .collect();
    filesystems.sort_by(|a, b| a[0].text.cmp(&b[0].text));

    let mut interfaces: Vec<[Cell; 3]> = host
        .values_of("network_receive_bytes_per_second")
        .map(|(labels, rx)| {
            let iface = labels
                .iter()
                .find(|(k, _)| k == "iface")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let tx = host
                .labelled("network_transmit_bytes_per_second", labels)
                .map_or_else(Cell::missing, |t| Cell::new(rate(t), Level::Normal));
            [
                Cell::new(iface, Level::Normal),
                Cell::new(rate(rx), Level::Normal),
                tx,
            ]
        })
        .collect();
    interfaces.sort_by(|a, b| a[0].text.cmp(&b[0].text));

    let history_note = match &host.history.status {
        HistoryStatus::Loading => Some("loading history…".to_owned()),
        HistoryStatus::Failed(reason) => Some(format!("no stored history: {reason}")),
        HistoryStatus::NotRequested | HistoryStatus::Loaded => None,
    };

    HostView {
        name: host.name.clone(),
        stale: host.is_stale(now_ms) || !store.is_connected(),
        summary: summary.join(" · "),
        cores: cores
            .into_iter()
            .map(|(c, v)| CoreBar {
                label: format!("{c}"),
                percent: v,
                level: threshold(v, CPU_LEVELS.0, CPU_LEVELS.1),
            })
            .collect(),
        cpu: percent_chart("CPU", &host.history.cpu, range_ms, now_ms),
        memory: percent_chart("Memory", &host.history.memory, range_ms, now_ms),
        network: ChartView {
            title: format!("Network{net_latest}"),
            series: vec![("rx".into(), rx), ("tx".into(), tx)],
            y_max: net_top,
            y_labels: ["0".into(), rate(net_top)],
        },
        window_s: (range_ms / 1000) as f64,
        range,
        history_note,
        filesystems,
        interfaces,
        alerts: super::alerts::alert_lines(store, name, now_ms),
        activity: super::activity::activity_view(store, ui.activity_sort, now_ms),
    }
}

/// A round axis top at or above `v`: 1, 2 or 5 times a power of ten.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1024.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&top| top >= v)
        .unwrap_or(10.0 * magnitude)
}
