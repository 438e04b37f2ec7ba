//! Silences end to end: added and expired through the gateway's
//! `/api/silences`, read by the alerts role from the alert state store they
//! share (`alerts.db` in one data dir, or one PostgreSQL), with a real
//! webhook receiver counting what is sent across a silence. Also the store
//! conformance of both backends and the API's answers to bad input.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use server::alerts::AlertsConfig;
use server::bus::{EmbeddedBus, SharedBus};
use server::gateway::GatewayConfig;
use server::store::postgres::{PgUrl, test_server::PgServer};
use server::store::{
    AlertChange, AlertStateStore, Expiry, MatcherRecord, SilenceRecord, open_alerts,
};
use server::testkit::Gateway;
use server::time::now_ms;

use crate::alerts::{Receiver, Role, config, next_event, report, report_until, statuses};
use crate::harness::{eventually, http_get};

/// One HTTP/1.1 request with a JSON body: (status, parsed body).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    assert!(
        read.is_ok() || text.len() > 12,
        "{method} {path}: {read:?} after {text:?}"
    );
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Where the alerts role and the gateway meet: a data dir, or PostgreSQL.
#[derive(Clone)]
enum Shared {
    DataDir,
    Postgres(PgUrl),
}

/// SQLite always; PostgreSQL where the machine has it (else said skipped).
async fn backends() -> Vec<(&'static str, Shared)> {
    let pg = tokio::task::spawn_blocking(|| PgServer::shared().map(|pg| pg.database()))
        .await
        .unwrap();
    let mut out = vec![("sqlite", Shared::DataDir)];
    match pg {
        Some(url) => {
            // The schema, as the fleet's first aggregator would make it: a
            // gateway on --store reads history there and refuses an empty
            // database.
            let migrate = url.clone();
            tokio::task::spawn_blocking(move || server::store::postgres::open_alerts(&migrate))
                .await
                .unwrap()
                .unwrap();
            out.push(("postgres", Shared::Postgres(url)))
        }
        None => eprintln!("SKIP: the PostgreSQL half of this test (no PostgreSQL binaries)"),
    }
    out
}

fn roles(dir: &std::path::Path, shared: &Shared) -> (AlertsConfig, GatewayConfig) {
    let mut alerts = config(dir);
    let mut gateway = GatewayConfig {
        data_dir: Some(dir.to_owned()),
        ..GatewayConfig::default()
    };
    if let Shared::Postgres(url) = shared {
        alerts.store_url = Some(url.clone());
        gateway.store_url = Some(url.clone());
    }
    (alerts, gateway)
}

/// Reports `cpu` for `web-1` every 50 ms until an alert event in `state`
/// comes, and returns it (the role may not have subscribed at first).
async fn until_state(
    bus: &SharedBus,
    events: &mut server::bus::Subscription,
    cpu: f64,
    state: &str,
) -> serde_json::Value {
    // Role start-up, the rules' label names and each transition are
    // synced writes: a slow disk takes seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        report(bus, "web-1", cpu).await;
        while let Ok(Some(server::bus::BusEvent::Message { payload, .. })) =
            tokio::time::timeout(Duration::from_millis(50), events.next()).await
        {
            let event: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            if event["state"] == state {
                return event;
            }
        }
    }
    panic!("no {state} alert event within 30s of reports");
}

async fn alerts_json(gateway: &Gateway) -> Vec<serde_json::Value> {
    let (status, body) = http_get(gateway.addr, "/api/alerts", &[]).await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    body["alerts"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_webhook_hears_nothing_while_a_silence_holds_and_the_next_firing_after_it_is_sent() {
    for (name, shared) in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let receiver = Receiver::start(&[]).await;
        let bus: SharedBus = Arc::new(EmbeddedBus::default());
        let mut events = bus.subscribe(&["alerts.*"]).await.unwrap();
        let (mut alerts, gateway) = roles(dir.path(), &shared);
        alerts.notify.webhooks = vec![receiver.url.clone()];
        let role = Role::start(alerts, bus.clone());
        let gateway = Gateway::start(bus.clone(), gateway).await;
        let (status, silence) = request(
            gateway.addr,
            "POST",
            "/api/silences",
            r#"{"matchers":["host=web-1","alertname=~High.*"],"duration":"2h","comment":"reboot","created_by":"ops"}"#,
            None,
        )
        .await;
        assert_eq!(status, 201, "{name}: {silence}");
        assert_eq!(silence["state"], "active");
        assert_eq!(silence["matchers"][1], "alertname=~\"High.*\"");
        let id = silence["id"].as_str().unwrap().to_owned();
        let (_, list) = request(gateway.addr, "GET", "/api/silences", "", None).await;
        assert_eq!(list["silences"][0]["id"], id.as_str(), "{name}: {list}");
        assert_eq!(list["silences"][0]["comment"], "reboot");

        // The leader reads silences every tick (50 ms here).
        tokio::time::sleep(Duration::from_millis(200)).await;
        // It fires and resolves under the silence: the dashboards see both,
        // marked silenced; the receiver hears nothing.
        let firing = until_state(&bus, &mut events, 97.0, "firing").await;
        assert_eq!(firing["silenced"], true, "{name}: {firing}");
        assert_eq!(firing["silenced_by"][0], id.as_str());
        let listed = alerts_json(&gateway).await;
        assert_eq!(listed[0]["silenced"], true, "{name}: {listed:?}");
        let resolved = until_state(&bus, &mut events, 10.0, "resolved").await;
        assert_eq!(resolved["silenced"], true, "{name}: {resolved}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            statuses(&receiver.hits()),
            Vec::<String>::new(),
            "{name}: silenced"
        );

        // Expired by hand; a second expiry is refused, naming the time.
        let path = format!("/api/silences/{id}");
        let (status, expired) = request(gateway.addr, "DELETE", &path, "", None).await;
        assert_eq!(status, 200, "{name}: {expired}");
        assert_eq!(expired["state"], "expired");
        let (status, again) = request(gateway.addr, "DELETE", &path, "", None).await;
        assert_eq!(status, 409, "{name}: {again}");
        assert!(again["error"].as_str().unwrap().contains("already expired"));

        // The next transition after it is sent, once, unsilenced.
        report_until(&bus, "web-1", 97.0, || !receiver.hits().is_empty()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(statuses(&receiver.hits()), ["firing"], "{name}");
        let listed = alerts_json(&gateway).await;
        assert_eq!(listed.len(), 1, "{name}: {listed:?}");
        assert_eq!(listed[0]["silenced"], false);
        gateway.stop().await;
        role.stop().await;
    }
}

#[tokio::test]
async fn a_silence_ends_on_the_clock_and_the_firing_it_held_back_is_sent_then() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[]).await;
    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let mut events = bus.subscribe(&["alerts.*"]).await.unwrap();
    // Shorter than the API accepts (1m), written to the store directly, so
    // the wall clock ends it within the test; long enough for the role to
    // start and fire first, syncs included, on a slow disk.
    const LASTS_MS: i64 = 4_000;
    let store = Box::new(open_alerts(dir.path()).unwrap());
    let now = now_ms();
    store
        .add_silence(silence_record("s-short", now, now + LASTS_MS), 0)
        .await
        .unwrap();
    store.close().await;
    let mut alerts = config(dir.path());
    alerts.notify.webhooks = vec![receiver.url.clone()];
    let role = Role::start(alerts, bus.clone());

    let firing = until_state(&bus, &mut events, 97.0, "firing").await;
    assert_eq!(firing["silenced_by"][0], "s-short");
    assert!(receiver.hits().is_empty(), "held back while silenced");
    // Still firing when the silence ends: receivers hear it then.
    assert!(
        eventually(Duration::from_secs(15), || !receiver.hits().is_empty()).await,
        "the firing is sent once the silence ends"
    );
    assert!(now_ms() >= now + LASTS_MS, "not before the silence's end");
    let (_, lifted) = next_event(&mut events).await;
    assert_eq!(lifted["state"], "firing");
    assert_eq!(lifted["silenced"], false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(statuses(&receiver.hits()), ["firing"]);
    role.stop().await;
}

fn silence_record(id: &str, starts: i64, ends: i64) -> SilenceRecord {
    SilenceRecord {
        id: id.into(),
        matchers: vec![MatcherRecord {
            label: "host".into(),
            op: "=".into(),
            value: "web-1".into(),
        }],
        starts_at_ms: starts,
        ends_at_ms: ends,
        created_by: "ops".into(),
        comment: "reboot".into(),
        updated_ms: starts,
    }
}

#[tokio::test]
async fn bad_silences_get_one_line_errors_naming_the_value_and_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let (alerts, gateway) = roles(dir.path(), &Shared::DataDir);
    let role = Role::start(alerts, bus.clone());
    let gateway = Gateway::start(bus.clone(), gateway).await;
    // The leader records the label names its rules give alerts.
    let store = Box::new(open_alerts(dir.path()).unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.label_names().await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the alert role never recorded its label names"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await;

    let cases = [
        (
            r#"{"matchers":["host:web-1"],"duration":"1h"}"#,
            "matcher \"host:web-1\" has no operator",
        ),
        (
            r#"{"matchers":["alertname=~Disk("],"duration":"1h"}"#,
            "bad regular expression",
        ),
        (
            r#"{"matchers":["host=web-1"],"duration":"-2h"}"#,
            "duration \"-2h\" is not accepted: give a length from 1m to 365d",
        ),
        (
            r#"{"matchers":["host=web-1"],"duration":"100y"}"#,
            "duration \"100y\" is not accepted",
        ),
        (
            r#"{"matchers":["hots=web-1"],"duration":"1h"}"#,
            "names label \"hots\", which no alert carries; alerts carry alertname, host, severity",
        ),
        (r#"{"matchers":[],"duration":"1h"}"#, "at least one matcher"),
        (r#"{"matchers":["host=web-1"]}"#, "needs a duration"),
        (r#"{"matcher":"host=web-1"}"#, "cannot be read"),
        (r#"not json"#, "cannot be read"),
    ];
    for (body, says) in cases {
        let (status, answer) = request(gateway.addr, "POST", "/api/silences", body, None).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(says), "{body}: {error}");
        assert!(!error.contains('\n') && !error.ends_with('.'), "{error}");
    }
    let (_, list) = request(gateway.addr, "GET", "/api/silences", "", None).await;
    assert_eq!(list["silences"], serde_json::json!([]), "nothing was added");
    let (status, answer) = request(gateway.addr, "DELETE", "/api/silences/nope", "", None).await;
    assert_eq!(status, 404, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("\"nope\""));
    gateway.stop().await;
    role.stop().await;

    // A gateway with no store answers 503, saying what to give it.
    let gateway = Gateway::start(bus.clone(), GatewayConfig::default()).await;
    let (status, answer) = request(gateway.addr, "GET", "/api/silences", "", None).await;
    assert_eq!(status, 503);
    assert!(answer["error"].as_str().unwrap().contains("--data-dir"));
    gateway.stop().await;
}

#[tokio::test]
async fn with_a_token_silences_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let bus: SharedBus = Arc::new(EmbeddedBus::default());
    let mut config = GatewayConfig {
        data_dir: Some(dir.path().to_owned()),
        ..GatewayConfig::default()
    };
    config.access.token = Some("s3cret".into());
    let gateway = Gateway::start(bus, config).await;
    let body = r#"{"matchers":["host=web-1"],"duration":"1h"}"#;
    let (status, _) = request(gateway.addr, "POST", "/api/silences", body, None).await;
    assert_eq!(status, 401);
    let (status, _) = request(gateway.addr, "POST", "/api/silences", body, Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, made) = request(gateway.addr, "POST", "/api/silences", body, Some("s3cret")).await;
    assert_eq!(status, 201, "{made}");
    gateway.stop().await;
}

/// The same answers from alerts.db and from PostgreSQL.
#[tokio::test]
async fn both_alert_stores_keep_expire_and_forget_silences_alike() {
    let dir = tempfile::tempdir().unwrap();
    let mut stores: Vec<(&str, Box<dyn AlertStateStore>)> =
        vec![("sqlite", Box::new(open_alerts(dir.path()).unwrap()))];
    if let Some(url) = tokio::task::spawn_blocking(|| PgServer::shared().map(|pg| pg.database()))
        .await
        .unwrap()
    {
        let pg = tokio::task::spawn_blocking(move || server::store::postgres::open_alerts(&url))
            .await
            .unwrap()
            .unwrap();
        stores.push(("postgres", Box::new(pg)));
    } else {
        eprintln!("SKIP: the PostgreSQL half of this test (no PostgreSQL binaries)");
    }
    let t = 1_700_000_000_000;
    for (name, store) in stores {
        assert_eq!(store.label_names().await.unwrap(), None, "{name}");
        store
            .add_silence(silence_record("old", t - 10_000, t - 5_000), 0)
            .await
            .unwrap();
        store
            .add_silence(silence_record("later", t + 60_000, t + 120_000), 0)
            .await
            .unwrap();
        store
            .add_silence(silence_record("now", t, t + 60_000), 0)
            .await
            .unwrap();
        let ids = |list: Vec<SilenceRecord>| list.into_iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.silences(t).await.unwrap()),
            ["now", "later"],
            "{name}"
        );
        assert_eq!(
            ids(store.silences(0).await.unwrap()),
            ["old", "now", "later"],
            "{name}: by start"
        );
        // Expiring ends it now; a pending one starts then too.
        let Expiry::Expired(e) = store.expire_silence("later", t + 1).await.unwrap() else {
            panic!("{name}: later expires");
        };
        assert_eq!(
            (e.starts_at_ms, e.ends_at_ms, e.updated_ms),
            (t + 1, t + 1, t + 1)
        );
        assert_eq!(e.matchers, silence_record("x", 0, 0).matchers, "{name}");
        assert!(matches!(
            store.expire_silence("later", t + 2).await.unwrap(),
            Expiry::AlreadyExpired(_)
        ));
        assert_eq!(
            store.expire_silence("nope", t).await.unwrap(),
            Expiry::Unknown
        );
        assert_eq!(ids(store.silences(t + 1).await.unwrap()), ["now"], "{name}");
        // Adding forgets those that ended before the given time.
        store
            .add_silence(silence_record("next", t, t + 60_000), t - 1_000)
            .await
            .unwrap();
        assert_eq!(
            ids(store.silences(0).await.unwrap()),
            ["next", "now", "later"],
            "{name}: old is forgotten"
        );
        // Label names: a set, or any (None) once a leader says so.
        let names = vec!["alertname".to_owned(), "host".to_owned()];
        store
            .apply(vec![AlertChange::LabelNames(Some(names.clone()))])
            .await
            .unwrap();
        assert_eq!(
            store.label_names().await.unwrap(),
            Some(names.into_iter().collect::<BTreeSet<_>>()),
            "{name}"
        );
        store
            .apply(vec![AlertChange::LabelNames(None)])
            .await
            .unwrap();
        assert_eq!(store.label_names().await.unwrap(), None, "{name}");
        store.close().await;
    }
}
