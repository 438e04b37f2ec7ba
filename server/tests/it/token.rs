//! The bearer token on the gRPC ingest stream: refused without it or with a
//! wrong one, acked and stored with the right one, and the real agent keeps
//! its reports while it is refused.

use std::time::Duration;

use server::agent::{self, AgentConfig};
use server::proto::{Report, Sample};
use server::store::Reader;
use server::testkit::Pipeline;
use server::time::now_ms;
use tokio::sync::oneshot;

use crate::harness::RawAgent;

const TOKEN: &str = "correct-horse-battery-staple";

fn report(host: &str, seq: u64) -> Report {
    Report {
        host: host.into(),
        seq,
        timestamp_ms: now_ms(),
        samples: vec![Sample {
            name: "load1".into(),
            labels: vec![],
            value: 0.5,
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_stream_without_the_right_token_is_refused_and_the_right_one_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder()
        .data_dir(dir.path())
        .aggregator(|c| c.token = Some(TOKEN.into()))
        .start()
        .await;
    let agg = pipeline.aggregator();

    for (given, what) in [(None, "no token"), (Some("wrong-token"), "a wrong token")] {
        let status = match RawAgent::connect_with_token(&agg.url(), "web-1", given).await {
            Ok(_) => panic!("a stream with {what} was accepted"),
            Err(status) => status,
        };
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{what}");
        assert!(
            status.message().contains("--token") && status.message().contains("MON_TOKEN"),
            "the refusal says how to pass the token: {}",
            status.message()
        );
        assert!(
            !status.message().contains(TOKEN) && !status.message().contains("wrong-token"),
            "the refusal does not echo a token: {}",
            status.message()
        );
    }

    let mut agent = RawAgent::connect_with_token(&agg.url(), "web-1", Some(TOKEN))
        .await
        .expect("the right token is let in");
    let ack = agent.send(report("web-1", 1)).await;
    assert_eq!((ack.seq, ack.accepted, ack.rejected), (1, 1, 0));
    assert_eq!(Reader::open(dir.path()).unwrap().raw_count().unwrap(), 1);
    drop(agent);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_agent_keeps_its_reports_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder()
        .data_dir(dir.path())
        .aggregator(|c| c.token = Some(TOKEN.into()))
        .start()
        .await;
    let agg = pipeline.aggregator();
    let config = AgentConfig {
        aggregators: vec![agg.url()],
        host: Some("refused-host".into()),
        interval: Duration::from_millis(100),
        drain_timeout: Duration::from_millis(100),
        token: Some("wrong-token".into()),
        ..AgentConfig::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(agent::run(config, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let _ = stop.send(());
    let summary = task.await.unwrap().unwrap();
    assert!(summary.produced >= 2, "{summary:?}");
    assert_eq!(summary.acknowledged, 0, "{summary:?}");
    assert_eq!(summary.unacknowledged, summary.produced, "{summary:?}");
    assert_eq!(Reader::open(dir.path()).unwrap().raw_count().unwrap(), 0);
    pipeline.stop().await;
}
