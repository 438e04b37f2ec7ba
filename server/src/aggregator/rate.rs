//! Reports per second per host: one token bucket per host, shared by every
//! stream that host opens, so reconnecting does not refill it.
//!
//! The one thing to know: a refusal never loses data. The caller acks what
//! came before, ends the stream with `RESOURCE_EXHAUSTED` and a retry hint,
//! and the agent keeps the refused report spooled and replays it later.
//!
//! Hand-rolled rather than `governor`: what is needed is one check per report,
//! a hint of when the bucket is full again (not just when one more report
//! fits), a clock passed in for tests and buckets that can be forgotten once
//! full; that is fifty lines, against a crate that brings its own map and
//! clock dependencies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Fewest hosts kept before full buckets are swept out of the map.
const SWEEP_FLOOR: usize = 1024;

#[derive(Debug)]
pub struct ReportRate {
    per_second: f64,
    burst: f64,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    hosts: HashMap<String, Bucket>,
    /// Size of the map that triggers the next sweep.
    sweep_at: usize,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl ReportRate {
    /// A limiter, or `None` when `per_second` is 0 (unlimited). A burst
    /// below one report is raised to one.
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        (per_second > 0).then(|| Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            state: Mutex::new(Buckets {
                hosts: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
        })
    }

    /// Takes one report's token for `host` at `now`; when there is none,
    /// the time until the host's bucket is full again, as a retry hint:
    /// by then the agent can replay a whole burst in one stream.
    pub fn take(&self, host: &str, now: Instant) -> Result<(), Duration> {
        // A std mutex: the critical section is a map lookup and arithmetic,
        // never held across an await.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // A key is allocated for a new host only, not on every report.
        if !state.hosts.contains_key(host) {
            state.hosts.insert(
                host.to_owned(),
                Bucket {
                    tokens: self.burst,
                    at: now,
                },
            );
        }
        let bucket = state.hosts.get_mut(host).expect("inserted above");
        bucket.tokens = self.refilled(*bucket, now);
        bucket.at = now;
        let outcome = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (self.burst - bucket.tokens) / self.per_second,
            ))
        };
        if state.hosts.len() >= state.sweep_at {
            // A full bucket is the same as no bucket: forget those, so the
            // map holds only hosts that sent lately.
            state
                .hosts
                .retain(|_, b| self.refilled(*b, now) < self.burst);
            state.sweep_at = (state.hosts.len() * 2).max(SWEEP_FLOOR);
        }
        outcome
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.burst)
    }

    /// The bucket a report is charged to: its host, lower-cased and cut to
    /// the longest valid host name, so a huge bogus one cannot bloat the
    /// buckets. Computed before any other work is spent on the report.
    pub fn key(host: &str, max_host_len: usize) -> String {
        host.chars()
            .take(max_host_len)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    }

    pub fn per_second(&self) -> u32 {
        self.per_second as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_gets_its_burst_then_the_rate_and_a_hint_until_full() {
        let rate = ReportRate::new(10, 5).unwrap();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(rate.take("web-1", t0), Ok(()));
        }
        // Empty: a full refill of 5 at 10/s takes half a second.
        assert_eq!(rate.take("web-1", t0), Err(Duration::from_millis(500)));
        // Another host has its own bucket.
        assert_eq!(rate.take("web-2", t0), Ok(()));
        // 100 ms later exactly one report fits.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(rate.take("web-1", t1), Ok(()));
        assert!(rate.take("web-1", t1).is_err());
        // A long pause refills to the burst, never beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(rate.take("web-1", t2), Ok(()));
        }
        assert!(rate.take("web-1", t2).is_err());
    }

    #[test]
    fn zero_means_unlimited_and_full_buckets_are_forgotten() {
        assert!(ReportRate::new(0, 100).is_none());
        let rate = ReportRate::new(1, 1).unwrap();
        let t0 = Instant::now();
        for i in 0..SWEEP_FLOOR - 1 {
            let _ = rate.take(&format!("h{i}"), t0);
        }
        // One second later every bucket is full again, so the sweep that the
        // next new host triggers leaves only that host.
        let _ = rate.take("late", t0 + Duration::from_secs(1));
        let state = rate.state.lock().unwrap();
        assert!(state.hosts.len() <= 1, "{}", state.hosts.len());
    }
}
