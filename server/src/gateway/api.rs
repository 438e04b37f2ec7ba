//! `/api/series`: history from the store. The live-state routes are in
//! `crate::http::live`, shared with the edge.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use wire::api::{SeriesAnswer, SeriesPoint};

use super::GatewayState;
use crate::http::ApiError;
use crate::store::{RangeQuery, StoreError};
use crate::time::now_ms;

#[derive(Debug, Deserialize)]
pub struct SeriesQuery {
    host: Option<String>,
    metric: Option<String>,
    /// `k=v,k2=v2`
    labels: Option<String>,
    /// Unix milliseconds; default one hour before `to`. Text, so a bad
    /// value is answered by [`parse_ms`] naming it.
    from: Option<String>,
    /// Unix milliseconds; default now.
    to: Option<String>,
    /// Width of each point, e.g. `1m`; default: the tier's own points.
    step: Option<String>,
}

/// Parses `k=v,k2=v2` into sorted pairs.
pub fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut labels = Vec::new();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("label {pair:?} has no '='; write labels as k=v,k2=v2"))?;
        labels.push((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
    }
    labels.sort();
    Ok(labels)
}

/// The latest time `from` and `to` accept: the last millisecond of the
/// year 9999, far from where arithmetic on it could overflow.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Parses `name=text` as Unix milliseconds within `0..=MAX_MS`.
pub(super) fn parse_ms(name: &str, text: &str) -> Result<i64, ApiError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|ms| (0..=MAX_MS).contains(ms))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name}={text} is not accepted: {name} is a time in Unix milliseconds from 0 to {MAX_MS} (the end of 9999), e.g. {name}=1764180000000"
            ))
        })
}

pub async fn series(
    State(state): State<GatewayState>,
    q: Result<Query<SeriesQuery>, QueryRejection>,
) -> Result<Json<SeriesAnswer>, ApiError> {
    let Query(q) = q.map_err(|r| {
        ApiError::BadRequest(format!(
            "the query string cannot be read ({}); e.g. /api/series?host=web-1&metric=cpu_usage_percent&from=1764180000000",
            r.body_text()
        ))
    })?;
    let host = q
        .host
        .ok_or_else(|| {
            ApiError::BadRequest(
                "missing host=; e.g. /api/series?host=web-1&metric=cpu_usage_percent".into(),
            )
        })?
        .to_ascii_lowercase();
    let metric = q.metric.ok_or_else(|| {
        ApiError::BadRequest(
            "missing metric=; e.g. /api/series?host=web-1&metric=cpu_usage_percent".into(),
        )
    })?;
    let labels =
        parse_labels(q.labels.as_deref().unwrap_or_default()).map_err(ApiError::BadRequest)?;
    let to = match q.to.as_deref() {
        Some(text) => parse_ms("to", text)?,
        None => now_ms(),
    };
    let from = match q.from.as_deref() {
        Some(text) => parse_ms("from", text)?,
        None => to.saturating_sub(3_600_000).max(0),
    };
    if from >= to {
        return Err(ApiError::BadRequest(format!(
            "from={from} is not before to={to}; both are Unix milliseconds"
        )));
    }
    let Some(history) = state.history.clone() else {
        return Err(ApiError::Unavailable(
            "this gateway has no store to read history from; start it with --data-dir or --store"
                .into(),
        ));
    };
    let step =
        match q.step.as_deref() {
            None | Some("") => None,
            Some(text) => Some(humantime::parse_duration(text).map_err(|e| {
                ApiError::BadRequest(format!("step={text}: {e}; write e.g. step=1m"))
            })?),
        };
    let query = RangeQuery {
        host,
        metric,
        labels,
        from,
        to,
        step,
    };
    let range = tokio::task::spawn_blocking(move || history.reader().and_then(|r| r.range(&query)))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            StoreError::Query(message) => ApiError::BadRequest(message),
            other => ApiError::Unavailable(other.to_string()),
        })?;
    Ok(Json(SeriesAnswer {
        host: range.host,
        metric: range.metric,
        labels: range.labels,
        from: range.from,
        to: range.to,
        tier: range.tier.name().to_owned(),
        step_ms: range.step_ms,
        points: range
            .points
            .into_iter()
            .map(|p| SeriesPoint {
                ts: p.ts,
                value: p.avg,
                min: p.min,
                max: p.max,
                avg: p.avg,
                last: p.last,
                count: p.count,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_from_k_equals_v_lists() {
        assert_eq!(
            parse_labels("mount=/,fstype=\"ext4\"").unwrap(),
            vec![
                ("fstype".into(), "ext4".into()),
                ("mount".into(), "/".into())
            ]
        );
        assert!(parse_labels("mount").unwrap_err().contains("k=v"));
        assert!(parse_labels("").unwrap().is_empty());
    }
}
