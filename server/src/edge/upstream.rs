//! The edge's one upstream WebSocket to a gateway (or another edge): every
//! frame it receives updates the hub, which fans it out downstream. On a
//! disconnect the hub keeps serving the last state, downstream clients are
//! told `reconnecting`, and the link is retried with backoff and jitter;
//! the upstream's fresh snapshot then resyncs every client.
//!
//! The hosts the edge's clients watch are watched upstream too, as one
//! list (`{"type":"watch","hosts":[..]}`), sent when a host gains its first
//! watcher here and every few seconds while the list changes, so the
//! process and cgroup tables reach browsers behind an edge as well.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use wire::client::ClientMessage;
use wire::frame::upstream;
use wire::{frame_type, kind};

use crate::backoff::Backoff;
use crate::episode::Episode;
use crate::fanout::{Fleet, Hub};

pub async fn run(
    url: String,
    token: Option<String>,
    tls: Arc<rustls::ClientConfig>,
    hub: Arc<Hub>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(15));
    let mut was_connected = false;
    // A TLS failure will not fix itself: logged once when it starts (or its
    // advice changes), not on every retry.
    let mut tls_failing: Episode<String> = Episode::new();
    loop {
        let outcome = tokio::select! {
            r = follow(&url, token.as_deref(), &tls, &hub, &mut was_connected) => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match &outcome {
            Err(Failure::Tls(advice)) if tls_failing.fail_as(advice.clone()) => {
                tracing::warn!(upstream = %url, "{advice}; retrying with backoff");
            }
            Err(e) if was_connected => {
                tracing::warn!(upstream = %url, error = %e, "upstream lost; serving the last state and reconnecting");
            }
            Err(e) => tracing::debug!(upstream = %url, error = %e, "upstream connect failed"),
            Ok(()) => {}
        }
        if was_connected {
            let _ = tls_failing.recover();
            hub.status(upstream::RECONNECTING);
            backoff.reset();
        }
        was_connected = false;
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// Why the link ended or could not start.
#[derive(Debug)]
enum Failure {
    /// The TLS handshake failed: the advice says what to change.
    Tls(String),
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tls(s) | Self::Other(s) => f.write_str(s),
        }
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Self::Other(s)
    }
}

/// How often the edge compares what its clients watch with what it told
/// the upstream (a new watcher is told at once; this catches the ones that
/// left).
const WATCH_RECHECK: Duration = Duration::from_secs(5);

/// One turn of the link: a frame from upstream (`None`: it ended), or time
/// to tell the upstream what is watched here.
enum Step<T> {
    Frame(Option<T>),
    Watch,
}

/// Connects and applies frames until the link ends.
async fn follow(
    url: &str,
    token: Option<&str>,
    tls: &Arc<rustls::ClientConfig>,
    hub: &Hub,
    was_connected: &mut bool,
) -> Result<(), Failure> {
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("bad upstream URL {url:?}: {e}"))?;
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the token contains characters not allowed in a header".to_owned())?;
        request.headers_mut().insert("Authorization", value);
    }
    let config = WebSocketConfig::default().max_message_size(Some(256 << 20));
    // The connector is used only for a wss:// URL; ws:// stays plain.
    let connector = tokio_tungstenite::Connector::Rustls(tls.clone());
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            Some(connector),
        ),
    )
    .await
    .map_err(|_| "no answer within 10s".to_owned())?
    .map_err(|e| match crate::tls::explain(&e, "--upstream-ca") {
        Some(advice) => Failure::Tls(advice),
        None => Failure::Other(e.to_string()),
    })?;
    // What the upstream was last told this edge watches.
    let mut told: Vec<String> = Vec::new();
    let mut recheck = tokio::time::interval(WATCH_RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let step = tokio::select! {
            frame = ws.next() => Step::Frame(frame),
            () = hub.watch_added() => Step::Watch,
            _ = recheck.tick() => Step::Watch,
        };
        let frame = match step {
            Step::Frame(Some(frame)) => frame,
            Step::Frame(None) => break,
            Step::Watch => {
                let watched = hub.watched();
                if watched != told {
                    let text = ClientMessage::watch_all(watched.clone()).to_text();
                    ws.send(Message::text(text))
                        .await
                        .map_err(|e| e.to_string())?;
                    told = watched;
                }
                continue;
            }
        };
        let text = match frame.map_err(|e| e.to_string())? {
            Message::Text(t) => t,
            Message::Close(c) => return Err(format!("upstream closed: {c:?}").into()),
            _ => continue,
        };
        // Peek at the type without a full parse: most frames are metrics.
        let kind = frame_type(text.as_str());
        match kind {
            Some(kind::SNAPSHOT) => {
                let fleet = Fleet::from_snapshot_frame(text.as_str())?;
                hub.reset(fleet, false);
                if !*was_connected {
                    *was_connected = true;
                    tracing::info!(upstream = %url, "upstream connected");
                    hub.status(upstream::CONNECTED);
                }
            }
            Some(kind::METRICS | kind::ALERT | kind::HOST | kind::PROCESSES | kind::CGROUPS) => {
                let bytes: tungstenite::Bytes = text.into();
                if let Err(e) = hub.ingest(bytes) {
                    tracing::debug!(error = %e, "ignoring an unreadable upstream frame");
                }
            }
            _ => {}
        }
    }
    Err(Failure::Other("upstream stream ended".into()))
}
