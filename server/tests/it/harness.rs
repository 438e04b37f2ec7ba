//! Starting and stopping roles for tests.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use server::agent::BearerToken;
use server::aggregator::{self, AggregatorConfig, Limits, Stats};
use server::bus::{EmbeddedBus, SharedBus};
use server::proto::{
    AgentMessage, Hello, Report, agent_message::Kind, ingest_client::IngestClient,
};
use server::store::StoreConfig;
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
        Self::start_with(data_dir, addr, limits, StoreConfig::default()).await
    }

    pub async fn start_with(
        data_dir: &Path,
        addr: SocketAddr,
        limits: Limits,
        store: StoreConfig,
    ) -> Self {
        let bus = Arc::new(EmbeddedBus::default());
        Self::start_full(data_dir, addr, limits, store, bus, None).await
    }

    /// An aggregator on port 0 publishing on `bus`.
    pub async fn start_with_bus(data_dir: &Path, bus: SharedBus) -> Self {
        let addr = "127.0.0.1:0".parse().unwrap();
        Self::start_full(
            data_dir,
            addr,
            Limits::default(),
            StoreConfig::default(),
            bus,
            None,
        )
        .await
    }

    /// An aggregator on port 0 that requires `token` on every stream.
    pub async fn start_with_token(data_dir: &Path, token: &str) -> Self {
        Self::start_full(
            data_dir,
            "127.0.0.1:0".parse().unwrap(),
            Limits::default(),
            StoreConfig::default(),
            Arc::new(EmbeddedBus::default()),
            Some(token.to_owned()),
        )
        .await
    }

    /// An aggregator on port 0 with these connection limits and `token`.
    pub async fn start_with_conn(
        data_dir: &Path,
        conn: server::conn::ConnLimits,
        token: Option<&str>,
    ) -> Self {
        Self::start_conn(
            data_dir,
            "127.0.0.1:0".parse().unwrap(),
            Limits::default(),
            StoreConfig::default(),
            Arc::new(EmbeddedBus::default()),
            token.map(str::to_owned),
            conn,
        )
        .await
    }

    async fn start_full(
        data_dir: &Path,
        addr: SocketAddr,
        limits: Limits,
        store: StoreConfig,
        bus: SharedBus,
        token: Option<String>,
    ) -> Self {
        Self::start_conn(
            data_dir,
            addr,
            limits,
            store,
            bus,
            token,
            Default::default(),
        )
        .await
    }

    async fn start_conn(
        data_dir: &Path,
        addr: SocketAddr,
        limits: Limits,
        store: StoreConfig,
        bus: SharedBus,
        token: Option<String>,
        conn: server::conn::ConnLimits,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let config = AggregatorConfig {
            data_dir: data_dir.to_owned(),
            store_url: None,
            limits,
            store,
            token,
            tls: None,
            conn,
            remote_write: Default::default(),
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
        Self::connect_with_token(url, host, None).await.unwrap()
    }

    /// Connects sending `token` as the agent does; the aggregator's refusal
    /// is the `Err`.
    pub async fn connect_with_token(
        url: &str,
        host: &str,
        token: Option<&str>,
    ) -> Result<Self, tonic::Status> {
        let channel = Channel::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = IngestClient::with_interceptor(channel, BearerToken::new(token).unwrap());
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
            .await?
            .into_inner();
        Ok(Self { tx, acks })
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

/// A gateway on port 0 reading `bus`.
pub struct Gateway {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), server::gateway::GatewayError>>>,
}

impl Gateway {
    pub async fn start(bus: SharedBus, config: server::gateway::GatewayConfig) -> Self {
        Self::start_on(bus, config, "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(
        bus: SharedBus,
        config: server::gateway::GatewayConfig,
        addr: SocketAddr,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::gateway::run(config, listener, bus, None, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task.take().unwrap())
            .await
            .expect("gateway stops within 10s")
            .unwrap()
            .unwrap();
    }
}

/// A plain HTTP/1.1 GET over a TCP socket: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = http_get_with_head(addr, path, headers).await;
    (status, body)
}

/// [`http_get`], with the response's head (lower-cased) too: (status,
/// head, body).
pub async fn http_get_with_head(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, head, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}
