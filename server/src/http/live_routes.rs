//! The route block the gateway and the edge both serve: the live API
//! (`/api/hosts`, `/api/hosts/{host}`, `/api/alerts`), `/ws`, `/healthz`,
//! `/readyz` and the dashboard, with the access rules, the request limits
//! and the JSON errors around every route, the role's own ones included.
//!
//! The one thing to know: a role adds its routes through [`live_routes`]
//! rather than merging them afterwards, so they sit behind the same token,
//! timeout, body limit, fallbacks and `Host` check as the shared ones.

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRef, State, WebSocketUpgrade};
use axum::middleware;
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use tokio::sync::watch;

use super::access::{require_known_host, require_token, require_token_and_origin};
use super::error::{json_errors, no_route, wrong_method};
use super::limits::{limit_body, limit_time};
use super::ws::{WsLimits, refused, upgrade};
use super::{Access, HttpLimits, assets, live};
use crate::fanout::Hub;

/// What the shared routes serve from and whom they let in.
#[derive(Clone)]
pub struct Live {
    pub hub: Arc<Hub>,
    pub access: Arc<Access>,
    pub ws: Arc<WsLimits>,
    pub http: Arc<HttpLimits>,
    /// Turns true when the role stops: every WebSocket is closed with 1001.
    pub shutdown: watch::Receiver<bool>,
}

impl FromRef<Live> for Arc<Hub> {
    fn from_ref(live: &Live) -> Self {
        live.hub.clone()
    }
}

/// The shared routes around `own`, the role's own routes (their state
/// applied), which get the API's token check. `host` answers
/// `/api/hosts/{host}`: [`live::host`] on the edge, the gateway adds the
/// host's latest tables.
pub fn live_routes(live: Live, host: MethodRouter<Live>, own: Router) -> Router {
    let access = live.access.clone();
    let http = live.http.clone();
    let api = Router::new()
        .route("/api/hosts", get(live::hosts))
        .route("/api/hosts/{host}", host)
        .route("/api/alerts", get(live::alerts))
        .with_state(live.clone())
        .merge(own)
        .route_layer(middleware::from_fn_with_state(
            access.clone(),
            require_token,
        ));
    let ws = Router::new()
        .route("/ws", get(ws_handler))
        .route_layer(middleware::from_fn_with_state(
            access.clone(),
            require_token_and_origin,
        ))
        .with_state(live.clone());
    let plain = Router::new()
        .route("/", get(assets::index))
        .route("/static/{*path}", get(assets::asset))
        .route("/healthz", get(live::healthz))
        .route("/readyz", get(live::readyz))
        .with_state(live);
    // The timeout wraps the HTTP routes, not /ws; the body limit, the JSON
    // errors and the Host check, everything.
    api.merge(plain)
        .layer(middleware::from_fn_with_state(http.clone(), limit_time))
        .merge(ws)
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(http, limit_body))
        // Outermost: whatever answers an error, the client gets JSON; and a
        // listener without a token serves only names it knows.
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(access, require_known_host))
}

async fn ws_handler(
    State(live): State<Live>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => upgrade(ws, live.hub.clone(), &live.ws, live.shutdown.clone()),
        Err(rejection) => refused(rejection),
    }
}

#[cfg(test)]
mod tests;
