//! The cgroup table: systemd services, containers and user sessions of a
//! cgroup v2 host, read from the unified hierarchy (`/sys/fs/cgroup`, or
//! any root given, for tests).
//!
//! What is listed, from where it sits:
//! - `system.slice/…/NAME.service`: a service;
//! - `docker-ID.scope`, `libpod-ID.scope`, `cri-containerd-ID.scope`,
//!   `crio-ID.scope` anywhere, and `docker/ID` (Docker's cgroupfs driver):
//!   a container, named by its short id (12 characters);
//! - `user.slice/user-UID.slice`: a user's session. Its subtree is still
//!   searched, for rootless containers.
//!
//! CPU and I/O are averages since the previous read, from the kernel's
//! cumulative counters (`cpu.stat` `usage_usec`, `io.stat` `rbytes` and
//! `wbytes`); a cgroup first seen now was created since, and its counters
//! started at zero. The first read is a baseline only and gives no table.
//! A host without cgroup v2 gets a table that says why, never zeros.
//!
//! No crate: every file read is a number or a few `key value` pairs, a dozen
//! lines of parsing in all; the cgroup crates manage hierarchies (create,
//! attach, set limits) and bring far more than these reads need.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::processes::ranked;
use crate::activity::{COMMAND_CHARS, CgroupKind, CgroupRow, CgroupTable, NAME_CHARS, clean_text};

/// Where the unified hierarchy is mounted.
pub const ROOT: &str = "/sys/fs/cgroup";

/// Deepest cgroup searched, counted from the root: enough for a rootless
/// container (`user.slice/user-1000.slice/user@1000.service/user.slice/
/// libpod-ID.scope`) and for Kubernetes' pod slices.
const MAX_DEPTH: usize = 8;

/// Most directories one read lists, so a host with a huge tree (thousands
/// of pods) costs a bounded read.
const MAX_DIRS: usize = 4096;

/// A cgroup's cumulative counters at one read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    usage_usec: u64,
    read_bytes: u64,
    written_bytes: u64,
}

pub struct CgroupReader {
    root: PathBuf,
    top: usize,
    /// Every core busy: the most CPU a cgroup can show. A cgroup the walk
    /// missed before (past [`MAX_DIRS`]) brings its whole counter at once.
    max_cpu: f64,
    prev: HashMap<String, Counters>,
    last: Option<Instant>,
}

/// A cgroup of a kind the table lists, found by the walk.
#[derive(Debug, PartialEq)]
struct Found {
    dir: PathBuf,
    /// Below the root, `/`-separated.
    path: String,
    name: String,
    kind: CgroupKind,
}

impl CgroupReader {
    /// A reader of the hierarchy at `root` keeping the top `top` cgroups
    /// by CPU and by memory.
    pub fn new(root: impl Into<PathBuf>, top: usize) -> Self {
        Self {
            root: root.into(),
            top,
            max_cpu: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64 * 100.0,
            prev: HashMap::new(),
            last: None,
        }
    }

    /// Reads the table now; `None` the first time (a baseline).
    pub fn read(&mut self) -> Option<CgroupTable> {
        self.read_at(Instant::now())
    }

    /// Reads the table, `now` being the instant of the read (rates are
    /// over the time since the previous one).
    pub fn read_at(&mut self, now: Instant) -> Option<CgroupTable> {
        if let Some(why) = unavailable(&self.root) {
            return Some(CgroupTable {
                unavailable: Some(why),
                ..CgroupTable::default()
            });
        }
        let elapsed = self
            .last
            .replace(now)
            .map(|last| now.duration_since(last).as_secs_f64())
            .filter(|dt| *dt > 0.0);

        let found = walk(&self.root);
        let mut counters = HashMap::with_capacity(found.len());
        let mut rows = Vec::with_capacity(found.len());
        for cgroup in found {
            let now = Counters {
                usage_usec: read_text(&cgroup.dir, "cpu.stat")
                    .and_then(|t| usage_usec(&t))
                    .unwrap_or(0),
                ..read_text(&cgroup.dir, "io.stat")
                    .map(|t| io_bytes(&t))
                    .unwrap_or_default()
            };
            let before = self.prev.get(&cgroup.path).copied();
            counters.insert(cgroup.path.clone(), now);
            let Some(dt) = elapsed else { continue };
            // A counter that went backwards belongs to a cgroup made again
            // under the same name: all of it is this interval's.
            let before = before
                .filter(|b| b.usage_usec <= now.usage_usec)
                .unwrap_or_default();
            let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / dt;
            rows.push(CgroupRow {
                path: clean_text(&cgroup.path, COMMAND_CHARS),
                name: clean_text(&cgroup.name, NAME_CHARS),
                kind: cgroup.kind,
                cpu_percent: (rate(now.usage_usec, before.usage_usec) / 1e4).min(self.max_cpu),
                memory_bytes: read_number(&cgroup.dir, "memory.current").unwrap_or(0),
                memory_peak_bytes: read_number(&cgroup.dir, "memory.peak"),
                read_bytes_per_second: rate(now.read_bytes, before.read_bytes),
                write_bytes_per_second: rate(now.written_bytes, before.written_bytes),
                pids: read_number(&cgroup.dir, "pids.current").unwrap_or(0),
            });
        }
        self.prev = counters;
        elapsed?;

        let total = rows.len() as u32;
        let kept = ranked(&rows, self.top, |r| r.cpu_percent, |r| r.memory_bytes);
        let mut rows: Vec<Option<CgroupRow>> = rows.into_iter().map(Some).collect();
        let cgroups = kept.into_iter().filter_map(|i| rows[i].take()).collect();
        Some(CgroupTable {
            total,
            cgroups,
            unavailable: None,
        })
    }
}

/// Why `root` is no cgroup v2 hierarchy, or `None` when it is one.
fn unavailable(root: &Path) -> Option<String> {
    if root.join("cgroup.controllers").is_file() {
        return None;
    }
    let shown = root.display();
    Some(if !root.is_dir() {
        format!("no cgroup v2 hierarchy: {shown} does not exist")
    } else if let Ok(controllers) =
        std::fs::read_to_string(root.join("unified").join("cgroup.controllers"))
    {
        // systemd's hybrid layout: the controllers on v1, its own tree on v2.
        let held = if controllers.trim().is_empty() {
            "no controllers".to_owned()
        } else {
            format!("only {}", controllers.trim())
        };
        format!(
            "cgroup v1 host: {shown} has no cgroup.controllers (hybrid: the v2 tree at {shown}/unified has {held})"
        )
    } else {
        format!("cgroup v1 host: {shown} has no cgroup.controllers")
    })
}

/// The cgroups of the kinds listed below `root`, depth first, within
/// [`MAX_DEPTH`] and [`MAX_DIRS`].
fn walk(root: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(root.to_path_buf(), Vec::new())];
    let mut listed = 0;
    while let Some((dir, parts)) = stack.pop() {
        if listed == MAX_DIRS {
            break;
        }
        listed += 1;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let mut parts = parts.clone();
            parts.push(entry.file_name().to_string_lossy().into_owned());
            let kind = classify(&parts);
            let descend = parts.len() < MAX_DEPTH
                && !matches!(kind, Some((CgroupKind::Service | CgroupKind::Container, _)));
            if let Some((kind, name)) = kind {
                found.push(Found {
                    dir: entry.path(),
                    path: parts.join("/"),
                    name,
                    kind,
                });
            }
            if descend {
                stack.push((entry.path(), parts));
            }
        }
    }
    found
}

/// The kind and name of the cgroup at `parts` below the root, if the table
/// lists its kind.
fn classify(parts: &[String]) -> Option<(CgroupKind, String)> {
    let last = parts.last()?.as_str();
    if let Some(id) = container_id(parts) {
        return Some((CgroupKind::Container, id));
    }
    if parts[0] == "system.slice" && parts.len() > 1 && last.ends_with(".service") {
        return Some((CgroupKind::Service, last.to_owned()));
    }
    if parts.len() == 2
        && parts[0] == "user.slice"
        && last.starts_with("user-")
        && last.ends_with(".slice")
    {
        return Some((CgroupKind::User, last.to_owned()));
    }
    None
}

/// The short id of a container's cgroup: `docker-ID.scope` and its kin, or
/// `docker/ID`.
fn container_id(parts: &[String]) -> Option<String> {
    const SCOPES: [&str; 4] = ["docker-", "libpod-", "cri-containerd-", "crio-"];
    let last = parts.last()?.as_str();
    let id = match last.strip_suffix(".scope") {
        Some(scope) => SCOPES.iter().find_map(|p| scope.strip_prefix(p))?,
        None if parts.len() >= 2 && parts[parts.len() - 2] == "docker" => last,
        None => return None,
    };
    // A container id is 64 hex digits; `libpod-conmon-ID.scope` (podman's
    // monitor) and other look-alikes are not containers.
    let hex = id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| id[..12].to_owned())
}

fn read_text(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

/// A file holding one number (`memory.current`, `pids.current`); `None`
/// when it is missing (the controller is not enabled there) or not a number.
fn read_number(dir: &Path, file: &str) -> Option<u64> {
    read_text(dir, file)?.trim().parse().ok()
}

/// `usage_usec` of a `cpu.stat`.
fn usage_usec(cpu_stat: &str) -> Option<u64> {
    cpu_stat.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == "usage_usec").then(|| value.trim().parse().ok())?
    })
}

/// Bytes read and written, summed over the devices of an `io.stat`
/// (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`, one line each).
fn io_bytes(io_stat: &str) -> Counters {
    let mut c = Counters::default();
    for field in io_stat.split_whitespace() {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        let Ok(n) = value.parse::<u64>() else {
            continue;
        };
        match key {
            "rbytes" => c.read_bytes = c.read_bytes.saturating_add(n),
            "wbytes" => c.written_bytes = c.written_bytes.saturating_add(n),
            _ => {}
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn kinds_come_from_where_a_cgroup_sits() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let cases = [
            (
                "system.slice/nginx.service",
                Some((CgroupKind::Service, "nginx.service")),
            ),
            (
                "system.slice/system-getty.slice/getty@tty1.service",
                Some((CgroupKind::Service, "getty@tty1.service")),
            ),
            (
                &format!("system.slice/docker-{id}.scope"),
                Some((CgroupKind::Container, "0123456789ab")),
            ),
            (
                &format!("machine.slice/libpod-{id}.scope"),
                Some((CgroupKind::Container, "0123456789ab")),
            ),
            (
                &format!("docker/{id}"),
                Some((CgroupKind::Container, "0123456789ab")),
            ),
            (
                &format!("kubepods.slice/kubepods-pod1.slice/cri-containerd-{id}.scope"),
                Some((CgroupKind::Container, "0123456789ab")),
            ),
            (
                "user.slice/user-1000.slice",
                Some((CgroupKind::User, "user-1000.slice")),
            ),
            (&format!("machine.slice/libpod-conmon-{id}.scope"), None),
            ("user.slice/user-1000.slice/user@1000.service", None),
            ("init.scope", None),
            ("system.slice", None),
            ("docker/not-a-container", None),
        ];
        for (path, want) in cases {
            let got = classify(&parts(path));
            let want = want.map(|(k, n)| (k, n.to_owned()));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn counters_are_read_from_cpu_stat_and_summed_over_io_stat_devices() {
        let cpu = "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n";
        assert_eq!(usage_usec(cpu), Some(123456));
        assert_eq!(usage_usec("user_usec 5\n"), None);
        assert_eq!(usage_usec(""), None);
        let io = "8:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n\
                  253:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n";
        let c = io_bytes(io);
        assert_eq!((c.read_bytes, c.written_bytes), (1010, 2020));
        assert_eq!(io_bytes("8:0 rbytes=x wbytes\n"), Counters::default());
    }

    #[test]
    fn a_root_without_cgroup_v2_says_why_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let why = unavailable(dir.path()).unwrap();
        assert!(why.starts_with("cgroup v1 host"), "{why}");
        assert!(why.contains(&dir.path().display().to_string()), "{why}");
        let gone = dir.path().join("nowhere");
        let why = unavailable(&gone).unwrap();
        assert!(why.contains("does not exist"), "{why}");
    }
}
