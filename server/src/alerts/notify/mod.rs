//! Notifiers: the log, webhooks (Alertmanager's webhook JSON) and a real
//! Alertmanager (`POST /api/v2/alerts`).
//!
//! Delivery never holds up evaluation: each HTTP notifier is a task with a
//! bounded queue, and the engine hands it a transition with `try_send`. A
//! receiver that is down gets retries with backoff inside its own task;
//! when its queue is full, newer notifications for it are dropped and
//! logged, and every other notifier carries on.
//!
//! Silenced transitions reach no receiver. Alertmanager also hears when a
//! firing alert's silence starts or ends, so that it stops (or resumes)
//! re-sending the alert.

mod alertmanager;
mod delivery;
mod log;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub use delivery::RetryPolicy;
pub use webhook::payload as webhook_payload;

use super::engine::Transition;
use crate::alert::{Alert, AlertState};
use crate::bus::Fence;
use crate::http::client::client_with;
use crate::tls::ClientTls;

/// Notifications waiting for one notifier before new ones are dropped.
const QUEUE: usize = 1024;

#[derive(Clone, Debug)]
pub struct NotifyConfig {
    /// Webhook URLs, each sent every firing and resolved transition.
    pub webhooks: Vec<String>,
    /// Base URL of an Alertmanager, e.g. `http://127.0.0.1:9093`.
    pub alertmanager: Option<String>,
    /// Where people look at alerts (the dashboard): `externalURL` and the
    /// base of each alert's `generatorURL` [default: http://127.0.0.1:7071].
    pub external_url: Option<String>,
    /// The `receiver` field of webhook payloads.
    pub receiver: String,
    pub retry: RetryPolicy,
    /// How often firing alerts are sent to Alertmanager again, as
    /// Prometheus' `--rules.alert.resend-delay` (1m) does.
    pub resend_every: Duration,
    /// Whom `https://` receivers must be certified by: the system's and
    /// the webpki roots, or a private CA.
    pub tls: ClientTls,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            alertmanager: None,
            external_url: None,
            receiver: "mon".into(),
            retry: RetryPolicy::default(),
            resend_every: Duration::from_secs(60),
            tls: ClientTls::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{what} URL {url:?} {reason}")]
    Url {
        what: &'static str,
        url: String,
        reason: String,
    },
}

impl NotifyConfig {
    pub fn external_url(&self) -> &str {
        self.external_url
            .as_deref()
            .unwrap_or("http://127.0.0.1:7071")
            .trim_end_matches('/')
    }
}

/// Checks a notifier URL: `http://HOST[:PORT]/...` or `https://...`.
pub fn parse_url(what: &'static str, url: &str) -> Result<Uri, NotifyError> {
    let bad = |reason: &str| NotifyError::Url {
        what,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|_| bad("is not a URL; expected http://HOST:PORT/PATH or https://..."))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    if uri.authority().is_none() {
        return Err(bad(
            "has no host; expected http://HOST:PORT/PATH or https://...",
        ));
    }
    Ok(uri)
}

struct Queue {
    name: String,
    tx: mpsc::Sender<Arc<Alert>>,
    /// Alertmanager's queue, which also takes silence changes.
    resends: bool,
}

/// The running notifiers.
pub struct Notifiers {
    queues: Vec<Queue>,
    tasks: JoinSet<()>,
}

impl Notifiers {
    /// Starts one task per webhook and one for Alertmanager. `firing` are the
    /// alerts already firing at start-up (restored): Alertmanager is told
    /// about them again, webhooks are not. Nothing is sent once `fence`
    /// closes.
    pub fn start(
        config: &NotifyConfig,
        firing: Vec<Alert>,
        fence: Fence,
    ) -> Result<Self, NotifyError> {
        let config = Arc::new(config.clone());
        let http = client_with(&config.tls);
        let mut queues = Vec::new();
        let mut tasks = JoinSet::new();
        for url in &config.webhooks {
            let uri = parse_url("webhook", url)?;
            let (tx, rx) = mpsc::channel(QUEUE);
            tasks.spawn(webhook::run(
                http.clone(),
                uri,
                config.clone(),
                rx,
                fence.clone(),
            ));
            queues.push(Queue {
                name: format!("webhook {url}"),
                tx,
                resends: false,
            });
        }
        if let Some(base) = &config.alertmanager {
            let uri = parse_url("alertmanager", &alertmanager::endpoint(base))?;
            let (tx, rx) = mpsc::channel(QUEUE);
            tasks.spawn(alertmanager::run(
                http.clone(),
                uri,
                config.clone(),
                rx,
                firing,
                fence,
            ));
            queues.push(Queue {
                name: format!("alertmanager {base}"),
                tx,
                resends: true,
            });
        }
        Ok(Self { queues, tasks })
    }

    /// Logs a transition and, if receivers hear about it, queues it for
    /// each notifier without waiting.
    pub fn notify(&self, t: &Transition) {
        log::transition(t);
        let resend_change = t.is_silence_change() && t.alert.state == AlertState::Firing;
        if !t.notifies() && !resend_change {
            return;
        }
        let alert = Arc::new(t.alert.clone());
        for q in self.queues.iter().filter(|q| t.notifies() || q.resends) {
            if q.tx.try_send(alert.clone()).is_err() {
                tracing::warn!(notifier = %q.name, alert = %alert.name, host = %alert.host, state = %alert.state,
                    "notification dropped: the notifier's queue is full (its receiver is slow or down)");
            }
        }
    }

    /// Stops every notifier at once, dropping what is queued or retrying:
    /// the lease is gone, and delivering late could race the new leader.
    pub async fn abandon(mut self) {
        let queued: usize = self.queues.iter().map(|q| QUEUE - q.tx.capacity()).sum();
        self.queues.clear();
        self.tasks.shutdown().await;
        if queued > 0 {
            tracing::warn!(queued, "abandoned queued notifications with the lease");
        }
    }

    /// Closes the queues and lets the notifiers deliver what is queued for
    /// up to `within`; deliveries still retrying then are abandoned.
    pub async fn finish(mut self, within: Duration) {
        self.queues.clear();
        let drained = tokio::time::timeout(within, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "notifications still undelivered after {}; giving up on them",
                humantime::format_duration(within)
            );
            self.tasks.shutdown().await;
        }
    }
}

/// RFC 3339 time of Unix milliseconds, as Alertmanager writes it.
fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// `generatorURL`: the dashboard, pointed at the alert's host.
fn generator_url(config: &NotifyConfig, alert: &Alert) -> String {
    let base = config.external_url();
    let host: String = alert
        .host
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("{base}/?host={host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifier_urls_must_be_http_or_https_with_a_host() {
        assert!(parse_url("webhook", "http://127.0.0.1:9/hook").is_ok());
        assert!(parse_url("webhook", "https://hooks.example/x").is_ok());
        let cases = [
            ("ftp://x/y", "must start with http:// or https://"),
            ("not a url", "expected http://"),
            ("/just/a/path", "http://"),
        ];
        for (url, says) in cases {
            let e = parse_url("webhook", url).unwrap_err().to_string();
            assert!(e.contains(url) && e.contains(says), "{e}");
        }
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
