//! Starting and stopping roles for tests.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use server::aggregator::{self, AggregatorConfig, Limits, Stats};
use server::bus::{EmbeddedBus, SharedBus};
use server::proto::{
    AgentMessage, Hello, Report, agent_message::Kind, ingest_client::IngestClient,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub struct Aggregator {
    pub addr: SocketAddr,
    pub bus: SharedBus,
    pub stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), aggregator::AggregatorError>>>,
}

impl Aggregator {
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_on(data_dir, "127.0.0.1:0".parse().unwrap(), Limits::default()).await
    }

    pub async fn start_on(data_dir: &Path, addr: SocketAddr, limits: Limits) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bus: SharedBus = Arc::new(EmbeddedBus::default());
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let config = AggregatorConfig {
            data_dir: data_dir.to_owned(),
            limits,
        };
        let task = tokio::spawn(aggregator::run(
            config,
            listener,
            bus.clone(),
            stats.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            bus,
            stats,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful stop: drains streams and flushes the store.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task.take().unwrap())
            .await
            .expect("aggregator stops within 10s")
            .unwrap()
            .unwrap();
    }
}

/// A raw gRPC client speaking the ingest protocol by hand.
pub struct RawAgent {
    pub tx: tokio::sync::mpsc::Sender<AgentMessage>,
    pub acks: tonic::Streaming<server::proto::Ack>,
}

impl RawAgent {
    pub async fn connect(url: &str, host: &str) -> Self {
        let mut client = IngestClient::<Channel>::connect(url.to_owned())
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tx.send(AgentMessage {
            kind: Some(Kind::Hello(Hello {
                host: host.into(),
                agent_version: "test".into(),
                ..Hello::default()
            })),
        })
        .await
        .unwrap();
        let acks = client
            .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Self { tx, acks }
    }

    pub async fn send(&mut self, report: Report) -> server::proto::Ack {
        self.tx
            .send(AgentMessage {
                kind: Some(Kind::Report(report)),
            })
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.acks.message())
            .await
            .expect("ack within 10s")
            .expect("stream open")
            .expect("an ack")
    }
}

/// Polls `check` every 20 ms until it returns true or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
