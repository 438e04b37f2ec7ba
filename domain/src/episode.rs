//! "Warn once, info on recovery": a failure that lasts (an aggregator
//! unreachable, a full disk, a receiver down) is one episode, logged when
//! it starts and when it ends, never on every retry.
//!
//! What a newcomer must know: an [`Episode`] decides *when* a line is due
//! and counts; the caller writes the line, so every message keeps its own
//! fields and level. [`Episode::fail`] is true for the failure to warn
//! about, [`Episode::recover`] returns how the episode went (failures and
//! duration, by the injected [`Clock`]) for the recovery line. An episode
//! can also carry the kind of failure: a different kind (another TLS
//! advice, a full disk turning read-only) is news again.
//! [`Throttle`] is the other discipline, for failures that are not an
//! outage: a line at most once per window, saying how many were held back.

use std::time::Duration;

use crate::time::Clock;

/// A failure that may last, of kind `K` (`()` when there is one kind).
#[derive(Debug)]
pub struct Episode<K = ()> {
    clock: Clock,
    settle: Duration,
    open: Option<Open<K>>,
}

#[derive(Debug)]
struct Open<K> {
    since_ms: i64,
    last_ms: i64,
    failures: u64,
    kind: K,
}

/// How an episode went, when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Failures recorded from its start to its end.
    pub failures: u64,
    /// From its first failure to the success that ended it.
    pub lasted: Duration,
}

impl Ended {
    /// The duration in whole seconds (`42s`, `1m 5s`), for log lines.
    pub fn lasted_text(&self) -> String {
        humantime::format_duration(Duration::from_secs(self.lasted.as_secs())).to_string()
    }
}

impl<K> Default for Episode<K> {
    fn default() -> Self {
        Self::with_clock(Clock::system())
    }
}

impl<K> Episode<K> {
    /// An episode timed by the system's clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An episode timed by `clock` (a test's [`crate::time::ManualClock`]).
    pub fn with_clock(clock: Clock) -> Self {
        Self {
            clock,
            settle: Duration::ZERO,
            open: None,
        }
    }

    /// A success ends the episode only once the failures have stopped for
    /// `quiet`: a failure that comes and goes in bursts is one episode.
    pub fn settling(mut self, quiet: Duration) -> Self {
        self.settle = quiet;
        self
    }

    /// Whether an episode is under way.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Records a failure of `kind`: true when it is news, that is when it
    /// starts an episode or is of another kind than the last one that was.
    #[must_use = "true means the failure is to be logged"]
    pub fn fail_as(&mut self, kind: K) -> bool
    where
        K: PartialEq,
    {
        let now = self.clock.now_ms();
        match &mut self.open {
            Some(open) => {
                open.failures += 1;
                open.last_ms = now;
                let news = open.kind != kind;
                open.kind = kind;
                news
            }
            None => {
                self.open = Some(Open {
                    since_ms: now,
                    last_ms: now,
                    failures: 1,
                    kind,
                });
                true
            }
        }
    }

    /// Records a success: how the episode went when this ends one, `None`
    /// when none was under way (or it has not settled yet).
    #[must_use = "Some means the recovery is to be logged"]
    pub fn recover(&mut self) -> Option<Ended> {
        let now = self.clock.now_ms();
        let open = self.open.as_ref()?;
        if now.saturating_sub(open.last_ms).max(0) < self.settle.as_millis() as i64 {
            return None;
        }
        let open = self.open.take()?;
        Some(Ended {
            failures: open.failures,
            lasted: Duration::from_millis(now.saturating_sub(open.since_ms).max(0) as u64),
        })
    }
}

impl Episode {
    /// Records a failure: true when it starts an episode.
    #[must_use = "true means the failure is to be logged"]
    pub fn fail(&mut self) -> bool {
        self.fail_as(())
    }
}

/// A line logged at most once per window: what happens in between is
/// counted and told with the next line.
#[derive(Debug)]
pub struct Throttle {
    clock: Clock,
    window: Duration,
    last_ms: Option<i64>,
    held: u64,
}

impl Throttle {
    /// At most one line per `window`, by the system's clock.
    pub fn new(window: Duration) -> Self {
        Self::with_clock(window, Clock::system())
    }

    pub fn with_clock(window: Duration, clock: Clock) -> Self {
        Self {
            clock,
            window,
            last_ms: None,
            held: 0,
        }
    }

    /// Records `weight` occurrences (a request, a report's rejected
    /// samples): `Some(held back since the last line)` when a line is due,
    /// `None` when these are held back (and counted) instead.
    #[must_use = "Some means a line is due"]
    pub fn hit(&mut self, weight: u64) -> Option<u64> {
        let now = self.clock.now_ms();
        match self.last_ms {
            Some(last) if now.saturating_sub(last) < self.window.as_millis() as i64 => {
                self.held += weight;
                None
            }
            _ => {
                self.last_ms = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ManualClock;

    fn clock() -> (ManualClock, Clock) {
        let manual = ManualClock::new(1_000_000);
        let clock = Clock::manual(&manual);
        (manual, clock)
    }

    #[test]
    fn an_episode_is_news_once_and_ends_with_its_failures_and_duration() {
        let (time, clock) = clock();
        let mut e = Episode::with_clock(clock);
        assert_eq!(e.recover(), None, "nothing to recover from");
        assert!(e.fail(), "the first failure is news");
        for _ in 0..4 {
            time.advance(Duration::from_secs(10));
            assert!(!e.fail(), "a repeat is not");
        }
        assert!(e.is_open());
        time.advance(Duration::from_millis(2_500));
        let ended = e.recover().unwrap();
        assert_eq!(
            ended,
            Ended {
                failures: 5,
                lasted: Duration::from_millis(42_500)
            }
        );
        assert_eq!(ended.lasted_text(), "42s");
        assert!(!e.is_open());
        assert_eq!(e.recover(), None, "a recovery is told once");
        assert!(e.fail(), "the next failure starts a new episode");
    }

    #[test]
    fn another_kind_of_failure_is_news_but_the_same_episode() {
        let (time, clock) = clock();
        let mut e = Episode::with_clock(clock);
        assert!(e.fail_as("disk full"));
        assert!(!e.fail_as("disk full"));
        time.advance(Duration::from_secs(5));
        assert!(e.fail_as("read-only"), "a new kind is news");
        assert!(!e.fail_as("read-only"));
        assert!(e.fail_as("disk full"), "and so is going back");
        time.advance(Duration::from_secs(5));
        let ended = e.recover().unwrap();
        assert_eq!(ended.failures, 5);
        assert_eq!(ended.lasted, Duration::from_secs(10));
    }

    #[test]
    fn a_settling_episode_ends_only_after_a_quiet_spell() {
        let (time, clock) = clock();
        let mut e = Episode::with_clock(clock).settling(Duration::from_secs(30));
        assert!(e.fail());
        time.advance(Duration::from_secs(10));
        assert_eq!(e.recover(), None, "too soon after the failure");
        assert!(!e.fail(), "still the same episode");
        time.advance(Duration::from_secs(29));
        assert_eq!(e.recover(), None);
        time.advance(Duration::from_secs(1));
        assert_eq!(
            e.recover(),
            Some(Ended {
                failures: 2,
                lasted: Duration::from_secs(40)
            })
        );
    }

    #[test]
    fn a_clock_going_back_gives_no_negative_duration() {
        let (time, clock) = clock();
        let mut e = Episode::with_clock(clock);
        assert!(e.fail());
        time.set(0);
        assert_eq!(e.recover().unwrap().lasted, Duration::ZERO);
    }

    #[test]
    fn a_throttle_lets_one_line_through_per_window_and_counts_the_rest() {
        let (time, clock) = clock();
        let mut t = Throttle::with_clock(Duration::from_secs(60), clock);
        assert_eq!(t.hit(3), Some(0), "the first line is due at once");
        assert_eq!(t.hit(2), None);
        time.advance(Duration::from_secs(59));
        assert_eq!(t.hit(4), None);
        time.advance(Duration::from_secs(1));
        assert_eq!(t.hit(1), Some(6), "the next line tells what was held back");
        assert_eq!(t.hit(1), None);
        time.advance(Duration::from_secs(600));
        assert_eq!(t.hit(1), Some(1));
    }
}
