//! The view-model: plain structs that say what is on screen, built from the
//! store, the interaction state ([`Ui`]) and an instant.
//!
//! `build` is where thresholds, staleness, sorting and number formatting are
//! decided, so `render` only lays out text and maps a [`Level`] to a style.
//! The instant is a parameter: nothing here reads the clock.

mod activity;
mod alerts;
mod fleet;
mod host;

use crate::state::{Link, SPARK_LEN, Store};

pub use activity::{
    ActivitySort, ActivityView, CgroupLine, CgroupsPane, ProcessLine, ProcessesPane, plain,
};
pub use fleet::{FLEET_METRICS, fleet_order, visible_rows};

/// The host view's history ranges, shortest first, with their labels;
/// `+` and `-` step through them.
pub const RANGES: [(i64, &str); 6] = [
    (5 * 60_000, "5m"),
    (15 * 60_000, "15m"),
    (3_600_000, "1h"),
    (6 * 3_600_000, "6h"),
    (24 * 3_600_000, "24h"),
    (7 * 24 * 3_600_000, "7d"),
];

/// The range the host view opens with: 15 minutes.
pub const DEFAULT_RANGE: usize = 1;
pub use alerts::{SILENCE_FOR, alert_order, silence_matchers};

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
    /// Rows the fleet table has room for, set from the terminal's height:
    /// only these rows are built.
    pub table_rows: usize,
    /// The host view's history range, an index into [`RANGES`].
    pub range: usize,
    /// How the host view's process and cgroup panes are ordered.
    pub activity_sort: ActivitySort,
    pub quit: bool,
}

impl Ui {
    /// The host view's history range in milliseconds.
    pub fn range_ms(&self) -> i64 {
        RANGES[self.range.min(RANGES.len() - 1)].0
    }

    /// The host whose process and cgroup tables are wanted: the host
    /// view's; the other screens watch nothing.
    pub fn watched_host(&self) -> Option<&str> {
        match &self.screen {
            Screen::Host(host) => Some(host),
            Screen::Fleet | Screen::Alerts => None,
        }
    }
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
            table_rows: usize::MAX,
            range: DEFAULT_RANGE,
            activity_sort: ActivitySort::Cpu,
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
    /// The rows on screen: those from `first` that fit.
    pub rows: Vec<FleetRow>,
    /// Index in the whole table of `rows[0]`.
    pub first: usize,
    /// Hosts that pass the filter: the table's length.
    pub matched: usize,
    /// The selected row, as an index into `rows`.
    pub selected: Option<usize>,
    /// Characters the longest matching host name needs.
    pub host_width: u16,
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
    pub cpu: Meter,
    pub load: Cell,
    pub memory: Meter,
    pub disk: Meter,
    pub receive: Cell,
    pub transmit: Cell,
    pub alerts: Cell,
    /// Recent CPU values, oldest first.
    pub cpu_trend: Trend,
}

/// A percentage shown as a bar and a figure: `fill` is 0–1 of the bar,
/// `value` the figure with its level (which also colours the bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    pub value: Cell,
    pub fill: f64,
}

impl Meter {
    fn new(percent: Option<f64>, (warn, alarm): (f64, f64)) -> Self {
        Self {
            value: percent_cell(percent, warn, alarm),
            fill: percent.map_or(0.0, |p| (p / 100.0).clamp(0.0, 1.0)),
        }
    }
}

/// A sparkline: up to [`SPARK_LEN`] percentages with their levels, in a
/// fixed array so a row costs no allocation for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trend {
    pub len: usize,
    pub points: [(u8, Level); SPARK_LEN],
}

impl Default for Trend {
    fn default() -> Self {
        Self {
            len: 0,
            points: [(0, Level::Normal); SPARK_LEN],
        }
    }
}

impl Trend {
    pub fn points(&self) -> &[(u8, Level)] {
        &self.points[..self.len]
    }
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
    /// The span as the title shows it, e.g. `1h`.
    pub range: &'static str,
    pub history_note: Option<String>,
    /// mount, fstype, size, used, use%.
    pub filesystems: Vec<[Cell; 5]>,
    /// interface, rx/s, tx/s.
    pub interfaces: Vec<[Cell; 3]>,
    pub alerts: Vec<Cell>,
    /// What runs on the host: its processes and cgroups.
    pub activity: ActivityView,
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
    ("+ -", "host view: longer / shorter history, 5m … 7d"),
    ("c m", "host view: processes and cgroups by CPU / by memory"),
    ("a", "active alerts"),
    ("s", "in the alerts pane: silence the selected alert for 1h"),
    ("?", "this help (any key closes it)"),
    ("Ctrl-C", "quit"),
];

pub(crate) fn percent_cell(value: Option<f64>, warn: f64, alarm: f64) -> Cell {
    match value {
        None => Cell::missing(),
        Some(v) => Cell::new(format!("{v:.1}"), threshold(v, warn, alarm)),
    }
}

pub(crate) fn threshold(v: f64, warn: f64, alarm: f64) -> Level {
    if v >= alarm {
        Level::Alarm
    } else if v >= warn {
        Level::Warn
    } else {
        Level::Normal
    }
}

/// (warning from, alarm from): CPU at or above 90% is an alarm, from 75% a
/// warning. The web dashboard's fleet page uses the same figures
/// (`web/static/fleet.js`), so both colour a host alike.
pub const CPU_LEVELS: (f64, f64) = (75.0, 90.0);
pub const MEMORY_LEVELS: (f64, f64) = (80.0, 92.0);
pub const DISK_LEVELS: (f64, f64) = (80.0, 90.0);
/// Load per core.
pub const LOAD_LEVELS: (f64, f64) = (1.0, 2.0);

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
        Screen::Host(_) => "?:keys  c/m:sort cpu/mem  Esc:back  Ctrl-C:quit",
        Screen::Alerts => "?:keys  s:silence 1h  Esc:back  Ctrl-C:quit",
    };
    let error = match &store.link {
        Link::Disconnected { reason, .. } => Some(reason.clone()),
        _ => store
            .server_error
            .clone()
            .or_else(|| store.silence_notice.clone()),
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
        Screen::Fleet => Body::Fleet(fleet::fleet_view(store, ui, now_ms)),
        Screen::Host(name) => Body::Host(Box::new(host::host_view(store, name, ui, now_ms))),
        Screen::Alerts => Body::Alerts(alerts::alerts_view(store, ui, now_ms)),
    };
    View {
        body,
        status: status_bar(store, ui, now_ms),
        help: ui.help.then_some(KEYS),
    }
}
