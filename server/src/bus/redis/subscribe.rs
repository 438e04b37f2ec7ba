//! `PSUBSCRIBE` for one subscriber, on a connection of its own that comes
//! back by itself when Redis restarts or the link drops.
//!
//! What a newcomer must know: Redis keeps nothing for a subscriber that is
//! away, so after every reconnect the subscriber gets `Gap { missed: 0 }`
//! (count unknown) before the first new message, its cue to re-read the
//! current state. The gap is queued only once `PSUBSCRIBE` is confirmed
//! again, so a resync that follows it misses nothing.

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::PubSub;
use bytes::Bytes;
use futures::StreamExt;

use super::RedisUrl;
use crate::bus::Pattern;
use crate::bus::subscription::{Forwarder, Subscription};

/// Longest wait for a connection and its `PSUBSCRIBE` confirmation.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// An idle link is checked this often, so a silent network failure is found.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnect delays double from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_LAST: Duration = Duration::from_secs(2);

/// Subscribes to `patterns`. The first connection is made before returning,
/// so everything published afterwards is received; if Redis is down the
/// subscription starts anyway and connects when Redis is back.
pub(super) async fn subscribe(url: RedisUrl, patterns: Vec<Pattern>) -> Subscription {
    let (forwarder, subscription) = Forwarder::new();
    let first = match connect(&url, &patterns).await {
        Ok(pubsub) => Some(pubsub),
        Err(error) => {
            tracing::warn!(redis = %url, %error, "cannot subscribe on Redis yet; retrying until it answers");
            None
        }
    };
    tokio::spawn(run(url, patterns, first, forwarder));
    subscription
}

async fn connect(url: &RedisUrl, patterns: &[Pattern]) -> Result<PubSub, String> {
    let attempt = async {
        let mut pubsub = url.client().get_async_pubsub().await?;
        let patterns: Vec<&str> = patterns.iter().map(Pattern::as_str).collect();
        pubsub.psubscribe(patterns).await?;
        Ok::<_, ::redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// Forwards messages until the subscriber drops its end, reconnecting with
/// doubling delays whenever the link is lost.
async fn run(
    url: RedisUrl,
    patterns: Vec<Pattern>,
    mut connected: Option<PubSub>,
    mut forwarder: Forwarder,
) {
    let mut delay = RETRY_FIRST;
    loop {
        let pubsub = match connected.take() {
            Some(pubsub) => pubsub,
            None => {
                tokio::select! {
                    () = forwarder.closed() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                match connect(&url, &patterns).await {
                    Ok(pubsub) => {
                        tracing::info!(redis = %url, "subscription on Redis restored; subscribers resync");
                        delay = RETRY_FIRST;
                        if forwarder.gap(0).is_err() {
                            return;
                        }
                        pubsub
                    }
                    Err(error) => {
                        // The outage was logged when it began.
                        tracing::debug!(redis = %url, %error, "cannot subscribe on Redis yet");
                        delay = (delay * 2).min(RETRY_LAST);
                        continue;
                    }
                }
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        let lost = loop {
            tokio::select! {
                () = forwarder.closed() => return,
                message = stream.next() => {
                    let Some(message) = message else {
                        break "the connection closed".to_owned();
                    };
                    let channel: Arc<str> = Arc::from(message.get_channel_name());
                    let payload = Bytes::copy_from_slice(message.get_payload_bytes());
                    if forwarder.message(channel, payload).is_err() {
                        return;
                    }
                }
                _ = ping.tick() => {
                    let answer = tokio::time::timeout(PING_TIMEOUT, sink.ping::<::redis::Value>()).await;
                    match answer {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => break e.to_string(),
                        Err(_) => break format!("no answer to PING within {PING_TIMEOUT:?}"),
                    }
                }
            }
        };
        tracing::warn!(redis = %url, error = %lost, "subscription on Redis lost; reconnecting");
    }
}
