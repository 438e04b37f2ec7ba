//! Exponential backoff with full jitter between attempts, so a fleet of
//! agents does not reconnect in lockstep after an aggregator restart, nor a
//! role's retries (the edge's upstream, the notifiers, the forwarders) hit a
//! receiver in lockstep after its outage.

use std::time::Duration;

pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            attempt: 0,
        }
    }

    /// The wait before the next attempt: uniformly random in
    /// `[min, min * 2^attempt]`, capped at `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let span = ceiling.saturating_sub(self.min).as_millis() as u64;
        self.min + Duration::from_millis(fastrand::u64(0..=span))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        for attempt in 0..20 {
            let d = b.next_delay();
            let ceiling = (100u64 << attempt.min(16)).min(5000);
            assert!(d >= Duration::from_millis(100), "{d:?}");
            assert!(d <= Duration::from_millis(ceiling), "{d:?} > {ceiling}ms");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
