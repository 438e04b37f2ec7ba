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

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use domain::model::{HostMeta, Point};
use tokio::sync::{mpsc, oneshot};

use super::activity::ActivityRecord;
use super::db::{Db, DbError, DbResult};
use super::fault::{Fault, Health};
use super::group_commit::{Committed, GroupCommit, WalSync};
use super::maintenance::{MaintenanceReport, Marks, Run, StoreStats};
use super::{StoreConfig, StoreError};

/// Jobs waiting for the writer before submitters must wait.
const QUEUE: usize = 4096;
/// Most samples written in one transaction.
const MAX_BATCH_SAMPLES: usize = 200_000;

/// One report's accepted samples, to be made durable.
#[derive(Debug, Clone)]
pub struct WriteJob {
    pub host: String,
    pub meta: Option<HostMeta>,
    pub timestamp_ms: i64,
    pub points: Vec<Point>,
    /// The report's process and cgroup tables, kept as history.
    pub activity: Vec<ActivityRecord>,
}

/// What a committed job changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// New raw samples.
    pub inserted: usize,
    /// Samples already stored (a replay), left untouched.
    pub duplicates: usize,
}

pub(crate) type Reply = oneshot::Sender<Result<WriteOutcome, StoreError>>;
type MaintainReply = oneshot::Sender<Result<MaintenanceReport, StoreError>>;
/// Work for a small transaction of its own (a forward cursor), see
/// [`StoreWriter::transact`].
pub(crate) type TxWork = Box<dyn FnOnce(&mut dyn Db) -> DbResult<i64> + Send>;
type TxReply = oneshot::Sender<Result<Option<i64>, StoreError>>;

enum Message {
    Write(WriteJob, Reply),
    /// Run maintenance to the end now, retention included.
    Maintain(MaintainReply),
    /// Runs work in a transaction of its own between batches; with
    /// `leader_only`, only while this writer runs maintenance.
    Transact {
        work: TxWork,
        leader_only: bool,
        reply: TxReply,
    },
    /// Runs SQL on the writer's own connection: tests set per-connection
    /// limits (`max_page_count`, `query_only`) there to provoke a full or
    /// read-only database.
    #[cfg(test)]
    Tune(String, oneshot::Sender<Result<(), String>>),
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

    /// Runs `work` in a transaction of its own between batches and returns
    /// its answer; with `leader_only`, `None` (and nothing done) while
    /// another writer of a shared store runs maintenance.
    pub(crate) async fn transact(
        &self,
        leader_only: bool,
        work: impl FnOnce(&mut dyn Db) -> DbResult<i64> + Send + 'static,
    ) -> Result<Option<i64>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Message::Transact {
                work: Box::new(work),
                leader_only,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `sql` on the writer's connection, between batches.
    #[cfg(test)]
    pub(crate) async fn tune(&self, sql: &str) -> Result<(), String> {
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

/// What the writer thread needs from a database engine. The loop (batching,
/// answering, the maintenance timer, health) is the same for every engine;
/// an engine owns its connection and knows its own transactions.
pub(crate) trait Engine: Send + 'static {
    /// Writes every job in one transaction and commits it. `marks` is the
    /// maintenance progress as this writer last knew it; an engine shared
    /// with other writers reads the stored progress instead.
    fn write_batch(
        &mut self,
        jobs: &[&WriteJob],
        marks: &Marks,
    ) -> Result<Vec<WriteOutcome>, DbError>;
    /// `work` in a transaction of its own, committed.
    fn transact(&mut self, work: TxWork) -> Result<i64, DbError>;
    /// One maintenance step in its own transaction, committed.
    fn step(&mut self, run: &mut Run, marks: &mut Marks) -> Result<(), DbError>;
    /// Whether this writer runs maintenance now: always for an embedded
    /// store, only while holding the election for a shared one. Reloads
    /// `marks` when another writer may have moved them.
    fn may_maintain(&mut self, marks: &mut Marks) -> bool;
    /// Leaves no transaction open after a failure.
    fn settle(&mut self);
    /// After each batch, committed or not (`failed`): SQLite keeps its WAL
    /// within bounds here.
    fn after_batch(&mut self, _failed: bool) {}
    /// The error a failed write or step is answered with.
    fn error(&self, e: &DbError) -> StoreError;
    /// Where the store is, for logs: the data dir or the database URL.
    fn place(&self) -> String;
    /// Every submitter is gone: last words to the database.
    fn close(&mut self);
    /// What makes a committed batch durable when its commit alone does not:
    /// the writer then answers a batch's jobs from a thread of its own,
    /// after that sync (`group_commit.rs`). None: answered at the commit.
    fn group_commit(&self) -> Option<WalSync> {
        None
    }
    /// Runs `sql` on the writer's connection (tests only).
    #[cfg(test)]
    fn tune(&mut self, sql: &str) -> Result<(), String>;
}

/// Starts the writer thread over `engine`.
pub(crate) fn start<E: Engine>(
    engine: E,
    marks: Marks,
    config: StoreConfig,
) -> (StoreWriter, WriterHandle) {
    let stats = Arc::new(StoreStats::default());
    let (tx, rx) = mpsc::channel(QUEUE);
    let writer = Writer {
        group: engine.group_commit().map(GroupCommit::start),
        health: Health::new(engine.place()),
        engine,
        maintenance_fault: None,
        config,
        marks,
        stats: stats.clone(),
        run: None,
    };
    let thread = std::thread::Builder::new()
        .name("mon-store-writer".into())
        .spawn(move || writer.run(rx))
        .expect("spawning the store writer thread");
    (
        StoreWriter { tx, stats },
        WriterHandle {
            thread: Some(thread),
        },
    )
}

struct Writer<E> {
    engine: E,
    health: Health,
    /// The kind of the last failed maintenance step, so an outage is logged
    /// once and not on every run.
    maintenance_fault: Option<Fault>,
    config: StoreConfig,
    marks: Marks,
    stats: Arc<StoreStats>,
    /// The maintenance run in progress, advanced a step at a time.
    run: Option<Run>,
    /// Answers committed jobs once they are durable, when the engine's
    /// commit alone does not make them so.
    group: Option<GroupCommit>,
}

impl<E: Engine> Writer<E> {
    fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        // A small runtime of the thread's own, only to wait on the channel
        // with a timeout; no database call ever runs on the async executor.
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
                    Message::Transact {
                        work,
                        leader_only,
                        reply,
                    } => {
                        self.flush(&mut batch);
                        let _ = reply.send(self.transact(work, leader_only));
                    }
                    #[cfg(test)]
                    Message::Tune(sql, reply) => {
                        self.flush(&mut batch);
                        let _ = reply.send(self.engine.tune(&sql));
                    }
                }
                if samples < MAX_BATCH_SAMPLES {
                    message = rx.try_recv().ok();
                }
            }
            self.flush(&mut batch);
            if self.run.is_none() && Instant::now() >= next_run {
                next_run = Instant::now() + self.config.maintenance_every;
                if self.engine.may_maintain(&mut self.marks) {
                    let with_retention = Instant::now() >= next_retention;
                    if with_retention {
                        next_retention = Instant::now() + self.config.retention_every;
                    }
                    self.run = Some(Run::start(&self.config, with_retention));
                }
            }
            self.step();
        }
        if let Some(group) = &mut self.group {
            group.finish();
        }
        self.engine.close();
        tracing::debug!(store = %self.engine.place(), "store writer stopped");
    }

    /// Writes the batch and answers every job in it, then keeps the WAL
    /// within its limit.
    fn flush(&mut self, batch: &mut Vec<(WriteJob, Reply)>) {
        if batch.is_empty() {
            return;
        }
        let failed = self.write_batch_and_answer(batch);
        self.engine.after_batch(failed);
    }

    /// Writes the batch and answers every job in it; true when it failed.
    fn write_batch_and_answer(&mut self, batch: &mut Vec<(WriteJob, Reply)>) -> bool {
        let jobs: Vec<&WriteJob> = batch.iter().map(|(job, _)| job).collect();
        match self.engine.write_batch(&jobs, &self.marks) {
            Ok(outcomes) => {
                self.health.committed(&self.stats);
                match &self.group {
                    Some(group) => {
                        let (spent, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
                        group.answer(Committed {
                            answers: replies.into_iter().zip(outcomes).collect(),
                            spent,
                        });
                    }
                    None => {
                        for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                            let _ = reply.send(Ok(outcome));
                        }
                    }
                }
                false
            }
            Err(e) => {
                // Nothing of the batch reached memory (see the module doc);
                // every job hears why, and its agent replays it.
                let error = self.engine.error(&e);
                self.health
                    .failed(Fault::of(&e), &error, batch.len(), &self.stats);
                self.engine.settle();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(error.clone()));
                }
                true
            }
        }
    }

    fn transact(&mut self, work: TxWork, leader_only: bool) -> Result<Option<i64>, StoreError> {
        if leader_only && !self.engine.may_maintain(&mut self.marks) {
            return Ok(None);
        }
        match self.engine.transact(work) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                self.engine.settle();
                Err(self.engine.error(&e))
            }
        }
    }

    /// One step of the run in progress, if any.
    fn step(&mut self) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if let Err(e) = self.engine.step(run, &mut self.marks) {
            // The step rolled back and `marks` kept the committed progress;
            // the next run starts over from there.
            let fault = Fault::of(&e);
            let error = self.maintenance_failed(&e);
            if self.maintenance_fault != Some(fault) {
                tracing::error!(store = %self.engine.place(), "store maintenance step failed: {error}; retrying on the next run");
            } else {
                tracing::debug!(error = %error, "store maintenance step failed again");
            }
            self.maintenance_fault = Some(fault);
            self.run = None;
            return;
        }
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if run.done() {
            run.finish(&self.stats);
            self.run = None;
            if self.maintenance_fault.take().is_some() {
                tracing::info!(store = %self.engine.place(), "store maintenance succeeds again");
            }
        }
    }

    /// Finishes any run in progress, then runs a whole one with retention.
    /// A shared store's writer that is not the elected one refuses.
    fn maintain_now(&mut self) -> Result<MaintenanceReport, StoreError> {
        while self.run.is_some() {
            self.step();
        }
        if !self.engine.may_maintain(&mut self.marks) {
            return Err(StoreError::Write(super::cause(
                "another aggregator runs this store's maintenance",
            )));
        }
        let mut run = Run::start(&self.config, true);
        while !run.done() {
            if let Err(e) = self.engine.step(&mut run, &mut self.marks) {
                return Err(self.maintenance_failed(&e));
            }
        }
        run.finish(&self.stats);
        Ok(run.report)
    }

    /// A failed maintenance step: counted, the connection left with no open
    /// transaction, and the error as the operator should read it.
    fn maintenance_failed(&mut self, e: &DbError) -> StoreError {
        self.stats
            .maintenance_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.engine.settle();
        self.engine.error(e)
    }
}
