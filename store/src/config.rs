//! What the store is told at open: retention per tier, the rollup grace
//! period, how often maintenance runs, and the clock it runs by.
//!
//! The clock is injected so tests can move time by hours without waiting;
//! everything that asks "what time is it" in the store goes through it.

use std::time::Duration;

use super::StoreError;
pub use domain::time::{Clock, ManualClock};

pub(crate) const MINUTE_MS: i64 = 60_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// How long each tier keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw samples (`metrics_raw_head` and `metrics_raw`).
    pub raw: Duration,
    /// `metrics_1m` buckets.
    pub one_minute: Duration,
    /// `metrics_1h` buckets.
    pub one_hour: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw: Duration::from_secs(24 * 3600),
            one_minute: Duration::from_secs(7 * 24 * 3600),
            one_hour: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub retention: Retention,
    /// How long after a minute ends its bucket waits for stragglers before
    /// it is materialized. Later samples re-materialize it.
    pub rollup_grace: Duration,
    /// How often the writer runs compaction and rollups.
    pub maintenance_every: Duration,
    /// How often retention deletes old data. Less often than the rollups,
    /// because trimming the oldest chunk of every series re-encodes it.
    pub retention_every: Duration,
    pub clock: Clock,
    /// Whether ingest appends what it stores to the forward log, for
    /// `--remote-write` (`forward_log.rs`).
    pub forward_log: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            retention: Retention::default(),
            rollup_grace: Duration::from_secs(30),
            maintenance_every: Duration::from_secs(10),
            retention_every: Duration::from_secs(300),
            clock: Clock::system(),
            forward_log: false,
        }
    }
}

impl StoreConfig {
    /// Worst-case age of the newest raw sample not yet in `metrics_1m`: a
    /// whole bucket, the grace period and one maintenance interval.
    pub fn lag_1m(&self) -> Duration {
        Duration::from_millis(MINUTE_MS as u64) + self.rollup_grace + self.maintenance_every
    }

    /// Worst-case age of the newest 1m bucket not yet merged into `metrics_1h`.
    pub fn lag_1h(&self) -> Duration {
        Duration::from_millis(HOUR_MS as u64) + self.lag_1m()
    }

    /// Refuses a retention that would delete a tier's data before the rollup
    /// that reads it has run.
    pub fn validate(&self) -> Result<(), StoreError> {
        let r = &self.retention;
        let show = |d: Duration| humantime::format_duration(d).to_string();
        for (name, d) in [("raw", r.raw), ("1m", r.one_minute), ("1h", r.one_hour)] {
            if d.is_zero() {
                return Err(StoreError::Config(format!(
                    "{name} retention 0s is not accepted; give a duration such as 24h or 7d"
                )));
            }
        }
        if r.raw < self.lag_1m() {
            return Err(StoreError::Config(format!(
                "raw retention {} is shorter than the 1m rollup's lag of {} \
                 (1m bucket + {} grace + {} maintenance interval); keep raw samples at least that long",
                show(r.raw),
                show(self.lag_1m()),
                show(self.rollup_grace),
                show(self.maintenance_every),
            )));
        }
        if r.one_minute < self.lag_1h() {
            return Err(StoreError::Config(format!(
                "1m retention {} is shorter than the 1h rollup's lag of {} \
                 (1h bucket + the 1m rollup's lag); keep 1m buckets at least that long",
                show(r.one_minute),
                show(self.lag_1h()),
            )));
        }
        if self.maintenance_every.is_zero() || self.retention_every.is_zero() {
            return Err(StoreError::Config(
                "a maintenance interval of 0s is not accepted; give at least 1ms".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        StoreConfig::default().validate().unwrap();
    }

    #[test]
    fn a_retention_shorter_than_the_rollup_lag_is_refused_with_the_values() {
        let config = StoreConfig {
            retention: Retention {
                raw: Duration::from_secs(60),
                ..Retention::default()
            },
            ..StoreConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("raw retention 1m") && err.contains("lag of 1m 40s"),
            "{err}"
        );

        let config = StoreConfig {
            retention: Retention {
                one_minute: Duration::from_secs(3600),
                ..Retention::default()
            },
            ..StoreConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("1m retention 1h") && err.contains("lag of 1h 1m 40s"),
            "{err}"
        );
    }
}
