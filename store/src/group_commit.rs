//! The durable half of a commit, off the writer's thread: group commit.
//!
//! SQLite's writer commits with `synchronous = NORMAL`, which writes a
//! transaction's WAL frames but does not sync them. This thread syncs the
//! WAL (`fdatasync`) after the commits, once for every commit waiting, and
//! only then answers their jobs. So an `Ack` still means what it did with
//! `synchronous = FULL` (the commit's frames are on the disk), but the
//! writer goes on with the next batch while the disk works, and one sync
//! can cover several batches.
//!
//! Why this is as durable. A commit's frames are written (`pwrite`) before
//! it returns, so a sync of the WAL started after that covers them. A
//! checkpoint in between (`NORMAL` still syncs there: the WAL before it is
//! copied into `mon.db`, `mon.db` after) leaves the frames durable in
//! `mon.db` before the WAL is truncated or reused, so whichever comes
//! first, the answer follows a sync that covers the commit. A sync that
//! fails answers every job it covers with the error: its agent replays, and
//! a replay of what did reach the disk is a duplicate.
//!
//! PostgreSQL's commits are durable when they return; it has no such thread.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use domain::episode::Episode;

use super::StoreError;
use super::writer::{Reply, WriteJob, WriteOutcome};

/// Committed batches waiting for their sync before the writer waits too:
/// back-pressure when the disk cannot keep up.
const WAITING: usize = 16;

/// One committed batch: its answers, and its jobs, which are dropped here
/// after the answers rather than on the writer's thread (freeing a job
/// releases a reference to each of its series keys, shared with the
/// ingest tasks: cache misses the writer, the pipeline's one serial
/// stage, need not wait for).
pub(crate) struct Committed {
    pub answers: Vec<(Reply, WriteOutcome)>,
    pub spent: Vec<WriteJob>,
}

/// Makes an engine's commits durable: for SQLite, the WAL file to sync.
pub(crate) struct WalSync {
    /// `mon.db-wal`.
    pub wal: PathBuf,
    /// The data dir, named in the error a failed sync is answered with.
    pub dir: PathBuf,
}

impl WalSync {
    /// Syncs the WAL as it is now. The file is opened each time: SQLite
    /// may remove it (when its last connection closes, after folding it
    /// in), and a missing WAL has nothing left to sync.
    fn sync(&self) -> std::io::Result<()> {
        match std::fs::File::open(&self.wal) {
            Ok(f) => f.sync_data(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The thread that syncs and answers, and the queue to it.
pub(crate) struct GroupCommit {
    queue: Option<SyncSender<Committed>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub fn start(target: WalSync) -> Self {
        let (queue, rx) = sync_channel(WAITING);
        let thread = std::thread::Builder::new()
            .name("mon-store-sync".into())
            .spawn(move || run(target, rx))
            .expect("spawning the store's sync thread");
        Self {
            queue: Some(queue),
            thread: Some(thread),
        }
    }

    /// Hands a committed batch over; its jobs are answered once it is
    /// durable. Waits while [`WAITING`] batches wait.
    pub fn answer(&self, batch: Committed) {
        if let Some(queue) = &self.queue {
            // The thread ends only after the queue closes, below.
            let _ = queue.send(batch);
        }
    }

    /// Answers everything handed over, then stops the thread.
    pub fn finish(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run(target: WalSync, rx: Receiver<Committed>) {
    let mut failing = Episode::new();
    while let Ok(first) = rx.recv() {
        // Every batch committed by now is covered by one sync.
        let mut batches = vec![first];
        batches.extend(rx.try_iter());
        match target.sync() {
            Ok(()) => {
                if let Some(ended) = failing.recover() {
                    tracing::info!(wal = %target.wal.display(), "the WAL syncs again, after {} failures in {}", ended.failures, ended.lasted_text());
                }
                for batch in &mut batches {
                    for (reply, outcome) in batch.answers.drain(..) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
            }
            Err(e) => {
                let error = StoreError::Io {
                    dir: target.dir.clone(),
                    source: super::cause(e),
                };
                if failing.fail() {
                    tracing::error!(wal = %target.wal.display(), "syncing the WAL failed: {error}; the reports it covers are refused and their agents send them again");
                }
                for batch in &mut batches {
                    for (reply, _) in batch.answers.drain(..) {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        }
        // Freed once every answer is out.
        for batch in batches {
            drop(batch.spent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    fn batch(
        n: usize,
    ) -> (
        Committed,
        Vec<oneshot::Receiver<Result<WriteOutcome, StoreError>>>,
    ) {
        let (answers, rx) = (0..n)
            .map(|i| {
                let (reply, rx) = oneshot::channel();
                let outcome = WriteOutcome {
                    inserted: i,
                    duplicates: 0,
                };
                ((reply, outcome), rx)
            })
            .unzip();
        (
            Committed {
                answers,
                spent: Vec::new(),
            },
            rx,
        )
    }

    #[test]
    fn every_job_is_answered_after_the_sync_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("mon.db-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let mut group = GroupCommit::start(WalSync {
            wal,
            dir: dir.path().into(),
        });
        let mut waiting = Vec::new();
        for n in [3, 1, 4] {
            let (committed, rx) = batch(n);
            group.answer(committed);
            waiting.extend(rx);
        }
        group.finish();
        let got: Vec<usize> = waiting
            .into_iter()
            .map(|mut rx| rx.try_recv().expect("answered").unwrap().inserted)
            .collect();
        assert_eq!(got, [0, 1, 2, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn a_missing_wal_has_nothing_to_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut group = GroupCommit::start(WalSync {
            wal: dir.path().join("mon.db-wal"),
            dir: dir.path().into(),
        });
        let (committed, mut rx) = batch(1);
        group.answer(committed);
        group.finish();
        assert!(rx[0].try_recv().unwrap().is_ok());
    }

    #[test]
    fn a_failed_sync_refuses_the_jobs_it_covers_naming_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        // A WAL path under a plain file cannot be opened.
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"").unwrap();
        let mut group = GroupCommit::start(WalSync {
            wal: file.join("mon.db-wal"),
            dir: dir.path().into(),
        });
        let (committed, rx) = batch(2);
        group.answer(committed);
        group.finish();
        for mut rx in rx {
            let error = rx.try_recv().unwrap().unwrap_err();
            assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
            assert!(
                error
                    .to_string()
                    .contains(&dir.path().display().to_string()),
                "{error}"
            );
        }
    }
}
