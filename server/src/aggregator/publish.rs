//! Publishing on the bus off the ack path: stream tasks hand each accepted
//! report (and each `Hello`'s metadata) to one publisher task through a
//! bounded queue and move on to the `Ack` at once.
//!
//! What a newcomer must know: a bus that is slow or down never holds up an
//! ack. When the queue is full the update is dropped and counted in
//! `Stats::bus_errors`, as is every update of a batch the bus refused. One
//! queue and one task keep every host's updates in arrival order; the task
//! sends whatever has queued up as one batch (one round trip on Redis).
//! An outage is logged once when it starts and once when it ends, and the
//! host metadata it may have lost is sent again when it ends.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use bytes::Bytes;

use super::Stats;
use crate::bus::{SharedBus, Update};
use crate::episode::Episode;
use crate::event::encode_metrics;
use crate::model::AcceptedReport;
use crate::model::HostMeta;

/// Updates waiting for the bus before new ones are dropped.
const QUEUE: usize = 8192;
/// Most updates sent in one batch.
const MAX_BATCH: usize = 512;
/// Longest a batch may take before it counts as failed.
const BATCH_TIMEOUT: Duration = Duration::from_secs(3);

/// The ingest side of the publisher: cheap to clone, never waits.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Update>,
    outage: Arc<Outage>,
    bus: SharedBus,
}

/// Whether publishing is failing, shared by the queue and the task so one
/// outage gives one warning whichever side notices it first.
struct Outage {
    episode: Mutex<Episode>,
    stats: Arc<Stats>,
}

impl Outage {
    fn episode(&self) -> std::sync::MutexGuard<'_, Episode> {
        self.episode.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self, dropped: usize, why: &dyn std::fmt::Display) {
        self.stats
            .bus_errors
            .fetch_add(dropped as u64, Ordering::Relaxed);
        if self.episode().fail() {
            tracing::warn!(error = %why, "publishing on the bus failed; ingest goes on, updates are dropped and counted until it recovers");
        }
    }

    fn succeeded(&self, published: usize, backlog: usize) {
        self.stats
            .bus_published
            .fetch_add(published as u64, Ordering::Relaxed);
        // Recovered once the backlog is mostly gone, so a bus that only just
        // keeps up does not log a recovery per batch.
        if backlog < QUEUE / 2 && self.episode().recover().is_some() {
            tracing::info!(
                dropped_so_far = self.stats.bus_errors.load(Ordering::Relaxed),
                "publishing on the bus recovered"
            );
        }
    }
}

impl Publisher {
    /// Queues an accepted report: its `metrics` event for the bus, and
    /// its values for the current state. When nobody can hear the event
    /// ([`crate::bus::Bus::metrics_audience`]: an embedded bus with no
    /// subscriber to `metrics.*`) it is not encoded, and the report updates
    /// the state alone.
    pub fn offer_report(&self, report: &AcceptedReport) {
        let payload = if self.bus.metrics_audience() {
            encode_metrics(report)
        } else {
            Bytes::new()
        };
        self.offer(Update::Report {
            report: report.clone(),
            payload,
        });
    }

    /// Queues an update for the bus, or drops and counts it when the queue
    /// is full or the publisher has stopped.
    pub fn offer(&self, update: Update) {
        match self.tx.try_send(update) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self
                .outage
                .failed(1, &"the bus is not keeping up: its queue is full"),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.outage.failed(1, &"the publisher has stopped")
            }
        }
    }
}

/// Starts the publisher task; it ends once every [`Publisher`] is dropped
/// and the queue is empty.
pub fn start(bus: SharedBus, stats: Arc<Stats>) -> (Publisher, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let outage = Arc::new(Outage {
        episode: Mutex::new(Episode::new()),
        stats,
    });
    let task = tokio::spawn(run(bus.clone(), rx, outage.clone()));
    (Publisher { tx, outage, bus }, task)
}

async fn run(bus: SharedBus, mut rx: mpsc::Receiver<Update>, outage: Arc<Outage>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Every host's latest metadata: agents send it once per connection, and
    // a Redis that restarted meanwhile has lost it.
    let mut metas: HashMap<String, HostMeta> = HashMap::new();
    // The drop count when the metadata was last restated successfully.
    let mut restated_at = 0;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let queued = batch.len();
        for update in &batch {
            if let Update::Meta { host, meta } = update {
                metas.insert(host.clone(), meta.clone());
            }
        }
        let dropped = outage.stats.bus_errors.load(Ordering::Relaxed);
        let restate = dropped > restated_at;
        if restate {
            // Something was dropped since the metadata was last restated:
            // it may have been metadata, or Redis may have restarted empty.
            let metas = metas.iter().map(|(host, meta)| Update::Meta {
                host: host.clone(),
                meta: meta.clone(),
            });
            batch.splice(0..0, metas);
        }
        match tokio::time::timeout(BATCH_TIMEOUT, bus.publish_updates(&batch)).await {
            Ok(Ok(())) => {
                if restate {
                    restated_at = dropped;
                }
                outage.succeeded(queued, rx.len());
            }
            Ok(Err(e)) => outage.failed(queued, &e),
            Err(_) => outage.failed(
                queued,
                &format!("the bus did not answer within {BATCH_TIMEOUT:?}"),
            ),
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bus::{Bus, BusEvent, EmbeddedBus};
    use crate::model::{Point, SeriesKey};
    use crate::time::now_ms;

    fn report(seq: u64, value: f64) -> AcceptedReport {
        AcceptedReport {
            host: "web-1".into(),
            seq,
            timestamp_ms: now_ms() + seq as i64,
            points: vec![Point {
                key: SeriesKey::new("load1"),
                value,
            }],
        }
    }

    async fn load1(bus: &EmbeddedBus) -> Option<f64> {
        let hosts = bus.hosts().await.unwrap();
        hosts
            .first()
            .and_then(|h| h.values.get(&SeriesKey::new("load1")).copied())
    }

    /// With nobody subscribed to `metrics.*` no event is encoded, yet the
    /// current state still follows every report; a subscriber that comes
    /// later gets each next report's event, byte for byte.
    #[tokio::test]
    async fn a_report_nobody_hears_still_updates_the_state_and_a_later_subscriber_hears_the_next() {
        let bus = EmbeddedBus::default();
        let shared: SharedBus = Arc::new(bus.clone());
        let _watches = bus.subscribe(&["watch.*"]).await.unwrap();
        assert!(
            !bus.metrics_audience(),
            "a watch.* subscriber hears no metrics"
        );
        let (publisher, _task) = start(shared, Arc::new(Stats::default()));

        publisher.offer_report(&report(1, 0.5));
        let mut state = None;
        for _ in 0..100 {
            state = load1(&bus).await;
            if state.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(state, Some(0.5));

        let mut metrics = bus.subscribe(&["metrics.*"]).await.unwrap();
        assert!(bus.metrics_audience());
        let second = report(2, 0.75);
        publisher.offer_report(&second);
        let event = tokio::time::timeout(Duration::from_secs(5), metrics.next())
            .await
            .expect("the event arrives");
        let Some(BusEvent::Message { channel, payload }) = event else {
            panic!("expected the metrics event, got {event:?}");
        };
        assert_eq!(&*channel, "metrics.web-1");
        assert_eq!(payload, encode_metrics(&second));
        assert_eq!(load1(&bus).await, Some(0.75));

        drop(metrics);
        for _ in 0..100 {
            if !bus.metrics_audience() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            !bus.metrics_audience(),
            "the dropped subscriber is no audience"
        );
    }
}
