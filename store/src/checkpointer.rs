//! WAL checkpoints off the writer's thread.
//!
//! A checkpoint copies the WAL's pages into `mon.db`; SQLite runs one
//! inside the commit that passes `wal_autocheckpoint`, on the writer's
//! thread, and the writer ran a truncating one after any batch that left
//! the WAL past its limit. Under a fleet's load that was over a third of
//! the writer's time, with ingest waiting (BENCHMARKS.md). Here a thread
//! with its own connection runs `PRAGMA wal_checkpoint(PASSIVE)` when the
//! writer says the WAL has grown: a passive checkpoint waits for no one,
//! and the writer's commits go on beside it. Once a checkpoint has copied
//! everything, the writer's next commit starts the WAL over from its
//! beginning. Under a steady load that moment never comes by itself, so
//! once the WAL holds half its limit the writer copies the rest between
//! two batches ([`Checkpointer::catch_up`]: what the thread has not copied
//! yet, a few milliseconds' worth), and the WAL stays within half its
//! limit. Only one checkpoint runs at a time, so while the thread is at
//! one the writer's catch-up finds the WAL busy; past three quarters of
//! the limit the writer waits for the thread's checkpoint to end rather
//! than let the WAL grow on (a slow disk makes the thread's syncs slow).
//! The writer still truncates the WAL itself past its limit (a reader
//! holding old pages) and after a failed batch.
//!
//! This connection keeps `synchronous = FULL`: its checkpoints sync the WAL
//! before copying it and `mon.db` before the WAL may be reused, so nothing
//! committed is ever only in a WAL being overwritten.

use std::cell::Cell;
use std::ffi::c_int;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::hooks::Wal;

thread_local! {
    /// Frames in the WAL after the last commit on this thread, as SQLite's
    /// WAL hook reports them (see [`count_frames`]).
    static FRAMES: Cell<u64> = const { Cell::new(0) };
}

/// Has SQLite say, after each commit of `conn` (the writer's connection,
/// on the writer's thread), how many frames the WAL holds: what
/// [`frames`] returns. The file's size cannot say it, since SQLite starts
/// a fully copied WAL over from its beginning without shrinking the file.
/// It replaces SQLite's own checkpoint hook, so only with this thread.
pub(crate) fn count_frames(conn: &Connection) {
    fn hook(_: &Wal, frames: c_int) -> rusqlite::Result<()> {
        FRAMES.set(frames.max(0) as u64);
        Ok(())
    }
    conn.wal_hook(Some(hook));
}

/// Frames in the WAL after this thread's last commit.
pub(crate) fn frames() -> u64 {
    FRAMES.get()
}

/// What `PRAGMA wal_checkpoint` answered.
pub(crate) struct Checkpointed {
    /// A mode that waits (`TRUNCATE`) gave up on readers or a writer.
    pub blocked: bool,
    /// Frames in the WAL, and how many of them are in `mon.db` now.
    pub frames: i64,
    pub copied: i64,
}

/// `PRAGMA wal_checkpoint(mode)` on `conn`, a mode that waits doing so for
/// at most `wait`; the connection's usual busy timeout is back after it.
pub(crate) fn wal_checkpoint(
    conn: &Connection,
    mode: &str,
    wait: Duration,
) -> rusqlite::Result<Checkpointed> {
    conn.busy_timeout(wait)?;
    let done = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok(Checkpointed {
            blocked: r.get::<_, i64>(0)? != 0,
            frames: r.get(1)?,
            copied: r.get(2)?,
        })
    });
    conn.busy_timeout(super::migrations::BUSY_TIMEOUT)?;
    done
}

/// Whether the writer waits for a checkpoint of the thread's to end.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Turn {
    /// Skip the catch-up while the thread is at a checkpoint.
    IfFree,
    /// Wait for the thread's checkpoint, then copy what is left.
    Wait,
}

pub(crate) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Held by whoever runs a checkpoint, the thread or the writer.
    turn: Arc<Mutex<()>>,
}

impl Checkpointer {
    /// Opens the thread's connection to the database at `path`; `None`
    /// (the writer then checkpoints on its own thread) if it cannot.
    pub fn start(path: &Path) -> Option<Self> {
        let conn = match super::migrations::connect(path) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(error = %e, "no checkpoint thread; the writer checkpoints the WAL itself");
                return None;
            }
        };
        // One wake-up waiting is enough: it checkpoints whatever is there.
        let (wake, rx) = sync_channel(1);
        let turn = Arc::new(Mutex::new(()));
        let thread_turn = Arc::clone(&turn);
        let thread = std::thread::Builder::new()
            .name("mon-store-ckpt".into())
            .spawn(move || run(conn, rx, &thread_turn))
            .ok()?;
        Some(Self {
            wake: Some(wake),
            thread: Some(thread),
            turn,
        })
    }

    /// The writer's share of a checkpoint, between two batches, on its
    /// connection `conn`: copies what the thread has not copied yet,
    /// waiting for no reader or writer. `Ok(false)` when the WAL is not
    /// copied whole: the thread is at a checkpoint and `turn` is
    /// [`Turn::IfFree`], or a reader holds old pages. No commit can come in
    /// between, so when it has copied everything the writer's next commit
    /// starts the WAL over. Under a steady load the thread never gets there
    /// alone: the writer commits every few hundred microseconds, faster
    /// than a checkpoint with its two syncs, and the WAL grew until the
    /// writer had to truncate it, a pause of about 60 ms for ingest
    /// (BENCHMARKS.md).
    pub fn catch_up(&self, conn: &Connection, turn: Turn) -> rusqlite::Result<bool> {
        let _held = match turn {
            Turn::IfFree => match self.turn.try_lock() {
                Ok(held) => held,
                Err(std::sync::TryLockError::WouldBlock) => return Ok(false),
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            },
            Turn::Wait => self.turn.lock().unwrap_or_else(PoisonError::into_inner),
        };
        let done = wal_checkpoint(conn, "PASSIVE", Duration::ZERO)?;
        Ok(!done.blocked && done.frames == done.copied)
    }

    /// Asks for a checkpoint soon; never waits.
    pub fn nudge(&self) {
        if let Some(wake) = &self.wake {
            // Full: a checkpoint is due already. Gone: the writer's own
            // checkpoints past the limit are left.
            let _ = wake.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The least time between two checkpoints: the writer asks after every
/// batch while the WAL is large, and each checkpoint syncs twice.
const PACE: Duration = Duration::from_millis(50);

fn run(conn: Connection, wake: Receiver<()>, turn: &Mutex<()>) {
    while wake.recv().is_ok() {
        let started = Instant::now();
        let held = turn.lock().unwrap_or_else(PoisonError::into_inner);
        // Passive: it waits for no one, so no busy timeout applies.
        let done = wal_checkpoint(&conn, "PASSIVE", Duration::ZERO);
        drop(held);
        match done {
            Ok(Checkpointed { frames, copied, .. }) => tracing::trace!(
                frames,
                copied,
                ms = started.elapsed().as_millis() as u64,
                "WAL checkpointed"
            ),
            // The writer's own checkpoint past the limit covers for it.
            Err(e) => tracing::debug!(error = %e, "WAL checkpoint failed"),
        }
        std::thread::sleep(PACE.saturating_sub(started.elapsed()));
    }
}
