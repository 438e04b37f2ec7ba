//! The process table: this host's top processes by CPU and by resident
//! memory, read with sysinfo.
//!
//! Every figure is an average since the previous read. CPU time and disk
//! bytes are cumulative counters, kept here per process (pid and start
//! time, so a reused pid starts over); a process first seen now started
//! since the previous read, so its whole counter belongs to the interval.
//! The first read is therefore a baseline only and gives no table.
//!
//! Only what the table shows is refreshed: CPU time, memory, disk bytes and
//! the owner of every process, then the name and command line of the rows
//! kept (a command line can be megabytes, and it changes when a process
//! execs or retitles itself, so it is read again each time, but only for
//! those and only as much as is shown).

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::{Duration, Instant};

use sysinfo::{
    Pid, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System, Uid, UpdateKind, Users,
};

use crate::activity::{
    COMMAND_CHARS, NAME_CHARS, ProcessRow, ProcessTable, USER_CHARS, clean_text,
};

/// Rows of each ranking (by CPU, by resident memory) the agent sends.
pub const TOP: usize = 10;

/// Least wait before the user list is read again for an owner it lacked:
/// a uid without a name (a container's user) must not cost a read of
/// `/etc/passwd` every time.
const USERS_RELOAD: Duration = Duration::from_secs(300);

/// A process's cumulative counters at one read.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    start_time: u64,
    cpu_ms: u64,
    read_bytes: u64,
    written_bytes: u64,
}

/// One process's figures over the interval, before it is ranked.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Figures {
    pid: Pid,
    cpu_percent: f64,
    memory_bytes: u64,
    read_bytes_per_second: f64,
    write_bytes_per_second: f64,
}

pub struct ProcessReader {
    system: System,
    top: usize,
    prev: HashMap<Pid, Counters>,
    last: Option<Instant>,
    users: UserNames,
}

/// What every read refreshes for every process. No tasks: threads are not
/// processes here (`total` counts what `ps -e` counts).
fn every_process() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing()
        .without_tasks()
        .with_cpu()
        .with_memory()
        .with_disk_usage()
        // The owner comes from the `status` file sysinfo reads anyway; a
        // daemon that drops root after start changes it.
        .with_user(UpdateKind::Always)
}

impl ProcessReader {
    /// A reader keeping the top `top` processes of each ranking.
    pub fn new(top: usize) -> Result<Self, sysinfo::Error> {
        Ok(Self {
            system: System::new_with_specifics(RefreshKind::nothing())?,
            top,
            prev: HashMap::new(),
            last: None,
            users: UserNames::default(),
        })
    }

    /// Reads the process table; `None` the first time (a baseline).
    pub fn read(&mut self) -> Option<ProcessTable> {
        let now = Instant::now();
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::All, true, every_process());
        let elapsed = self
            .last
            .replace(now)
            .map(|last| now.duration_since(last).as_secs_f64())
            .filter(|dt| *dt > 0.0);
        // The most CPU a process can use: every core.
        let max_cpu = self.system.cpus().len().max(1) as f64 * 100.0;

        let processes = self.system.processes();
        let mut counters = HashMap::with_capacity(processes.len());
        let mut figures = Vec::with_capacity(processes.len());
        for (&pid, p) in processes {
            let disk = p.disk_usage();
            let now = Counters {
                start_time: p.start_time(),
                cpu_ms: p.accumulated_cpu_time(),
                read_bytes: disk.total_read_bytes,
                written_bytes: disk.total_written_bytes,
            };
            counters.insert(pid, now);
            let Some(dt) = elapsed else { continue };
            let before = self
                .prev
                .get(&pid)
                .filter(|c| c.start_time == now.start_time)
                .copied()
                .unwrap_or_default();
            let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / dt;
            figures.push(Figures {
                pid,
                cpu_percent: (rate(now.cpu_ms, before.cpu_ms) / 10.0).min(max_cpu),
                memory_bytes: p.memory(),
                read_bytes_per_second: rate(now.read_bytes, before.read_bytes),
                write_bytes_per_second: rate(now.written_bytes, before.written_bytes),
            });
        }
        let total = processes.len() as u32;
        self.prev = counters;
        elapsed?;

        let kept = ranked(&figures, self.top, |f| f.cpu_percent, |f| f.memory_bytes);
        #[cfg(not(target_os = "linux"))]
        {
            let pids: Vec<Pid> = kept.iter().map(|&i| figures[i].pid).collect();
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&pids),
                false,
                ProcessRefreshKind::nothing()
                    .without_tasks()
                    .with_cmd(UpdateKind::Always),
            );
        }
        let rows = kept
            .into_iter()
            .filter_map(|i| {
                let f = figures[i];
                let p = self.system.process(f.pid)?;
                // A process that ended since is no longer worth a row.
                let (name, command) = identity(f.pid, p)?;
                Some(ProcessRow {
                    pid: f.pid.as_u32(),
                    name,
                    command,
                    user: p
                        .user_id()
                        .map(|uid| self.users.name(uid, now))
                        .unwrap_or_default(),
                    cpu_percent: f.cpu_percent,
                    memory_bytes: f.memory_bytes,
                    read_bytes_per_second: f.read_bytes_per_second,
                    write_bytes_per_second: f.write_bytes_per_second,
                })
            })
            .collect();
        Some(ProcessTable {
            total,
            processes: rows,
        })
    }
}

/// Most bytes of a command line read: enough for [`COMMAND_CHARS`]
/// characters of four bytes each, and one more to know it was cut.
#[cfg(target_os = "linux")]
const CMDLINE_BYTES: u64 = (COMMAND_CHARS as u64 + 1) * 4;

/// A kept row's name and command line, as they are now (a process may have
/// exec'd or retitled itself since sysinfo first saw it), cleaned and cut.
/// Read from `/proc` directly, and only the bytes shown: sysinfo would read
/// a whole command line (up to 2 MB) and keep it as long as the process
/// lives.
#[cfg(target_os = "linux")]
fn identity(pid: Pid, _: &sysinfo::Process) -> Option<(String, String)> {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    let comm = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    let name = String::from_utf8_lossy(comm.strip_suffix(b"\n").unwrap_or(&comm)).into_owned();
    let mut cmdline = Vec::new();
    std::fs::File::open(format!("/proc/{pid}/cmdline"))
        .ok()?
        .take(CMDLINE_BYTES)
        .read_to_end(&mut cmdline)
        .ok()?;
    let args: Vec<OsString> = cmdline
        .split(|b| *b == 0)
        .map(|arg| std::ffi::OsStr::from_bytes(arg).to_owned())
        .collect();
    Some((clean_text(&name, NAME_CHARS), command_line(&args, &name)))
}

#[cfg(not(target_os = "linux"))]
fn identity(_: Pid, p: &sysinfo::Process) -> Option<(String, String)> {
    let name = p.name().to_string_lossy();
    Some((clean_text(&name, NAME_CHARS), command_line(p.cmd(), &name)))
}

/// Indices of the top `top` items by `cpu`, then those of the top `top` by
/// `memory` not already among them: at most `2 × top`, each once.
pub(super) fn ranked<T>(
    items: &[T],
    top: usize,
    cpu: impl Fn(&T) -> f64,
    memory: impl Fn(&T) -> u64,
) -> Vec<usize> {
    let mut by_cpu: Vec<usize> = (0..items.len()).collect();
    by_cpu.sort_by(|&a, &b| cpu(&items[b]).total_cmp(&cpu(&items[a])));
    by_cpu.truncate(top);
    let mut by_memory: Vec<usize> = (0..items.len()).collect();
    by_memory.sort_by_key(|&i| std::cmp::Reverse(memory(&items[i])));
    by_memory.truncate(top);
    let mut kept = by_cpu;
    for i in by_memory {
        if !kept.contains(&i) {
            kept.push(i);
        }
    }
    kept
}

/// The command line as `ps` shows it: arguments joined by spaces, control
/// characters removed, at most [`COMMAND_CHARS`] characters. Only as much
/// of a huge command line as is shown is copied. A process without one (a
/// kernel thread) shows its name in brackets, as `ps` does.
fn command_line(args: &[OsString], name: &str) -> String {
    if args.iter().all(|a| a.is_empty()) {
        return clean_text(&format!("[{name}]"), COMMAND_CHARS);
    }
    let mut line = String::new();
    let mut chars = 0;
    // One character past the limit, so that `clean_text` marks the cut.
    'args: for (i, arg) in args.iter().enumerate() {
        for c in (i > 0)
            .then_some(' ')
            .into_iter()
            .chain(arg.to_string_lossy().chars())
        {
            if chars > COMMAND_CHARS {
                break 'args;
            }
            line.push(c);
            chars += 1;
        }
    }
    clean_text(&line, COMMAND_CHARS).trim_end().to_owned()
}

/// User names by uid, read from the system's user lists once and kept.
///
/// sysinfo's `Users` leaves out accounts whose shell is `/bin/false`, which
/// is how most daemons' accounts (mysql, postgres on some systems) are
/// made, and those are whom a process table shows: `/etc/passwd` is read
/// first, where there is one, and `Users` for what it lacks (macOS's
/// directory services).
#[derive(Default)]
struct UserNames {
    passwd: HashMap<u32, String>,
    users: Option<Users>,
    loaded: Option<Instant>,
    names: HashMap<Uid, String>,
}

impl UserNames {
    /// The owner's name, or its number where no user list has it.
    fn name(&mut self, uid: &Uid, now: Instant) -> String {
        if let Some(name) = self.names.get(uid) {
            return name.clone();
        }
        let stale = self
            .loaded
            .is_none_or(|at| now.duration_since(at) >= USERS_RELOAD);
        if stale {
            self.passwd = std::fs::read_to_string("/etc/passwd")
                .map(|text| passwd_names(&text))
                .unwrap_or_default();
            self.users = Users::new_with_refreshed_list().ok();
            self.loaded = Some(now);
        }
        let found = uid_number(uid)
            .and_then(|n| self.passwd.get(&n).cloned())
            .or_else(|| {
                let users = self.users.as_ref()?;
                Some(users.get_user_by_id(uid)?.name().to_owned())
            });
        match found {
            Some(name) => {
                let name = clean_text(&name, USER_CHARS);
                self.names.insert(uid.clone(), name.clone());
                name
            }
            None => uid_number(uid).map(|n| n.to_string()).unwrap_or_default(),
        }
    }
}

/// Names by uid from `/etc/passwd` (`name:x:uid:gid:…`); the first line of
/// a uid wins, as for `getpwuid`.
fn passwd_names(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(uid) = uid.parse() {
            names.entry(uid).or_insert_with(|| name.to_owned());
        }
    }
    names
}

#[cfg(unix)]
fn uid_number(uid: &Uid) -> Option<u32> {
    Some(**uid)
}

#[cfg(not(unix))]
fn uid_number(_: &Uid) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranked_keeps_the_top_by_cpu_and_the_top_by_memory_each_once() {
        // (cpu, memory)
        let items = [(90.0, 1), (5.0, 900), (50.0, 800), (0.0, 10), (1.0, 700)];
        let kept = ranked(&items, 2, |i| i.0, |i| i.1);
        assert_eq!(kept, vec![0, 2, 1]);
        // The busiest process is also the biggest: listed once.
        let items = [(90.0, 900), (5.0, 10), (1.0, 20)];
        assert_eq!(ranked(&items, 1, |i| i.0, |i| i.1), vec![0]);
        assert_eq!(ranked(&items, 10, |i| i.0, |i| i.1).len(), 3);
        assert!(ranked::<(f64, u64)>(&[], 10, |i| i.0, |i| i.1).is_empty());
    }

    #[test]
    fn a_command_line_is_joined_cleaned_and_cut() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            command_line(&args(&["nginx", "-g", "daemon off;"]), "nginx"),
            "nginx -g daemon off;"
        );
        assert_eq!(command_line(&[], "kthreadd"), "[kthreadd]");
        assert_eq!(
            command_line(&args(&["evil", "\u{1b}]0;pwned\u{7}"]), "evil"),
            "evil  ]0;pwned"
        );
        let huge = "x".repeat(100_000);
        let line = command_line(&args(&["spin", &huge]), "spin");
        assert_eq!(line.chars().count(), COMMAND_CHARS);
        assert!(
            line.starts_with("spin xxx") && line.ends_with('…'),
            "{line}"
        );
    }

    #[test]
    fn passwd_lines_give_names_by_uid_the_first_winning() {
        let names = passwd_names(
            "root:x:0:0:root:/root:/bin/bash\n# a comment\nmysql:x:107:110::/nonexistent:/bin/false\ntoor:x:0:0::/:/bin/sh\nbroken\n",
        );
        assert_eq!(names.get(&0).map(String::as_str), Some("root"));
        assert_eq!(names.get(&107).map(String::as_str), Some("mysql"));
        assert_eq!(names.len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn invalid_utf8_in_a_command_line_is_replaced() {
        use std::os::unix::ffi::OsStringExt;
        let arg = OsString::from_vec(vec![b'a', 0xff, b'b']);
        assert_eq!(command_line(&[arg], "a"), "a\u{fffd}b");
    }
}
