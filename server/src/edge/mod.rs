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
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::conn::ConnLimits;
use crate::fanout::Hub;
use crate::http::live_routes::{Live, live_routes};
use crate::http::ws::WsLimits;
use crate::http::{Access, HttpLimits, live};
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

/// What the `/api/series` proxy needs (the shared routes have [`Live`]).
#[derive(Clone)]
pub struct EdgeState {
    upstream_http: String,
    upstream_token: Option<String>,
    http: proxy::HttpClient,
}

/// Every route: `/api/series`, forwarded upstream, inside the block the
/// edge shares with the gateway ([`live_routes`]).
pub fn router(live: Live, state: EdgeState) -> Router {
    let own = Router::new()
        .route("/api/series", get(proxy::series))
        .with_state(state);
    live_routes(live, get(live::host), own)
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
    let live = Live {
        hub,
        access: Arc::new(access),
        ws: Arc::new(config.ws),
        http: Arc::new(config.http),
        shutdown: stop_rx,
    };
    let state = EdgeState {
        upstream_http,
        upstream_token: config.upstream_token,
        http: crate::http::client::client_with(&config.upstream_tls),
    };
    let tls = config.tls.as_ref().map(ServerTls::http_config);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(url = %format!("{scheme}://{addr}/"), upstream = %config.upstream, "edge listening (WebSocket /ws, dashboard /)");
    crate::http::serve::serve(
        "edge",
        listener,
        router(live, state),
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
