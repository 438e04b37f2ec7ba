//! `mon gateway`: the live stream over WebSocket (`/ws`), the HTTP API,
//! Prometheus `/metrics` and the web dashboard at `/`.
//!
//! The gateway keeps no state of its own beyond the hub: it is rebuilt from
//! the bus at start and after every gap, so any number of gateways can run
//! side by side.

mod activity;
mod api;
mod feed;
mod prometheus;
mod silences;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRef, State, WebSocketUpgrade};
use axum::middleware;
use axum::response::Response;
use axum::routing::{delete, get};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use api::parse_labels;

use crate::aggregator::{PushSlot, push_routes};
use crate::bus::SharedBus;
use crate::conn::ConnLimits;
use crate::fanout::Hub;
use crate::http::access::{require_known_host, require_token, require_token_and_origin};
use crate::http::error::{json_errors, no_route, wrong_method};
use crate::http::limits::{limit_body, limit_time};
use crate::http::ws::{WsLimits, refused, upgrade};
use crate::http::{Access, HttpLimits, assets, live};
use crate::stats::Stats;
use crate::store::postgres::PgReaders;
use crate::store::{Readers, StoreError};
use crate::tls::ServerTls;

#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    /// Where the store lives, for `/api/series`; `None` answers 503 there.
    pub data_dir: Option<PathBuf>,
    /// The shared PostgreSQL store, read instead of `data_dir`'s file.
    pub store_url: Option<crate::store::postgres::PgUrl>,
    pub access: Access,
    pub ws: WsLimits,
    /// Request body size and request timeout.
    pub http: HttpLimits,
    /// Events a client may fall behind before it is resynchronized.
    pub ring: usize,
    /// Certificate and key to serve HTTPS and `wss://`; `None` serves plain.
    pub tls: Option<ServerTls>,
    /// Open connections at most, and how soon each must send a request.
    pub conn: ConnLimits,
    /// The aggregator in this process (`mon serve`), whose push receivers
    /// (`/api/v1/write`, `/v1/metrics`) this gateway serves.
    pub push: Option<PushSlot>,
}

#[derive(Clone)]
pub struct GatewayState {
    hub: Arc<Hub>,
    /// Where `/api/series` reads history.
    history: Option<Readers>,
    access: Arc<Access>,
    ws: Arc<WsLimits>,
    http: Arc<HttpLimits>,
    aggregator: Option<Arc<Stats>>,
    push: Option<PushSlot>,
    /// Where `/api/silences` keeps silences: the alert state store.
    silences: Option<Arc<silences::SilenceStore>>,
    shutdown: watch::Receiver<bool>,
}

impl FromRef<GatewayState> for Arc<Hub> {
    fn from_ref(state: &GatewayState) -> Self {
        state.hub.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `/api/hosts/{host}`: the live state, with the host's latest process and
/// cgroup tables (`null` until its agent sends one).
async fn host(
    State(hub): State<Arc<Hub>>,
    axum::extract::Path(host): axum::extract::Path<String>,
) -> Result<axum::Json<serde_json::Value>, crate::http::ApiError> {
    let name = host.to_ascii_lowercase();
    let axum::Json(mut value) = live::host(State(hub.clone()), axum::extract::Path(host)).await?;
    if let Some(object) = value.as_object_mut() {
        for kind in crate::activity::ActivityKind::ALL {
            let table = activity::live_table(&hub, &name, kind).unwrap_or_default();
            object.insert(kind.as_str().into(), table);
        }
    }
    Ok(axum::Json(value))
}

/// Every route in one place.
pub fn router(state: GatewayState) -> Router {
    let push = match &state.push {
        Some(slot) => push_routes(slot.clone()),
        None => Router::new(),
    };
    let api = Router::new()
        .route("/api/hosts", get(live::hosts))
        .route("/api/hosts/{host}", get(host))
        .route("/api/hosts/{host}/processes", get(activity::processes))
        .route("/api/hosts/{host}/cgroups", get(activity::cgroups))
        .route("/api/series", get(api::series))
        .route("/api/alerts", get(live::alerts))
        .route("/api/silences", get(silences::list).post(silences::add))
        .route("/api/silences/{id}", delete(silences::expire))
        // Every host's latest values: as private as the API (scrapers send
        // the token with `authorization` in their scrape config).
        .route("/metrics", get(prometheus::metrics))
        .merge(push)
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
            state.http.clone(),
            limit_time,
        ))
        .merge(ws)
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(
            state.http.clone(),
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
    State(state): State<GatewayState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => upgrade(ws, state.hub.clone(), &state.ws, state.shutdown.clone()),
        Err(rejection) => refused(rejection),
    }
}

/// Serves on `listener` until `shutdown` resolves, then closes every
/// WebSocket with 1001 and finishes in-flight requests.
pub async fn run(
    config: GatewayConfig,
    listener: TcpListener,
    bus: SharedBus,
    aggregator: Option<Arc<Stats>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let history = match (&config.store_url, &config.data_dir) {
        (Some(url), _) => {
            let url = url.clone();
            let readers = tokio::task::spawn_blocking(move || PgReaders::open(&url))
                .await
                .map_err(|e| StoreError::Read(crate::store::cause(e)))??;
            Some(Readers::Postgres(readers))
        }
        // The file may not exist yet: it is opened per request.
        (None, Some(dir)) => Some(Readers::Sqlite(dir.clone())),
        (None, None) => None,
    };
    let silences = match (&config.store_url, &config.data_dir) {
        (Some(url), _) => Some(silences::SilenceStore::postgres(url.clone())),
        (None, Some(dir)) => Some(silences::SilenceStore::sqlite(dir.clone())),
        (None, None) => None,
    };
    let addr = listener.local_addr()?;
    let mut access = config.access;
    access.listen = Some(addr);
    let hub = Hub::new("gateway", if config.ring == 0 { 1024 } else { config.ring });
    let (stop_tx, stop_rx) = watch::channel(false);
    let relay = tokio::spawn(activity::relay(bus.clone(), hub.clone(), stop_rx.clone()));
    let feed = tokio::spawn(feed::run(bus, hub.clone(), stop_rx.clone()));
    let state = GatewayState {
        hub,
        history,
        access: Arc::new(access),
        ws: Arc::new(config.ws),
        http: Arc::new(config.http),
        aggregator,
        push: config.push,
        silences,
        shutdown: stop_rx,
    };
    let tls = config.tls.as_ref().map(ServerTls::http_config);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(url = %format!("{scheme}://{addr}/"), "gateway listening (HTTP, WebSocket /ws, dashboard /)");
    crate::http::serve::serve(
        "gateway",
        listener,
        router(state),
        tls,
        config.conn,
        shutdown,
        stop_tx,
    )
    .await?;
    feed.abort();
    relay.abort();
    tracing::info!("gateway stopped");
    Ok(())
}
