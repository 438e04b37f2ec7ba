//! Pushing alerts to a real Alertmanager through its API
//! (`POST /api/v2/alerts`), the way Prometheus does.
//!
//! Alertmanager forgets an alert whose `endsAt` has passed, so while an alert
//! fires it is sent again every `resend_every` with `endsAt` a few periods
//! ahead; if mon goes away, Alertmanager resolves it on its own. A resolved
//! alert is sent once with its real `endsAt`. Alertmanager deduplicates by
//! label set, so sending again is how this is meant to work, not a repeat
//! notification. A silenced alert is not sent, nor re-sent: once its silence
//! starts, Alertmanager lets it lapse; when the silence ends while it still
//! fires, it is sent again.

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
use crate::time::now_ms;

/// The alerts endpoint under an Alertmanager base URL.
pub(super) fn endpoint(base: &str) -> String {
    format!("{}/api/v2/alerts", base.trim_end_matches('/'))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: String,
}

fn body(alerts: &[&Alert], config: &NotifyConfig, now: i64) -> Bytes {
    // Prometheus' choice: four resend periods, so one lost push is harmless.
    let horizon = now + 4 * config.resend_every.as_millis() as i64;
    let postable: Vec<PostableAlert> = alerts
        .iter()
        .map(|a| PostableAlert {
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: rfc3339(a.active_since_ms),
            ends_at: rfc3339(if a.state == AlertState::Resolved {
                a.ts_ms
            } else {
                horizon
            }),
            generator_url: generator_url(config, a),
        })
        .collect();
    Bytes::from(serde_json::to_vec(&postable).unwrap_or_default())
}

pub(super) async fn run(
    http: HttpClient,
    uri: Uri,
    config: Arc<NotifyConfig>,
    mut rx: mpsc::Receiver<Arc<Alert>>,
    firing: Vec<Alert>,
    fence: Fence,
) {
    let mut active: BTreeMap<String, Arc<Alert>> = firing
        .into_iter()
        .filter(|a| a.state == AlertState::Firing && a.silenced_by.is_empty())
        .map(|a| (a.id.clone(), Arc::new(a)))
        .collect();
    let mut policy = config.retry.clone();
    // A push the next resend repeats anyway need not retry past it.
    policy.give_up_after = policy.give_up_after.min(config.resend_every);
    let mut resend = tokio::time::interval(config.resend_every);
    resend.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let batch: Vec<Arc<Alert>> = tokio::select! {
            alert = rx.recv() => {
                let Some(alert) = alert else { break };
                if !alert.silenced_by.is_empty() {
                    active.remove(&alert.id);
                    continue;
                }
                if alert.state == AlertState::Firing {
                    active.insert(alert.id.clone(), alert.clone());
                } else {
                    active.remove(&alert.id);
                }
                vec![alert]
            }
            // The first tick is immediate: alerts restored at start-up are
            // told to Alertmanager straight away.
            _ = resend.tick() => active.values().cloned().collect(),
        };
        if batch.is_empty() {
            continue;
        }
        let alerts: Vec<&Alert> = batch.iter().map(|a| a.as_ref()).collect();
        let body = body(&alerts, &config, now_ms());
        delivery::post_json(&http, &uri, body, &[], &policy, &fence, "alertmanager push").await;
    }
}
