//! `/api/series`: history from the store. The live-state routes are in
//! `crate::http::live`, shared with the edge.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::GatewayState;
use crate::http::ApiError;
use crate::model::SeriesKey;
use crate::store::Reader;
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
}

#[derive(Debug, Serialize)]
pub struct SeriesAnswer {
    host: String,
    metric: String,
    labels: BTreeMap<String, String>,
    from: i64,
    to: i64,
    tier: &'static str,
    points: Vec<PointJson>,
}

#[derive(Debug, Serialize)]
pub struct PointJson {
    ts: i64,
    value: f64,
    min: f64,
    max: f64,
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
    let Some(data_dir) = state.data_dir.clone() else {
        return Err(ApiError::Unavailable(
            "this gateway has no store to read history from; start it with --data-dir".into(),
        ));
    };
    let key = SeriesKey {
        name: metric.clone(),
        labels: labels.clone(),
    };
    let (h, k) = (host.clone(), key.clone());
    let points = tokio::task::spawn_blocking(move || {
        Reader::open(&data_dir).and_then(|r| r.raw(&h, &k, from, to))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(SeriesAnswer {
        host,
        metric,
        labels: labels.into_iter().collect(),
        from,
        to,
        tier: "raw",
        points: points
            .into_iter()
            .map(|p| PointJson {
                ts: p.ts,
                value: p.value,
                min: p.value,
                max: p.value,
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
