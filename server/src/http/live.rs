//! API answers from the live state alone (no store): shared by the gateway
//! and the edge, which both hold a [`Hub`].

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use wire::api::{AlertList, HostList};

use super::ApiError;
use crate::fanout::{Filter, Hub};

pub async fn hosts(State(hub): State<Arc<Hub>>) -> Json<HostList> {
    let hosts = hub.with_fleet(|f| f.hosts_json(&Filter::default()));
    Json(HostList { hosts })
}

pub async fn host(
    State(hub): State<Arc<Hub>>,
    Path(host): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let host = host.to_ascii_lowercase();
    hub.with_fleet(|f| f.host_json(&host, &Filter::default()))
        .map(|h| Json(serde_json::to_value(h).unwrap_or_default()))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no live host named {host:?}; GET /api/hosts lists the hosts"
            ))
        })
}

pub async fn alerts(State(hub): State<Arc<Hub>>) -> Json<AlertList<serde_json::Value>> {
    let alerts = hub.with_fleet(|f| f.alerts_json(&Filter::default()));
    Json(AlertList { alerts })
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(hub): State<Arc<Hub>>) -> Result<&'static str, ApiError> {
    if hub.is_ready() {
        Ok("ready\n")
    } else {
        Err(ApiError::Unavailable(
            "not ready: the live stream has not started yet".into(),
        ))
    }
}
