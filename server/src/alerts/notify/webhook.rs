//! Webhooks in Alertmanager's webhook format (version "4"), so anything
//! that already consumes Alertmanager notifications consumes mon's.
//!
//! One notification carries one alert transition, as an Alertmanager route
//! grouping by every label would send it: `groupLabels` and `commonLabels`
//! are the alert's labels. Each request has an `Idempotency-Key` header that
//! names the transition (fingerprint, status, start) and is the same on
//! every retry, and after a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::Uri;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{NotifyConfig, delivery, generator_url, rfc3339};
use crate::alert::{Alert, AlertState};
use crate::bus::Fence;
use crate::http::client::HttpClient;

/// Alertmanager's "not ended" time.
pub(super) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    version: &'static str,
    group_key: String,
    truncated_alerts: u32,
    status: &'static str,
    receiver: &'a str,
    group_labels: &'a BTreeMap<String, String>,
    common_labels: &'a BTreeMap<String, String>,
    common_annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    alerts: [WebhookAlert<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert<'a> {
    status: &'static str,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: String,
    fingerprint: &'a str,
}

fn status(alert: &Alert) -> &'static str {
    if alert.state == AlertState::Resolved {
        "resolved"
    } else {
        "firing"
    }
}

/// The webhook body for one transition.
pub fn payload(alert: &Alert, config: &NotifyConfig) -> Bytes {
    let pairs: Vec<String> = alert
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    let message = Message {
        version: "4",
        group_key: format!("{{}}:{{{}}}", pairs.join(", ")),
        truncated_alerts: 0,
        status: status(alert),
        receiver: &config.receiver,
        group_labels: &alert.labels,
        common_labels: &alert.labels,
        common_annotations: &alert.annotations,
        external_url: config.external_url(),
        alerts: [WebhookAlert {
            status: status(alert),
            labels: &alert.labels,
            annotations: &alert.annotations,
            starts_at: rfc3339(alert.active_since_ms),
            ends_at: if alert.state == AlertState::Resolved {
                rfc3339(alert.ts_ms)
            } else {
                ZERO_TIME.to_owned()
            },
            generator_url: generator_url(config, alert),
            fingerprint: &alert.id,
        }],
    };
    Bytes::from(serde_json::to_vec(&message).unwrap_or_default())
}

pub(super) async fn run(
    http: HttpClient,
    uri: Uri,
    config: Arc<NotifyConfig>,
    mut rx: mpsc::Receiver<Arc<Alert>>,
    fence: Fence,
) {
    while let Some(alert) = rx.recv().await {
        let body = payload(&alert, &config);
        let headers = [("idempotency-key", alert.idempotency_key())];
        let policy = &config.retry;
        delivery::post_json(&http, &uri, body, &headers, policy, &fence, "webhook").await;
    }
}
