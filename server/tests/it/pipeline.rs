//! The real agent against the real aggregator: collection, spool and replay.

use std::collections::HashSet;
use std::time::Duration;

use server::agent::{self, AgentConfig};
use server::model::SeriesKey;
use server::store::Reader;
use server::testkit::Pipeline;
use tokio::sync::oneshot;

use crate::harness::eventually;

fn agent_config(url: String) -> AgentConfig {
    AgentConfig {
        aggregators: vec![url],
        host: Some("test-host".into()),
        interval: Duration::from_millis(100),
        spool_capacity: 1000,
        drain_timeout: Duration::from_secs(5),
        token: None,
        spool_file: None,
        tls: Default::default(),
        ..AgentConfig::default()
    }
}

fn reports_stored(dir: &std::path::Path) -> usize {
    Reader::open(dir)
        .and_then(|r| {
            r.raw(
                "test-host",
                &SeriesKey::new("cpu_usage_percent"),
                0,
                i64::MAX,
            )
        })
        .map(|p| p.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_stores_this_machines_cpu_memory_filesystem_and_network() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder().data_dir(dir.path()).start().await;
    let agg = pipeline.aggregator();
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(agent::run(agent_config(agg.url()), async {
        let _ = stopped.await;
    }));
    assert!(eventually(Duration::from_secs(10), || reports_stored(dir.path()) >= 3).await);
    stop.send(()).unwrap();
    let summary = agent.await.unwrap().unwrap();
    pipeline.stop().await;

    let names: HashSet<String> = Reader::open(dir.path())
        .unwrap()
        .series()
        .unwrap()
        .into_iter()
        .filter(|(host, _)| host == "test-host")
        .map(|(_, key)| key.name.clone())
        .collect();
    for want in [
        "cpu_usage_percent",
        "cpu_core_usage_percent",
        "load1",
        "memory_used_bytes",
        "memory_used_percent",
        "filesystem_used_percent",
        "uptime_seconds",
        "processes",
    ] {
        assert!(names.contains(want), "{want} missing from {names:?}");
    }
    // Network rates need two readings; an interface other than lo exists in CI.
    assert!(
        names.contains("network_receive_bytes_per_second"),
        "no network series in {names:?}"
    );
    assert_eq!(summary.unacknowledged, 0);
    assert_eq!(summary.produced as usize, reports_stored(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_made_while_the_aggregator_is_down_are_stored_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder().data_dir(dir.path()).start().await;
    let agg = pipeline.aggregator();
    let addr = agg.addr;
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(agent::run(agent_config(agg.url()), async {
        let _ = stopped.await;
    }));
    assert!(eventually(Duration::from_secs(10), || reports_stored(dir.path()) >= 3).await);

    pipeline.stop().await;
    let before_outage = reports_stored(dir.path());
    // The agent keeps producing into its spool while nobody listens.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pipeline = Pipeline::builder()
        .data_dir(dir.path())
        .listen(addr)
        .start()
        .await;
    assert!(
        eventually(Duration::from_secs(15), || reports_stored(dir.path())
            >= before_outage + 8)
        .await,
        "the spooled reports were replayed"
    );
    stop.send(()).unwrap();
    let summary = agent.await.unwrap().unwrap();
    pipeline.stop().await;

    assert_eq!(summary.dropped, 0);
    assert_eq!(summary.unacknowledged, 0);
    assert_eq!(
        reports_stored(dir.path()),
        summary.produced as usize,
        "every report the agent produced is stored exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_reports_survive_a_clean_agent_restart() {
    let dir = tempfile::tempdir().unwrap();
    let spool_file = dir.path().join("agent-spool.bin");
    // An address nobody listens on yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = AgentConfig {
        spool_file: Some(spool_file.clone()),
        drain_timeout: Duration::from_millis(200),
        ..agent_config(format!("http://{addr}"))
    };

    // First run: the aggregator is away, so every report stays spooled and
    // is kept on disk when the agent stops.
    let (stop, stopped) = oneshot::channel::<()>();
    let first = tokio::spawn(agent::run(config.clone(), async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    stop.send(()).unwrap();
    let first = first.await.unwrap().unwrap();
    assert!(first.unacknowledged >= 3, "{first:?}");
    assert!(spool_file.exists(), "the spool is kept on disk");

    // Second run with the aggregator up: the kept reports are replayed.
    let pipeline = Pipeline::builder()
        .data_dir(dir.path())
        .listen(addr)
        .start()
        .await;
    let (stop, stopped) = oneshot::channel::<()>();
    // Long enough for the report in flight at the stop to be acked, its
    // sync included, on a slow disk.
    let config = AgentConfig {
        drain_timeout: Duration::from_secs(10),
        ..config
    };
    let second = tokio::spawn(agent::run(config, async {
        let _ = stopped.await;
    }));
    let want = first.produced as usize + 2;
    assert!(
        eventually(Duration::from_secs(15), || reports_stored(dir.path())
            >= want)
        .await
    );
    stop.send(()).unwrap();
    let second = second.await.unwrap().unwrap();
    pipeline.stop().await;

    assert_eq!(second.unacknowledged, 0);
    assert_eq!(
        reports_stored(dir.path()),
        (first.produced + second.produced) as usize,
        "every report of both runs is stored exactly once"
    );
    assert!(!spool_file.exists(), "an empty spool leaves no file behind");
}
