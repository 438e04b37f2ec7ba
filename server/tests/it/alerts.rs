//! The alerts role in-process on an embedded bus, with real receivers: an
//! HTTP server standing in for a webhook consumer, and a real Alertmanager.
//! The receiver and the role's handle are shared with `alerts_leader.rs`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use server::alerts::{self, AlertsConfig, RetryPolicy, RuleSet};
use server::bus::{BusEvent, EmbeddedBus, SharedBus, Subscription};
use server::event::encode_metrics;
use server::model::{AcceptedReport, Point, SeriesKey};
use server::time::now_ms;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::harness::{eventually, http_get};

pub(crate) const RULES: &str = r#"
groups:
  - name: test
    rules:
      - alert: HighCpu
        expr: cpu_usage_percent > 90
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.host }} at {{ $value }}%"
"#;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    /// The path and query it was sent to.
    pub(crate) uri: String,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) body: serde_json::Value,
}

/// An HTTP receiver on port 0 that answers the scripted statuses in turn,
/// then 200, and records every request.
pub(crate) struct Receiver {
    pub(crate) url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

#[derive(Clone)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    pub(crate) async fn start(script: &[u16]) -> Self {
        Self::start_with(script, None).await
    }

    /// The receiver over `https://` when given a certificate.
    async fn start_with(script: &[u16], tls: Option<server::tls::ServerTls>) -> Self {
        let state = ReceiverState {
            hits: Arc::default(),
            script: Arc::new(Mutex::new(script.iter().rev().copied().collect())),
        };
        let hits = state.hits.clone();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            None => {
                tokio::spawn(async move { axum::serve(listener, app).await });
                format!("http://127.0.0.1:{port}/hook")
            }
            Some(tls) => {
                let listener = server::tls::TlsListener::new(listener, tls.http_config());
                tokio::spawn(async move { axum::serve(listener, app).await });
                format!("https://localhost:{port}/hook")
            }
        };
        Self { url, hits }
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    state.hits.lock().unwrap().push(Hit {
        uri: uri.to_string(),
        idempotency_key: headers
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: serde_json::from_str(&body).unwrap(),
    });
    let status = state.script.lock().unwrap().pop().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

/// The alerts role running in a task.
pub(crate) struct Role {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), alerts::AlertsError>>,
}

impl Role {
    pub(crate) fn start(config: AlertsConfig, bus: SharedBus) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(alerts::run(config, bus, async {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
        }
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("alerts stop within 10s")
            .unwrap()
            .unwrap();
    }

    /// Ends the role abruptly, as a crash would: nothing runs after this.
    pub(crate) async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

pub(crate) fn config(data_dir: &Path) -> AlertsConfig {
    let mut config = AlertsConfig::new(data_dir.to_owned());
    config.rules = RuleSet::parse("test", RULES).unwrap().0;
    config.tick = Duration::from_millis(50);
    config.notify.retry = RetryPolicy {
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        give_up_after: Duration::from_secs(10),
        attempt_timeout: Duration::from_secs(5),
    };
    config
}

pub(crate) async fn report(bus: &SharedBus, host: &str, cpu: f64) {
    let report = AcceptedReport {
        host: host.into(),
        seq: 1,
        timestamp_ms: now_ms(),
        points: vec![Point {
            key: SeriesKey::new("cpu_usage_percent"),
            value: cpu,
        }],
    };
    bus.publish_report(&report, encode_metrics(&report))
        .await
        .unwrap();
}

/// Reports `cpu` for `host` every 50 ms until `done` holds (the role may
/// not have subscribed yet when the first report goes out).
pub(crate) async fn report_until(
    bus: &SharedBus,
    host: &str,
    cpu: f64,
    mut done: impl FnMut() -> bool,
) {
    // Role start-up and each transition are synced writes: a slow disk
    // takes seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        report(bus, host, cpu).await;
        if eventually(Duration::from_millis(50), &mut done).await {
            return;
        }
    }
    panic!("condition not reached within 30s of reports");
}

/// The next alert event on the bus: (channel, parsed JSON).
pub(crate) async fn next_event(events: &mut Subscription) -> (String, serde_json::Value) {
    match tokio::time::timeout(Duration::from_secs(5), events.next()).await {
        Ok(Some(BusEvent::Message { channel, payload })) => (
            channel.to_string(),
            serde_json::from_slice(&payload).unwrap(),
        ),
        other => panic!("no alert event within 5s: {other:?}"),
    }
}

pub(crate) fn statuses(hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| h.body["status"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn webhook_gets_alertmanager_json_and_a_retry_after_a_500_with_the_same_idempotency_key() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[500]).await;
    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let mut events = bus.subscribe(&["alerts.*"]).await.unwrap();
    let mut config = config(dir.path());
    config.notify.webhooks = vec![receiver.url.clone()];
    config.notify.external_url = Some("http://dash.example:7071".into());
    let role = Role::start(config, bus.clone());

    report_until(&bus, "web-1", 97.0, || receiver.hits().len() >= 2).await;
    let hits = receiver.hits();
    assert_eq!(statuses(&hits), ["firing", "firing"], "one 500, one retry");
    assert_eq!(hits[0].body, hits[1].body, "a retry sends the same body");
    let key = hits[0]
        .idempotency_key
        .clone()
        .expect("an Idempotency-Key header");
    assert_eq!(hits[1].idempotency_key.as_ref(), Some(&key));

    let body = &hits[0].body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "mon");
    assert_eq!(body["externalURL"], "http://dash.example:7071");
    assert_eq!(body["groupLabels"]["alertname"], "HighCpu");
    assert_eq!(body["commonLabels"]["host"], "web-1");
    assert_eq!(body["commonLabels"]["severity"], "page");
    assert_eq!(body["commonAnnotations"]["summary"], "web-1 at 97%");
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["alertname"], "HighCpu");
    assert_eq!(alert["annotations"]["summary"], "web-1 at 97%");
    assert!(alert["startsAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        alert["generatorURL"],
        "http://dash.example:7071/?host=web-1"
    );
    let fingerprint = alert["fingerprint"].as_str().unwrap();
    assert!(key.starts_with(fingerprint), "{key} names the alert");

    // The dashboards got the transition as an `alert` event.
    let (channel, event) = next_event(&mut events).await;
    assert_eq!(channel, "alerts.web-1");
    assert_eq!(event["type"], "alert");
    assert_eq!(event["v"], 1);
    assert_eq!(event["id"], fingerprint);
    assert_eq!(event["host"], "web-1");
    assert_eq!(event["alert"], "HighCpu");
    assert_eq!(event["state"], "firing");
    assert_eq!(event["severity"], "page");
    assert_eq!(event["value"], 97.0);
    assert_eq!(event["labels"]["severity"], "page");
    assert!(event["active_since_ms"].as_i64().unwrap() > 0);

    // Resolved: a new key, and the value it has now, not the one it fired with.
    report_until(&bus, "web-1", 12.5, || receiver.hits().len() >= 3).await;
    let resolved = &receiver.hits()[2];
    assert_eq!(resolved.body["status"], "resolved");
    assert_eq!(
        resolved.body["commonAnnotations"]["summary"],
        "web-1 at 12.5%"
    );
    assert_ne!(resolved.body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_ne!(resolved.idempotency_key.as_ref(), Some(&key));
    role.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_a_firing_alert_and_does_not_notify_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[]).await;
    let mut config = config(dir.path());
    config.notify.webhooks = vec![receiver.url.clone()];

    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let first = Role::start(config.clone(), bus.clone());
    report_until(&bus, "web-1", 97.0, || !receiver.hits().is_empty()).await;
    first.kill().await;

    // A new process: a fresh bus, the same data dir, the alert still true.
    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let mut events = bus.subscribe(&["alerts.*"]).await.unwrap();
    let second = Role::start(config, bus.clone());
    // The restored alert is announced to the dashboards, as firing.
    let (_, restored) = next_event(&mut events).await;
    assert_eq!(restored["state"], "firing");
    for _ in 0..10 {
        report(&bus, "web-1", 98.0).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        statuses(&receiver.hits()),
        ["firing"],
        "no second firing notification"
    );

    // It is the same alert: it resolves, once, from where it was.
    report_until(&bus, "web-1", 10.0, || receiver.hits().len() >= 2).await;
    let hits = receiver.hits();
    assert_eq!(statuses(&hits), ["firing", "resolved"]);
    assert_eq!(
        hits[0].body["alerts"][0]["startsAt"],
        hits[1].body["alerts"][0]["startsAt"]
    );
    second.stop().await;
}

/// A real Alertmanager on free ports, stopped when dropped.
struct Alertmanager {
    child: Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

impl Alertmanager {
    async fn start() -> Self {
        assert!(
            Path::new(ALERTMANAGER).exists(),
            "{ALERTMANAGER} is missing: install the Debian package prometheus-alertmanager (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n",
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager starts");
        let am = Self {
            child,
            addr,
            _dir: dir,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok()
                && http_get(addr, "/-/ready", &[]).await.0 == 200
            {
                return am;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("alertmanager not ready on {addr} within 10s");
    }

    async fn alerts(&self) -> Vec<serde_json::Value> {
        let (status, body) = http_get(self.addr, "/api/v2/alerts", &[]).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_real_alertmanager_receives_the_alert_and_its_resolution() {
    let am = Alertmanager::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let mut config = config(dir.path());
    config.notify.alertmanager = Some(format!("http://{}", am.addr));
    let role = Role::start(config, bus.clone());

    let mut found = None;
    for _ in 0..100 {
        report(&bus, "db-1", 99.0).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(a) = am
            .alerts()
            .await
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "HighCpu")
        {
            found = Some(a);
            break;
        }
    }
    let alert = found.expect("the alert reached Alertmanager within 5s");
    assert_eq!(alert["labels"]["host"], "db-1");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "db-1 at 99%");
    assert_eq!(alert["status"]["state"], "active");
    // Alertmanager computes the same fingerprint as mon's alert id.
    let mut labels = std::collections::BTreeMap::new();
    for (k, v) in alert["labels"].as_object().unwrap() {
        labels.insert(k.clone(), v.as_str().unwrap().to_owned());
    }
    assert_eq!(alert["fingerprint"], alerts::fingerprint(&labels));

    // Resolved: endsAt is now, and Alertmanager stops listing it.
    let mut gone = false;
    for _ in 0..100 {
        report(&bus, "db-1", 5.0).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if am.alerts().await.is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the resolved alert left Alertmanager's active list");
    role.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_signed_by_a_private_ca_gets_the_alert_when_mon_trusts_that_ca() {
    let pki = crate::tls::Pki::new();
    let receiver = Receiver::start_with(&[], Some(pki.server())).await;
    assert!(receiver.url.starts_with("https://"));

    // Trusting only the system's roots, the receiver's certificate is
    // refused and nothing arrives; with the CA, the alert does.
    let untrusting = tempfile::tempdir().unwrap();
    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let mut untrusting_config = config(untrusting.path());
    untrusting_config.notify.webhooks = vec![receiver.url.clone()];
    let mut events = bus.subscribe(&["alerts.*"]).await.unwrap();
    let role = Role::start(untrusting_config, bus.clone());
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = tokio::spawn({
        let fired = fired.clone();
        async move {
            let (_, event) = next_event(&mut events).await;
            assert_eq!(event["state"], "firing");
            fired.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    report_until(&bus, "web-1", 97.0, || {
        fired.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    watcher.await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.hits().is_empty(),
        "an untrusted certificate is refused"
    );
    role.stop().await;

    let trusting = tempfile::tempdir().unwrap();
    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let mut config = config(trusting.path());
    config.notify.webhooks = vec![receiver.url.clone()];
    config.notify.tls = pki.client();
    let role = Role::start(config, bus.clone());
    report_until(&bus, "web-1", 97.0, || !receiver.hits().is_empty()).await;
    let hits = receiver.hits();
    assert_eq!(statuses(&hits), ["firing"]);
    assert_eq!(hits[0].body["commonLabels"]["host"], "web-1");
    role.stop().await;
}
