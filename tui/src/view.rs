//! The view-model: plain structs that say what is on screen, built from the
//! store, the interaction state ([`Ui`]) and an instant.
//!
//! `build` is where thresholds, staleness, sorting and number formatting are
//! decided, so `render` only lays out text and maps a [`Level`] to a style.
//! The instant is a parameter: nothing here reads the clock.

use crate::format::{age, bytes, rate, uptime};
use crate::state::{AlertState, HISTORY_WINDOW_MS, HistoryStatus, Host, Link, Store};

/// The fleet table's columns, in screen order; each can be the sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Host,
    Age,
    Cpu,
    Load,
    Memory,
    Disk,
    Receive,
    Transmit,
    Alerts,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Column::Host,
        Column::Age,
        Column::Cpu,
        Column::Load,
        Column::Memory,
        Column::Disk,
        Column::Receive,
        Column::Transmit,
        Column::Alerts,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Host => "HOST",
            Column::Age => "AGE",
            Column::Cpu => "CPU%",
            Column::Load => "LOAD",
            Column::Memory => "MEM%",
            Column::Disk => "DISK%",
            Column::Receive => "RX/s",
            Column::Transmit => "TX/s",
            Column::Alerts => "ALRT",
        }
    }

    /// Names sort A→Z; figures sort largest first, which is what one looks for.
    pub fn natural_descending(self) -> bool {
        self != Column::Host
    }
}

/// Which screen is showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Fleet,
    Host(String),
    Alerts,
}

/// Interaction state: what the user chose to look at. Changed by `keys`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ui {
    pub screen: Screen,
    pub sort: Column,
    pub descending: bool,
    pub filter: String,
    /// True while `/` is taking the filter's text.
    pub editing_filter: bool,
    /// The selected host, by name, so it stays selected as rows move.
    pub selected: Option<String>,
    pub alert_selected: usize,
    pub help: bool,
    /// Rows a page key moves; set from the terminal's height.
    pub page: usize,
    pub quit: bool,
}

impl Default for Ui {
    fn default() -> Self {
        Self {
            screen: Screen::Fleet,
            sort: Column::Cpu,
            descending: true,
            filter: String::new(),
            editing_filter: false,
            selected: None,
            alert_selected: 0,
            help: false,
            page: 10,
            quit: false,
        }
    }
}

/// How much a figure should draw the eye.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    #[default]
    Normal,
    Warn,
    Alarm,
    /// No value, or data that is no longer current.
    Faint,
    Good,
}

/// A piece of text and how loud it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cell {
    pub text: String,
    pub level: Level,
}

impl Cell {
    pub fn new(text: impl Into<String>, level: Level) -> Self {
        Self {
            text: text.into(),
            level,
        }
    }

    fn missing() -> Self {
        Self::new("-", Level::Faint)
    }
}

/// Everything on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub body: Body,
    pub status: StatusBar,
    /// The key list, when `?` is showing it.
    pub help: Option<&'static [(&'static str, &'static str)]>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Fleet(FleetView),
    Host(Box<HostView>),
    Alerts(AlertsView),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FleetView {
    pub rows: Vec<FleetRow>,
    pub selected: Option<usize>,
    pub sort: Column,
    pub descending: bool,
    /// The filter line: `Some` while editing or when a filter is set.
    pub filter: Option<String>,
    pub editing_filter: bool,
    /// Hosts known, before the filter.
    pub total: usize,
    /// Why the table is empty, when it is.
    pub empty: Option<String>,
    /// Set when the whole table is old news (the link is down).
    pub stale: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    pub host: String,
    /// The host stopped reporting, or the link is down.
    pub stale: bool,
    pub age: Cell,
    pub cpu: Cell,
    pub load: Cell,
    pub memory: Cell,
    pub disk: Cell,
    pub receive: Cell,
    pub transmit: Cell,
    pub alerts: Cell,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CoreBar {
    pub label: String,
    pub percent: f64,
    pub level: Level,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChartView {
    pub title: String,
    /// `(seconds before now, value)`, oldest first; x is ≤ 0.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    pub y_max: f64,
    pub y_labels: [String; 2],
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    pub name: String,
    pub stale: bool,
    pub summary: String,
    pub cores: Vec<CoreBar>,
    pub cpu: ChartView,
    pub memory: ChartView,
    pub network: ChartView,
    /// The charts' span in seconds.
    pub window_s: f64,
    pub history_note: Option<String>,
    /// mount, fstype, size, used, use%.
    pub filesystems: Vec<[Cell; 5]>,
    /// interface, rx/s, tx/s.
    pub interfaces: Vec<[Cell; 3]>,
    pub alerts: Vec<Cell>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertsView {
    /// severity, state, host, alert, value, age, summary.
    pub rows: Vec<[Cell; 7]>,
    pub selected: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusBar {
    pub link: Cell,
    pub address: String,
    pub counts: String,
    pub hint: String,
    pub error: Option<String>,
}

/// The keys `?` lists.
pub const KEYS: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move the selection"),
    ("PgUp PgDn", "move a page"),
    ("g G  Home End", "first / last row"),
    ("Enter", "open the selected host"),
    ("Esc  q", "back to the fleet (q quits from the fleet)"),
    ("/", "filter hosts by name (Enter keeps it, Esc clears it)"),
    ("< >", "sort by the previous / next column"),
    (
        "1 … 9",
        "sort by column 1 (HOST) … 9 (ALRT); again reverses",
    ),
    ("r", "reverse the sort order"),
    ("a", "active alerts"),
    ("?", "this help (any key closes it)"),
    ("Ctrl-C", "quit"),
];

fn percent_cell(value: Option<f64>, warn: f64, alarm: f64) -> Cell {
    match value {
        None => Cell::missing(),
        Some(v) => Cell::new(format!("{v:.1}"), threshold(v, warn, alarm)),
    }
}

fn threshold(v: f64, warn: f64, alarm: f64) -> Level {
    if v >= alarm {
        Level::Alarm
    } else if v >= warn {
        Level::Warn
    } else {
        Level::Normal
    }
}

/// CPU at or above 90% is an alarm, from 70% a warning.
pub const CPU_LEVELS: (f64, f64) = (70.0, 90.0);
pub const MEMORY_LEVELS: (f64, f64) = (85.0, 95.0);
pub const DISK_LEVELS: (f64, f64) = (80.0, 90.0);
/// Load per core.
pub const LOAD_LEVELS: (f64, f64) = (1.0, 2.0);

fn fullest_filesystem(host: &Host) -> Option<f64> {
    host.values_of("filesystem_used_percent")
        .map(|(_, v)| v)
        .reduce(f64::max)
}

fn cores(host: &Host) -> Option<u32> {
    host.meta
        .as_ref()
        .map(|m| m.cores)
        .filter(|&c| c > 0)
        .or_else(|| {
            let n = host.values_of("cpu_core_usage_percent").count();
            (n > 0).then_some(n as u32)
        })
}

/// The value a column sorts by; hosts without it sort last either way.
fn sort_value(store: &Store, host: &Host, column: Column, now_ms: i64) -> Option<f64> {
    match column {
        Column::Host => None,
        Column::Age => Some((now_ms - host.last_seen_ms) as f64),
        Column::Cpu => host.value("cpu_usage_percent"),
        Column::Load => host.value("load1"),
        Column::Memory => host.value("memory_used_percent"),
        Column::Disk => fullest_filesystem(host),
        Column::Receive => host.sum("network_receive_bytes_per_second"),
        Column::Transmit => host.sum("network_transmit_bytes_per_second"),
        Column::Alerts => Some(store.alerts_of(&host.name).count() as f64),
    }
}

/// The hosts the fleet table shows, filtered and in order.
pub fn fleet_order<'a>(store: &'a Store, ui: &Ui, now_ms: i64) -> Vec<&'a Host> {
    let needle = ui.filter.to_lowercase();
    let mut hosts: Vec<(&Host, Option<f64>)> = store
        .hosts
        .values()
        .filter(|h| needle.is_empty() || h.name.to_lowercase().contains(&needle))
        .map(|h| (h, sort_value(store, h, ui.sort, now_ms)))
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

fn fleet_row(store: &Store, host: &Host, now_ms: i64) -> FleetRow {
    let connected = store.is_connected();
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
    let firing = store
        .alerts_of(&host.name)
        .filter(|a| a.state == AlertState::Firing)
        .count();
    let pending = store.alerts_of(&host.name).count() - firing;
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
        cpu: percent_cell(host.value("cpu_usage_percent"), CPU_LEVELS.0, CPU_LEVELS.1),
        load: load.unwrap_or_else(Cell::missing),
        memory: percent_cell(
            host.value("memory_used_percent"),
            MEMORY_LEVELS.0,
            MEMORY_LEVELS.1,
        ),
        disk: percent_cell(fullest_filesystem(host), DISK_LEVELS.0, DISK_LEVELS.1),
        receive: net("network_receive_bytes_per_second"),
        transmit: net("network_transmit_bytes_per_second"),
        alerts,
    };
    if host_stale {
        // Old figures must not raise alarms of their own: the age says
        // what is wrong with this host.
        for c in [
            &mut row.cpu,
            &mut row.load,
            &mut row.memory,
            &mut row.disk,
            &mut row.receive,
            &mut row.transmit,
        ] {
            c.level = Level::Faint;
        }
    }
    row
}

fn link_stale_note(store: &Store, now_ms: i64) -> Option<String> {
    if store.is_connected() {
        return None;
    }
    let data = store.last_data_ms?;
    Some(format!("stale: last update {} ago", age(now_ms - data)))
}

fn fleet_view(store: &Store, ui: &Ui, now_ms: i64) -> FleetView {
    let order = fleet_order(store, ui, now_ms);
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
    FleetView {
        rows: order.iter().map(|h| fleet_row(store, h, now_ms)).collect(),
        selected,
        sort: ui.sort,
        descending: ui.descending,
        filter: (ui.editing_filter || !ui.filter.is_empty()).then(|| ui.filter.clone()),
        editing_filter: ui.editing_filter,
        total: store.hosts.len(),
        empty,
        stale: link_stale_note(store, now_ms),
    }
}

fn chart_points(points: &std::collections::VecDeque<(i64, f64)>, now_ms: i64) -> Vec<(f64, f64)> {
    points
        .iter()
        .filter(|&&(ts, _)| ts >= now_ms - HISTORY_WINDOW_MS)
        .map(|&(ts, v)| (((ts - now_ms) as f64 / 1000.0).min(0.0), v))
        .collect()
}

fn percent_chart(
    title: &str,
    points: &std::collections::VecDeque<(i64, f64)>,
    now_ms: i64,
) -> ChartView {
    let latest = points
        .back()
        .map(|&(_, v)| format!(" {v:.1}%"))
        .unwrap_or_default();
    ChartView {
        title: format!("{title}{latest}"),
        series: vec![(title.to_owned(), chart_points(points, now_ms))],
        y_max: 100.0,
        y_labels: ["0%".into(), "100%".into()],
    }
}

fn host_view(store: &Store, name: &str, now_ms: i64) -> HostView {
    let Some(host) = store.hosts.get(name) else {
        let empty = percent_chart("CPU", &Default::default(), now_ms);
        return HostView {
            name: name.to_owned(),
            stale: true,
            summary: "this host is no longer in the fleet".into(),
            cores: vec![],
            cpu: empty.clone(),
            memory: empty.clone(),
            network: empty,
            window_s: (HISTORY_WINDOW_MS / 1000) as f64,
            history_note: None,
            filesystems: vec![],
            interfaces: vec![],
            alerts: vec![],
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

    let rx = chart_points(&host.history.receive, now_ms);
    let tx = chart_points(&host.history.transmit, now_ms);
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
                .values
                .get("filesystem_size_bytes")
                .and_then(|m| m.get(labels))
                .map_or_else(Cell::missing, |&b| Cell::new(bytes(b), Level::Normal));
            let used = host
                .values
                .get("filesystem_used_bytes")
                .and_then(|m| m.get(labels))
                .map_or_else(Cell::missing, |&b| Cell::new(bytes(b), Level::Normal));
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
                .values
                .get("network_transmit_bytes_per_second")
                .and_then(|m| m.get(labels))
                .map_or_else(Cell::missing, |&t| Cell::new(rate(t), Level::Normal));
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
        cpu: percent_chart("CPU", &host.history.cpu, now_ms),
        memory: percent_chart("Memory", &host.history.memory, now_ms),
        network: ChartView {
            title: format!("Network{net_latest}"),
            series: vec![("rx".into(), rx), ("tx".into(), tx)],
            y_max: net_top,
            y_labels: ["0".into(), rate(net_top)],
        },
        window_s: (HISTORY_WINDOW_MS / 1000) as f64,
        history_note,
        filesystems,
        interfaces,
        alerts: alert_lines(store, name, now_ms),
    }
}

fn alert_lines(store: &Store, host: &str, now_ms: i64) -> Vec<Cell> {
    store
        .alerts_of(host)
        .map(|a| {
            let level = alert_level(a.state, &a.severity);
            Cell::new(
                format!(
                    "{} {} ({}, {} for {})",
                    a.severity,
                    a.name,
                    state_name(a.state),
                    a.value.map(|v| format!("{v:.1}")).unwrap_or_default(),
                    age(now_ms - a.active_since_ms)
                ),
                level,
            )
        })
        .collect()
}

fn state_name(s: AlertState) -> &'static str {
    match s {
        AlertState::Pending => "pending",
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
    }
}

fn alert_level(state: AlertState, severity: &str) -> Level {
    match (state, severity) {
        (AlertState::Firing, "critical" | "page") => Level::Alarm,
        (AlertState::Firing, _) | (AlertState::Pending, "critical" | "page") => Level::Warn,
        _ => Level::Normal,
    }
}

fn alerts_view(store: &Store, ui: &Ui, now_ms: i64) -> AlertsView {
    let mut alerts: Vec<_> = store.alerts.values().collect();
    // Firing before pending, then the longest-running first.
    alerts.sort_by(|a, b| {
        (b.state == AlertState::Firing)
            .cmp(&(a.state == AlertState::Firing))
            .then(a.active_since_ms.cmp(&b.active_since_ms))
            .then(a.id.cmp(&b.id))
    });
    let rows: Vec<[Cell; 7]> = alerts
        .iter()
        .map(|a| {
            let level = alert_level(a.state, &a.severity);
            [
                Cell::new(a.severity.clone(), level),
                Cell::new(state_name(a.state), level),
                Cell::new(a.host.clone(), Level::Normal),
                Cell::new(a.name.clone(), Level::Normal),
                a.value.map_or_else(Cell::missing, |v| {
                    Cell::new(format!("{v:.1}"), Level::Normal)
                }),
                Cell::new(age(now_ms - a.active_since_ms), Level::Normal),
                Cell::new(a.summary.clone().unwrap_or_default(), Level::Faint),
            ]
        })
        .collect();
    AlertsView {
        selected: ui.alert_selected.min(rows.len().saturating_sub(1)),
        rows,
    }
}

fn status_bar(store: &Store, ui: &Ui, now_ms: i64) -> StatusBar {
    let link = match &store.link {
        Link::Connecting { attempt: 1 } => Cell::new("○ connecting", Level::Warn),
        Link::Connecting { attempt } => {
            Cell::new(format!("○ connecting (attempt {attempt})"), Level::Warn)
        }
        Link::Connected { upstream: true, .. } => Cell::new("● live", Level::Good),
        Link::Connected {
            upstream: false, ..
        } => Cell::new("◐ edge lost its gateway", Level::Warn),
        Link::Disconnected {
            retry_at_ms,
            attempt,
            ..
        } => {
            let wait = (retry_at_ms - now_ms).max(0);
            Cell::new(
                format!(
                    "✕ disconnected, retry {} in {}s",
                    attempt,
                    (wait + 999) / 1000
                ),
                Level::Alarm,
            )
        }
    };
    let mut address = store.url.clone();
    if store.local {
        address = format!("this machine only (in-process server {address})");
    }
    if let Link::Connected { role, server, .. } = &store.link {
        address = format!("{address} · {role} {server}");
    }
    let stale = store.hosts.values().filter(|h| h.is_stale(now_ms)).count();
    let stale = if stale > 0 {
        format!(", {stale} stale")
    } else {
        String::new()
    };
    let counts = format!(
        "{} hosts{stale} · {} alerts · {:.1} updates/s",
        store.hosts.len(),
        store.alerts.len(),
        store.updates_per_second(now_ms)
    );
    let hint = match ui.screen {
        Screen::Fleet => "?:keys  /:filter  Enter:host  a:alerts  q:quit",
        Screen::Host(_) | Screen::Alerts => "?:keys  Esc:back  Ctrl-C:quit",
    };
    let error = match &store.link {
        Link::Disconnected { reason, .. } => Some(reason.clone()),
        _ => store.server_error.clone(),
    };
    StatusBar {
        link,
        address,
        counts,
        hint: hint.into(),
        error,
    }
}

/// The view at `now_ms`.
pub fn build(store: &Store, ui: &Ui, now_ms: i64) -> View {
    let body = match &ui.screen {
        Screen::Fleet => Body::Fleet(fleet_view(store, ui, now_ms)),
        Screen::Host(name) => Body::Host(Box::new(host_view(store, name, now_ms))),
        Screen::Alerts => Body::Alerts(alerts_view(store, ui, now_ms)),
    };
    View {
        body,
        status: status_bar(store, ui, now_ms),
        help: ui.help.then_some(KEYS),
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
