//! Which hosts someone is looking at right now, as the gateways say on the
//! bus (`watch.<host>`, refreshed every few seconds while a dashboard's host
//! page or `mon top`'s host view is open). An ack to such a host's agent
//! says `watched`, and the agent reads its process and cgroup tables with
//! every report instead of every 30 s: the expensive read is paid only
//! while somebody looks.
//!
//! A watch lapses [`HOLD`] after the last word of it, so a gateway that
//! dies or a bus that drops messages leaves no host read fast forever.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use wire::activity::WatchEvent;

use crate::activity::HOLD;
use crate::bus::{BusEvent, SharedBus};

#[derive(Default)]
pub struct Watched {
    until: Mutex<HashMap<String, Instant>>,
}

impl Watched {
    /// Someone watches `host` as of `now`.
    pub fn mark(&self, host: &str, now: Instant) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        // Lapsed entries go here, so the map never outgrows what is watched.
        until.retain(|_, t| *t > now);
        until.insert(host.to_owned(), now + HOLD);
    }

    pub fn is_watched(&self, host: &str, now: Instant) -> bool {
        let until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.get(host).is_some_and(|t| *t > now)
    }

    /// Reads `watch.*` from the bus until `stop`, resubscribing after a
    /// failure (a gap loses nothing that matters: watches repeat).
    pub async fn listen(&self, bus: SharedBus, mut stop: watch::Receiver<bool>) {
        let mut delay = Duration::from_millis(200);
        loop {
            let mut subscription = match bus.subscribe(&[wire::channel::ALL_WATCHES]).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot subscribe to watch requests; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    delay = (delay * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            delay = Duration::from_millis(200);
            loop {
                let event = tokio::select! {
                    e = subscription.next() => e,
                    _ = stop.wait_for(|s| *s) => return,
                };
                match event {
                    Some(BusEvent::Message { payload, .. }) => {
                        if let Ok(w) = serde_json::from_slice::<WatchEvent>(&payload)
                            && w.kind == wire::kind::WATCH
                        {
                            self.mark(w.host, Instant::now());
                        }
                    }
                    Some(BusEvent::Gap { .. }) => {}
                    None => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_holds_for_a_while_then_lapses() {
        let w = Watched::default();
        let t0 = Instant::now();
        assert!(!w.is_watched("web-1", t0));
        w.mark("web-1", t0);
        assert!(w.is_watched("web-1", t0 + HOLD / 2));
        assert!(!w.is_watched("web-2", t0));
        assert!(!w.is_watched("web-1", t0 + HOLD + Duration::from_millis(1)));
        // Marking another host later clears the lapsed one.
        w.mark("web-2", t0 + HOLD * 2);
        assert_eq!(w.until.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_event_reads_back() {
        let bytes = crate::activity::encode_watch("web-1");
        let e: WatchEvent = serde_json::from_slice(&bytes).unwrap();
        assert_eq!((e.kind, e.host), ("watch", "web-1"));
        assert_eq!(wire::channel::watch("web-1"), "watch.web-1");
    }
}
