//! The single writer thread. Jobs arrive on a bounded channel; the thread
//! takes every job waiting (up to a cap), writes them all in one transaction
//! and then answers each job. Under load a batch grows on its own, so the
//! cost of a commit is shared by every report in it.
//!
//! Series ids are cached in memory. An id learned inside a transaction enters
//! the cache only after the commit, so a rolled-back batch leaves no id that
//! points at nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::thread::JoinHandle;

use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use crate::model::{HostMeta, Point, SeriesKey};

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
}

/// What a committed job changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// New rows in `metrics_raw`.
    pub inserted: usize,
    /// Samples already stored (a replay), left untouched.
    pub duplicates: usize,
}

type Reply = oneshot::Sender<Result<WriteOutcome, StoreError>>;

/// Submits jobs to the writer thread. Cheap to clone; the thread stops once
/// every clone is dropped and the queue is empty.
#[derive(Clone)]
pub struct StoreWriter {
    tx: mpsc::Sender<(WriteJob, Reply)>,
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
            .send((job, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    /// Writes a job and waits until it is durable.
    pub async fn write(&self, job: WriteJob) -> Result<WriteOutcome, StoreError> {
        self.submit(job)
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }
}

pub(super) fn start(conn: Connection, path: PathBuf) -> (StoreWriter, WriterHandle) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let thread = std::thread::Builder::new()
        .name("mon-store-writer".into())
        .spawn(move || Writer::new(conn, path).run(rx))
        .expect("spawning the store writer thread");
    (
        StoreWriter { tx },
        WriterHandle {
            thread: Some(thread),
        },
    )
}

struct Writer {
    conn: Connection,
    path: PathBuf,
    /// host -> series -> id, for series known to be committed.
    series: HashMap<String, HashMap<SeriesKey, i64>>,
}

impl Writer {
    fn new(conn: Connection, path: PathBuf) -> Self {
        Self {
            conn,
            path,
            series: HashMap::new(),
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<(WriteJob, Reply)>) {
        let mut batch: Vec<(WriteJob, Reply)> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut samples = first.0.points.len();
            batch.push(first);
            while samples < MAX_BATCH_SAMPLES {
                match rx.try_recv() {
                    Ok(job) => {
                        samples += job.0.points.len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            let jobs: Vec<&WriteJob> = batch.iter().map(|(job, _)| job).collect();
            match self.write_batch(&jobs) {
                Ok(outcomes) => {
                    for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(e) => {
                    tracing::error!(db = %self.path.display(), error = %e, reports = batch.len(), "store write failed; the reports stay unacknowledged");
                    for (_, reply) in batch.drain(..) {
                        let _ = reply.send(Err(StoreError::Write(e.to_string())));
                    }
                }
            }
        }
        // Every submitter is gone: fold the WAL back into the main file so the
        // data dir holds one self-contained database.
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "final WAL checkpoint failed");
        }
        tracing::debug!(db = %self.path.display(), "store writer stopped");
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
            let mut insert = tx.prepare_cached(
                "INSERT INTO metrics_raw (series_id, ts, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
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
                let mut outcome = WriteOutcome::default();
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
                    if insert.execute(params![id, job.timestamp_ms, point.value])? == 1 {
                        outcome.inserted += 1;
                    } else {
                        outcome.duplicates += 1;
                    }
                }
                outcomes.push(outcome);
            }
        }
        tx.commit()?;
        for (host, ids) in learned {
            self.series.entry(host).or_default().extend(ids);
        }
        Ok(outcomes)
    }
}
