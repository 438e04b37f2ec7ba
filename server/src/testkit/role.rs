//! One role running in this process: its address, and a stop that resolves
//! its shutdown future and waits (at most 10 s) for it to drain.
//!
//! Dropping a handle without [`stop`](Aggregator::stop) stops the role as
//! well (its shutdown sender goes away), without waiting: what a failed test
//! leaves behind winds down on its own.

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::aggregator::{self, AggregatorConfig, Push, Stats};
use crate::bus::SharedBus;
use crate::edge::{self, EdgeConfig};
use crate::gateway::{self, GatewayConfig};

/// How long a role may take to drain once told to stop.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// A spawned `run` and the sender that stops it.
struct Running<E> {
    role: &'static str,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), E>>,
}

impl<E: Debug + Send + 'static> Running<E> {
    fn spawn<F>(role: &'static str, run: impl FnOnce(ShutdownFuture) -> F) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async {
            let _ = stopped.await;
        })));
        Self { role, stop, task }
    }

    /// Stops the role and checks it returned `Ok` in time.
    async fn stop(self) {
        let _ = self.stop.send(());
        let role = self.role;
        tokio::time::timeout(STOP_WITHIN, self.task)
            .await
            .unwrap_or_else(|_| panic!("the {role} stops within {STOP_WITHIN:?}"))
            .unwrap_or_else(|e| panic!("the {role} panicked: {e}"))
            .unwrap_or_else(|e| panic!("the {role} failed: {e:?}"));
    }
}

type ShutdownFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A listener on `addr`; port 0 picks a free one.
async fn bind(addr: SocketAddr) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A free port on loopback.
pub(super) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// `mon aggregator`, started by [`Pipeline`](super::Pipeline).
pub struct Aggregator {
    /// Where agents stream (gRPC).
    pub addr: SocketAddr,
    /// The push receivers (`--http-listen`), when the pipeline asked for
    /// them.
    pub http_addr: Option<SocketAddr>,
    pub bus: SharedBus,
    pub stats: Arc<Stats>,
    running: Running<aggregator::AggregatorError>,
}

impl Aggregator {
    pub(super) async fn start(
        config: AggregatorConfig,
        addr: SocketAddr,
        push_listener: bool,
        bus: SharedBus,
    ) -> Self {
        let (listener, addr) = bind(addr).await;
        let (push, http_addr) = if push_listener {
            let (http, http_addr) = bind(loopback()).await;
            let push = Push {
                listener: Some(http),
                ..Push::default()
            };
            (push, Some(http_addr))
        } else {
            (Push::default(), None)
        };
        let stats = Arc::new(Stats::default());
        let running = Running::spawn("aggregator", {
            let (bus, stats) = (bus.clone(), stats.clone());
            move |shutdown| aggregator::run_with_push(config, listener, push, bus, stats, shutdown)
        });
        Self {
            addr,
            http_addr,
            bus,
            stats,
            running,
        }
    }

    /// The URL an agent is given (`http://`, whatever its TLS).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful stop: drains the streams and flushes the store.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// `mon gateway` reading a bus.
pub struct Gateway {
    pub addr: SocketAddr,
    running: Running<gateway::GatewayError>,
}

impl Gateway {
    /// A gateway on a free loopback port.
    pub async fn start(bus: SharedBus, config: GatewayConfig) -> Self {
        Self::start_on(bus, config, loopback()).await
    }

    /// A gateway on `addr`: a restart on the address its clients know.
    pub async fn start_on(bus: SharedBus, config: GatewayConfig, addr: SocketAddr) -> Self {
        Self::serve(addr, config, bus, None).await
    }

    pub(super) async fn serve(
        addr: SocketAddr,
        config: GatewayConfig,
        bus: SharedBus,
        aggregator: Option<Arc<Stats>>,
    ) -> Self {
        let (listener, addr) = bind(addr).await;
        let running = Running::spawn("gateway", move |shutdown| {
            gateway::run(config, listener, bus, aggregator, shutdown)
        });
        Self { addr, running }
    }

    /// Its live stream (plain `ws://`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Closes every WebSocket with 1001 and finishes what is in flight.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// `mon edge` in front of an upstream.
pub struct Edge {
    pub addr: SocketAddr,
    running: Running<edge::EdgeError>,
}

impl Edge {
    /// An edge on a free loopback port.
    pub async fn start(config: EdgeConfig) -> Self {
        let (listener, addr) = bind(loopback()).await;
        let running = Running::spawn("edge", move |shutdown| {
            edge::run(config, listener, shutdown)
        });
        Self { addr, running }
    }

    /// Its live stream (plain `ws://`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }
}
