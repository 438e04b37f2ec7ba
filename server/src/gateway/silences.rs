//! `/api/silences`: list, add and expire silences in the alert state store
//! the alerts role reads them from (`alerts.db` in the data dir, or the
//! fleet's PostgreSQL with `--store`). The leader reads the store every
//! tick, so a silence added here holds within about a second, whichever
//! process runs the alerts engine.
//!
//! The store is opened at the first request, not at start-up: `mon serve`
//! starts the alerts role beside the gateway, and SQLite's migration must
//! not race between the two connections.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tokio::sync::OnceCell;

use super::GatewayState;
use crate::alerts::silence::{self, NewSilence, Silence, SilenceJson, SilenceList};
use crate::http::ApiError;
use crate::store::postgres::PgUrl;
use crate::store::{self, AlertStateStore, Expiry, StoreError};
use crate::time::now_ms;

/// Where the silences are, opened once on first use.
pub struct SilenceStore {
    place: Place,
    store: OnceCell<Box<dyn AlertStateStore>>,
}

enum Place {
    Sqlite(PathBuf),
    Postgres(PgUrl),
}

impl SilenceStore {
    pub fn sqlite(data_dir: PathBuf) -> Arc<Self> {
        Self::new(Place::Sqlite(data_dir))
    }

    pub fn postgres(url: PgUrl) -> Arc<Self> {
        Self::new(Place::Postgres(url))
    }

    fn new(place: Place) -> Arc<Self> {
        Arc::new(Self {
            place,
            store: OnceCell::new(),
        })
    }

    async fn get(&self) -> Result<&dyn AlertStateStore, ApiError> {
        let store = self
            .store
            .get_or_try_init(|| async {
                let opened = match &self.place {
                    Place::Sqlite(dir) => {
                        let dir = dir.clone();
                        tokio::task::spawn_blocking(move || {
                            store::open_alerts(&dir)
                                .map(|s| Box::new(s) as Box<dyn AlertStateStore>)
                        })
                        .await
                    }
                    Place::Postgres(url) => {
                        let url = url.clone();
                        tokio::task::spawn_blocking(move || {
                            store::postgres::open_alerts(&url)
                                .map(|s| Box::new(s) as Box<dyn AlertStateStore>)
                        })
                        .await
                    }
                };
                opened
                    .map_err(|e| ApiError::Internal(e.to_string()))?
                    .map_err(unavailable)
            })
            .await?;
        Ok(store.as_ref())
    }
}

fn unavailable(e: StoreError) -> ApiError {
    ApiError::Unavailable(format!("the alert state store is not available: {e}"))
}

async fn store(state: &GatewayState) -> Result<&dyn AlertStateStore, ApiError> {
    match &state.silences {
        Some(s) => s.get().await,
        None => Err(ApiError::Unavailable(
            "this gateway has no alert state store for silences; start it with --data-dir (the alerts role's) or --store"
                .into(),
        )),
    }
}

fn answer(record: store::SilenceRecord, now: i64) -> Result<SilenceJson, ApiError> {
    let silence = Silence::from_record(record).map_err(ApiError::Internal)?;
    Ok(silence.json(now))
}

/// `GET /api/silences`: active, pending and recently expired silences, by
/// start time.
pub async fn list(State(state): State<GatewayState>) -> Result<Json<SilenceList>, ApiError> {
    let now = now_ms();
    let records = store(&state)
        .await?
        .silences(now - silence::KEEP_EXPIRED_MS)
        .await
        .map_err(unavailable)?;
    let silences = records
        .into_iter()
        .filter_map(|r| answer(r, now).ok())
        .collect();
    Ok(Json(SilenceList { silences }))
}

/// `POST /api/silences`: `{"matchers":["host=web-1"],"duration":"2h","comment":"reboot"}`.
pub async fn add(
    State(state): State<GatewayState>,
    body: Result<Json<NewSilence>, JsonRejection>,
) -> Result<(StatusCode, Json<SilenceJson>), ApiError> {
    let Json(new) = body.map_err(|r| {
        ApiError::BadRequest(format!(
            "the silence cannot be read ({}); send JSON such as {{\"matchers\":[\"host=web-1\"],\"duration\":\"2h\",\"comment\":\"reboot\"}}",
            r.body_text()
        ))
    })?;
    let store = store(&state).await?;
    let labels = store.label_names().await.map_err(unavailable)?;
    let now = now_ms();
    let silence = silence::validate(&new, now, labels.as_ref()).map_err(ApiError::BadRequest)?;
    store
        .add_silence(silence.to_record(), now - silence::KEEP_EXPIRED_MS)
        .await
        .map_err(unavailable)?;
    tracing::info!(id = %silence.id, matchers = ?new.matchers, ends_at_ms = silence.ends_at_ms,
        created_by = %silence.created_by, "silence added");
    Ok((StatusCode::CREATED, Json(silence.json(now))))
}

/// `DELETE /api/silences/{id}`: ends the silence now.
pub async fn expire(
    State(state): State<GatewayState>,
    Path(id): Path<String>,
) -> Result<Json<SilenceJson>, ApiError> {
    let now = now_ms();
    match store(&state)
        .await?
        .expire_silence(&id, now)
        .await
        .map_err(unavailable)?
    {
        Expiry::Unknown => Err(ApiError::NotFound(format!(
            "no silence has id {id:?}; GET /api/silences lists them"
        ))),
        Expiry::AlreadyExpired(r) => Err(ApiError::Status(
            StatusCode::CONFLICT,
            format!(
                "silence {id} already expired at {}",
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(r.ends_at_ms.max(0) as u64)
                )
            ),
        )),
        Expiry::Expired(r) => {
            tracing::info!(%id, "silence expired");
            Ok(Json(answer(r, now)?))
        }
    }
}
