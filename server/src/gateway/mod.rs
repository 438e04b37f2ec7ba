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
use axum::extract::State;
use axum::routing::{delete, get};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use api::parse_labels;

use crate::aggregator::{PushSlot, push_routes};
use crate::bus::SharedBus;
use crate::conn::ConnLimits;
use crate::fanout::Hub;
use crate::http::live_routes::{Live, live_routes};
use crate::http::ws::WsLimits;
use crate::http::{Access, HttpLimits, live};
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

/// What the gateway's own routes serve from (the shared ones have
/// [`Live`]).
#[derive(Clone)]
pub struct GatewayState {
    hub: Arc<Hub>,
    /// Where `/api/series` reads history.
    history: Option<Readers>,
    aggregator: Option<Arc<Stats>>,
    push: Option<PushSlot>,
    /// Where `/api/silences` keeps silences: the alert state store.
    silences: Option<Arc<silences::SilenceStore>>,
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

/// Every route: the gateway's own ones inside the block it shares with the
/// edge ([`live_routes`]).
pub fn router(live: Live, state: GatewayState) -> Router {
    let push = match &state.push {
        Some(slot) => push_routes(slot.clone()),
        None => Router::new(),
    };
    let own = Router::new()
        .route("/api/hosts/{host}/processes", get(activity::processes))
        .route("/api/hosts/{host}/cgroups", get(activity::cgroups))
        .route("/api/series", get(api::series))
        .route("/api/silences", get(silences::list).post(silences::add))
        .route("/api/silences/{id}", delete(silences::expire))
        // Every host's latest values: as private as the API (scrapers send
        // the token with `authorization` in their scrape config).
        .route("/metrics", get(prometheus::metrics))
        .merge(push)
        .with_state(state);
    live_routes(live, get(host), own)
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
    let live = Live {
        hub: hub.clone(),
        access: Arc::new(access),
        ws: Arc::new(config.ws),
        http: Arc::new(config.http),
        shutdown: stop_rx,
    };
    let state = GatewayState {
        hub,
        history,
        aggregator,
        push: config.push,
        silences,
    };
    let tls = config.tls.as_ref().map(ServerTls::http_config);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(url = %format!("{scheme}://{addr}/"), "gateway listening (HTTP, WebSocket /ws, dashboard /)");
    crate::http::serve::serve(
        "gateway",
        listener,
        router(live, state),
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
