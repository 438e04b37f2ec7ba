//! The single writer thread. Jobs arrive on a bounded channel; the thread
//! takes every job waiting (up to a cap), writes them all in one transaction
//! and then answers each job. Under load a batch grows on its own, so the
//! cost of a commit is shared by every report in it.
//!
//! Between batches the same thread runs maintenance (compaction, rollups,
//! retention) one small step at a time: a step after every batch while a run
//! is in progress, and a new run every `maintenance_every`. Keeping every
//! write on one thread is what lets ingest read the rollup watermark from
//! memory without locks.
//!
//! A failed batch leaves no trace. Series ids are cached in memory, but an id
//! learned inside a transaction enters the cache only after the commit, so a
//! rolled-back batch leaves no id that points at nothing; the maintenance
//! marks ingest reads (`Marks`) change only after their step commits; and
//! every job of a failed batch is answered with the error, so its agent
//! replays it. That is what lets a full or read-only disk pause ingest and
//! the replays after it store each sample exactly once (`fault.rs` says what
//! the operator is told).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};

use super::config::MINUTE_MS;
use super::fault::{self, Fault, Health};
use super::maintenance::{MaintenanceReport, Marks, Run, StoreStats};
use super::rollup::{self, Table, bucket_of};
use super::{StoreConfig, StoreError, raw};
use crate::model::{HostMeta, Point, SeriesKey};

/// Jobs waiting for the writer before submitters must wait.
const QUEUE: usize = 4096;
/// Most samples written in one transaction.
const MAX_BATCH_SAMPLES: usize = 200_000;

/// The WAL is folded back into `mon.db` and truncated once it is past this
/// size (`journal_size_limit` keeps SQLite's own checkpoints to it as well):
/// on a small disk a WAL that only grows would take the space the database
/// needs, and keep taking what an operator frees.
pub(super) const WAL_LIMIT_BYTES: u64 = 4 * 1024 * 1024;
/// How long a trimming checkpoint waits for readers to let go of old
/// snapshots, so ingest never stalls long behind a slow query.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(250);

/// One report's accepted samples, to be made durable.
#[derive(Debug, Clone)]
pub struct WriteJob {
    pub host: String,
    pub meta: Option<HostMeta>,
    pub timestamp_ms: i64,
    pub points: Vec<Point>,
}

/// What a committed job changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// New raw samples.
    pub inserted: usize,
    /// Samples already stored (a replay), left untouched.
    pub duplicates: usize,
}

type Reply = oneshot::Sender<Result<WriteOutcome, StoreError>>;
type MaintainReply = oneshot::Sender<Result<MaintenanceReport, StoreError>>;

enum Message {
    Write(WriteJob, Reply),
    /// Run maintenance to the end now, retention included.
    Maintain(MaintainReply),
    /// Runs SQL on the writer's own connection: tests set per-connection
    /// limits (`max_page_count`, `query_only`) there to provoke a full or
    /// read-only database.
    #[cfg(test)]
    Tune(String, oneshot::Sender<rusqlite::Result<()>>),
}

/// Submits jobs to the writer thread. Cheap to clone; the thread stops once
/// every clone is dropped and the queue is empty.
#[derive(Clone)]
pub struct StoreWriter {
    tx: mpsc::Sender<Message>,
    stats: Arc<StoreStats>,
}

/// Joins the writer thread after the last [`StoreWriter`] is gone.
pub struct WriterHandle {
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    /// Waits until the writer has committed everything queued and closed the
    /// database. Call it after dropping every [`StoreWriter`].
    pub async fn finish(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl StoreWriter {
    /// Queues a job and returns a receiver that resolves once it is durable.
    /// Waits while the queue is full, which is the back-pressure on ingest.
    pub async fn submit(
        &self,
        job: WriteJob,
    ) -> Result<oneshot::Receiver<Result<WriteOutcome, StoreError>>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Message::Write(job, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    /// Runs a whole maintenance run (compaction, rollups and retention) at
    /// the configured clock's current time and waits for it. The writer does
    /// this on its own timer; tests and benchmarks call it to not wait.
    pub async fn maintain(&self) -> Result<MaintenanceReport, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Message::Maintain(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `sql` on the writer's connection, between batches.
    #[cfg(test)]
    pub(crate) async fn tune(&self, sql: &str) -> rusqlite::Result<()> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Message::Tune(sql.into(), reply)).await;
        rx.await.expect("the writer answers")
    }

    /// The maintenance counters (watermarks, rollup lag, rows deleted).
    pub fn stats(&self) -> Arc<StoreStats> {
        self.stats.clone()
    }

    /// Writes a job and waits until it is durable.
    pub async fn write(&self, job: WriteJob) -> Result<WriteOutcome, StoreError> {
        self.submit(job)
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }
}

pub(super) fn start(
    conn: Connection,
    path: PathBuf,
    config: StoreConfig,
) -> Result<(StoreWriter, WriterHandle), StoreError> {
    let marks = Marks::load(&conn).map_err(|e| StoreError::Open {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let stats = Arc::new(StoreStats::default());
    let (tx, rx) = mpsc::channel(QUEUE);
    let dir = path.parent().map(PathBuf::from).unwrap_or_default();
    let writer = Writer {
        conn,
        health: Health::new(dir.clone()),
        dir,
        maintenance_fault: None,
        path,
        series: HashMap::new(),
        config,
        marks,
        stats: stats.clone(),
        run: None,
    };
    let thread = std::thread::Builder::new()
        .name("mon-store-writer".into())
        .spawn(move || writer.run(rx))
        .expect("spawning the store writer thread");
    Ok((
        StoreWriter { tx, stats },
        WriterHandle {
            thread: Some(thread),
        },
    ))
}

struct Writer {
    conn: Connection,
    path: PathBuf,
    /// The data dir, named in every error a person has to act on.
    dir: PathBuf,
    health: Health,
    /// The kind of the last failed maintenance step, so an outage is logged
    /// once and not on every run.
    maintenance_fault: Option<Fault>,
    /// host -> series -> id, for series known to be committed.
    series: HashMap<String, HashMap<SeriesKey, i64>>,
    config: StoreConfig,
    marks: Marks,
    stats: Arc<StoreStats>,
    /// The maintenance run in progress, advanced a step at a time.
    run: Option<Run>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        // A small runtime of the thread's own, only to wait on the channel
        // with a timeout; no SQLite call ever runs on the async executor.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("building the store writer's timer");
        let mut next_run = Instant::now() + self.config.maintenance_every;
        let mut next_retention = Instant::now();
        let mut batch: Vec<(WriteJob, Reply)> = Vec::new();
        loop {
            let first = if self.run.is_some() {
                // Maintenance is pending: take a job if one waits, else step.
                match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                let wait = next_run.saturating_duration_since(Instant::now());
                match rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                    Ok(Some(m)) => Some(m),
                    Ok(None) => break,
                    Err(_) => None,
                }
            };
            let mut samples = 0;
            let mut message = first;
            while let Some(m) = message.take() {
                match m {
                    Message::Write(job, reply) => {
                        samples += job.points.len();
                        batch.push((job, reply));
                    }
                    Message::Maintain(reply) => {
                        self.flush(&mut batch);
                        let _ = reply.send(self.maintain_now());
                    }
                    #[cfg(test)]
                    Message::Tune(sql, reply) => {
                        self.flush(&mut batch);
                        let _ = reply.send(self.conn.execute_batch(&sql));
                    }
                }
                if samples < MAX_BATCH_SAMPLES {
                    message = rx.try_recv().ok();
                }
            }
            self.flush(&mut batch);
            if self.run.is_none() && Instant::now() >= next_run {
                let with_retention = Instant::now() >= next_retention;
                if with_retention {
                    next_retention = Instant::now() + self.config.retention_every;
                }
                self.run = Some(Run::start(&self.config, with_retention));
                next_run = Instant::now() + self.config.maintenance_every;
            }
            self.step();
        }
        // Every submitter is gone: fold the WAL back into the main file so the
        // data dir holds one self-contained database. Readers may hold it a
        // moment; a few tries, then say what is left.
        let mut last = None;
        for _ in 0..5 {
            match self.checkpoint(Duration::from_secs(1)) {
                Ok(true) => {
                    last = None;
                    break;
                }
                Ok(false) => last = Some("readers still held the WAL".to_owned()),
                Err(e) => last = Some(fault::write_error(&e, &self.dir).to_string()),
            }
        }
        if let Some(why) = last {
            tracing::warn!(db = %self.path.display(), "final WAL checkpoint failed: {why}; SQLite folds the WAL in when the database next opens");
        }
        tracing::debug!(db = %self.path.display(), "store writer stopped");
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)`, waiting at most `wait` for
    /// readers: true when the whole WAL was folded in and truncated.
    fn checkpoint(&mut self, wait: Duration) -> rusqlite::Result<bool> {
        self.conn.busy_timeout(wait)?;
        let result = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        self.conn.busy_timeout(Duration::from_secs(5))?;
        Ok(result? == 0)
    }

    /// Folds the WAL in and truncates it once it is past the limit, or
    /// after a failed batch (a full disk: the WAL's own pages may be what
    /// fills it). A checkpoint that fails changes nothing and is tried again
    /// after the next batch.
    fn trim_wal(&mut self, after_failure: bool) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if size == 0 || (size <= WAL_LIMIT_BYTES && !after_failure) {
            return;
        }
        match self.checkpoint(CHECKPOINT_WAIT) {
            Ok(true) => tracing::debug!(wal_bytes = size, "WAL folded in and truncated"),
            Ok(false) => tracing::debug!(wal_bytes = size, "WAL checkpoint waits for readers"),
            Err(e) => tracing::debug!(wal_bytes = size, error = %e, "WAL checkpoint failed"),
        }
        self.settle();
    }

    /// Writes the batch and answers every job in it, then keeps the WAL
    /// within its limit.
    fn flush(&mut self, batch: &mut Vec<(WriteJob, Reply)>) {
        if batch.is_empty() {
            return;
        }
        let failed = self.write_batch_and_answer(batch);
        self.trim_wal(failed);
    }

    /// Writes the batch and answers every job in it; true when it failed.
    fn write_batch_and_answer(&mut self, batch: &mut Vec<(WriteJob, Reply)>) -> bool {
        let jobs: Vec<&WriteJob> = batch.iter().map(|(job, _)| job).collect();
        match self.write_batch(&jobs) {
            Ok(outcomes) => {
                self.health.committed(&self.stats);
                for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                false
            }
            Err(e) => {
                // Nothing of the batch reached memory (see the module doc);
                // every job hears why, and its agent replays it.
                let error = fault::write_error(&e, &self.dir);
                self.health.failed(&e, &error, batch.len(), &self.stats);
                self.settle();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(error.clone()));
                }
                true
            }
        }
    }

    /// Makes sure no transaction is left open after a failure. The
    /// transaction's drop has rolled back already, and SQLite rolls back on
    /// its own after some errors (`SQLITE_FULL`, `SQLITE_IOERR`); but when the
    /// rollback itself failed, the next `BEGIN` would fail forever, so try
    /// once more and then start over on a fresh connection.
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
                self.conn = conn;
            }
            Err(e) => {
                tracing::error!(db = %self.path.display(), error = %e, "a failed transaction could not be rolled back and the database cannot be reopened")
            }
        }
    }

    /// One step of the run in progress, if any.
    fn step(&mut self) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if let Err(e) = run.step(&mut self.conn, &mut self.marks) {
            // The step rolled back and `marks` kept the committed progress;
            // the next run starts over from there.
            let fault = Fault::of(&e);
            let error = self.maintenance_failed(&e);
            if self.maintenance_fault != Some(fault) {
                tracing::error!(db = %self.path.display(), "store maintenance step failed: {error}; retrying on the next run");
            } else {
                tracing::debug!(error = %error, "store maintenance step failed again");
            }
            self.maintenance_fault = Some(fault);
            self.run = None;
            return;
        }
        if run.done() {
            run.finish(&self.stats);
            self.run = None;
            if self.maintenance_fault.take().is_some() {
                tracing::info!(db = %self.path.display(), "store maintenance succeeds again");
            }
        }
    }

    /// Finishes any run in progress, then runs a whole one with retention.
    fn maintain_now(&mut self) -> Result<MaintenanceReport, StoreError> {
        while self.run.is_some() {
            self.step();
        }
        let mut run = Run::start(&self.config, true);
        while !run.done() {
            if let Err(e) = run.step(&mut self.conn, &mut self.marks) {
                return Err(self.maintenance_failed(&e));
            }
        }
        run.finish(&self.stats);
        Ok(run.report)
    }

    /// A failed maintenance step: counted, the connection left with no open
    /// transaction, and the error as the operator should read it.
    fn maintenance_failed(&mut self, e: &rusqlite::Error) -> StoreError {
        self.stats
            .maintenance_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.settle();
        fault::write_error(e, &self.dir)
    }

    fn write_batch(&mut self, jobs: &[&WriteJob]) -> rusqlite::Result<Vec<WriteOutcome>> {
        let tx = self.conn.transaction()?;
        let mut learned: HashMap<String, HashMap<SeriesKey, i64>> = HashMap::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
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
                seen.execute(params![job.host, job.timestamp_ms])?;
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
                for point in &job.points {
                    let cached = self
                        .series
                        .get(&job.host)
                        .and_then(|m| m.get(&point.key))
                        .copied()
                        .or_else(|| {
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
                                Err(e) => return Err(e),
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
                let written = raw::write_report(
                    &tx,
                    &job.host,
                    job.timestamp_ms,
                    samples,
                    self.marks.compacted_before,
                )?;
                // A sample behind the 1m watermark changes a bucket that is
                // already materialized: note it, in this same transaction.
                let minute = bucket_of(job.timestamp_ms, MINUTE_MS);
                if self.marks.watermark_1m.is_some_and(|wm| minute < wm) {
                    for (id, _) in &written.fresh {
                        rollup::mark_dirty(&tx, Table::OneMinute, *id, minute)?;
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
        Ok(outcomes)
    }
}
