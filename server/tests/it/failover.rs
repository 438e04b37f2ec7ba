//! An agent listing two aggregators, each with its own store: it moves on
//! when the one it uses goes away (or was never there), and every report it
//! produced is stored exactly once across the two.

use std::path::Path;
use std::time::Duration;

use server::agent::{self, AgentConfig, AgentSummary};
use server::model::SeriesKey;
use server::store::Reader;
use server::testkit::Pipeline;
use tokio::sync::oneshot;

use crate::harness::eventually;

const HOST: &str = "failover-host";

fn agent_config(aggregators: Vec<String>) -> AgentConfig {
    AgentConfig {
        aggregators,
        host: Some(HOST.into()),
        interval: Duration::from_millis(100),
        spool_capacity: 1000,
        drain_timeout: Duration::from_secs(5),
        ..AgentConfig::default()
    }
}

/// Reports of `HOST` stored in the store in `dir`: each report carries one
/// `cpu_usage_percent` sample.
fn reports_stored(dir: &Path) -> usize {
    Reader::open(dir)
        .and_then(|r| r.raw(HOST, &SeriesKey::new("cpu_usage_percent"), 0, i64::MAX))
        .map(|p| p.len())
        .unwrap_or(0)
}

/// An address nobody listens on.
fn dead_url() -> String {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    format!("http://{addr}")
}

struct RunningAgent {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<AgentSummary, agent::AgentError>>,
}

impl RunningAgent {
    fn start(config: AgentConfig) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(agent::run(config, async {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    async fn stop(self) -> AgentSummary {
        self.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the agent stops within 10s")
            .unwrap()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_aggregator_stops_moves_on_to_the_next_and_every_report_is_stored_once() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Pipeline::builder().data_dir(dir_a.path()).start().await;
    let b = Pipeline::builder().data_dir(dir_b.path()).start().await;
    let agent = RunningAgent::start(agent_config(vec![
        a.aggregator().url(),
        b.aggregator().url(),
    ]));
    assert!(
        eventually(Duration::from_secs(10), || reports_stored(dir_a.path())
            >= 5)
        .await,
        "the agent streams to the first aggregator"
    );
    assert_eq!(reports_stored(dir_b.path()), 0, "one aggregator at a time");

    a.stop().await;
    let on_a = reports_stored(dir_a.path());
    assert!(
        eventually(Duration::from_secs(15), || reports_stored(dir_b.path())
            >= 5)
        .await,
        "the agent moved on to the second aggregator"
    );
    let summary = agent.stop().await;
    b.stop().await;

    assert_eq!((summary.dropped, summary.unacknowledged), (0, 0));
    assert_eq!(
        reports_stored(dir_a.path()),
        on_a,
        "nothing reached the stopped one"
    );
    assert_eq!(
        on_a + reports_stored(dir_b.path()),
        summary.produced as usize,
        "every report the agent produced is stored exactly once in total"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_first_aggregator_never_started_streams_everything_to_the_second() {
    let dir = tempfile::tempdir().unwrap();
    let b = Pipeline::builder().data_dir(dir.path()).start().await;
    let agent = RunningAgent::start(agent_config(vec![dead_url(), b.aggregator().url()]));
    assert!(eventually(Duration::from_secs(10), || reports_stored(dir.path()) >= 5).await);
    let summary = agent.stop().await;
    b.stop().await;
    assert_eq!((summary.dropped, summary.unacknowledged), (0, 0));
    assert_eq!(reports_stored(dir.path()), summary.produced as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cycles_back_to_the_first_aggregator_when_the_second_stops_too() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Pipeline::builder().data_dir(dir_a.path()).start().await;
    let addr_a = a.aggregator().addr;
    let b = Pipeline::builder().data_dir(dir_b.path()).start().await;
    let agent = RunningAgent::start(agent_config(vec![
        a.aggregator().url(),
        b.aggregator().url(),
    ]));
    assert!(
        eventually(Duration::from_secs(10), || reports_stored(dir_a.path())
            >= 3)
        .await
    );
    a.stop().await;
    assert!(
        eventually(Duration::from_secs(15), || reports_stored(dir_b.path())
            >= 3)
        .await
    );
    // The first comes back where it was, then the second goes away.
    let a = Pipeline::builder()
        .data_dir(dir_a.path())
        .listen(addr_a)
        .start()
        .await;
    let on_a = reports_stored(dir_a.path());
    b.stop().await;
    assert!(
        eventually(Duration::from_secs(15), || reports_stored(dir_a.path())
            >= on_a + 3)
        .await,
        "the agent wrapped around to the first aggregator"
    );
    let summary = agent.stop().await;
    a.stop().await;
    assert_eq!((summary.dropped, summary.unacknowledged), (0, 0));
    assert_eq!(
        reports_stored(dir_a.path()) + reports_stored(dir_b.path()),
        summary.produced as usize
    );
}

#[tokio::test]
async fn a_list_with_a_bad_entry_is_refused_at_start_up_naming_it() {
    let cases = [
        ("http://", "has no host"),
        ("127.0.0.1:7070", "the scheme must be http:// or https://"),
        ("http://127.0.0.1:port", "the port \"port\" is not a number"),
    ];
    for (bad, reason) in cases {
        let config = agent_config(vec!["http://127.0.0.1:7070".into(), bad.into()]);
        let err = tokio::time::timeout(Duration::from_secs(5), agent::run(config, async {}))
            .await
            .expect("refused at once, without connecting")
            .expect_err(bad)
            .to_string();
        assert!(
            err.contains(&format!("{bad:?}"))
                && err.contains(reason)
                && err.ends_with(
                    "expected e.g. http://127.0.0.1:7070 or https://metrics.example:7070"
                ),
            "{bad}: {err}"
        );
    }
}
