//! The host view's process and cgroup panes: the watched host's tables,
//! sorted by CPU or by memory, their figures formatted and their text made
//! safe to print.
//!
//! Names and command lines come from the host's processes, so anyone who
//! can start a process there chooses them: every control character (an
//! escape sequence would reach the terminal) and every bidirectional
//! override (it would reorder what is shown) becomes a space here, even
//! though the server cleaned them already.

use std::cmp::Ordering;

use super::{CPU_LEVELS, Cell, Level, threshold};
use crate::format::{age, bytes, rate};
use crate::state::{CgroupRow, ProcessRow, Store};

/// How the panes order their rows; `c` and `m` in the host view choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActivitySort {
    #[default]
    Cpu,
    Memory,
}

impl ActivitySort {
    pub fn title(self) -> &'static str {
        match self {
            Self::Cpu => "CPU%",
            Self::Memory => "MEM",
        }
    }
}

/// A table older than this is marked: the agent reads them every 5 s
/// while a host is watched and every 30 s otherwise.
const OLD_TABLE_MS: i64 = 60_000;

/// Both panes.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityView {
    pub sort: ActivitySort,
    pub processes: ProcessesPane,
    pub cgroups: CgroupsPane,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessesPane {
    /// e.g. `Processes 64 of 312`.
    pub title: String,
    /// The table's age, `None` before the first table.
    pub age: Option<Cell>,
    /// Sorted, largest first.
    pub rows: Vec<ProcessLine>,
    /// What shows instead of rows: waiting, or an empty table.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessLine {
    pub pid: String,
    pub user: String,
    pub name: String,
    pub command: String,
    pub cpu: Cell,
    pub memory: String,
    pub read: String,
    pub write: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CgroupsPane {
    pub title: String,
    pub age: Option<Cell>,
    pub rows: Vec<CgroupLine>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CgroupLine {
    pub name: String,
    pub kind: String,
    pub cpu: Cell,
    pub memory: String,
    pub pids: String,
}

const WAITING: &str = "waiting for the first table…";

/// `s` with every control character and bidirectional override replaced
/// by a space, so printing it cannot move the cursor, change colours or
/// reorder the line.
pub fn plain(s: &str) -> String {
    s.chars()
        .map(|c| if unsafe_to_print(c) { ' ' } else { c })
        .collect()
}

/// C0, DEL and C1 controls, and the marks and overrides that change the
/// direction of the text around them.
fn unsafe_to_print(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// A share of one core: a process pegging a core draws the eye as the
/// host's CPU does at the same figure.
fn cpu_cell(percent: f64) -> Cell {
    let p = if percent.is_finite() {
        percent.max(0.0)
    } else {
        0.0
    };
    Cell::new(format!("{p:.1}"), threshold(p, CPU_LEVELS.0, CPU_LEVELS.1))
}

fn age_cell(ts_ms: i64, now_ms: i64) -> Cell {
    let elapsed = now_ms - ts_ms;
    let level = if elapsed > OLD_TABLE_MS {
        Level::Warn
    } else {
        Level::Faint
    };
    Cell::new(format!("{} ago", age(elapsed)), level)
}

/// Largest first by the sort key, then by the other figure, then by the
/// row's identity, so equal rows keep still between two tables.
fn by(sort: ActivitySort, a: (f64, u64), b: (f64, u64)) -> Ordering {
    let cpu = b.0.total_cmp(&a.0);
    let memory = b.1.cmp(&a.1);
    match sort {
        ActivitySort::Cpu => cpu.then(memory),
        ActivitySort::Memory => memory.then(cpu),
    }
}

/// A rate, or `0` for none: most processes do no I/O, and a column of
/// `0B/s` hides the few that do.
fn io_rate(v: f64) -> String {
    if v.is_finite() && v >= 0.5 {
        rate(v)
    } else {
        "0".into()
    }
}

fn process_line(p: &ProcessRow) -> ProcessLine {
    ProcessLine {
        pid: p.pid.to_string(),
        user: plain(&p.user),
        name: plain(&p.name),
        command: plain(&p.command),
        cpu: cpu_cell(p.cpu_percent),
        memory: bytes(p.memory_bytes as f64),
        read: io_rate(p.read_bytes_per_second),
        write: io_rate(p.write_bytes_per_second),
    }
}

fn cgroup_line(c: &CgroupRow) -> CgroupLine {
    let name = if c.name.is_empty() { &c.path } else { &c.name };
    CgroupLine {
        name: plain(name),
        kind: c.kind.as_str().to_owned(),
        cpu: cpu_cell(c.cpu_percent),
        memory: bytes(c.memory_bytes as f64),
        pids: c.pids.to_string(),
    }
}

/// The panes for the watched host at `now_ms`.
pub(super) fn activity_view(store: &Store, sort: ActivitySort, now_ms: i64) -> ActivityView {
    let activity = &store.activity;
    let processes = match &activity.processes {
        None => ProcessesPane {
            title: "Processes".into(),
            age: None,
            rows: vec![],
            note: Some(WAITING.into()),
        },
        Some(t) => {
            let mut rows: Vec<&ProcessRow> = t.rows.iter().collect();
            rows.sort_by(|a, b| {
                by(
                    sort,
                    (a.cpu_percent, a.memory_bytes),
                    (b.cpu_percent, b.memory_bytes),
                )
                .then(a.pid.cmp(&b.pid))
            });
            let total = t.total.max(rows.len() as u32);
            ProcessesPane {
                title: format!("Processes {} of {total}", rows.len()),
                age: Some(age_cell(t.ts_ms, now_ms)),
                note: rows.is_empty().then(|| "no processes listed".to_owned()),
                rows: rows.into_iter().map(process_line).collect(),
            }
        }
    };
    let cgroups = match &activity.cgroups {
        None => CgroupsPane {
            title: "Cgroups".into(),
            age: None,
            rows: vec![],
            note: Some(WAITING.into()),
        },
        Some(t) => {
            let mut rows: Vec<&CgroupRow> = t.rows.iter().collect();
            rows.sort_by(|a, b| {
                by(
                    sort,
                    (a.cpu_percent, a.memory_bytes),
                    (b.cpu_percent, b.memory_bytes),
                )
                .then_with(|| a.path.cmp(&b.path))
            });
            let note = match &t.unavailable {
                Some(why) => Some(format!("not available here: {}", plain(why))),
                None if rows.is_empty() => Some("no cgroups listed".to_owned()),
                None => None,
            };
            let total = t.total.max(rows.len() as u32);
            CgroupsPane {
                title: if t.unavailable.is_some() {
                    "Cgroups".into()
                } else {
                    format!("Cgroups {} of {total}", rows.len())
                },
                age: Some(age_cell(t.ts_ms, now_ms)),
                note,
                rows: rows.into_iter().map(cgroup_line).collect(),
            }
        }
    };
    ActivityView {
        sort,
        processes,
        cgroups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bidi_overrides_become_spaces() {
        assert_eq!(plain("a\u{1b}[2Jb\u{7}c"), "a [2Jb c");
        assert_eq!(plain("x\u{9b}31my\u{202e}z"), "x 31my z");
        assert_eq!(plain("nginx: worker"), "nginx: worker");
    }

    #[test]
    fn cpu_shares_past_one_core_stay_readable() {
        assert_eq!(cpu_cell(250.0).text, "250.0");
        assert_eq!(cpu_cell(250.0).level, Level::Alarm);
        assert_eq!(cpu_cell(-1.0).text, "0.0");
        assert_eq!(cpu_cell(f64::NAN).level, Level::Normal);
    }
}
