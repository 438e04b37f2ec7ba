//! The fleet table: which hosts, in which order, and how loud each figure is.

use std::collections::HashMap;

use super::{CPU_LEVELS, DISK_LEVELS, LOAD_LEVELS, MEMORY_LEVELS};
use super::{Cell, Column, FleetRow, FleetView, Level, Meter, Trend, Ui, threshold};
use crate::format::{age, rate};
use crate::state::{AlertState, Host, Link, Store};

/// Every metric the fleet table reads: what `mon top` subscribes to for
/// the hosts it is not looking at (a `metrics` frame of a host watched in
/// the host view comes whole). Keep in step with `fleet_row`, `sort_value`
/// and `cores`.
pub const FLEET_METRICS: &[&str] = &[
    "cpu_usage_percent",
    "load1",
    "memory_used_percent",
    "filesystem_used_percent",
    "network_receive_bytes_per_second",
    "network_transmit_bytes_per_second",
];

fn fullest_filesystem(host: &Host) -> Option<f64> {
    host.values_of("filesystem_used_percent")
        .map(|(_, v)| v)
        .reduce(f64::max)
}

pub(super) fn cores(host: &Host) -> Option<u32> {
    host.meta
        .as_ref()
        .map(|m| m.cores)
        .filter(|&c| c > 0)
        .or_else(|| {
            let n = host.values_of("cpu_core_usage_percent").count();
            (n > 0).then_some(n as u32)
        })
}

/// Active alerts per host, counted once per view rather than once per row.
#[derive(Default)]
struct AlertCounts<'a> {
    /// host → (firing, active)
    by_host: HashMap<&'a str, (usize, usize)>,
}

impl<'a> AlertCounts<'a> {
    fn new(store: &'a Store) -> Self {
        let mut by_host: HashMap<&str, (usize, usize)> = HashMap::new();
        for a in store.alerts.values() {
            let counts = by_host.entry(a.host.as_str()).or_default();
            counts.0 += usize::from(a.state == AlertState::Firing);
            counts.1 += 1;
        }
        Self { by_host }
    }

    fn of(&self, host: &str) -> (usize, usize) {
        self.by_host.get(host).copied().unwrap_or_default()
    }
}

/// The value a column sorts by; hosts without it sort last either way.
fn sort_value(alerts: &AlertCounts, host: &Host, column: Column, now_ms: i64) -> Option<f64> {
    match column {
        Column::Host => None,
        Column::Age => Some((now_ms - host.last_seen_ms) as f64),
        Column::Cpu => host.value("cpu_usage_percent"),
        Column::Load => host.value("load1"),
        Column::Memory => host.value("memory_used_percent"),
        Column::Disk => fullest_filesystem(host),
        Column::Receive => host.sum("network_receive_bytes_per_second"),
        Column::Transmit => host.sum("network_transmit_bytes_per_second"),
        Column::Alerts => Some(alerts.of(&host.name).1 as f64),
    }
}

/// The hosts the fleet table shows, filtered and in order.
pub fn fleet_order<'a>(store: &'a Store, ui: &Ui, now_ms: i64) -> Vec<&'a Host> {
    let alerts = if ui.sort == Column::Alerts {
        AlertCounts::new(store)
    } else {
        AlertCounts::default()
    };
    order(store, ui, &alerts, now_ms)
}

fn order<'a>(store: &'a Store, ui: &Ui, alerts: &AlertCounts, now_ms: i64) -> Vec<&'a Host> {
    let needle = ui.filter.to_lowercase();
    let mut hosts: Vec<(&Host, Option<f64>)> = store
        .hosts
        .values()
        .filter(|h| needle.is_empty() || h.name.to_lowercase().contains(&needle))
        .map(|h| (h, sort_value(alerts, h, ui.sort, now_ms)))
        .collect();
    hosts.sort_by(|(a, va), (b, vb)| {
        use std::cmp::Ordering;
        let by_value = match (va, vb) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(y);
                if ui.descending { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        let by_name = if ui.sort == Column::Host && ui.descending {
            b.name.cmp(&a.name)
        } else {
            a.name.cmp(&b.name)
        };
        by_value.then(by_name)
    });
    hosts.into_iter().map(|(h, _)| h).collect()
}

fn fleet_row(connected: bool, alerts: &AlertCounts, host: &Host, now_ms: i64) -> FleetRow {
    let host_stale = host.is_stale(now_ms);
    let since = now_ms - host.last_seen_ms;
    let age = if host.last_seen_ms == 0 {
        Cell::new("never", Level::Faint)
    } else if host_stale {
        Cell::new(format!("STALE {}", age(since)), Level::Alarm)
    } else {
        Cell::new(age(since), Level::Normal)
    };
    let load = host.value("load1").map(|l| {
        let level = cores(host).map_or(Level::Normal, |c| {
            threshold(l / f64::from(c), LOAD_LEVELS.0, LOAD_LEVELS.1)
        });
        Cell::new(format!("{l:.2}"), level)
    });
    let (firing, active) = alerts.of(&host.name);
    let pending = active - firing;
    let alerts = match (firing, pending) {
        (0, 0) => Cell::new("0", Level::Faint),
        (0, p) => Cell::new(format!("{p}?"), Level::Warn),
        (f, _) => Cell::new(format!("{}", f + pending), Level::Alarm),
    };
    let net = |name: &str| {
        host.sum(name)
            .map_or_else(Cell::missing, |v| Cell::new(rate(v), Level::Normal))
    };
    let mut row = FleetRow {
        host: host.name.clone(),
        stale: host_stale || !connected,
        age,
        cpu: Meter::new(host.value("cpu_usage_percent"), CPU_LEVELS),
        load: load.unwrap_or_else(Cell::missing),
        memory: Meter::new(host.value("memory_used_percent"), MEMORY_LEVELS),
        disk: Meter::new(fullest_filesystem(host), DISK_LEVELS),
        receive: net("network_receive_bytes_per_second"),
        transmit: net("network_transmit_bytes_per_second"),
        alerts,
        cpu_trend: trend(host),
    };
    if host_stale {
        // Old figures must not raise alarms of their own: the age says
        // what is wrong with this host.
        for c in [
            &mut row.cpu.value,
            &mut row.load,
            &mut row.memory.value,
            &mut row.disk.value,
            &mut row.receive,
            &mut row.transmit,
        ] {
            c.level = Level::Faint;
        }
        for point in &mut row.cpu_trend.points {
            point.1 = Level::Faint;
        }
    }
    row
}

/// The host's recent CPU values with the levels the CPU column uses.
fn trend(host: &Host) -> Trend {
    let mut trend = Trend::default();
    for (slot, percent) in trend.points.iter_mut().zip(host.cpu_spark.iter()) {
        *slot = (
            percent,
            threshold(f64::from(percent), CPU_LEVELS.0, CPU_LEVELS.1),
        );
    }
    trend.len = host.cpu_spark.len();
    trend
}

/// The rows a table `height` rows high shows of `len` one-line rows when
/// `selected` must be visible, as (first, count): ratatui's own choice for
/// a table scrolled from the top, so handing it only these rows draws the
/// same screen.
pub fn visible_rows(len: usize, selected: Option<usize>, height: usize) -> (usize, usize) {
    if height == 0 || len == 0 {
        return (0, 0);
    }
    let selected = selected.map_or(0, |s| s.min(len - 1));
    let first = (selected + 1).saturating_sub(height);
    (first, height.min(len - first))
}

fn link_stale_note(store: &Store, now_ms: i64) -> Option<String> {
    if store.is_connected() {
        return None;
    }
    let data = store.last_data_ms?;
    Some(format!("stale: last update {} ago", age(now_ms - data)))
}

pub(super) fn fleet_view(store: &Store, ui: &Ui, now_ms: i64) -> FleetView {
    let alerts = AlertCounts::new(store);
    let order = order(store, ui, &alerts, now_ms);
    let selected = ui
        .selected
        .as_ref()
        .and_then(|s| order.iter().position(|h| &h.name == s))
        .or((!order.is_empty()).then_some(0));
    let empty = if !order.is_empty() {
        None
    } else if !store.hosts.is_empty() {
        Some(format!("no host name contains {:?}", ui.filter))
    } else {
        Some(match &store.link {
            Link::Connected { .. } => "connected; no host has reported yet".to_owned(),
            Link::Connecting { .. } => format!("connecting to {} …", store.url),
            Link::Disconnected { reason, .. } => format!("cannot reach {}: {reason}", store.url),
        })
    };
    // Only the rows that fit are built: a large fleet's other rows would be
    // formatted every frame for nothing.
    let (first, shown) = visible_rows(order.len(), selected, ui.table_rows);
    // The host column is as wide as the longest matching name, not only of
    // the rows on screen, so it does not change width while scrolling.
    let host_width = order
        .iter()
        .map(|h| h.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, usize::from(u16::MAX)) as u16;
    FleetView {
        rows: order[first..first + shown]
            .iter()
            .map(|h| fleet_row(store.is_connected(), &alerts, h, now_ms))
            .collect(),
        first,
        matched: order.len(),
        selected: selected.map(|s| s - first),
        host_width,
        sort: ui.sort,
        descending: ui.descending,
        filter: (ui.editing_filter || !ui.filter.is_empty()).then(|| ui.filter.clone()),
        editing_filter: ui.editing_filter,
        total: store.hosts.len(),
        empty,
        stale: link_stale_note(store, now_ms),
    }
}
