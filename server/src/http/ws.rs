//! The `/ws` upgrade: small buffers so thousands of clients fit in memory,
//! a cap on client message size, and a cap on concurrent clients.
//!
//! Both caps are flags (`--max-ws-clients`, `--max-ws-frame-bytes`), and a
//! client that hits one is told which: a 503 naming the client limit, or a
//! 1009 close naming the frame limit.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use super::ApiError;
use crate::fanout::{Hub, SessionLimits, serve_session};

/// Sizes that bound a client's memory; the largest client message is
/// `session.max_message_bytes`.
#[derive(Debug, Clone)]
pub struct WsLimits {
    pub session: SessionLimits,
    pub max_clients: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            session: SessionLimits::default(),
            max_clients: 10_000,
        }
    }
}

pub fn upgrade(
    ws: WebSocketUpgrade,
    hub: Arc<Hub>,
    limits: &WsLimits,
    shutdown: watch::Receiver<bool>,
) -> Response {
    if hub.stats.clients.load(Ordering::Relaxed) as usize >= limits.max_clients {
        return ApiError::Unavailable(format!(
            "this server holds its limit of {} WebSocket clients (--max-ws-clients); put `mon edge` relays in front of it, raise the limit or try again later",
            limits.max_clients
        ))
        .into_response();
    }
    let session = limits.session.clone();
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(limits.session.max_message_bytes)
        .max_frame_size(limits.session.max_message_bytes)
        .on_upgrade(move |socket| serve_session(socket, hub, session, shutdown))
}

/// A request to `/ws` that is not a WebSocket upgrade, answered with what
/// the upgrade lacked and how to connect.
pub fn refused(rejection: WebSocketUpgradeRejection) -> Response {
    let why = rejection.body_text();
    ApiError::Status(
        rejection.status(),
        format!(
            "/ws takes WebSocket connections only ({}); connect with a WebSocket client to ws://HOST/ws (wss:// with TLS)",
            why.trim_end_matches('.')
        ),
    )
    .into_response()
}
