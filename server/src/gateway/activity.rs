//! `/api/hosts/{host}/processes` and `/api/hosts/{host}/cgroups`: a host's
//! table now (from the live state) or at a time (`?at=`, from the store's
//! history, one table a minute); and the relay that tells the aggregators
//! which hosts the gateway's clients watch.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use tokio::sync::watch;

use super::GatewayState;
use super::api::parse_ms;
use crate::activity::{self, ActivityKind};
use crate::bus::SharedBus;
use crate::fanout::Hub;
use crate::http::ApiError;
use crate::store::LOOK_BACK_MS;

#[derive(Debug, Deserialize)]
pub struct AtQuery {
    /// Unix milliseconds; without it, the live table.
    at: Option<String>,
}

pub async fn processes(
    state: State<GatewayState>,
    host: Path<String>,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    table(state, host, q, ActivityKind::Processes).await
}

pub async fn cgroups(
    state: State<GatewayState>,
    host: Path<String>,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    table(state, host, q, ActivityKind::Cgroups).await
}

async fn table(
    State(state): State<GatewayState>,
    Path(host): Path<String>,
    q: Result<Query<AtQuery>, QueryRejection>,
    kind: ActivityKind,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = kind.as_str();
    let Query(q) = q.map_err(|r| {
        ApiError::BadRequest(format!(
            "the query string cannot be read ({}); e.g. /api/hosts/web-1/{name}?at=1764180000000",
            r.body_text()
        ))
    })?;
    let host = host.to_ascii_lowercase();
    let Some(at) = q.at.as_deref() else {
        return live_table(&state.hub, &host, kind)
            .map(Json)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no live {name} table of {host:?}: the host is unknown or its agent has not sent one yet (every 30 s by default)"
                ))
            });
    };
    let at = parse_ms("at", at)?;
    let Some(history) = state.history.clone() else {
        return Err(ApiError::Unavailable(
            "this gateway has no store to read history from; start it with --data-dir or --store"
                .into(),
        ));
    };
    let key = host.clone();
    let stored = tokio::task::spawn_blocking(move || history.reader()?.activity_at(&key, kind, at))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let Some(stored) = stored else {
        return Err(ApiError::NotFound(format!(
            "no {name} table of {host:?} was kept in the {} minutes up to at={at}; one is kept a minute while the host reports, for as long as the 1m tier",
            LOOK_BACK_MS / 60_000
        )));
    };
    let mut value: serde_json::Value = serde_json::from_slice(&stored.json)
        .map_err(|e| ApiError::Internal(format!("a stored {name} table is not JSON: {e}")))?;
    if let Some(object) = value.as_object_mut() {
        object.insert("host".into(), host.into());
        object.insert("ts".into(), stored.ts.into());
    }
    Ok(Json(value))
}

/// The latest table of a host as the API shows it: the event without its
/// `type` and `v`.
pub fn live_table(hub: &Hub, host: &str, kind: ActivityKind) -> Option<serde_json::Value> {
    let frame = hub.with_fleet(|f| {
        f.hosts
            .get(host)
            .and_then(|e| e.table(kind))
            .map(|t| t.frame.clone())
    })?;
    let mut value: serde_json::Value = serde_json::from_str(frame.as_str()).ok()?;
    if let Some(object) = value.as_object_mut() {
        object.remove("type");
        object.remove("v");
    }
    Some(value)
}

/// Tells the aggregators, over the bus, which hosts this gateway's clients
/// watch: at once when a host gains its first watcher, then every
/// [`activity::REPEAT`] while it has one. A watch that stops being repeated
/// lapses on its own in the aggregators.
pub async fn relay(bus: SharedBus, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(activity::REPEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = hub.watch_added() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        for host in hub.watched() {
            if let Err(e) = bus
                .publish(&wire::channel::watch(&host), activity::encode_watch(&host))
                .await
            {
                tracing::debug!(%host, error = %e, "cannot tell the aggregators a host is watched");
            }
        }
        // However many watches start at once, the bus hears at most a few
        // rounds a second.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
