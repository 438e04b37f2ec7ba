//! In-process pipelines for tests (the `testkit` feature): a bus, an
//! aggregator on a free loopback port with its store in a temporary
//! directory, and, when asked, a gateway reading that bus and an edge in
//! front of the gateway, each stopped cleanly by [`Pipeline::stop`].
//!
//! ```ignore
//! let pipeline = Pipeline::builder()
//!     .aggregator(|config| config.token = Some("t0ken".into()))
//!     .gateway(GatewayConfig::default())
//!     .start()
//!     .await;
//! let agent_url = pipeline.aggregator().url();
//! let dashboard = pipeline.gateway().ws_url();
//! pipeline.stop().await;
//! ```
//!
//! The one thing to know: the pipeline's gateway reads the aggregator's
//! store unless its config names one, as in `mon serve`, and roles that
//! run alone (a gateway on a bus a test publishes to, an edge on a fake
//! upstream) are started with [`Gateway::start`] and [`Edge::start`].

mod role;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use role::{Aggregator, Edge, Gateway};

use crate::aggregator::AggregatorConfig;
use crate::bus::{EmbeddedBus, SharedBus};
use crate::edge::EdgeConfig;
use crate::gateway::GatewayConfig;

/// The roles of one pipeline and the bus between them.
pub struct Pipeline {
    bus: SharedBus,
    aggregator: Aggregator,
    gateway: Option<Gateway>,
    edge: Option<Edge>,
    data_dir: PathBuf,
    /// The directory made for this pipeline, removed with it.
    _temp: Option<tempfile::TempDir>,
}

impl Pipeline {
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    pub fn bus(&self) -> &SharedBus {
        &self.bus
    }

    pub fn aggregator(&self) -> &Aggregator {
        &self.aggregator
    }

    pub fn gateway(&self) -> &Gateway {
        self.gateway
            .as_ref()
            .expect("a pipeline built with .gateway(...)")
    }

    pub fn edge(&self) -> &Edge {
        self.edge
            .as_ref()
            .expect("a pipeline built with .edge(...)")
    }

    /// The aggregator's data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the edge, the gateway, then the aggregator (which flushes its
    /// store), each checked to end cleanly. A data dir of the test's own is
    /// left as it is, to be read after.
    pub async fn stop(self) {
        if let Some(edge) = self.edge {
            edge.stop().await;
        }
        if let Some(gateway) = self.gateway {
            gateway.stop().await;
        }
        self.aggregator.stop().await;
    }
}

/// What to start; every knob has the default a test most often wants.
pub struct PipelineBuilder {
    bus: Option<SharedBus>,
    data_dir: Option<PathBuf>,
    aggregator: AggregatorConfig,
    listen: SocketAddr,
    push_listener: bool,
    gateway: Option<GatewayConfig>,
    edge: Option<EdgeConfig>,
}

impl Default for PipelineBuilder {
    fn default() -> Self {
        Self {
            bus: None,
            data_dir: None,
            // Its data dir is filled in at start.
            aggregator: AggregatorConfig::new(PathBuf::new()),
            listen: role::loopback(),
            push_listener: false,
            gateway: None,
            edge: None,
        }
    }
}

impl PipelineBuilder {
    /// The bus between the roles (an embedded one otherwise).
    pub fn bus(mut self, bus: SharedBus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Keeps the store in `dir`, which outlives the pipeline (a fresh
    /// temporary directory otherwise).
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// Changes the aggregator's config: limits, store timing, token, TLS,
    /// connection limits, forwarding. Its data dir is the pipeline's.
    pub fn aggregator(mut self, change: impl FnOnce(&mut AggregatorConfig)) -> Self {
        change(&mut self.aggregator);
        self
    }

    /// Serves gRPC on `addr` rather than a free port: an aggregator back on
    /// the address its agents know.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Also takes pushed samples on an HTTP listener of its own
    /// ([`Aggregator::http_addr`]).
    pub fn push_listener(mut self) -> Self {
        self.push_listener = true;
        self
    }

    /// A gateway on the pipeline's bus, on a free port.
    pub fn gateway(mut self, config: GatewayConfig) -> Self {
        self.gateway = Some(config);
        self
    }

    /// An edge in front of the gateway (which it needs), on a free port:
    /// `change` adjusts its config, whose upstream is the gateway's `/ws`.
    pub fn edge(mut self, change: impl FnOnce(&mut EdgeConfig)) -> Self {
        let mut config = EdgeConfig::new(String::new());
        change(&mut config);
        self.edge = Some(config);
        self
    }

    pub async fn start(self) -> Pipeline {
        let bus = self
            .bus
            .unwrap_or_else(|| Arc::new(EmbeddedBus::default()) as SharedBus);
        let (data_dir, temp) = match self.data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::tempdir().expect("a temporary data dir");
                (temp.path().to_owned(), Some(temp))
            }
        };
        let config = AggregatorConfig {
            data_dir: data_dir.clone(),
            ..self.aggregator
        };
        let aggregator =
            Aggregator::start(config, self.listen, self.push_listener, bus.clone()).await;
        let gateway = match self.gateway {
            Some(mut config) => {
                if config.data_dir.is_none() && config.store_url.is_none() {
                    config.data_dir = Some(data_dir.clone());
                }
                let stats = Some(aggregator.stats.clone());
                Some(Gateway::serve(role::loopback(), config, bus.clone(), stats).await)
            }
            None => None,
        };
        let edge = match self.edge {
            Some(mut config) => {
                let gateway = gateway
                    .as_ref()
                    .expect("an edge needs the pipeline's gateway: add .gateway(...)");
                config.upstream = gateway.ws_url();
                Some(Edge::start(config).await)
            }
            None => None,
        };
        Pipeline {
            bus,
            aggregator,
            gateway,
            edge,
            data_dir,
            _temp: temp,
        }
    }
}
