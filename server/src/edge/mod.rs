//! `mon edge`: one upstream WebSocket to a gateway, fanned out to many
//! downstream clients, serving the same dashboard. It runs close to browsers
//! (for example in a cloud region in front of the gateway) so thousands of
//! browser connections cost the gateway one.
//!
//! A new client is served from the edge's own copy of the state, never by
//! asking the upstream; while the upstream is away the last state stays up.

mod proxy;
mod upstream;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRef, State, WebSocketUpgrade};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::conn::ConnLimits;
use crate::fanout::Hub;
use crate::http::access::{require_known_host, require_token, require_token_and_origin};
use crate::http::error::{json_errors, no_route, wrong_method};
use crate::http::limits::{limit_body, limit_time};
use crate::http::ws::{WsLimits, refused, upgrade};
use crate::http::{Access, HttpLimits, assets, live};
use crate::tls::{ClientTls, ServerTls};

#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// The gateway's WebSocket, e.g. `ws://10.0.0.5:7071/ws`.
    pub upstream: String,
    /// Token the upstream requires, if any.
    pub upstream_token: Option<String>,
    /// Whom to trust when the upstream is `wss://` (`--upstream-ca`).
    pub upstream_tls: ClientTls,
    /// Who may connect downstream.
    pub access: Access,
    pub ws: WsLimits,
    /// Request body size and request timeout (the `/api/series` proxy waits
    /// for the upstream within it).
    pub http: HttpLimits,
    pub ring: usize,
    /// Certificate and key to serve HTTPS and `wss://`; `None` serves plain.
    pub tls: Option<ServerTls>,
    /// Open connections at most, and how soon each must send a request.
    pub conn: ConnLimits,
}

impl EdgeConfig {
    /// An edge on `upstream` with every other setting at its default (no
    /// token either way, the system's roots, plain HTTP downstream).
    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            upstream: upstream.into(),
            upstream_token: None,
            upstream_tls: Default::default(),
            access: Default::default(),
            ws: Default::default(),
            http: Default::default(),
            ring: 0,
            tls: None,
            conn: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("{0}")]
    Config(String),
    #[error("HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct EdgeState {
    hub: Arc<Hub>,
    access: Arc<Access>,
    ws: Arc<WsLimits>,
    http_limits: Arc<HttpLimits>,
    upstream_http: String,
    upstream_token: Option<String>,
    http: proxy::HttpClient,
    shutdown: watch::Receiver<bool>,
}

impl FromRef<EdgeState> for Arc<Hub> {
    fn from_ref(state: &EdgeState) -> Self {
        state.hub.clone()
    }
}

pub fn router(state: EdgeState) -> Router {
    let api = Router::new()
        .route("/api/hosts", get(live::hosts))
        .route("/api/hosts/{host}", get(live::host))
        .route("/api/alerts", get(live::alerts))
        .route("/api/series", get(proxy::series))
        .route_layer(middleware::from_fn_with_state(
            state.access.clone(),
            require_token,
        ));
    let ws =
        Router::new()
            .route("/ws", get(ws_handler))
            .route_layer(middleware::from_fn_with_state(
                state.access.clone(),
                require_token_and_origin,
            ));
    let plain = Router::new()
        .route("/", get(assets::index))
        .route("/static/{*path}", get(assets::asset))
        .route("/healthz", get(live::healthz))
        .route("/readyz", get(live::readyz));
    // The timeout wraps the HTTP routes, not /ws; the body limit, the JSON
    // errors and the Host check, everything.
    api.merge(plain)
        .layer(middleware::from_fn_with_state(
            state.http_limits.clone(),
            limit_time,
        ))
        .merge(ws)
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(
            state.http_limits.clone(),
            limit_body,
        ))
        // Outermost: whatever answers an error, the client gets JSON; and a
        // listener without a token serves only names it knows.
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            state.access.clone(),
            require_known_host,
        ))
        .with_state(state)
}

async fn ws_handler(
    State(state): State<EdgeState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => upgrade(ws, state.hub.clone(), &state.ws, state.shutdown.clone()),
        Err(rejection) => refused(rejection),
    }
}

pub async fn run(
    config: EdgeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EdgeError> {
    let upstream_http = proxy::http_base(&config.upstream).map_err(EdgeError::Config)?;
    let addr = listener.local_addr()?;
    let mut access = config.access;
    access.listen = Some(addr);
    let hub = Hub::new("edge", if config.ring == 0 { 1024 } else { config.ring });
    let (stop_tx, stop_rx) = watch::channel(false);
    let link = tokio::spawn(upstream::run(
        config.upstream.clone(),
        config.upstream_token.clone(),
        config.upstream_tls.config(&[b"http/1.1"]),
        hub.clone(),
        stop_rx.clone(),
    ));
    let state = EdgeState {
        hub,
        access: Arc::new(access),
        ws: Arc::new(config.ws),
        http_limits: Arc::new(config.http),
        upstream_http,
        upstream_token: config.upstream_token,
        http: crate::http::client::client_with(&config.upstream_tls),
        shutdown: stop_rx,
    };
    let tls = config.tls.as_ref().map(ServerTls::http_config);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(url = %format!("{scheme}://{addr}/"), upstream = %config.upstream, "edge listening (WebSocket /ws, dashboard /)");
    crate::http::serve::serve(
        "edge",
        listener,
        router(state),
        tls,
        config.conn,
        shutdown,
        stop_tx,
    )
    .await?;
    link.abort();
    tracing::info!("edge stopped");
    Ok(())
}
