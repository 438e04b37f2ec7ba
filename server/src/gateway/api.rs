//! `/api/series`: history from the store. The live-state routes are in
//! `crate::http::live`, shared with the edge.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::GatewayState;
use crate::http::ApiError;
use crate::store::{RangeQuery, StoreError, Tier};
use crate::time::now_ms;

#[derive(Debug, Deserialize)]
pub struct SeriesQuery {
    host: Option<String>,
    metric: Option<String>,
    /// `k=v,k2=v2`
    labels: Option<String>,
    /// Unix milliseconds; default one hour before `to`.
    from: Option<i64>,
    /// Unix milliseconds; default now.
    to: Option<i64>,
    /// Width of each point, e.g. `1m`; default: the tier's own points.
    step: Option<String>,
}

/// `/api/series` answer: the store's range with `value` (the average) on
/// every point, so a client can plot one field whatever the tier.
#[derive(Debug, Serialize)]
pub struct SeriesAnswer {
    host: String,
    metric: String,
    labels: BTreeMap<String, String>,
    from: i64,
    to: i64,
    tier: Tier,
    step_ms: i64,
    points: Vec<PointJson>,
}

#[derive(Debug, Serialize)]
pub struct PointJson {
    ts: i64,
    value: f64,
    min: f64,
    max: f64,
    avg: f64,
    last: f64,
    count: u64,
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

pub async fn series(
    State(state): State<GatewayState>,
    Query(q): Query<SeriesQuery>,
) -> Result<Json<SeriesAnswer>, ApiError> {
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
    let to = q.to.unwrap_or_else(now_ms);
    let from = q.from.unwrap_or(to - 3_600_000);
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
        tier: range.tier,
        step_ms: range.step_ms,
        points: range
            .points
            .into_iter()
            .map(|p| PointJson {
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
