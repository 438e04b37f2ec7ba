//! What is running on a host, as it travels: the `processes` and `cgroups`
//! tables (bus events on `processes.<host>` / `cgroups.<host>`, frames to
//! the clients watching the host, API answers, the store's history), and
//! the `watch` event a gateway publishes while a viewer looks at a host.
//!
//! `{"type":"processes","v":1,"host":..,"ts":..,"total":..,"processes":[{"pid":..,..}]}`
//! `{"type":"cgroups","v":1,"host":..,"ts":..,"total":..,"cgroups":[..]}`, plus
//! `"unavailable"` when the host has none to show.
//!
//! The tables are read with every field defaulted and unknown ones
//! ignored, so a newer agent's tables stay readable. Their text is
//! untrusted: the aggregator cleans it before publishing, and a reader
//! that shows it cleans it again.

use serde::{Deserialize, Serialize};

use crate::{EVENT_VERSION, channel, kind};

/// Which of a host's two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActivityKind {
    Processes,
    Cgroups,
}

impl ActivityKind {
    pub const ALL: [Self; 2] = [Self::Processes, Self::Cgroups];

    /// The event's `type`, the first part of its bus channel, the field
    /// of `/api/hosts/{host}` and the name the store and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processes => kind::PROCESSES,
            Self::Cgroups => kind::CGROUPS,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The bus channel of a host's tables of this kind: `processes.<host>`.
    pub fn channel(self, host: &str) -> String {
        match self {
            Self::Processes => channel::processes(host),
            Self::Cgroups => channel::cgroups(host),
        }
    }
}

/// One process of a host's top table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessRow {
    pub pid: u32,
    pub name: String,
    pub command: String,
    pub user: String,
    /// Percent of one core, as top shows it.
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub read_bytes_per_second: f64,
    pub write_bytes_per_second: f64,
}

/// A host's top processes at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessTable {
    /// Every process the agent saw, listed or not.
    pub total: u32,
    pub processes: Vec<ProcessRow>,
}

/// What a cgroup is, from where it sits in the hierarchy; a kind this
/// version does not know reads as `Other`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupKind {
    Service,
    Container,
    User,
    #[default]
    #[serde(other)]
    Other,
}

impl CgroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Container => "container",
            Self::User => "user",
            Self::Other => "other",
        }
    }

    /// Reads a kind; anything unknown is `Other`.
    pub fn parse(s: &str) -> Self {
        match s {
            "service" => Self::Service,
            "container" => Self::Container,
            "user" => Self::User,
            _ => Self::Other,
        }
    }
}

/// One cgroup of a host's table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CgroupRow {
    /// Below `/sys/fs/cgroup`, e.g. `system.slice/nginx.service`.
    pub path: String,
    /// What a person calls it: the service, the container's name or short id.
    pub name: String,
    pub kind: CgroupKind,
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    /// `memory.peak`, where the kernel keeps it (`null` elsewhere).
    pub memory_peak_bytes: Option<u64>,
    pub read_bytes_per_second: f64,
    pub write_bytes_per_second: f64,
    pub pids: u64,
}

/// A host's cgroups at one instant, or why there are none to show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CgroupTable {
    /// Every cgroup of the kinds above the agent saw, listed or not.
    pub total: u32,
    pub cgroups: Vec<CgroupRow>,
    /// Set when the host has no cgroup v2 hierarchy: why, shown instead
    /// of zeros.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// A `processes` or `cgroups` event as written: the table's own fields
/// after the host and the time.
#[derive(Debug, Serialize)]
pub struct TableEvent<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub v: u32,
    pub host: &'a str,
    pub ts: i64,
    #[serde(flatten)]
    pub table: &'a T,
}

impl<'a> TableEvent<'a, ProcessTable> {
    pub fn processes(host: &'a str, ts: i64, table: &'a ProcessTable) -> Self {
        Self::new(ActivityKind::Processes, host, ts, table)
    }
}

impl<'a> TableEvent<'a, CgroupTable> {
    pub fn cgroups(host: &'a str, ts: i64, table: &'a CgroupTable) -> Self {
        Self::new(ActivityKind::Cgroups, host, ts, table)
    }
}

impl<'a, T: Serialize> TableEvent<'a, T> {
    fn new(kind: ActivityKind, host: &'a str, ts: i64, table: &'a T) -> Self {
        Self {
            kind: kind.as_str(),
            v: EVENT_VERSION,
            host,
            ts,
            table,
        }
    }
}

/// A `processes` or `cgroups` event as read: the host and the time are
/// required, the table's fields default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Table<T> {
    pub host: String,
    pub ts: i64,
    #[serde(flatten)]
    pub table: T,
}

/// A `processes` event as read.
pub type Processes = Table<ProcessTable>;
/// A `cgroups` event as read.
pub type Cgroups = Table<CgroupTable>;

/// The host and time of either table event, read without its rows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TableHeader {
    pub host: String,
    pub ts: i64,
}

/// The `watch` event on `watch.<host>`, `{"type":"watch","v":1,"host":..}`,
/// written and read in this one form (host names need no escapes, so it
/// borrows them).
#[derive(Debug, Serialize, Deserialize)]
pub struct WatchEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub v: u32,
    pub host: &'a str,
}

impl<'a> WatchEvent<'a> {
    pub fn new(host: &'a str) -> Self {
        Self {
            kind: kind::WATCH,
            v: EVENT_VERSION,
            host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process() -> ProcessRow {
        ProcessRow {
            pid: 4242,
            name: "postgres".into(),
            command: "postgres: checkpointer".into(),
            user: "postgres".into(),
            cpu_percent: 97.5,
            memory_bytes: 1_234_567,
            read_bytes_per_second: 0.0,
            write_bytes_per_second: 4096.0,
        }
    }

    #[test]
    fn a_processes_event_round_trips() {
        let table = ProcessTable {
            total: 312,
            processes: vec![process()],
        };
        let text =
            serde_json::to_string(&TableEvent::processes("web-1", 1_764_180_000_000, &table))
                .unwrap();
        assert_eq!(
            text,
            r#"{"type":"processes","v":1,"host":"web-1","ts":1764180000000,"total":312,"processes":[{"pid":4242,"name":"postgres","command":"postgres: checkpointer","user":"postgres","cpu_percent":97.5,"memory_bytes":1234567,"read_bytes_per_second":0.0,"write_bytes_per_second":4096.0}]}"#
        );
        let back: Processes = serde_json::from_str(&text).unwrap();
        assert_eq!((back.host.as_str(), back.ts), ("web-1", 1_764_180_000_000));
        assert_eq!(back.table, table);
        let header: TableHeader = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (header.host.as_str(), header.ts),
            ("web-1", 1_764_180_000_000)
        );
    }

    #[test]
    fn a_cgroups_event_round_trips_with_or_without_rows() {
        let table = CgroupTable {
            total: 12,
            cgroups: vec![CgroupRow {
                path: "system.slice/nginx.service".into(),
                name: "nginx.service".into(),
                kind: CgroupKind::Service,
                cpu_percent: 1.5,
                memory_bytes: 52_428_800,
                memory_peak_bytes: None,
                read_bytes_per_second: 0.0,
                write_bytes_per_second: 0.0,
                pids: 3,
            }],
            unavailable: None,
        };
        let text = serde_json::to_string(&TableEvent::cgroups("web-1", 5, &table)).unwrap();
        assert!(text.contains(r#""kind":"service","#), "{text}");
        assert!(text.contains(r#""memory_peak_bytes":null,"#), "{text}");
        assert!(!text.contains("unavailable"), "{text}");
        let back: Cgroups = serde_json::from_str(&text).unwrap();
        assert_eq!(back.table, table);

        let none = CgroupTable {
            unavailable: Some("cgroup v1 host".into()),
            ..CgroupTable::default()
        };
        let text = serde_json::to_string(&TableEvent::cgroups("old-1", 1, &none)).unwrap();
        assert_eq!(
            text,
            r#"{"type":"cgroups","v":1,"host":"old-1","ts":1,"total":0,"cgroups":[],"unavailable":"cgroup v1 host"}"#
        );
        assert_eq!(serde_json::from_str::<Cgroups>(&text).unwrap().table, none);
    }

    #[test]
    fn an_unknown_cgroup_kind_reads_as_other_and_rows_default_their_fields() {
        let back: Cgroups = serde_json::from_str(
            r#"{"type":"cgroups","host":"h","ts":1,"cgroups":[{"path":"x","kind":"vm"}]}"#,
        )
        .unwrap();
        assert_eq!(back.table.cgroups[0].kind, CgroupKind::Other);
        assert_eq!(back.table.cgroups[0].pids, 0);
        assert_eq!(back.table.total, 0);
        assert!(serde_json::from_str::<Processes>(r#"{"host":"h","processes":[]}"#).is_err());
    }

    #[test]
    fn a_watch_event_round_trips() {
        let text = serde_json::to_string(&WatchEvent::new("web-1")).unwrap();
        assert_eq!(text, r#"{"type":"watch","v":1,"host":"web-1"}"#);
        let back: WatchEvent = serde_json::from_str(&text).unwrap();
        assert_eq!((back.kind, back.host), (kind::WATCH, "web-1"));
    }

    #[test]
    fn kinds_name_their_events_and_channels() {
        for kind in ActivityKind::ALL {
            assert_eq!(ActivityKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ActivityKind::Cgroups.channel("h"), "cgroups.h");
        assert_eq!(ActivityKind::Processes.channel("h"), "processes.h");
    }
}
