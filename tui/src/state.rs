//! The state store: what `mon top` knows about the fleet and its link to the
//! server, changed only by applying [`Update`]s.
//!
//! The network task turns frames into `Update`s; nothing else writes here.
//! Every method that needs the time takes `now_ms` as an argument, so a test
//! replays a sequence of updates at chosen instants and gets the same store.

use std::collections::{BTreeMap, VecDeque};

mod activity;

pub use activity::{Activity, CgroupKind, CgroupRow, CgroupTable, ProcessRow, ProcessTable};

/// How far back the history charts reach unless the host view asks for
/// more: the default range, and the least every host keeps.
pub const HISTORY_WINDOW_MS: i64 = 15 * 60 * 1000;

/// How many CPU values the fleet table's sparkline shows per host.
pub const SPARK_LEN: usize = 40;

/// Interval assumed for a host whose agent has not said hello.
const DEFAULT_INTERVAL_MS: i64 = 5_000;

/// Sorted label pairs, as the protocol's label objects are.
pub type Labels = Vec<(String, String)>;

/// A metric's latest values, one per label set, sorted by labels. A vector
/// rather than a map: most metrics have one label set and few have more
/// than a handful, and a map's smallest node holds eleven.
pub type LabelledValues = Vec<(Labels, f64)>;

/// One value of a `metrics` or `snapshot` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

/// One value of a `metrics` frame read in place: its strings are borrowed
/// from the frame's text, so applying a known series allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueRef<'a> {
    pub name: &'a str,
    /// Sorted by name, as in [`Value::labels`].
    pub labels: &'a [(&'a str, &'a str)],
    pub value: f64,
}

/// A host's `Hello` metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub os: String,
    pub kernel: String,
    pub cores: u32,
    pub memory_bytes: u64,
    pub interval_ms: u64,
}

/// One host's values at one time: a `metrics` event or a snapshot entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSample {
    pub host: String,
    pub ts_ms: i64,
    pub meta: Option<Meta>,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub host: String,
    pub name: String,
    pub state: AlertState,
    pub severity: String,
    pub value: Option<f64>,
    pub active_since_ms: i64,
    pub summary: Option<String>,
    /// Labels besides `alertname` and `host`, sorted: what a silence of
    /// exactly this alert matches.
    pub labels: Vec<(String, String)>,
    /// A silence holds for it: it changes state but nobody is notified.
    pub silenced: bool,
}

/// Which history chart a series of points belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    Cpu,
    Memory,
    /// Received bytes per second, summed over interfaces.
    Receive,
    /// Transmitted bytes per second, summed over interfaces.
    Transmit,
}

/// What the network task tells the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Connecting {
        attempt: u32,
    },
    Connected {
        server: String,
        role: String,
    },
    /// Replaces every host and alert.
    Snapshot {
        hosts: Vec<HostSample>,
        alerts: Vec<Alert>,
    },
    Metrics(HostSample),
    Alert(Alert),
    /// An edge's link to its gateway.
    Upstream {
        connected: bool,
    },
    /// The server answered something with an `error` frame.
    ServerError(String),
    /// What came of silencing an alert from the alerts pane.
    Silenced(Result<String, String>),
    Disconnected {
        reason: String,
        retry_at_ms: i64,
        attempt: u32,
    },
    /// Points from `GET /api/series`, oldest first, fetched for the
    /// history range `range_ms`: an answer for a range the host view has
    /// since left is dropped.
    History {
        host: String,
        chart: Chart,
        range_ms: i64,
        points: Vec<(i64, f64)>,
    },
    HistoryFailed {
        host: String,
        reason: String,
    },
    /// A host's metadata from `GET /api/hosts/{host}`: `metrics` events do
    /// not carry it, so a host first seen live has none until asked.
    Meta {
        host: String,
        meta: Meta,
    },
    /// A `processes` frame: the watched host's top processes.
    Processes(ProcessTable),
    /// A `cgroups` frame: the watched host's cgroups.
    Cgroups(CgroupTable),
}

/// The link to the gateway or edge.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting {
        attempt: u32,
    },
    Connected {
        since_ms: i64,
        server: String,
        role: String,
        /// False while an edge has lost its gateway.
        upstream: bool,
    },
    Disconnected {
        since_ms: i64,
        reason: String,
        retry_at_ms: i64,
        attempt: u32,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum HistoryStatus {
    #[default]
    NotRequested,
    Loading,
    Loaded,
    Failed(String),
}

/// A host's charts: points `(ts_ms, value)`, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub cpu: VecDeque<(i64, f64)>,
    pub memory: VecDeque<(i64, f64)>,
    pub receive: VecDeque<(i64, f64)>,
    pub transmit: VecDeque<(i64, f64)>,
    pub status: HistoryStatus,
    /// The range the host view last asked for; 0 until it asks.
    pub range_ms: i64,
}

impl History {
    /// How far back the points reach: the range asked for, and never less
    /// than [`HISTORY_WINDOW_MS`], which every host keeps from the stream.
    pub fn keep_ms(&self) -> i64 {
        self.range_ms.max(HISTORY_WINDOW_MS)
    }

    fn clear(&mut self) {
        for chart in [Chart::Cpu, Chart::Memory, Chart::Receive, Chart::Transmit] {
            self.series_mut(chart).clear();
        }
    }

    fn series_mut(&mut self, chart: Chart) -> &mut VecDeque<(i64, f64)> {
        match chart {
            Chart::Cpu => &mut self.cpu,
            Chart::Memory => &mut self.memory,
            Chart::Receive => &mut self.receive,
            Chart::Transmit => &mut self.transmit,
        }
    }

    fn push(&mut self, chart: Chart, ts: i64, value: f64) {
        let keep = self.keep_ms();
        // Over a long range a live point closer than a few thousandths of
        // the span to the last one adds nothing a chart could show; it
        // would only grow a week's chart by a point a second.
        let spacing = keep / 4_000;
        let series = self.series_mut(chart);
        if series
            .back()
            .is_some_and(|&(last, _)| last >= ts || ts - last < spacing)
        {
            return;
        }
        series.push_back((ts, value));
        while series.front().is_some_and(|&(first, _)| first < ts - keep) {
            series.pop_front();
        }
    }

    /// Puts stored points in front of the live ones: only those older than
    /// the first live point, so the live stream always wins where they meet.
    fn merge(&mut self, chart: Chart, points: Vec<(i64, f64)>) {
        let keep = self.keep_ms();
        let series = self.series_mut(chart);
        let first_live = series.front().map_or(i64::MAX, |&(ts, _)| ts);
        let newest = series.back().map(|&(ts, _)| ts);
        let mut older: VecDeque<(i64, f64)> = points
            .into_iter()
            .filter(|&(ts, _)| ts < first_live)
            .collect();
        older.extend(series.drain(..));
        let horizon = newest.or(older.back().map(|&(ts, _)| ts)).unwrap_or(0) - keep;
        older.retain(|&(ts, _)| ts >= horizon);
        *series = older;
    }
}

/// A host's last [`SPARK_LEN`] CPU percentages, whole numbers, in a fixed
/// ring: the fleet table's sparkline. Pushing never allocates, so a fleet
/// of a hundred hosts reporting every second costs nothing beyond the
/// values it already stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spark {
    values: [u8; SPARK_LEN],
    /// Index of the oldest value.
    start: u8,
    len: u8,
    /// The sample time of the newest value: a snapshot repeating a sample
    /// adds nothing.
    last_ms: i64,
}

impl Default for Spark {
    fn default() -> Self {
        Self {
            values: [0; SPARK_LEN],
            start: 0,
            len: 0,
            last_ms: i64::MIN,
        }
    }
}

impl Spark {
    fn push(&mut self, ts: i64, percent: f64) {
        if ts <= self.last_ms || !percent.is_finite() {
            return;
        }
        self.last_ms = ts;
        let value = percent.round().clamp(0.0, 100.0) as u8;
        let len = usize::from(self.len);
        let start = usize::from(self.start);
        if len < SPARK_LEN {
            self.values[(start + len) % SPARK_LEN] = value;
            self.len += 1;
        } else {
            self.values[start] = value;
            self.start = ((start + 1) % SPARK_LEN) as u8;
        }
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..self.len()).map(|i| self.values[(usize::from(self.start) + i) % SPARK_LEN])
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Host {
    pub name: String,
    pub last_seen_ms: i64,
    pub meta: Option<Meta>,
    /// Latest value per metric name, then per label set.
    pub values: BTreeMap<String, LabelledValues>,
    /// Time between this host's last two reports, when no `meta` says it.
    observed_interval_ms: Option<i64>,
    pub history: History,
    /// Recent CPU values for the fleet table's sparkline.
    pub cpu_spark: Spark,
}

impl Host {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// The value of a metric without labels.
    pub fn value(&self, name: &str) -> Option<f64> {
        // Sorted: the empty label set comes first.
        let (labels, value) = self.values.get(name)?.first()?;
        labels.is_empty().then_some(*value)
    }

    /// The value of a metric with exactly these labels.
    pub fn labelled(&self, name: &str, labels: &Labels) -> Option<f64> {
        let values = self.values.get(name)?;
        values.iter().find(|(l, _)| l == labels).map(|(_, v)| *v)
    }

    /// Every labelled value of a metric.
    pub fn values_of(&self, name: &str) -> impl Iterator<Item = (&Labels, f64)> {
        self.values
            .get(name)
            .into_iter()
            .flat_map(|m| m.iter().map(|(l, v)| (l, *v)))
    }

    /// The sum over label sets (e.g. every interface), if any is present.
    pub fn sum(&self, name: &str) -> Option<f64> {
        let m = self.values.get(name)?;
        (!m.is_empty()).then(|| m.iter().map(|(_, v)| v).sum())
    }

    /// The host's collection interval: from its agent's hello, else as
    /// observed, else a default.
    pub fn interval_ms(&self) -> i64 {
        self.meta
            .as_ref()
            .map(|m| m.interval_ms as i64)
            .filter(|&i| i > 0)
            .or(self.observed_interval_ms)
            .unwrap_or(DEFAULT_INTERVAL_MS)
    }

    /// A host is stale when nothing arrived for more than three intervals.
    pub fn is_stale(&self, now_ms: i64) -> bool {
        now_ms - self.last_seen_ms > 3 * self.interval_ms()
    }

    fn apply(&mut self, sample: &HostSample, replace: bool) {
        if !self.begin(sample.ts_ms) {
            return;
        }
        if sample.meta.is_some() || replace {
            self.meta.clone_from(&sample.meta);
        }
        if replace {
            self.values.clear();
        }
        for v in &sample.values {
            self.set(&v.name, &v.labels, v.value);
        }
        self.end(sample.ts_ms);
    }

    /// The values of a `metrics` event read in place; the same as applying
    /// it as an [`Update::Metrics`].
    fn apply_borrowed<'a>(&mut self, ts_ms: i64, values: impl Iterator<Item = ValueRef<'a>>) {
        if !self.begin(ts_ms) {
            return;
        }
        for v in values {
            self.set(v.name, v.labels, v.value);
        }
        self.end(ts_ms);
    }

    /// Starts applying a sample taken at `ts`; false for one older than
    /// what the host already shows.
    fn begin(&mut self, ts: i64) -> bool {
        if ts < self.last_seen_ms {
            return false;
        }
        if self.last_seen_ms > 0 && ts > self.last_seen_ms {
            self.observed_interval_ms = Some(ts - self.last_seen_ms);
        }
        self.last_seen_ms = ts;
        true
    }

    /// Sets one value. A known series (nearly every value) is found by
    /// comparing strings and costs no allocation; label sets are few per
    /// metric, so they are scanned rather than keyed.
    fn set<K: AsRef<str>, V: AsRef<str>>(&mut self, name: &str, labels: &[(K, V)], value: f64) {
        let same = |known: &Labels| {
            known.len() == labels.len()
                && known
                    .iter()
                    .zip(labels)
                    .all(|((a, b), (c, d))| a == c.as_ref() && b == d.as_ref())
        };
        if let Some(by_labels) = self.values.get_mut(name) {
            if let Some((_, slot)) = by_labels.iter_mut().find(|(known, _)| same(known)) {
                *slot = value;
                return;
            }
            let labels = owned(labels);
            let at = by_labels.partition_point(|(known, _)| *known < labels);
            by_labels.insert(at, (labels, value));
            return;
        }
        self.values
            .insert(name.to_owned(), vec![(owned(labels), value)]);
    }

    /// Ends applying the sample taken at `ts`: its points on the charts.
    fn end(&mut self, ts: i64) {
        let points = [
            (Chart::Cpu, self.value("cpu_usage_percent")),
            (Chart::Memory, self.value("memory_used_percent")),
            (Chart::Receive, self.sum("network_receive_bytes_per_second")),
            (
                Chart::Transmit,
                self.sum("network_transmit_bytes_per_second"),
            ),
        ];
        if let (Chart::Cpu, Some(cpu)) = points[0] {
            self.cpu_spark.push(ts, cpu);
        }
        for (chart, value) in points {
            if let Some(v) = value {
                self.history.push(chart, ts, v);
            }
        }
    }
}

fn owned<K: AsRef<str>, V: AsRef<str>>(labels: &[(K, V)]) -> Labels {
    labels
        .iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect()
}

/// Counts `metrics` events over the last few seconds for the status bar.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rate {
    /// (second, events in it), oldest first.
    buckets: VecDeque<(i64, u32)>,
}

const RATE_WINDOW_S: i64 = 5;

impl Rate {
    fn record(&mut self, now_ms: i64) {
        let second = now_ms.div_euclid(1000);
        match self.buckets.back_mut() {
            Some((s, n)) if *s == second => *n += 1,
            _ => self.buckets.push_back((second, 1)),
        }
        while self
            .buckets
            .front()
            .is_some_and(|&(s, _)| s <= second - RATE_WINDOW_S)
        {
            self.buckets.pop_front();
        }
    }

    /// Events per second over the last complete seconds.
    fn per_second(&self, now_ms: i64) -> f64 {
        let second = now_ms.div_euclid(1000);
        let total: u32 = self
            .buckets
            .iter()
            .filter(|&&(s, _)| s < second && s >= second - RATE_WINDOW_S)
            .map(|&(_, n)| n)
            .sum();
        f64::from(total) / RATE_WINDOW_S as f64
    }
}

/// Everything `mon top` shows, before it is shaped for the screen.
#[derive(Debug, Clone)]
pub struct Store {
    pub hosts: BTreeMap<String, Host>,
    /// Active (pending or firing) alerts by id.
    pub alerts: BTreeMap<String, Alert>,
    pub link: Link,
    /// The WebSocket URL, for the status bar.
    pub url: String,
    /// Set when `mon top` started its own server to watch this machine.
    pub local: bool,
    /// The newest `error` frame from the server.
    pub server_error: Option<String>,
    /// What the last silence key did, shown in the status bar.
    pub silence_notice: Option<String>,
    /// When the last frame arrived while connected, for "stale since".
    pub last_data_ms: Option<i64>,
    /// The host view's host and what runs on it.
    pub activity: Activity,
    rate: Rate,
}

impl Store {
    pub fn new(url: impl Into<String>, local: bool) -> Self {
        Self {
            hosts: BTreeMap::new(),
            alerts: BTreeMap::new(),
            link: Link::Connecting { attempt: 1 },
            url: url.into(),
            local,
            server_error: None,
            silence_notice: None,
            last_data_ms: None,
            activity: Activity::default(),
            rate: Rate::default(),
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Connected { upstream: true, .. })
    }

    pub fn updates_per_second(&self, now_ms: i64) -> f64 {
        self.rate.per_second(now_ms)
    }

    /// Active alerts of one host.
    pub fn alerts_of<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Alert> {
        self.alerts.values().filter(move |a| a.host == host)
    }

    /// Applies one update received at `now_ms`.
    pub fn apply(&mut self, update: Update, now_ms: i64) {
        match update {
            Update::Connecting { attempt } => self.link = Link::Connecting { attempt },
            Update::Connected { server, role } => {
                self.server_error = None;
                self.link = Link::Connected {
                    since_ms: now_ms,
                    server,
                    role,
                    upstream: true,
                };
            }
            Update::Snapshot { hosts, alerts } => {
                self.last_data_ms = Some(now_ms);
                let mut old = std::mem::take(&mut self.hosts);
                for sample in hosts {
                    // Keep the charts of hosts that are still there: a new
                    // snapshot replaces values, not history.
                    let mut host = old.remove(&sample.host).unwrap_or_else(|| Host {
                        name: sample.host.clone(),
                        ..Host::default()
                    });
                    host.apply(&sample, true);
                    self.hosts.insert(sample.host.clone(), host);
                }
                self.alerts = alerts
                    .into_iter()
                    .filter(|a| a.state != AlertState::Resolved)
                    .map(|a| (a.id.clone(), a))
                    .collect();
            }
            Update::Metrics(sample) => {
                self.count_report(now_ms);
                match self.hosts.get_mut(&sample.host) {
                    Some(host) => host.apply(&sample, false),
                    None => {
                        let mut host = Host::named(&sample.host);
                        host.apply(&sample, false);
                        self.hosts.insert(sample.host.clone(), host);
                    }
                }
            }
            Update::Alert(alert) => {
                self.last_data_ms = Some(now_ms);
                if alert.state == AlertState::Resolved {
                    self.alerts.remove(&alert.id);
                } else {
                    self.alerts.insert(alert.id.clone(), alert);
                }
            }
            Update::Upstream { connected } => {
                if let Link::Connected { upstream, .. } = &mut self.link {
                    *upstream = connected;
                }
            }
            Update::ServerError(message) => self.server_error = Some(message),
            Update::Silenced(outcome) => {
                self.silence_notice = Some(outcome.unwrap_or_else(|e| format!("not silenced: {e}")))
            }
            Update::Disconnected {
                reason,
                retry_at_ms,
                attempt,
            } => {
                let since_ms = match &self.link {
                    Link::Disconnected { since_ms, .. } => *since_ms,
                    _ => now_ms,
                };
                self.link = Link::Disconnected {
                    since_ms,
                    reason,
                    retry_at_ms,
                    attempt,
                };
            }
            Update::History {
                host,
                chart,
                range_ms,
                points,
            } => {
                if let Some(h) = self.hosts.get_mut(&host)
                    && h.history.range_ms == range_ms
                {
                    h.history.merge(chart, points);
                    h.history.status = HistoryStatus::Loaded;
                }
            }
            Update::Meta { host, meta } => {
                if let Some(h) = self.hosts.get_mut(&host) {
                    h.meta = Some(meta);
                }
            }
            Update::HistoryFailed { host, reason } => {
                if let Some(h) = self.hosts.get_mut(&host) {
                    h.history.status = HistoryStatus::Failed(reason);
                }
            }
            Update::Processes(table) => self.activity.apply_processes(table),
            Update::Cgroups(table) => self.activity.apply_cgroups(table),
        }
    }

    /// Applies a `metrics` event read in place (see [`ValueRef`]), received
    /// at `now_ms`: the same as applying it as an [`Update::Metrics`].
    pub fn apply_metrics<'a>(
        &mut self,
        host: &str,
        ts_ms: i64,
        values: impl Iterator<Item = ValueRef<'a>>,
        now_ms: i64,
    ) {
        self.count_report(now_ms);
        // One lookup for a known host (nearly every event of a large fleet).
        match self.hosts.get_mut(host) {
            Some(known) => known.apply_borrowed(ts_ms, values),
            None => {
                let mut new = Host::named(host);
                new.apply_borrowed(ts_ms, values);
                self.hosts.insert(host.to_owned(), new);
            }
        }
    }

    /// A `metrics` event arrived, for the status bar.
    fn count_report(&mut self, now_ms: i64) {
        self.last_data_ms = Some(now_ms);
        self.rate.record(now_ms);
    }

    /// Notes that the host view asked the server for `range_ms` of a
    /// host's history. A different range than the charts hold empties
    /// them: the answer brings the whole range at its tier's resolution,
    /// and points of another tier would stay in front of it.
    pub fn history_requested(&mut self, host: &str, range_ms: i64) {
        if let Some(h) = self.hosts.get_mut(host) {
            if h.history.range_ms != 0 && h.history.range_ms != range_ms {
                h.history.clear();
            }
            h.history.range_ms = range_ms;
            h.history.status = HistoryStatus::Loading;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(host: &str, ts: i64, cpu: f64) -> HostSample {
        HostSample {
            host: host.into(),
            ts_ms: ts,
            meta: None,
            values: vec![Value {
                name: "cpu_usage_percent".into(),
                labels: vec![],
                value: cpu,
            }],
        }
    }

    #[test]
    fn stored_history_goes_in_front_of_the_live_points_without_overlap() {
        let mut store = Store::new("ws://x/ws", false);
        store.apply(Update::Metrics(sample("a", 10_000, 5.0)), 10_000);
        store.apply(Update::Metrics(sample("a", 11_000, 6.0)), 11_000);
        store.apply(
            Update::History {
                host: "a".into(),
                chart: Chart::Cpu,
                range_ms: 0,
                points: vec![(8_000, 1.0), (9_000, 2.0), (10_000, 99.0), (11_000, 99.0)],
            },
            11_500,
        );
        let cpu: Vec<_> = store.hosts["a"].history.cpu.iter().copied().collect();
        assert_eq!(
            cpu,
            vec![(8_000, 1.0), (9_000, 2.0), (10_000, 5.0), (11_000, 6.0)]
        );
    }

    #[test]
    fn a_replayed_old_event_does_not_roll_values_back() {
        let mut store = Store::new("ws://x/ws", false);
        store.apply(Update::Metrics(sample("a", 10_000, 5.0)), 10_000);
        store.apply(Update::Metrics(sample("a", 9_000, 50.0)), 10_001);
        assert_eq!(store.hosts["a"].value("cpu_usage_percent"), Some(5.0));
    }

    #[test]
    fn updates_per_second_counts_complete_seconds() {
        let mut store = Store::new("ws://x/ws", false);
        for i in 0..50 {
            store.apply(Update::Metrics(sample("a", i, 1.0)), 1_000 + i * 100);
        }
        // 50 events over seconds 1..=5, averaged over the 5 s before second 6.
        assert_eq!(store.updates_per_second(6_000), 10.0);
    }

    #[test]
    fn the_sparkline_ring_keeps_the_newest_values_once_each() {
        let mut store = Store::new("ws://x/ws", false);
        for i in 0..(SPARK_LEN as i64 + 5) {
            store.apply(Update::Metrics(sample("a", 1_000 * i, i as f64)), 1_000 * i);
        }
        // A snapshot repeating the newest sample adds nothing.
        let last = 1_000 * (SPARK_LEN as i64 + 4);
        store.apply(
            Update::Snapshot {
                hosts: vec![sample("a", last, 99.0)],
                alerts: vec![],
            },
            last,
        );
        let spark: Vec<u8> = store.hosts["a"].cpu_spark.iter().collect();
        let expected: Vec<u8> = (5..SPARK_LEN as u8 + 5).collect();
        assert_eq!(spark, expected);
    }
}
