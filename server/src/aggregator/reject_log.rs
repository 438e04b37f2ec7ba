//! Rate-limited logging of rejected samples: at most one line per host per
//! window, saying how many rejections the window held. A misbehaving agent
//! must not flood the aggregator's log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::validate::Rejection;

pub struct RejectLog {
    window: Duration,
    hosts: Mutex<HashMap<String, (Instant, u64)>>,
}

impl RejectLog {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Records a report's rejections and logs them unless this host already
    /// logged within the window.
    pub fn record(&self, host: &str, seq: u64, rejected: usize, reasons: &[Rejection]) {
        if rejected == 0 {
            return;
        }
        let suppressed = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            match hosts.get_mut(host) {
                Some((last, count)) if now.duration_since(*last) < self.window => {
                    *count += rejected as u64;
                    return;
                }
                Some((last, count)) => {
                    *last = now;
                    std::mem::take(count)
                }
                None => {
                    hosts.insert(host.to_owned(), (now, 0));
                    0
                }
            }
        };
        let first = reasons.first();
        tracing::warn!(
            host,
            seq,
            rejected,
            series = first.map(|r| r.series.as_str()).unwrap_or(""),
            reason = first.map(|r| r.reason.as_str()).unwrap_or(""),
            suppressed_since_last_line = suppressed,
            "samples rejected"
        );
    }
}
