//! What a process costs, read from `/proc` (Linux only) the way an operator
//! would: CPU time summed over its threads, resident memory now and at its
//! peak. Shared by the benches that measure a real process from outside.

use std::path::Path;

/// True where `/proc` can be read.
pub fn available() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// CPU time of a process and all its threads, in nanoseconds: the sum of
/// each thread's `schedstat` run time (nanosecond resolution), or utime +
/// stime from `stat` (10 ms ticks) where schedstat is missing.
pub fn cpu_nanos(pid: u32) -> Result<u64, String> {
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        let mut total = 0u64;
        let mut found = false;
        for task in tasks.filter_map(Result::ok) {
            let path = task.path().join("schedstat");
            if let Some(ns) = std::fs::read_to_string(path).ok().and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
            }) {
                total += ns;
                found = true;
            }
        }
        if found {
            return Ok(total);
        }
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("process {pid} is gone: {e}"))?;
    // Fields after the parenthesized command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // USER_HZ is 100 on every Linux architecture mon targets.
    Ok((field(11) + field(12)) * 10_000_000)
}

/// A `kB` line of `/proc/PID/status`, e.g. `VmRSS:` or `VmHWM:`, in KiB.
pub fn status_kib(pid: u32, key: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("process {pid} is gone: {e}"))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}
