//! The SQLite engine behind the writer thread: the one write connection of
//! `mon.db`, its batches and its maintenance transactions.
//!
//! Series ids are cached in memory, but an id learned inside a transaction
//! enters the cache only after the commit, so a rolled-back batch leaves no
//! id that points at nothing.

// foldhash rather than std's SipHash: the writer looks up a host and each of
// its series per report, and SipHash was 2 % of the aggregator's time under a
// fleet's load (BENCHMARKS.md). Seeded per process, so a sender cannot aim
// at collisions.
use foldhash::{HashMap, HashMapExt, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use domain::episode::Episode;
use domain::model::SeriesKey;
use rusqlite::{Connection, params};

use super::checkpointer::{self, Checkpointer, Turn};
use super::config::MINUTE_MS;
use super::db::{Db, DbError};
use super::fault;
use super::forward_log::Appender;
use super::group_commit::WalSync;
use super::maintenance::{Marks, Run};
use super::raw::Landing;
use super::rollup::{Table, bucket_of};
use super::sqlite::Lite;
use super::writer::{Engine, WriteJob, WriteOutcome};
use super::{StoreError, inbox, raw};

/// The WAL is folded back into `mon.db` and truncated once it is past a
/// limit (`journal_size_limit` and `wal_autocheckpoint` keep SQLite's own
/// checkpoints to it as well): on a small disk a WAL that only grows would
/// take the space the database needs, and keep taking what an operator
/// frees. Larger is faster under load: a batch writes each page it changed
/// to the WAL, but a checkpoint writes a page to `mon.db` once however many
/// batches changed it, and a fleet's head pages change in every batch
/// (BENCHMARKS.md: 4 to 16 MiB, about +40 % on the TSBS shape). A settle
/// of the inbox alone writes about 20 MiB at 4,000 hosts, and the
/// checkpoint thread (`checkpointer.rs`) keeps the WAL well under the limit
/// while it keeps up, so the limit is what the writer falls back on. It is
/// a sixteenth of the space free when the store opens, between these two.
pub(super) const WAL_MIN_BYTES: u64 = 4 * 1024 * 1024;
pub(super) const WAL_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The WAL limit for a data dir with `free` bytes available.
pub(super) fn wal_limit_for(free: u64) -> u64 {
    (free / 16).clamp(WAL_MIN_BYTES, WAL_MAX_BYTES)
}

/// The WAL limit for the data dir `dir`, from the space free in it now
/// (the smallest limit when that cannot be read).
pub(super) fn wal_limit(dir: &std::path::Path) -> u64 {
    let free = rustix::fs::statvfs(dir)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(0);
    wal_limit_for(free)
}
/// How long a trimming checkpoint waits for readers to let go of old
/// snapshots, so ingest never stalls long behind a slow query.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(250);

pub(crate) struct SqliteEngine {
    conn: Connection,
    path: PathBuf,
    /// `mon.db-wal`, whose size decides the checkpoints and which the group
    /// commit syncs.
    wal: PathBuf,
    /// The data dir, named in every error a person has to act on.
    dir: PathBuf,
    /// host -> series -> id, for series known to be committed.
    series: HashMap<String, HashMap<SeriesKey, i64>>,
    /// Appends each report's new samples to the forward log, when on.
    forward: Appender,
    /// Past this size the WAL is folded in and truncated ([`wal_limit`],
    /// the connection's `journal_size_limit`).
    wal_limit: u64,
    /// Bytes of one WAL frame.
    frame_bytes: u64,
    /// host -> the `last_seen_ms` committed to `hosts`. The row is written
    /// again only once a report is a minute newer: one statement a minute
    /// per host instead of one per report, which at a fleet's report rate
    /// was half the writer's statements.
    last_seen: HashMap<String, i64>,
    /// Reports in the raw inbox (`inbox.rs`), about: counted by job, so a
    /// duplicate counts too. Past a [`SEAL_RUNS`]th of
    /// [`inbox::settle_rows`] the inbox is sealed as a new run.
    inbox_rows: u64,
    /// Rows in the sealed inbox's runs, about (`inbox::seal`). Past
    /// [`inbox::settle_rows`] a pass starts: each batch is followed by a
    /// slice of hosts moving into the head, until the last host.
    sealed_rows: u64,
    /// While a pass moves the sealed runs into the head: the last host
    /// moved so far. A pass starts with no host, once the runs hold enough.
    pass: Option<String>,
    /// A seal or slice that fails (while batches commit) is logged once...
    settle_failing: Episode,
    /// ... and tried again only once this many more reports have arrived.
    settle_wait: u64,
    /// What lets an inbox insert skip its look into the head, see
    /// [`HeadBounds`].
    bounds: HeadBounds,
    /// Checkpoints the WAL beside the writer (`checkpointer.rs`); without
    /// it, SQLite's own checkpoints in the commits do.
    checkpointer: Option<Checkpointer>,
}

/// host -> a timestamp no row of the host in the head or the sealed inbox
/// is newer than, as committed. A report newer than its host's bound cannot
/// be in either, so its inbox insert does not look there: that look was one
/// random read of the head's index per report, a fifth of the writer's time
/// at 4,000 hosts (BENCHMARKS.md). A bound may be too high (a check too many), never too
/// low. A host without one is looked up once (`inbox::head_newest`).
#[derive(Default)]
struct HeadBounds {
    /// Disabled when what the inbox held at open could not be read: a
    /// settle would then move rows no bound knows of.
    on: bool,
    head: HashMap<String, i64>,
    /// host -> its newest committed report in the inbox, which the next
    /// seal moves out of it.
    inbox: HashMap<String, i64>,
}

impl HeadBounds {
    fn open(conn: &Connection) -> Self {
        match inbox::newest_by_host(conn) {
            Ok(rows) => Self {
                on: true,
                head: HashMap::new(),
                inbox: rows.into_iter().collect(),
            },
            Err(e) => {
                tracing::debug!(error = %e, "the raw inbox's hosts could not be read; every insert looks into the head");
                Self::default()
            }
        }
    }

    /// Whether `host`'s head and sealed inbox are known to hold nothing at
    /// or after `ts`;
    /// a host seen for the first time is looked up, and what was learned
    /// goes into `learned` until the batch commits.
    fn head_older(
        &self,
        conn: &Connection,
        host: &str,
        ts: i64,
        learned: &mut HashMap<String, i64>,
    ) -> Result<bool, DbError> {
        if !self.on {
            return Ok(false);
        }
        let bound = match self.head.get(host).or_else(|| learned.get(host)) {
            Some(b) => *b,
            None => {
                let b = inbox::head_newest(conn, host)?.unwrap_or(i64::MIN);
                learned.insert(host.to_owned(), b);
                b
            }
        };
        Ok(ts > bound)
    }

    /// A batch committed: its hosts' bounds are known, and its reports are
    /// in the inbox or in the head.
    fn committed(&mut self, learned: HashMap<String, i64>, jobs: &[&WriteJob], via_inbox: bool) {
        self.head.extend(learned);
        for job in jobs {
            let ts = job.timestamp_ms;
            if via_inbox {
                match self.inbox.get_mut(&job.host) {
                    Some(t) => *t = (*t).max(ts),
                    None => {
                        self.inbox.insert(job.host.clone(), ts);
                    }
                }
            } else if let Some(b) = self.head.get_mut(&job.host) {
                // A host without a bound stays without one.
                *b = (*b).max(ts);
            }
        }
    }

    /// Inbox rows moved out of it and committed: all of them (`all`, a
    /// seal) or some (maintenance moves those before its cutoff into the
    /// head; the bound then takes the inbox's newest, too high at worst).
    fn settled(&mut self, all: bool) {
        for (host, t) in &self.inbox {
            if let Some(b) = self.head.get_mut(host) {
                *b = (*b).max(*t);
            }
        }
        if all {
            self.inbox.clear();
        }
    }
}

/// The writer's connection commits with `synchronous = NORMAL`: the WAL is
/// synced after the commit, off this thread, before any job is answered
/// (`group_commit.rs`). Were the pragma refused, `FULL` stays, as durable
/// and only slower. With a checkpoint thread, its commits run no
/// checkpoint of their own.
fn writer_pragmas(conn: &Connection, checkpointer: bool) {
    if let Err(e) = conn.pragma_update(None, "synchronous", "NORMAL") {
        tracing::debug!(error = %e, "synchronous = NORMAL refused; the writer syncs at each commit");
    }
    if checkpointer {
        match conn.pragma_update(None, "wal_autocheckpoint", 0) {
            // After the pragma, which clears the WAL hook.
            Ok(()) => checkpointer::count_frames(conn),
            Err(e) => {
                tracing::debug!(error = %e, "wal_autocheckpoint = 0 refused; commits checkpoint too")
            }
        }
    }
}

/// About how many sealed inbox rows one step moves into the head: at a
/// fleet's load a slice takes a few milliseconds, where the whole inbox
/// took over 100 (BENCHMARKS.md).
const SLICE_ROWS: usize = 4096;

/// How many runs the sealed inbox gathers before they move into the head:
/// each seal takes a quarter of [`inbox::settle_rows`], so its pause is a
/// quarter of what sealing it all at once was (BENCHMARKS.md).
const SEAL_RUNS: u64 = 4;

/// How far `hosts.last_seen_ms` may lag the newest report stored.
const LAST_SEEN_STEP_MS: i64 = MINUTE_MS;

impl SqliteEngine {
    pub fn new(conn: Connection, path: PathBuf, forward_log: bool) -> Self {
        let checkpointer = Checkpointer::start(&path);
        writer_pragmas(&conn, checkpointer.is_some());
        let dir = path.parent().map(PathBuf::from).unwrap_or_default();
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        Self {
            wal: wal.into(),
            // What `migrations::connect` set from the free space, read
            // back so the two limits are one.
            wal_limit: conn
                .pragma_query_value(None, "journal_size_limit", |r| r.get::<_, i64>(0))
                .map_or(WAL_MIN_BYTES, |v| v.max(0) as u64),
            // A frame is a page and its 24-byte header.
            frame_bytes: conn
                .pragma_query_value(None, "page_size", |r| r.get::<_, i64>(0))
                .map_or(4096, |v| v.max(512) as u64)
                + 24,
            // What an earlier run left; an error here only delays the first
            // settle.
            inbox_rows: inbox::rows(&conn).unwrap_or(0),
            sealed_rows: inbox::sealed_rows(&conn).unwrap_or(0),
            pass: None,
            settle_wait: 0,
            bounds: HeadBounds::open(&conn),
            checkpointer,
            conn,
            path,
            dir,
            series: HashMap::new(),
            forward: Appender {
                enabled: forward_log,
            },
            last_seen: HashMap::new(),
            settle_failing: Episode::new(),
        }
    }

    /// One step of moving the inbox into the head, in a short transaction
    /// of its own after a batch: seal the inbox as a new run once it holds
    /// a few reports per host, or, once the runs hold enough, move a slice
    /// of hosts from all of them, so no batch waits long behind either. A
    /// failure rolls back and leaves every row where it was (compaction
    /// still moves what it needs).
    fn settle_step(&mut self) {
        if self.settle_wait > 0 {
            return;
        }
        let enough = inbox::settle_rows(self.last_seen.len());
        let sealing = self.inbox_rows >= enough / SEAL_RUNS;
        if !sealing && self.pass.is_none() && self.sealed_rows < enough {
            return;
        }
        let after = self.pass.clone();
        let started = std::time::Instant::now();
        let done = (|| -> Result<(usize, Option<String>), DbError> {
            let tx = self.conn.transaction()?;
            let moved = if sealing {
                (inbox::seal(&tx)?, None)
            } else {
                inbox::settle_slice(&tx, SLICE_ROWS, after.as_deref())?
            };
            tx.commit()?;
            Ok(moved)
        })();
        match done {
            Ok((moved, last)) => {
                let ms = started.elapsed().as_millis() as u64;
                if sealing {
                    tracing::debug!(rows = moved, ms, "raw inbox sealed as a run");
                    self.inbox_rows = 0;
                    self.sealed_rows += moved as u64;
                    // Sealed rows count as the head's for the bounds.
                    self.bounds.settled(true);
                } else {
                    tracing::debug!(
                        rows = moved,
                        ms,
                        "sealed raw inbox slice moved into the head"
                    );
                    self.sealed_rows = self.sealed_rows.saturating_sub(moved as u64);
                    if last.is_none() {
                        // The pass is over; what runs sealed during it
                        // hold for the hosts it had passed stays.
                        self.sealed_rows = inbox::sealed_rows(&self.conn).unwrap_or(0);
                    }
                    self.pass = last;
                }
                if let Some(ended) = self.settle_failing.recover() {
                    tracing::info!(store = %self.path.display(), "the raw inbox settles again, after {} failures in {}", ended.failures, ended.lasted_text());
                }
            }
            Err(e) => {
                let error = fault::write_error(&e, &self.dir);
                if self.settle_failing.fail() {
                    tracing::warn!(store = %self.path.display(), "moving the raw inbox into the head failed: {error}; reads and ingest go on, and it is tried again later");
                }
                // Every row is where it was; try again once as many
                // reports again have come, not after every batch.
                self.settle_wait = enough / SEAL_RUNS;
                self.settle();
            }
        }
    }
}

impl SqliteEngine {
    /// `PRAGMA wal_checkpoint(TRUNCATE)`, waiting at most `wait` for
    /// readers: true when the whole WAL was folded in and truncated.
    fn checkpoint(&mut self, wait: Duration) -> rusqlite::Result<bool> {
        Ok(!checkpointer::wal_checkpoint(&self.conn, "TRUNCATE", wait)?.blocked)
    }
}

/// Whether a batch costs fewer bytes written by way of the inbox. Into the
/// head, each distinct host's index page is written whole; by way of the
/// inbox, the rows are written twice (inbox, then head) and the head's
/// pages once per settle, about an eighth of a page per report. So a batch
/// of one report from each of many hosts goes to the inbox, and one of
/// large reports with several per host (a small fleet under load, a
/// replay) to the head. `server/benches/head_key.py` measured both sides:
/// 4,000 hosts of 95-byte rows, batches of 100, 1,941 against 5,119 bytes
/// per report through the inbox; 100 hosts of 900-byte rows, batches of
/// 200, 8,021 against 6,095.
fn inbox_pays(jobs: &[&WriteJob]) -> bool {
    // SQLite's page, and a head row's bytes per sample (a varint id delta
    // and the value).
    const PAGE: usize = 4096;
    const SAMPLE: usize = 9;
    let distinct = jobs
        .iter()
        .map(|j| j.host.as_str())
        .collect::<HashSet<_>>()
        .len();
    let rows: usize = jobs.iter().map(|j| j.points.len() * SAMPLE).sum();
    distinct * PAGE > 2 * rows + jobs.len() * PAGE / 8
}

impl Engine for SqliteEngine {
    fn write_batch(
        &mut self,
        jobs: &[&WriteJob],
        marks: &Marks,
    ) -> Result<Vec<WriteOutcome>, DbError> {
        let tx = self.conn.transaction()?;
        let mut learned: HashMap<String, HashMap<SeriesKey, i64>> = HashMap::new();
        let mut seen_now: HashMap<&str, i64> = HashMap::new();
        let mut bounds_learned: HashMap<String, i64> = HashMap::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        let via_inbox = inbox_pays(jobs);
        {
            let mut find = tx.prepare_cached(
                "SELECT id FROM series WHERE host = ?1 AND name = ?2 AND labels = ?3",
            )?;
            let mut create = tx.prepare_cached(
                "INSERT INTO series (host, name, labels) VALUES (?1, ?2, ?3) RETURNING id",
            )?;
            let mut seen = tx.prepare_cached(
                "INSERT INTO hosts (host, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?2)
                 ON CONFLICT (host) DO UPDATE SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
            )?;
            let mut meta = tx.prepare_cached(
                "UPDATE hosts SET os = ?2, kernel = ?3, cores = ?4, memory_bytes = ?5,
                 agent_version = ?6, interval_ms = ?7 WHERE host = ?1",
            )?;
            for job in jobs {
                let written = seen_now
                    .get(job.host.as_str())
                    .or_else(|| self.last_seen.get(&job.host))
                    .copied();
                if written.is_none_or(|t| job.timestamp_ms >= t + LAST_SEEN_STEP_MS) {
                    seen.execute(params![job.host, job.timestamp_ms])?;
                    seen_now.insert(&job.host, job.timestamp_ms);
                }
                if let Some(m) = &job.meta {
                    meta.execute(params![
                        job.host,
                        m.os,
                        m.kernel,
                        m.cores,
                        m.memory_bytes as i64,
                        m.agent_version,
                        m.interval_ms as i64
                    ])?;
                }
                let mut samples = Vec::with_capacity(job.points.len());
                // The host's series, found once per job; a key's hash was
                // made with the key, so each lookup reads no string.
                let known = self.series.get(&job.host);
                for point in &job.points {
                    let cached = known.and_then(|m| m.get(&point.key)).copied().or_else(|| {
                        learned
                            .get(&job.host)
                            .and_then(|m| m.get(&point.key))
                            .copied()
                    });
                    let id = match cached {
                        Some(id) => id,
                        None => {
                            let labels = point.key.labels_json();
                            let args = params![job.host, point.key.name, labels];
                            let id = match find.query_row(args, |r| r.get(0)) {
                                Ok(id) => id,
                                Err(rusqlite::Error::QueryReturnedNoRows) => {
                                    create.query_row(args, |r| r.get(0))?
                                }
                                Err(e) => return Err(e.into()),
                            };
                            learned
                                .entry(job.host.clone())
                                .or_default()
                                .insert(point.key.clone(), id);
                            id
                        }
                    };
                    samples.push((id, point.value));
                }
                let landing = if via_inbox {
                    Landing::Inbox {
                        head_older: self.bounds.head_older(
                            &tx,
                            &job.host,
                            job.timestamp_ms,
                            &mut bounds_learned,
                        )?,
                    }
                } else {
                    Landing::Head
                };
                let mut db = Lite(&tx);
                let written = raw::write_report(
                    &mut db,
                    &job.host,
                    job.timestamp_ms,
                    samples,
                    marks.compacted_before,
                    landing,
                )?;
                self.forward
                    .append(&mut db, &job.host, job.timestamp_ms, &written.fresh)?;
                super::activity::write(&mut db, &job.host, &job.activity)?;
                // A sample behind the 1m watermark changes a bucket that is
                // already materialized: note it, in this same transaction.
                let minute = bucket_of(job.timestamp_ms, MINUTE_MS);
                if marks.watermark_1m.is_some_and(|wm| minute < wm) {
                    for (id, _) in &written.fresh {
                        db.dirty_mark(Table::OneMinute, *id, minute)?;
                    }
                }
                outcomes.push(WriteOutcome {
                    inserted: written.fresh.len(),
                    duplicates: written.duplicates,
                });
            }
        }
        tx.commit()?;
        for (host, ids) in learned {
            self.series.entry(host).or_default().extend(ids);
        }
        for (host, ts) in seen_now {
            self.last_seen.insert(host.to_owned(), ts);
        }
        if via_inbox {
            self.inbox_rows += jobs.len() as u64;
        }
        self.settle_wait = self.settle_wait.saturating_sub(jobs.len() as u64);
        self.bounds.committed(bounds_learned, jobs, via_inbox);
        Ok(outcomes)
    }

    fn transact(&mut self, work: super::writer::TxWork) -> Result<i64, DbError> {
        let tx = self.conn.transaction()?;
        let value = work(&mut Lite(&tx))?;
        tx.commit()?;
        Ok(value)
    }

    fn step(&mut self, run: &mut Run, marks: &mut Marks) -> Result<(), DbError> {
        let tx = self.conn.transaction()?;
        let pending = run.step(&mut Lite(&tx), marks)?;
        tx.commit()?;
        run.committed(pending, marks);
        // A compaction step may have moved some of the inbox.
        self.bounds.settled(false);
        Ok(())
    }

    fn may_maintain(&mut self, _marks: &mut Marks) -> bool {
        // The only writer of its file: `marks` is always current.
        true
    }

    /// The transaction's drop has rolled back already, and SQLite rolls back
    /// on its own after some errors (`SQLITE_FULL`, `SQLITE_IOERR`); but when
    /// the rollback itself failed, the next `BEGIN` would fail forever, so
    /// try once more and then start over on a fresh connection.
    fn settle(&mut self) {
        if self.conn.is_autocommit() {
            return;
        }
        if self.conn.execute_batch("ROLLBACK").is_ok() && self.conn.is_autocommit() {
            return;
        }
        match super::migrations::connect(&self.path) {
            Ok(conn) => {
                tracing::warn!(db = %self.path.display(), "a failed transaction could not be rolled back; reopened the database");
                writer_pragmas(&conn, self.checkpointer.is_some());
                self.conn = conn;
            }
            Err(e) => {
                tracing::error!(db = %self.path.display(), error = %e, "a failed transaction could not be rolled back and the database cannot be reopened")
            }
        }
    }

    fn error(&self, e: &DbError) -> StoreError {
        fault::write_error(e, &self.dir)
    }

    fn place(&self) -> String {
        self.path.display().to_string()
    }

    fn group_commit(&self) -> Option<WalSync> {
        Some(WalSync {
            wal: self.wal.clone(),
            dir: self.dir.clone(),
        })
    }

    fn close(&mut self) {
        // Every submitter is gone: fold the WAL back into the main file so the
        // data dir holds one self-contained database. Readers may hold it a
        // moment; a few tries, then say what is left.
        self.checkpointer.take();
        let mut last = None;
        for _ in 0..5 {
            match self.checkpoint(Duration::from_secs(1)) {
                Ok(true) => {
                    last = None;
                    break;
                }
                Ok(false) => last = Some("readers still held the WAL".to_owned()),
                Err(e) => last = Some(fault::write_error(&e.into(), &self.dir).to_string()),
            }
        }
        if let Some(why) = last {
            tracing::warn!(db = %self.path.display(), "final WAL checkpoint failed: {why}; SQLite folds the WAL in when the database next opens");
        }
    }

    /// Folds the WAL in and truncates it once it is past the limit, or
    /// after a failed batch (a full disk: the WAL's own pages may be what
    /// fills it). A checkpoint that fails changes nothing and is tried again
    /// after the next batch.
    fn after_batch(&mut self, failed: bool) {
        if !failed {
            self.settle_step();
        }
        let size = std::fs::metadata(&self.wal).map(|m| m.len()).unwrap_or(0);
        if size == 0 || (size <= self.wal_limit && !failed) {
            if let Some(checkpointer) = &self.checkpointer {
                // What the WAL holds, not the file's size: a WAL copied
                // whole is written again from its start.
                let held = checkpointer::frames() * self.frame_bytes;
                if held > self.wal_limit / 4 {
                    checkpointer.nudge();
                }
                if held > self.wal_limit / 2 {
                    // Past three quarters the thread is falling behind (a
                    // slow disk): wait for its checkpoint rather than grow
                    // on to the limit and a truncation.
                    let turn = if held > self.wal_limit / 4 * 3 {
                        Turn::Wait
                    } else {
                        Turn::IfFree
                    };
                    match checkpointer.catch_up(&self.conn, turn) {
                        Ok(whole) => tracing::trace!(wal_bytes = held, whole, "WAL caught up"),
                        Err(e) => tracing::debug!(error = %e, "WAL catch-up failed"),
                    }
                }
            }
            return;
        }
        match self.checkpoint(CHECKPOINT_WAIT) {
            Ok(true) => tracing::debug!(wal_bytes = size, "WAL folded in and truncated"),
            Ok(false) => tracing::debug!(wal_bytes = size, "WAL checkpoint waits for readers"),
            Err(e) => tracing::debug!(wal_bytes = size, error = %e, "WAL checkpoint failed"),
        }
        self.settle();
    }

    #[cfg(test)]
    fn tune(&mut self, sql: &str) -> Result<(), String> {
        self.conn.execute_batch(sql).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod wal_tests {
    use super::*;

    #[test]
    fn the_wal_limit_follows_the_free_space_between_its_bounds() {
        // An 8 MiB disk keeps the small limit; a big one gets the large.
        assert_eq!(wal_limit_for(8 << 20), WAL_MIN_BYTES);
        assert_eq!(wal_limit_for(0), WAL_MIN_BYTES);
        assert_eq!(wal_limit_for(128 << 20), 8 << 20);
        assert_eq!(wal_limit_for(100 << 30), WAL_MAX_BYTES);
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::super::writer::Engine;
    use super::*;
    use domain::model::Point;

    fn batch(round: i64) -> Vec<WriteJob> {
        (0..200)
            .map(|h| WriteJob {
                host: format!("web-{h}"),
                meta: None,
                timestamp_ms: 1_764_000_000_000 + round * 5_000,
                points: (0..20)
                    .map(|i| Point {
                        key: SeriesKey::with_labels("cpu_usage_percent", [("cpu", i.to_string())]),
                        value: (round * 31 + h * 7 + i) as f64,
                    })
                    .collect(),
                activity: Vec::new(),
            })
            .collect()
    }

    /// A store in `dir` with its checkpoint thread and a small WAL limit,
    /// so a few batches pass a quarter of it; the writer itself would
    /// truncate only past the whole.
    fn small_wal_engine(dir: &std::path::Path) -> (SqliteEngine, PathBuf) {
        let path = crate::db_path(dir);
        let conn = super::super::migrations::open_migrated(&path).unwrap();
        let mut engine = SqliteEngine::new(conn, path.clone(), false);
        assert!(engine.checkpointer.is_some());
        engine.wal_limit = 2 << 20;
        (engine, path)
    }

    /// Closes the store and checks every sample of `rounds` batches is in it.
    fn all_stored(mut engine: SqliteEngine, dir: &std::path::Path, rounds: i64) {
        engine.close();
        let reader = crate::Reader::open(dir).unwrap();
        assert_eq!(reader.raw_count().unwrap() as i64, rounds * 200 * 20);
    }

    #[test]
    fn the_checkpoint_thread_copies_the_wal_into_the_database_while_the_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (mut engine, path) = small_wal_engine(dir.path());
        let marks = Marks::NONE;
        let db_size = || std::fs::metadata(&path).unwrap().len();
        let before = db_size();
        let mut round = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while db_size() < before + (256 << 10) {
            assert!(
                std::time::Instant::now() < deadline,
                "mon.db stayed at {} bytes",
                db_size()
            );
            let jobs = batch(round);
            let done = engine
                .write_batch(&jobs.iter().collect::<Vec<_>>(), &marks)
                .unwrap();
            assert!(done.iter().all(|d| d.inserted == 20));
            engine.after_batch(false);
            round += 1;
            // Never so far behind that the writer had to fold the WAL in
            // and truncate it itself.
            let wal = std::fs::metadata(dir.path().join("mon.db-wal"))
                .unwrap()
                .len();
            assert!(wal > 0, "the writer truncated the WAL after round {round}");
        }
        all_stored(engine, dir.path(), round);
    }

    /// Under writes without a pause the checkpoint thread never copies
    /// the whole WAL by itself; the writer's catch-up between batches
    /// does, so the WAL starts over from its beginning again and again,
    /// within its limit, and the writer never stops to truncate it.
    #[test]
    fn under_steady_writes_the_wal_starts_over_within_its_limit_without_a_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let (mut engine, _) = small_wal_engine(dir.path());
        let marks = Marks::NONE;
        let wal_file = || {
            std::fs::metadata(dir.path().join("mon.db-wal"))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let (mut restarts, mut last_frames) = (0, 0);
        let mut round = 0;
        while restarts < 3 {
            assert!(round < 400, "the WAL never started over in {round} batches");
            let jobs = batch(round);
            engine
                .write_batch(&jobs.iter().collect::<Vec<_>>(), &marks)
                .unwrap();
            let frames = checkpointer::frames();
            if frames < last_frames {
                restarts += 1;
            }
            last_frames = frames;
            engine.after_batch(false);
            round += 1;
            let size = wal_file();
            assert!(size > 0, "the writer truncated the WAL after batch {round}");
            assert!(
                size <= engine.wal_limit,
                "the WAL file reached {size} bytes, past its limit of {}",
                engine.wal_limit
            );
        }
        all_stored(engine, dir.path(), round);
    }
}
