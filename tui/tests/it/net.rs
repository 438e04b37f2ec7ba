//! The network side against a real in-process pipeline (aggregator, gateway
//! and agent on port 0): the stream, history from `/api/series`, and the
//! reconnect after the gateway goes away.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use server::agent::AgentConfig;
use server::aggregator::{AggregatorConfig, Stats};
use server::alerts::AlertsConfig;
use server::bus::EmbeddedBus;
use server::gateway::GatewayConfig;
use server::serve::{self, ServeConfig};
use server::tls::test_pki::write as pki;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tui::net::{self, Endpoint};
use tui::state::{Chart, Update};

struct Pipeline {
    http: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), serve::ServeError>>,
}

async fn start(dir: &std::path::Path, http: SocketAddr) -> Pipeline {
    start_with(dir, http, None).await
}

/// The pipeline, serving gRPC, HTTP and WebSocket over TLS with `tls`.
async fn start_with(
    dir: &std::path::Path,
    http: SocketAddr,
    tls: Option<server::tls::ServerTls>,
) -> Pipeline {
    start_on(dir, http, tls, Arc::new(EmbeddedBus::default())).await
}

/// The pipeline on a bus of the test's, which outlives a restart.
async fn start_on(
    dir: &std::path::Path,
    http: SocketAddr,
    tls: Option<server::tls::ServerTls>,
    bus: Arc<EmbeddedBus>,
) -> Pipeline {
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = tokio::net::TcpListener::bind(http).await.unwrap();
    let addr = http.local_addr().unwrap();
    let config = ServeConfig {
        aggregator: AggregatorConfig {
            data_dir: dir.to_owned(),
            store_url: None,
            limits: Default::default(),
            store: Default::default(),
            token: None,
            tls: tls.clone(),
            conn: Default::default(),
            remote_write: Default::default(),
        },
        agent: Some(AgentConfig {
            host: Some("tui-test-host".into()),
            interval: Duration::from_millis(300),
            ..AgentConfig::default()
        }),
        gateway: GatewayConfig {
            data_dir: Some(dir.to_owned()),
            tls,
            ..GatewayConfig::default()
        },
        alerts: AlertsConfig::new(dir.to_owned()),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve::run(
        config,
        grpc,
        http,
        bus,
        Arc::new(Stats::default()),
        async {
            let _ = stopped.await;
        },
    ));
    Pipeline {
        http: addr,
        stop,
        task,
    }
}

/// The next update that `pick` accepts, within 10 s.
/// The CPU points `/api/series` gives for the test host, asked again
/// until there are `want` (a live frame is out before the store commits
/// its report) or 15 s have passed.
async fn cpu_history(
    endpoint: &Arc<Endpoint>,
    tx: &mpsc::Sender<Update>,
    rx: &mut mpsc::Receiver<Update>,
    want: usize,
) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        tokio::spawn(net::fetch_history(
            endpoint.clone(),
            "tui-test-host".into(),
            vec![],
            net::now_ms(),
            tui::state::HISTORY_WINDOW_MS,
            tx.clone(),
        ));
        let points = next_matching(rx, |u| match u {
            Update::History {
                chart: Chart::Cpu,
                points,
                ..
            } => Some(points.len()),
            Update::HistoryFailed { reason, .. } => panic!("history failed: {reason}"),
            _ => None,
        })
        .await;
        if points >= want || tokio::time::Instant::now() >= deadline {
            return points;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn next_matching<T>(
    rx: &mut mpsc::Receiver<Update>,
    mut pick: impl FnMut(&Update) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let update = rx.recv().await.expect("the stream runs");
            if let Some(t) = pick(&update) {
                return t;
            }
        }
    })
    .await
    .expect("the expected update within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_delivers_live_data_and_history_and_reconnects_after_the_gateway_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = start(dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let endpoint = Arc::new(Endpoint::parse(&format!("ws://{}/ws", pipeline.http), None).unwrap());
    let (tx, mut rx) = mpsc::channel(1024);
    let stream = tokio::spawn(net::stream(
        endpoint.clone(),
        tx.clone(),
        net::watch_nothing(),
    ));

    next_matching(&mut rx, |u| {
        matches!(u, Update::Connected { role, .. } if role == "gateway").then_some(())
    })
    .await;
    next_matching(&mut rx, |u| match u {
        Update::Metrics(m) if m.host == "tui-test-host" => m
            .values
            .iter()
            .find(|v| v.name == "cpu_usage_percent")
            .map(|_| ()),
        _ => None,
    })
    .await;

    // A few reports later the store has history to give.
    let cpu_points = cpu_history(&endpoint, &tx, &mut rx, 2).await;
    assert!(cpu_points >= 2, "{cpu_points} stored CPU points");

    // The gateway goes away: a disconnect with a countdown, then retries.
    let http = pipeline.http;
    let _ = pipeline.stop.send(());
    let _ = pipeline.task.await;
    let retry_at = next_matching(&mut rx, |u| match u {
        Update::Disconnected { retry_at_ms, .. } => Some(*retry_at_ms),
        _ => None,
    })
    .await;
    assert!(retry_at > net::now_ms() - 1_000);

    // It comes back on the same address: the stream reconnects by itself.
    let again = start(dir.path(), http).await;
    next_matching(&mut rx, |u| {
        matches!(u, Update::Connected { .. }).then_some(())
    })
    .await;
    next_matching(&mut rx, |u| {
        matches!(u, Update::Snapshot { .. }).then_some(())
    })
    .await;

    // Dropping the receiver ends the stream task.
    drop(rx);
    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), stream)
        .await
        .expect("the stream ends once nobody listens")
        .unwrap();
    let _ = again.stop.send(());
    let _ = again.task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_with_the_ca_streams_and_loads_history_and_another_ca_is_told_to_pass_ca() {
    let dir = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(certs.path());
    let tls = server::tls::ServerTls::load(&cert, &key).unwrap();
    let pipeline = start_with(dir.path(), "127.0.0.1:0".parse().unwrap(), Some(tls)).await;
    let port = pipeline.http.port();

    let mut endpoint = Endpoint::parse(&format!("wss://localhost:{port}/ws"), None).unwrap();
    let trust = server::tls::ClientTls::from_ca_file(&ca).unwrap();
    endpoint.tls = Some(trust.config(&[b"http/1.1"]));
    let endpoint = Arc::new(endpoint);
    let (tx, mut rx) = mpsc::channel(1024);
    let stream = tokio::spawn(net::stream(
        endpoint.clone(),
        tx.clone(),
        net::watch_nothing(),
    ));
    next_matching(&mut rx, |u| {
        matches!(u, Update::Connected { role, .. } if role == "gateway").then_some(())
    })
    .await;
    // serve's own agent reports over TLS too; its history comes over HTTPS.
    next_matching(&mut rx, |u| {
        matches!(u, Update::Metrics(m) if m.host == "tui-test-host").then_some(())
    })
    .await;
    let cpu_points = cpu_history(&endpoint, &tx, &mut rx, 1).await;
    assert!(cpu_points >= 1, "{cpu_points} stored CPU points");
    stream.abort();

    // Trusting another CA: the disconnect reason says what to pass.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = pki(other.path());
    let mut endpoint = Endpoint::parse(&format!("wss://localhost:{port}/ws"), None).unwrap();
    endpoint.tls = Some(
        server::tls::ClientTls::from_ca_file(&other_ca)
            .unwrap()
            .config(&[b"http/1.1"]),
    );
    let (tx, mut rx) = mpsc::channel(64);
    let stream = tokio::spawn(net::stream(Arc::new(endpoint), tx, net::watch_nothing()));
    let reason = next_matching(&mut rx, |u| match u {
        Update::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("pass --ca"), "{reason}");
    stream.abort();
    let _ = pipeline.stop.send(());
    let _ = pipeline.task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_silence_key_sends_a_silence_the_server_keeps_and_reports_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = start(dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let endpoint = Arc::new(Endpoint::parse(&format!("ws://{}/ws", pipeline.http), None).unwrap());
    let (tx, mut rx) = mpsc::channel(16);
    let matchers = vec![
        "alertname=\"HostHighCpu\"".to_owned(),
        "host=\"tui-test-host\"".to_owned(),
    ];
    let alert = "HostHighCpu on tui-test-host".to_owned();
    net::silence(endpoint.clone(), alert.clone(), matchers, tx.clone()).await;
    let said = next_matching(&mut rx, |u| match u {
        Update::Silenced(outcome) => Some(outcome.clone()),
        _ => None,
    })
    .await
    .expect("the server takes the silence");
    assert!(
        said.starts_with("silenced HostHighCpu on tui-test-host for 1h (silence "),
        "{said}"
    );
    let store = Box::new(server::store::open_alerts(dir.path()).unwrap());
    use server::store::AlertStateStore;
    let kept = store.silences(0).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert!(said.contains(&kept[0].id), "{said} names {}", kept[0].id);
    assert_eq!(kept[0].ends_at_ms - kept[0].starts_at_ms, 3_600_000);
    assert_eq!(kept[0].comment, "silenced from mon top");
    store.close().await;

    net::silence(endpoint, alert, vec!["host:web-1".into()], tx).await;
    let refused = next_matching(&mut rx, |u| match u {
        Update::Silenced(outcome) => Some(outcome.clone()),
        _ => None,
    })
    .await
    .expect_err("a matcher without an operator is refused");
    assert!(
        refused.contains("HTTP 400") && refused.contains("matcher \"host:web-1\" has no operator"),
        "{refused}"
    );
    let _ = pipeline.stop.send(());
    pipeline.task.await.unwrap().unwrap();
}

/// Puts `host` on the bus with a process table whose one process has an
/// escape sequence in its name, and a cgroup table of a cgroup v1 host.
async fn host_with_tables(bus: &EmbeddedBus, host: &str, ts: i64) {
    use server::activity::{self, ActivityKind, CgroupTable, ProcessRow, ProcessTable};
    use server::bus::Bus;
    let meta = server::model::HostMeta {
        os: "Debian 12".into(),
        kernel: "6.1.0".into(),
        cores: 2,
        memory_bytes: 1 << 30,
        agent_version: "0.1.0".into(),
        interval_ms: 5_000,
    };
    bus.upsert_meta(host, &meta).await.unwrap();
    let processes = ProcessTable {
        total: 99,
        processes: vec![ProcessRow {
            pid: 4242,
            name: "spin\u{1b}[2J".into(),
            command: "spin --hard".into(),
            user: "root".into(),
            cpu_percent: 99.5,
            memory_bytes: 1_234_567,
            read_bytes_per_second: 0.0,
            write_bytes_per_second: 4096.0,
        }],
    };
    let cgroups = CgroupTable {
        total: 0,
        cgroups: vec![],
        unavailable: Some("cgroup v1 host".into()),
    };
    for (kind, payload) in [
        (
            ActivityKind::Processes,
            activity::encode_processes(host, ts, &processes),
        ),
        (
            ActivityKind::Cgroups,
            activity::encode_cgroups(host, ts, &cgroups),
        ),
    ] {
        bus.publish_activity(host, kind, ts, payload).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_brings_the_hosts_tables_and_is_sent_again_after_a_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(EmbeddedBus::default());
    let ts = net::now_ms();
    host_with_tables(&bus, "web-9", ts).await;
    let pipeline = start_on(
        dir.path(),
        "127.0.0.1:0".parse().unwrap(),
        None,
        bus.clone(),
    )
    .await;
    let endpoint = Arc::new(Endpoint::parse(&format!("ws://{}/ws", pipeline.http), None).unwrap());
    let (watch, watching) = tokio::sync::watch::channel(None::<String>);
    let (tx, mut rx) = mpsc::channel(1024);
    let stream = tokio::spawn(net::stream(endpoint.clone(), tx.clone(), watching));

    // Watching nothing, as the fleet view does: the stream carries the
    // fleet's reports and no table, though web-9 has them.
    next_matching(&mut rx, |u| match u {
        Update::Processes(_) | Update::Cgroups(_) => panic!("a table unasked: {u:?}"),
        Update::Metrics(m) if m.host == "tui-test-host" => Some(()),
        _ => None,
    })
    .await;

    // The host view opens: the server sends web-9's latest tables at once.
    watch.send_replace(Some("web-9".into()));
    let (mut processes, mut cgroups) = (None, None);
    while processes.is_none() || cgroups.is_none() {
        let update = next_matching(&mut rx, |u| {
            matches!(u, Update::Processes(_) | Update::Cgroups(_)).then(|| u.clone())
        })
        .await;
        match update {
            Update::Processes(t) => processes = Some(t),
            Update::Cgroups(t) => cgroups = Some(t),
            _ => unreachable!("only tables are picked"),
        }
    }
    let processes = processes.unwrap();
    assert_eq!(
        (processes.host.as_str(), processes.ts_ms, processes.total),
        ("web-9", ts, 99)
    );
    assert_eq!(processes.rows[0].pid, 4242);
    // Put on the bus past the aggregator's checks, the name still holds
    // its escape sequence: the view is what makes it harmless.
    assert_eq!(tui::view::plain(&processes.rows[0].name), "spin [2J");
    assert_eq!(
        cgroups.unwrap().unavailable.as_deref(),
        Some("cgroup v1 host")
    );

    // The gateway restarts: the new session watches nothing until the
    // client says again what it watches, and then gets the tables again.
    let http = pipeline.http;
    let _ = pipeline.stop.send(());
    let _ = pipeline.task.await;
    next_matching(&mut rx, |u| {
        matches!(u, Update::Disconnected { .. }).then_some(())
    })
    .await;
    let again = start_on(dir.path(), http, None, bus.clone()).await;
    next_matching(&mut rx, |u| {
        matches!(u, Update::Connected { .. }).then_some(())
    })
    .await;
    let table = next_matching(&mut rx, |u| match u {
        Update::Processes(t) => Some(t.clone()),
        _ => None,
    })
    .await;
    assert_eq!(table.host, "web-9");

    stream.abort();
    let _ = again.stop.send(());
    let _ = again.task.await;
}
