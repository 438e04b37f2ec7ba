//! Bus → hub: subscribes to `metrics.*`, `alerts.*`, `hosts.*` and the tables
//! (`processes.*`, `cgroups.*`), seeds the
//! hub from the bus's current state, and reseeds after any gap so clients
//! resync. A host that says hello after the seed brings its metadata in a
//! `host` event on `hosts.<host>`, so the state is never read per event.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::bus::{BusEvent, SharedBus};
use crate::fanout::{Fleet, Hub};

pub async fn run(bus: SharedBus, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    let mut delay = Duration::from_millis(200);
    loop {
        // Subscribe first, then read the state: an event that lands between
        // the two is applied on top of the state, never lost.
        let subscription = bus
            .subscribe(&[
                wire::channel::ALL_METRICS,
                wire::channel::ALL_ALERTS,
                wire::channel::ALL_HOSTS,
                wire::channel::ALL_PROCESSES,
                wire::channel::ALL_CGROUPS,
            ])
            .await;
        let mut subscription = match subscription {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to the bus; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                delay = (delay * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        delay = Duration::from_millis(200);
        reseed(&bus, &hub).await;
        loop {
            let event = tokio::select! {
                e = subscription.next() => e,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match event {
                Some(BusEvent::Message { channel, payload }) => {
                    if let Err(e) = hub.ingest(payload) {
                        tracing::warn!(%channel, error = %e, "ignoring an unreadable bus event");
                    }
                }
                Some(BusEvent::Gap { missed }) => {
                    tracing::info!(
                        missed,
                        "bus gap; resynchronizing clients from current state"
                    );
                    reseed(&bus, &hub).await;
                }
                None => break,
            }
        }
    }
}

async fn reseed(bus: &SharedBus, hub: &Hub) {
    match bus.hosts().await {
        Ok(states) => hub.reset(Fleet::from_states(states), true),
        Err(e) => tracing::warn!(error = %e, "cannot read current state from the bus"),
    }
}
