//! What is running on a host: its top processes and its cgroups (systemd
//! services, containers, user sessions), as bounded tables rather than
//! series, so a host with 10,000 short-lived processes costs no more than
//! one with ten.
//!
//! The agent reads them (`agent/processes.rs`, `agent/cgroups.rs`), the
//! aggregator checks them again ([`ProcessTable::checked`]), the bus keeps
//! each host's latest and publishes it as a `processes` / `cgroups` event,
//! and the store keeps one table a minute as history.
//!
//! The tables' shapes are the `wire` crate's (re-exported here); this
//! module holds what the server does with them. Names and command lines
//! are untrusted text: [`clean_text`] removes control characters and
//! bounds the length, on both sides of the wire.

use std::time::Duration;

use bytes::Bytes;
use wire::activity::{TableEvent, WatchEvent};

use crate::proto;

pub use wire::activity::{
    ActivityKind, CgroupKind, CgroupRow, CgroupTable, ProcessRow, ProcessTable, TableHeader,
};

/// Most rows of either table the aggregator keeps from one report.
pub const MAX_ROWS: usize = 64;
/// Characters kept of a process name or a cgroup's name.
pub const NAME_CHARS: usize = 64;
/// Characters kept of a command line or a cgroup path.
pub const COMMAND_CHARS: usize = 256;
/// Characters kept of a user name.
pub const USER_CHARS: usize = 32;

/// `s` without control characters (C0, C1, DEL: each becomes a space, so
/// an escape sequence cannot reach a terminal or a page) and at most
/// `max` characters, the last of them `…` when it was cut.
pub fn clean_text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.pop();
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// A rate or a share as it may be shown: finite and not negative.
fn plain_number(x: f64) -> Option<f64> {
    (0.0..1e15).contains(&x).then_some(x)
}

/// The row as an aggregator keeps it: text cleaned, or `None` when a
/// figure cannot be shown (negative, not finite, absurd).
fn checked_process(row: ProcessRow) -> Option<ProcessRow> {
    Some(ProcessRow {
        pid: row.pid,
        name: clean_text(&row.name, NAME_CHARS),
        command: clean_text(&row.command, COMMAND_CHARS),
        user: clean_text(&row.user, USER_CHARS),
        cpu_percent: plain_number(row.cpu_percent)?,
        memory_bytes: row.memory_bytes,
        read_bytes_per_second: plain_number(row.read_bytes_per_second)?,
        write_bytes_per_second: plain_number(row.write_bytes_per_second)?,
    })
}

fn checked_cgroup(row: CgroupRow) -> Option<CgroupRow> {
    Some(CgroupRow {
        path: clean_text(&row.path, COMMAND_CHARS),
        name: clean_text(&row.name, NAME_CHARS),
        kind: row.kind,
        cpu_percent: plain_number(row.cpu_percent)?,
        memory_bytes: row.memory_bytes,
        memory_peak_bytes: row.memory_peak_bytes,
        read_bytes_per_second: plain_number(row.read_bytes_per_second)?,
        write_bytes_per_second: plain_number(row.write_bytes_per_second)?,
        pids: row.pids,
    })
}

/// How many rows of a table the aggregator left out, and why, for its
/// reject log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Rows with a figure that cannot be shown.
    pub bad: usize,
    /// Rows past [`MAX_ROWS`].
    pub over: usize,
}

/// The check the aggregator makes of a table an agent sent.
pub trait Check: Sized {
    /// The table as an aggregator keeps it: at most [`MAX_ROWS`] rows,
    /// text cleaned, rows with unshowable figures left out, and a total
    /// never below the rows listed.
    fn checked(self) -> (Self, Dropped);
}

/// The first [`MAX_ROWS`] rows that pass `check`, and how many did not.
fn checked_rows<R>(rows: Vec<R>, check: fn(R) -> Option<R>) -> (Vec<R>, Dropped) {
    let mut dropped = Dropped::default();
    let mut kept = Vec::with_capacity(rows.len().min(MAX_ROWS));
    for row in rows {
        if kept.len() == MAX_ROWS {
            dropped.over += 1;
        } else if let Some(row) = check(row) {
            kept.push(row);
        } else {
            dropped.bad += 1;
        }
    }
    (kept, dropped)
}

impl Check for ProcessTable {
    fn checked(self) -> (Self, Dropped) {
        let (processes, dropped) = checked_rows(self.processes, checked_process);
        let total = self.total.max(processes.len() as u32);
        (Self { total, processes }, dropped)
    }
}

impl Check for CgroupTable {
    fn checked(self) -> (Self, Dropped) {
        let (cgroups, dropped) = checked_rows(self.cgroups, checked_cgroup);
        let total = self.total.max(cgroups.len() as u32);
        let unavailable = self
            .unavailable
            .map(|why| clean_text(&why, COMMAND_CHARS))
            .filter(|why| !why.is_empty());
        (
            Self {
                total,
                cgroups,
                unavailable,
            },
            dropped,
        )
    }
}

// Watches: a viewer looking at a host makes its agent read the tables
// with every report (see `aggregator/watched.rs`).

/// How long one word of a watch holds.
pub const HOLD: Duration = Duration::from_secs(30);
/// How often a gateway repeats the watches it holds.
pub const REPEAT: Duration = Duration::from_secs(10);

/// A `watch` event: `{"type":"watch","v":1,"host":..}`.
pub fn encode_watch(host: &str) -> Bytes {
    Bytes::from(serde_json::to_vec(&WatchEvent::new(host)).unwrap_or_default())
}

/// A `processes` event: `{"type":"processes","v":1,"host":..,"ts":..,
/// "total":..,"processes":[{"pid":..,"name":..,..}]}`.
pub fn encode_processes(host: &str, ts: i64, table: &ProcessTable) -> Bytes {
    Bytes::from(serde_json::to_vec(&TableEvent::processes(host, ts, table)).unwrap_or_default())
}

/// A `cgroups` event: `{"type":"cgroups","v":1,"host":..,"ts":..,
/// "total":..,"cgroups":[..]}`, plus `"unavailable"` when there are none.
pub fn encode_cgroups(host: &str, ts: i64, table: &CgroupTable) -> Bytes {
    Bytes::from(serde_json::to_vec(&TableEvent::cgroups(host, ts, table)).unwrap_or_default())
}

// Conversions to and from the ingest contract.

impl From<proto::ProcessTable> for ProcessTable {
    fn from(t: proto::ProcessTable) -> Self {
        Self {
            total: t.total,
            processes: t
                .processes
                .into_iter()
                .map(|p| ProcessRow {
                    pid: p.pid,
                    name: p.name,
                    command: p.command,
                    user: p.user,
                    cpu_percent: p.cpu_percent,
                    memory_bytes: p.memory_bytes,
                    read_bytes_per_second: p.read_bytes_per_second,
                    write_bytes_per_second: p.write_bytes_per_second,
                })
                .collect(),
        }
    }
}

impl From<&ProcessTable> for proto::ProcessTable {
    fn from(t: &ProcessTable) -> Self {
        Self {
            total: t.total,
            processes: t
                .processes
                .iter()
                .map(|p| proto::Process {
                    pid: p.pid,
                    name: p.name.clone(),
                    command: p.command.clone(),
                    user: p.user.clone(),
                    cpu_percent: p.cpu_percent,
                    memory_bytes: p.memory_bytes,
                    read_bytes_per_second: p.read_bytes_per_second,
                    write_bytes_per_second: p.write_bytes_per_second,
                })
                .collect(),
        }
    }
}

impl From<proto::CgroupTable> for CgroupTable {
    fn from(t: proto::CgroupTable) -> Self {
        Self {
            total: t.total,
            cgroups: t
                .cgroups
                .into_iter()
                .map(|c| CgroupRow {
                    path: c.path,
                    name: c.name,
                    kind: CgroupKind::parse(&c.kind),
                    cpu_percent: c.cpu_percent,
                    memory_bytes: c.memory_bytes,
                    memory_peak_bytes: (c.memory_peak_bytes > 0).then_some(c.memory_peak_bytes),
                    read_bytes_per_second: c.read_bytes_per_second,
                    write_bytes_per_second: c.write_bytes_per_second,
                    pids: c.pids,
                })
                .collect(),
            unavailable: (!t.unavailable.is_empty()).then_some(t.unavailable),
        }
    }
}

impl From<&CgroupTable> for proto::CgroupTable {
    fn from(t: &CgroupTable) -> Self {
        Self {
            total: t.total,
            cgroups: t
                .cgroups
                .iter()
                .map(|c| proto::Cgroup {
                    path: c.path.clone(),
                    name: c.name.clone(),
                    kind: c.kind.as_str().to_owned(),
                    cpu_percent: c.cpu_percent,
                    memory_bytes: c.memory_bytes,
                    memory_peak_bytes: c.memory_peak_bytes.unwrap_or(0),
                    read_bytes_per_second: c.read_bytes_per_second,
                    write_bytes_per_second: c.write_bytes_per_second,
                    pids: c.pids,
                })
                .collect(),
            unavailable: t.unavailable.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::any;

    use super::*;

    fn row(pid: u32, name: &str, cpu: f64) -> ProcessRow {
        ProcessRow {
            pid,
            name: name.into(),
            command: format!("/usr/bin/{name} --flag"),
            user: "root".into(),
            cpu_percent: cpu,
            memory_bytes: 1 << 20,
            read_bytes_per_second: 0.0,
            write_bytes_per_second: 0.0,
        }
    }

    #[test]
    fn clean_text_removes_escape_sequences_and_bounds_length() {
        assert_eq!(clean_text("ok\u{1b}[31mred\u{7}", 64), "ok [31mred ");
        assert_eq!(clean_text("a\u{9b}b\u{7f}c\nd", 64), "a b c d");
        assert_eq!(clean_text("abcdef", 4), "abc…");
        assert_eq!(clean_text("abcd", 4), "abcd");
        let long = "x".repeat(100_000);
        assert_eq!(
            clean_text(&long, COMMAND_CHARS).chars().count(),
            COMMAND_CHARS
        );
        assert_eq!(clean_text("", 4), "");
    }

    #[test]
    fn checked_keeps_good_rows_and_drops_unshowable_ones() {
        let mut rows: Vec<ProcessRow> = (0..70).map(|i| row(i, "spin", 1.0)).collect();
        rows[3].cpu_percent = f64::NAN;
        rows[4].read_bytes_per_second = -1.0;
        rows[5].name = "evil\u{1b}]0;title\u{7}".into();
        let (t, dropped) = ProcessTable {
            total: 2,
            processes: rows,
        }
        .checked();
        assert_eq!(t.processes.len(), MAX_ROWS);
        assert_eq!(dropped, Dropped { bad: 2, over: 4 });
        // The total never says fewer processes than the table lists.
        assert_eq!(t.total, MAX_ROWS as u32);
        assert!(t.processes.iter().all(|p| !p.name.contains('\u{1b}')));
    }

    #[test]
    fn events_carry_type_host_time_and_rows() {
        let t = ProcessTable {
            total: 3,
            processes: vec![row(7, "spin", 99.0)],
        };
        let bytes = encode_processes("web-1", 1000, &t);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["type"], "processes");
        assert_eq!(v["host"], "web-1");
        assert_eq!(v["ts"], 1000);
        assert_eq!(v["total"], 3);
        assert_eq!(v["processes"][0]["name"], "spin");
        let back: ProcessTable = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
        let none = CgroupTable {
            unavailable: Some("no cgroup v2 here".into()),
            ..CgroupTable::default()
        };
        let v: serde_json::Value =
            serde_json::from_slice(&encode_cgroups("web-1", 5, &none)).unwrap();
        assert_eq!(v["type"], "cgroups");
        assert_eq!(v["unavailable"], "no cgroup v2 here");
        assert_eq!(v["cgroups"], serde_json::json!([]));
        assert_eq!(
            ActivityKind::parse("cgroups").map(|k| k.channel("h")),
            Some("cgroups.h".to_owned())
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Whatever an agent sends, what the aggregator keeps is showable:
        /// no control character, every text within its bound, every figure
        /// finite and not negative, at most `MAX_ROWS` rows, and a `total`
        /// never below the rows listed.
        #[test]
        fn checked_tables_are_always_showable(
            rows in proptest::collection::vec(
                (any::<u32>(), ".{0,300}", ".{0,300}", ".{0,40}", any::<f64>(), any::<u64>(), any::<f64>(), any::<f64>()),
                0..80,
            ),
            total in any::<u32>(),
        ) {
            let processes = rows
                .into_iter()
                .map(|(pid, name, command, user, cpu, memory, read, write)| ProcessRow {
                    pid,
                    name,
                    command,
                    user,
                    cpu_percent: cpu,
                    memory_bytes: memory,
                    read_bytes_per_second: read,
                    write_bytes_per_second: write,
                })
                .collect();
            let (t, _) = ProcessTable { total, processes }.checked();
            proptest::prop_assert!(t.processes.len() <= MAX_ROWS);
            proptest::prop_assert!(t.total as usize >= t.processes.len());
            for p in &t.processes {
                for (text, max) in [(&p.name, NAME_CHARS), (&p.command, COMMAND_CHARS), (&p.user, USER_CHARS)] {
                    proptest::prop_assert!(text.chars().count() <= max);
                    proptest::prop_assert!(!text.chars().any(char::is_control), "{:?}", text);
                }
                for x in [p.cpu_percent, p.read_bytes_per_second, p.write_bytes_per_second] {
                    proptest::prop_assert!(x.is_finite() && x >= 0.0);
                }
            }
        }
    }

    #[test]
    fn proto_round_trip_keeps_every_field() {
        let t = ProcessTable {
            total: 300,
            processes: vec![row(42, "postgres", 87.5)],
        };
        assert_eq!(ProcessTable::from(proto::ProcessTable::from(&t)), t);
        let c = CgroupTable {
            total: 9,
            cgroups: vec![CgroupRow {
                path: "system.slice/docker-0123456789ab.scope".into(),
                name: "0123456789ab".into(),
                kind: CgroupKind::Container,
                cpu_percent: 12.5,
                memory_bytes: 1 << 30,
                memory_peak_bytes: Some(2 << 30),
                read_bytes_per_second: 10.0,
                write_bytes_per_second: 20.0,
                pids: 7,
            }],
            unavailable: None,
        };
        assert_eq!(CgroupTable::from(proto::CgroupTable::from(&c)), c);
        let none = CgroupTable {
            unavailable: Some("cgroup v1 host: /sys/fs/cgroup has no cgroup.controllers".into()),
            ..CgroupTable::default()
        };
        assert_eq!(CgroupTable::from(proto::CgroupTable::from(&none)), none);
    }
}
