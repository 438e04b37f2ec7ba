//! The edge's one upstream WebSocket to a gateway (or another edge): every
//! frame it receives updates the hub, which fans it out downstream. On a
//! disconnect the hub keeps serving the last state, downstream clients are
//! told `reconnecting`, and the link is retried with backoff and jitter;
//! the upstream's fresh snapshot then resyncs every client.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::agent::Backoff;
use crate::fanout::message::frame_type;
use crate::fanout::{Fleet, Hub};

pub async fn run(
    url: String,
    token: Option<String>,
    hub: Arc<Hub>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(15));
    let mut was_connected = false;
    loop {
        let outcome = tokio::select! {
            r = follow(&url, token.as_deref(), &hub, &mut was_connected) => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        if let Err(e) = &outcome {
            if was_connected {
                tracing::warn!(upstream = %url, error = %e, "upstream lost; serving the last state and reconnecting");
            } else {
                tracing::debug!(upstream = %url, error = %e, "upstream connect failed");
            }
        }
        if was_connected {
            hub.status("reconnecting");
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

/// Connects and applies frames until the link ends.
async fn follow(
    url: &str,
    token: Option<&str>,
    hub: &Hub,
    was_connected: &mut bool,
) -> Result<(), String> {
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
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_with_config(request, Some(config), true),
    )
    .await
    .map_err(|_| "no answer within 10s".to_owned())?
    .map_err(|e| e.to_string())?;
    while let Some(frame) = ws.next().await {
        let text = match frame.map_err(|e| e.to_string())? {
            Message::Text(t) => t,
            Message::Close(c) => return Err(format!("upstream closed: {c:?}")),
            _ => continue,
        };
        // Peek at the type without a full parse: most frames are metrics.
        let kind = frame_type(text.as_str());
        match kind {
            Some("snapshot") => {
                let fleet = Fleet::from_snapshot_frame(text.as_str())?;
                hub.reset(fleet, false);
                if !*was_connected {
                    *was_connected = true;
                    tracing::info!(upstream = %url, "upstream connected");
                    hub.status("connected");
                }
            }
            Some("metrics" | "alert" | "host") => {
                let bytes: tungstenite::Bytes = text.into();
                if let Err(e) = hub.ingest(bytes) {
                    tracing::debug!(error = %e, "ignoring an unreadable upstream frame");
                }
            }
            _ => {}
        }
    }
    Err("upstream stream ended".into())
}
