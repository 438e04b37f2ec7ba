//! When the agent reads its process and cgroup tables, and the reading
//! itself: every `--processes-interval` (30 s by default), and with every
//! report while a viewer watches this host, i.e. while the last ack said
//! `watched` less than [`WATCH_HOLD`] ago. An interval of 0 turns them off.
//!
//! Reading walks `/proc` and the cgroup tree, tens of milliseconds on a busy
//! host, so it runs on a blocking thread: `mon serve`'s agent shares its
//! runtime with the aggregator and the gateway.
//!
//! Both readers average over the time since their previous read, so the
//! first read is a baseline and the first tables come one report later.

use std::time::Duration;

use tokio::time::Instant;

use super::cgroups::{self, CgroupReader};
use super::processes::{self, ProcessReader};
use crate::activity::{CgroupTable, ProcessTable};
use crate::proto;

/// How long an ack saying `watched` counts: the aggregator says it again
/// with every ack while the viewer stays, so a viewer gone (or an
/// aggregator gone) returns the agent to its slow cadence within this.
pub const WATCH_HOLD: Duration = Duration::from_secs(30);

pub struct Readers {
    /// `None` where sysinfo cannot list processes on this platform.
    processes: Option<ProcessReader>,
    cgroups: CgroupReader,
}

impl Readers {
    /// This machine's readers: its process table and `/sys/fs/cgroup`.
    pub fn system() -> Self {
        let processes = ProcessReader::new(processes::TOP)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot list processes here; reports carry no process table"))
            .ok();
        Self {
            processes,
            cgroups: CgroupReader::new(cgroups::ROOT, processes::TOP),
        }
    }
}

pub struct Tables {
    /// `ZERO`: never read.
    interval: Duration,
    /// The report interval: a tick that comes a little early still reads.
    report_interval: Duration,
    /// `None` while a read is in flight on the blocking pool, and for good
    /// if one panicked.
    readers: Option<Readers>,
    /// When the last process table was read (the baseline read gives none).
    last: Option<Instant>,
    watched_until: Option<Instant>,
}

impl Tables {
    pub fn new(readers: Readers, interval: Duration, report_interval: Duration) -> Self {
        Self {
            interval,
            report_interval,
            readers: (!interval.is_zero()).then_some(readers),
            last: None,
            watched_until: None,
        }
    }

    /// Takes what an ack says about viewers.
    pub fn ack(&mut self, watched: bool, now: Instant) {
        self.watched_until = watched.then(|| now + WATCH_HOLD);
    }

    /// Whether the report made at `now` carries the tables.
    fn due(&self, now: Instant) -> bool {
        if self.interval.is_zero() {
            return false;
        }
        if self.watched_until.is_some_and(|until| now < until) {
            return true;
        }
        // Ticks are not exact: half a report interval of slack keeps a
        // 30 s cadence on the sixth 5 s tick rather than the seventh.
        self.last
            .is_none_or(|last| now + self.report_interval / 2 >= last + self.interval)
    }

    /// Adds the tables to `report` when they are due.
    pub async fn fill(&mut self, report: &mut proto::Report, now: Instant) {
        if !self.due(now) {
            return;
        }
        let Some(mut readers) = self.readers.take() else {
            return;
        };
        let read = tokio::task::spawn_blocking(move || {
            let processes = readers.processes.as_mut().and_then(ProcessReader::read);
            let cgroups = readers.cgroups.read();
            (readers, processes, cgroups)
        })
        .await;
        let (readers, processes, cgroups): (Readers, Option<ProcessTable>, Option<CgroupTable>) =
            match read {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the process and cgroup tables failed; reports carry none from now on");
                    return;
                }
            };
        let complete = processes.is_some() || (readers.processes.is_none() && cgroups.is_some());
        self.readers = Some(readers);
        if complete {
            self.last = Some(now);
        }
        report.processes = processes.as_ref().map(proto::ProcessTable::from);
        report.cgroups = cgroups.as_ref().map(proto::CgroupTable::from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(interval: u64) -> Tables {
        Tables {
            interval: Duration::from_secs(interval),
            report_interval: Duration::from_secs(5),
            readers: None,
            last: None,
            watched_until: None,
        }
    }

    #[test]
    fn tables_are_due_every_interval_and_every_report_while_watched() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut t = tables(30);
        assert!(t.due(t0), "the first report reads (a baseline)");
        t.last = Some(t0);
        assert!(!t.due(t0 + s(5)));
        assert!(!t.due(t0 + s(25)));
        // A tick a little early still counts as the sixth.
        assert!(t.due(t0 + s(30) - Duration::from_millis(3)));

        t.ack(true, t0 + s(5));
        assert!(t.due(t0 + s(10)), "watched: every report");
        assert!(t.due(t0 + s(34)));
        // An ack older than the hold no longer counts.
        t.last = Some(t0 + s(30));
        assert!(!t.due(t0 + s(5) + WATCH_HOLD + s(1)));
        t.ack(true, t0 + s(40));
        t.ack(false, t0 + s(45));
        assert!(!t.due(t0 + s(50)), "a viewer left");

        let mut off = tables(0);
        off.ack(true, t0);
        assert!(!off.due(t0), "an interval of 0 turns the tables off");
    }
}
