//! Rate-limited logging of rejected samples: at most one line per host per
//! window, saying how many rejections the window held. A misbehaving agent
//! must not flood the aggregator's log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::validate::Rejection;
use crate::episode::Throttle;

pub struct RejectLog {
    window: Duration,
    hosts: Mutex<HashMap<String, Throttle>>,
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
        let due = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            match hosts.get_mut(host) {
                Some(throttle) => throttle.hit(rejected as u64),
                None => hosts
                    .entry(host.to_owned())
                    .or_insert_with(|| Throttle::new(self.window))
                    .hit(rejected as u64),
            }
        };
        let Some(suppressed) = due else {
            return;
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
