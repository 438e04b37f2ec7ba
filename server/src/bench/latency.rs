//! Latency samples in microseconds, summarized as percentiles. Sorting a
//! vector at the end is exact and, at a few million samples, cheap enough
//! that a histogram crate would buy nothing.

use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct Latencies {
    micros: Vec<u32>,
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        self.micros.push(d.as_micros().min(u32::MAX as u128) as u32);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The `q` quantile (0.0..=1.0), or `None` without samples.
    pub fn quantile(&mut self, q: f64) -> Option<Duration> {
        if self.micros.is_empty() {
            return None;
        }
        self.micros.sort_unstable();
        let rank = ((self.micros.len() - 1) as f64 * q).round() as usize;
        Some(Duration::from_micros(self.micros[rank] as u64))
    }
}

/// Formats an optional duration in milliseconds with two decimals.
pub fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2}ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_ranked_sample() {
        let mut l = Latencies::default();
        for i in 1..=100 {
            l.record(Duration::from_millis(i));
        }
        assert_eq!(l.quantile(0.5), Some(Duration::from_millis(51)));
        assert_eq!(l.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(l.quantile(1.0), Some(Duration::from_millis(100)));
        assert_eq!(Latencies::default().quantile(0.5), None);
    }
}
