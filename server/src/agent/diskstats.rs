//! Disk latency and utilisation from `/proc/diskstats`, the counters `iostat`
//! reads: the share of wall time a device had I/O in flight
//! (`disk_io_time_percent`) and the average time a completed read or write
//! took, queueing included (`disk_read_wait_milliseconds`,
//! `disk_write_wait_milliseconds`, iostat's `r_await` and `w_await`).
//!
//! All three are differences between two readings, so the first tick sends
//! none; a device that completed no read in the interval reports a wait of 0,
//! as iostat does.

use std::collections::HashMap;

/// The cumulative counters of one device that the figures need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskCounters {
    pub reads: u64,
    pub read_ms: u64,
    pub writes: u64,
    pub write_ms: u64,
    pub io_ms: u64,
}

/// One device's figures over an interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiskLatency {
    pub io_time_percent: f64,
    pub read_wait_ms: f64,
    pub write_wait_ms: f64,
}

/// Parses `/proc/diskstats`; lines it cannot read are skipped (older kernels
/// have fewer fields, and a short line must not hide the others).
pub fn parse(text: &str) -> HashMap<String, DiskCounters> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 13 {
            continue;
        }
        let n = |i: usize| f[i].parse::<u64>().ok();
        if let (Some(reads), Some(read_ms), Some(writes), Some(write_ms), Some(io_ms)) =
            (n(3), n(6), n(7), n(10), n(12))
        {
            out.insert(
                f[2].to_owned(),
                DiskCounters {
                    reads,
                    read_ms,
                    writes,
                    write_ms,
                    io_ms,
                },
            );
        }
    }
    out
}

/// The figures between two readings `elapsed_ms` apart. Counters that went
/// backwards (a device replaced under the same name) read as no activity.
pub fn latency(prev: &DiskCounters, now: &DiskCounters, elapsed_ms: f64) -> DiskLatency {
    let wait = |ms: u64, prev_ms: u64, n: u64, prev_n: u64| {
        let ios = n.saturating_sub(prev_n);
        if ios == 0 {
            0.0
        } else {
            ms.saturating_sub(prev_ms) as f64 / ios as f64
        }
    };
    let busy = now.io_ms.saturating_sub(prev.io_ms) as f64;
    DiskLatency {
        // The kernel's busy time can run a tick ahead of our clock.
        io_time_percent: (busy / elapsed_ms * 100.0).clamp(0.0, 100.0),
        read_wait_ms: wait(now.read_ms, prev.read_ms, now.reads, prev.reads),
        write_wait_ms: wait(now.write_ms, prev.write_ms, now.writes, prev.writes),
    }
}

/// Reads this machine's counters; empty where there is no `/proc/diskstats`.
pub fn read() -> HashMap<String, DiskCounters> {
    std::fs::read_to_string("/proc/diskstats")
        .map(|t| parse(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_time_per_completed_io_and_busy_time_a_share_of_the_interval() {
        let before = parse(" 254 0 vda 100 0 800 200 50 0 400 500 0 1000 700 0 0 0 0\n");
        let after = parse(" 254 0 vda 110 0 880 260 60 0 480 700 0 1500 900 0 0 0 0\n");
        let l = latency(&before["vda"], &after["vda"], 2000.0);
        assert_eq!(l.read_wait_ms, 6.0);
        assert_eq!(l.write_wait_ms, 20.0);
        assert_eq!(l.io_time_percent, 25.0);
    }

    #[test]
    fn an_idle_device_waits_zero_and_short_lines_are_skipped() {
        let text = "7 0 loop0 0 0\n 254 0 vda 1 0 8 2 1 0 8 2 0 4 4\n";
        let c = parse(text);
        assert_eq!(c.len(), 1);
        let l = latency(&c["vda"], &c["vda"], 1000.0);
        assert_eq!(
            (l.read_wait_ms, l.write_wait_ms, l.io_time_percent),
            (0.0, 0.0, 0.0)
        );
    }
}
