//! `mon aggregator` on a real file system that fills up or turns read-only:
//! a small tmpfs mounted in a user and mount namespace of its own, so the
//! tests need no root. A holder process keeps the namespace (and the tmpfs)
//! alive; the aggregator, `mon query` and the `sqlite3` shell run inside it
//! with `nsenter`, and the test writes its filler file through
//! `/proc/HOLDER/root`. (SQLite resolves symbolic links in a database path,
//! and `/proc/HOLDER/root` is one that leads back to this namespace's `/`,
//! so SQLite cannot open the database that way.) The agent runs outside, on
//! this machine's loopback, which the namespace shares.
//!
//! A file system cannot be remounted read-only while a process holds a file
//! on it open for writing (Linux answers EBUSY, and SQLite always does), so
//! the read-only case stops the aggregator, remounts, and starts it again:
//! the start is refused by name, the agent spools, and a start after the
//! remount read-write drains the spool.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{Running, eventually, free_port, mon, stop_agent};

/// A user and mount namespace holding a tmpfs of `size` mounted on `dir`.
struct Tmpfs {
    holder: Running,
    dir: PathBuf,
    _host_dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after saying why, loudly) when this machine cannot make
    /// namespaces; under CI that fails the test instead.
    fn mount(size: &str, options: &str) -> Option<Self> {
        let probe = Command::new("unshare")
            .args(["-rm", "true"])
            .stderr(Stdio::piped())
            .output();
        if !probe.as_ref().is_ok_and(|o| o.status.success()) {
            let why = match &probe {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            let message = format!(
                "SKIPPED: the disk tests need `unshare -rm` (user namespaces, or root) to mount a tmpfs: {why}"
            );
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
            return None;
        }
        let host_dir = tempfile::tempdir().unwrap();
        let dir = host_dir.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        let script = format!(
            "mount -t tmpfs -o size={size}{options} tmpfs '{}' && echo mounted && exec sleep 600",
            dir.display()
        );
        let mut cmd = Command::new("unshare");
        cmd.args(["-rm", "sh", "-c", &script]);
        let holder = Running::spawn(cmd);
        assert!(
            eventually(Duration::from_secs(5), || holder
                .stdout_text()
                .contains("mounted")),
            "tmpfs mounted; stderr: {}",
            holder.stderr_text()
        );
        Some(Self {
            holder,
            dir,
            _host_dir: host_dir,
        })
    }

    /// The data dir as this process sees it, through the holder's root, for
    /// plain file I/O.
    fn outside(&self) -> PathBuf {
        let inside = self.dir.strip_prefix("/").unwrap();
        PathBuf::from(format!("/proc/{}/root", self.holder.child.id())).join(inside)
    }

    /// A command run inside the namespace.
    fn enter(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.holder.child.id().to_string(),
            "-U",
            "-m",
            "--preserve-credentials",
            "--",
        ])
        .arg(program);
        cmd
    }

    /// `mon ARGS` inside the namespace, with a clean environment as
    /// `mon()` gives.
    fn mon(&self, args: &[&str]) -> Command {
        let mut cmd = self.enter(env!("CARGO_BIN_EXE_mon"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(args);
        cmd
    }

    fn aggregator(&self, listen: &str) -> Running {
        let mut cmd = self.mon(&["aggregator", "--listen", listen, "--data-dir"]);
        cmd.arg(&self.dir);
        Running::spawn(cmd)
    }

    /// Raw `cpu_usage_percent` samples of `host` in the last hour, as `mon
    /// query` shows them: one per report (0 before the store exists).
    fn stored(&self, host: &str) -> u64 {
        let mut cmd = self.mon(&[
            "query",
            "--host",
            host,
            "--metric",
            "cpu_usage_percent",
            "--since",
            "1h",
            "--json",
            "--data-dir",
        ]);
        let out = cmd.arg(&self.dir).output().unwrap();
        if !out.status.success() {
            return 0;
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["points"].as_array().unwrap().len() as u64
    }

    /// `PRAGMA integrity_check` by the `sqlite3` shell.
    fn integrity(&self) -> String {
        let out = self
            .enter("sqlite3")
            .arg(self.dir.join("mon.db"))
            .arg("PRAGMA integrity_check")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Makes the mount read-only (`ro`) or writable again (`rw`). `bind`
    /// changes the flag of the mount point, not the tmpfs' own options, which
    /// an unprivileged namespace cannot always restate (the `uid=` the kernel
    /// recorded is not mapped inside it); writes through it fail with EROFS
    /// all the same.
    fn remount(&self, mode: &str) {
        let out = self
            .enter("mount")
            .args(["-o", &format!("remount,bind,{mode}")])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn agent(listen: &str, host: &str) -> Running {
    let mut cmd = mon();
    cmd.args([
        "--log-format",
        "json",
        "agent",
        "--interval",
        "100ms",
        "--host",
        host,
        "--aggregator",
        &format!("http://{listen}"),
    ]);
    Running::spawn(cmd)
}

#[test]
fn a_full_disk_pauses_ingest_with_a_clear_error_and_loses_no_sample_once_space_returns() {
    let Some(fs) = Tmpfs::mount("8m", "") else {
        return;
    };
    let data = fs.outside();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut aggregator = fs.aggregator(&listen);
    let mut agent = agent(&listen, "disk-full");
    let stored = || fs.stored("disk-full");
    assert!(
        eventually(Duration::from_secs(10), || stored() >= 3),
        "agent → aggregator works; stderr:\n{}",
        aggregator.stderr_text()
    );

    // Fill every byte the tmpfs has left.
    let filler_path = data.join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let block = vec![0xa5_u8; 64 * 1024];
    let err = loop {
        if let Err(e) = filler.write_all(&block) {
            break e;
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{err}");
    let full_text = format!(
        "the disk holding {} is full: ingest paused until space is freed (SQLite: database or disk is full)",
        fs.dir.display()
    );
    assert!(
        eventually(Duration::from_secs(5), || aggregator
            .stderr_text()
            .contains(&full_text)),
        "the aggregator says the disk is full; stderr:\n{}",
        aggregator.stderr_text()
    );
    let at_full = stored();
    // The disk stays full for a second of reports: the agent hears why,
    // says so once, and spools them; the aggregator logs the outage once.
    std::thread::sleep(Duration::from_millis(1200));
    let heard = agent
        .stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| {
            l.contains("disconnected from aggregator") && l.contains("is full: ingest paused")
        })
        .count();
    assert_eq!(
        heard,
        1,
        "the agent says why once, not on every retry; stderr:\n{}",
        agent.stderr_text()
    );
    assert_eq!(
        stored(),
        at_full,
        "nothing is stored while the disk is full"
    );
    assert_eq!(
        aggregator
            .stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("is full"))
            .count(),
        1,
        "one log line per outage, not per report:\n{}",
        aggregator.stderr_text()
    );

    drop(filler);
    std::fs::remove_file(&filler_path).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || aggregator
            .stderr_text()
            .contains("store writes succeed again: ingest resumed")),
        "the aggregator says when ingest resumes; stderr:\n{}",
        aggregator.stderr_text()
    );
    assert!(
        eventually(Duration::from_secs(10), || stored() >= at_full + 10),
        "the agent replayed its spool"
    );
    let produced = stop_agent(&mut agent);
    aggregator.signal("TERM");
    assert_eq!(
        aggregator.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        aggregator.stderr_text()
    );
    assert_eq!(
        stored(),
        produced,
        "every report produced is stored exactly once"
    );
    assert_eq!(fs.integrity(), "ok");
}

#[test]
fn a_read_only_data_dir_refuses_the_start_by_name_and_a_start_after_remounting_drains_the_spools() {
    let Some(fs) = Tmpfs::mount("8m", "") else {
        return;
    };
    let listen = format!("127.0.0.1:{}", free_port());
    let mut first = fs.aggregator(&listen);
    let mut agent = agent(&listen, "disk-ro");
    let stored = || fs.stored("disk-ro");
    assert!(
        eventually(Duration::from_secs(10), || stored() >= 3),
        "agent → aggregator works; stderr:\n{}",
        first.stderr_text()
    );
    first.signal("TERM");
    assert_eq!(first.wait(Duration::from_secs(10)).code(), Some(0));

    fs.remount("ro");
    let mut refused = fs.aggregator(&listen);
    let status = refused.wait(Duration::from_secs(5));
    assert!(!status.success(), "a read-only data dir is refused");
    let expected = format!(
        "{} is read-only: mon keeps its database there and must write to it",
        fs.dir.display()
    );
    assert!(
        refused.stderr_text().contains(&expected),
        "{}",
        refused.stderr_text()
    );

    fs.remount("rw");
    let at_restart = stored();
    let mut second = fs.aggregator(&listen);
    assert!(
        eventually(Duration::from_secs(15), || stored() >= at_restart + 5),
        "the agent replayed its spool; stderr:\n{}",
        second.stderr_text()
    );
    let produced = stop_agent(&mut agent);
    second.signal("TERM");
    assert_eq!(second.wait(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(
        stored(),
        produced,
        "every report produced is stored exactly once"
    );
    assert_eq!(fs.integrity(), "ok");
}

#[test]
fn an_aggregator_started_on_a_read_only_file_system_exits_naming_the_dir() {
    let Some(fs) = Tmpfs::mount("1m", ",ro") else {
        return;
    };
    let mut aggregator = fs.aggregator(&format!("127.0.0.1:{}", free_port()));
    let status = aggregator.wait(Duration::from_secs(5));
    assert!(!status.success());
    let text = aggregator.stderr_text();
    assert!(
        text.contains(&format!(
            "{} is read-only: mon keeps its database there and must write to it; remount it read-write",
            fs.dir.display()
        )),
        "{text}"
    );
    assert!(!fs.outside().join("mon.db").exists(), "nothing was created");
}

#[test]
fn an_aggregator_started_on_a_full_disk_exits_naming_the_dir() {
    let Some(fs) = Tmpfs::mount("1m", "") else {
        return;
    };
    let mut filler = std::fs::File::create(fs.outside().join("filler")).unwrap();
    while filler.write_all(&[0x5a; 64 * 1024]).is_ok() {}
    let mut aggregator = fs.aggregator(&format!("127.0.0.1:{}", free_port()));
    let status = aggregator.wait(Duration::from_secs(5));
    assert!(!status.success());
    let text = aggregator.stderr_text();
    assert!(
        text.contains(&format!(
            "the disk holding {} is full: mon cannot open its database there; free some space",
            fs.dir.display()
        )),
        "{text}"
    );
    let left: Vec<_> = std::fs::read_dir(fs.outside())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["filler"], "no probe or database left behind");
}

/// Size of the data dir's `mon.db-wal`, 0 when there is none.
fn wal_bytes(data: &std::path::Path) -> u64 {
    std::fs::metadata(data.join("mon.db-wal"))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[test]
fn the_wal_stays_small_on_a_full_disk_and_once_space_returns_and_the_final_checkpoint_succeeds() {
    let Some(fs) = Tmpfs::mount("8m", "") else {
        return;
    };
    let data = fs.outside();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut aggregator = fs.aggregator(&listen);
    let mut agent = agent(&listen, "wal-host");
    let stored = || fs.stored("wal-host");
    assert!(
        eventually(Duration::from_secs(10), || stored() >= 3),
        "agent → aggregator works; stderr:\n{}",
        aggregator.stderr_text()
    );
    // On a disk this small the writer's limit is its least, 4 MiB; a batch
    // or two may pass it before the checkpoint that follows them.
    let limit = 5 * 1024 * 1024;
    let filler_path = data.join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let block = vec![0x5a_u8; 64 * 1024];
    while filler.write_all(&block).is_ok() {}
    assert!(
        eventually(Duration::from_secs(5), || aggregator
            .stderr_text()
            .contains("is full: ingest paused")),
        "{}",
        aggregator.stderr_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        wal_bytes(&data) <= limit,
        "WAL at {} bytes",
        wal_bytes(&data)
    );
    drop(filler);
    std::fs::remove_file(&filler_path).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || aggregator
            .stderr_text()
            .contains("store writes succeed again: ingest resumed")),
        "{}",
        aggregator.stderr_text()
    );
    // Ingest and readers go on: the WAL is folded in as it grows, and what
    // the filler held stays free for the database.
    let mut largest = 0;
    for _ in 0..15 {
        largest = largest.max(wal_bytes(&data));
        let _ = stored();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        largest <= limit,
        "the WAL grew to {largest} bytes after space returned"
    );
    let produced = stop_agent(&mut agent);
    aggregator.signal("TERM");
    assert_eq!(
        aggregator.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        aggregator.stderr_text()
    );
    assert!(
        !aggregator
            .stderr_text()
            .contains("final WAL checkpoint failed"),
        "{}",
        aggregator.stderr_text()
    );
    assert_eq!(
        wal_bytes(&data),
        0,
        "the final checkpoint folded the WAL in"
    );
    assert_eq!(stored(), produced, "every report stored exactly once");
    assert_eq!(fs.integrity(), "ok");
}
