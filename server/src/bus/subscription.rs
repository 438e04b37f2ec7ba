//! The consumer's end of a bus subscription and the forwarding logic both bus
//! implementations share, so a slow consumer or a dropped link looks the same
//! whichever bus is behind it.
//!
//! What a newcomer must know: a subscription never slows the publisher. Each
//! subscriber has its own bounded queue; what does not fit is counted, and the
//! consumer gets one [`BusEvent::Gap`] with that count before the next message,
//! its cue to re-read the current state.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::BusEvent;

/// Events a subscriber may have queued before further ones become a gap.
pub const SUBSCRIBER_QUEUE: usize = 1024;

/// A live subscription; dropping it unsubscribes.
pub struct Subscription {
    rx: mpsc::Receiver<BusEvent>,
}

impl Subscription {
    /// The next event, or `None` once the bus has shut down.
    pub async fn next(&mut self) -> Option<BusEvent> {
        self.rx.recv().await
    }
}

/// The producing end of one subscription, owned by the bus task that feeds it.
pub(crate) struct Forwarder {
    tx: mpsc::Sender<BusEvent>,
    /// Messages lost since the last gap the consumer was told about; `Some(0)`
    /// is a gap of unknown size (a reconnect).
    gap: Option<u64>,
}

/// The consumer is gone: the feeding task should stop.
#[derive(Debug)]
pub(crate) struct Closed;

impl Forwarder {
    /// A forwarder and the subscription it feeds.
    pub(crate) fn new() -> (Self, Subscription) {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        (Self { tx, gap: None }, Subscription { rx })
    }

    /// Queues a message, or counts it as missed when the queue is full.
    pub(crate) fn message(&mut self, channel: Arc<str>, payload: Bytes) -> Result<(), Closed> {
        self.flush_gap()?;
        if self.gap.is_some() {
            // The gap could not be queued, so neither can this message: the
            // consumer must see the gap before anything that follows it.
            self.add_gap(1);
            return Ok(());
        }
        match self.tx.try_send(BusEvent::Message { channel, payload }) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.add_gap(1);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Closed),
        }
    }

    /// Records that `missed` messages were lost upstream (0 when unknown) and
    /// tells the consumer as soon as its queue has room.
    pub(crate) fn gap(&mut self, missed: u64) -> Result<(), Closed> {
        self.add_gap(missed);
        self.flush_gap()
    }

    /// Resolves once the consumer has dropped its [`Subscription`].
    pub(crate) async fn closed(&self) {
        self.tx.closed().await
    }

    fn add_gap(&mut self, missed: u64) {
        self.gap = Some(self.gap.unwrap_or(0) + missed);
    }

    fn flush_gap(&mut self) -> Result<(), Closed> {
        let Some(missed) = self.gap else {
            return Ok(());
        };
        match self.tx.try_send(BusEvent::Gap { missed }) {
            Ok(()) => {
                self.gap = None;
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: usize) -> (Arc<str>, Bytes) {
        (Arc::from("metrics.a"), Bytes::from(i.to_string()))
    }

    #[tokio::test]
    async fn overflow_becomes_one_gap_with_the_count_before_the_next_message() {
        let (mut fwd, mut sub) = Forwarder::new();
        for i in 0..SUBSCRIBER_QUEUE + 5 {
            let (c, p) = msg(i);
            fwd.message(c, p).unwrap();
        }
        for _ in 0..SUBSCRIBER_QUEUE {
            assert!(matches!(sub.next().await, Some(BusEvent::Message { .. })));
        }
        let (c, p) = msg(9999);
        fwd.message(c, p).unwrap();
        assert_eq!(sub.next().await, Some(BusEvent::Gap { missed: 5 }));
        let Some(BusEvent::Message { payload, .. }) = sub.next().await else {
            panic!("the message after the gap");
        };
        assert_eq!(payload, Bytes::from("9999"));
    }

    #[tokio::test]
    async fn a_dropped_subscription_stops_the_forwarder() {
        let (mut fwd, sub) = Forwarder::new();
        drop(sub);
        fwd.closed().await;
        let (c, p) = msg(1);
        assert!(fwd.message(c, p).is_err());
    }
}
