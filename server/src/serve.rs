//! `mon serve`: the aggregator and a local agent in one process on the
//! embedded bus, so one command gives a working pipeline with no Redis.
//!
//! Shutdown runs downstream-first: the agent stops and drains its spool into
//! the aggregator, then the aggregator drains and flushes the store.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::agent::{self, AgentConfig};
use crate::aggregator::{self, AggregatorConfig, AggregatorError, Stats};
use crate::bus::SharedBus;

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub aggregator: AggregatorConfig,
    /// The local agent, or `None` for `--no-agent`. Its aggregator URL is
    /// replaced by the address the gRPC listener got.
    pub agent: Option<AgentConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Aggregator(#[from] AggregatorError),
    #[error(transparent)]
    Agent(#[from] agent::AgentError),
}

pub async fn run(
    config: ServeConfig,
    grpc: TcpListener,
    bus: SharedBus,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let grpc_addr = grpc.local_addr().ok();
    let (stop_agent_tx, mut stop_agent_rx) = watch::channel(false);
    let (stop_aggregator_tx, mut stop_aggregator_rx) = watch::channel(false);

    let mut aggregator = tokio::spawn(aggregator::run(
        config.aggregator,
        grpc,
        bus,
        stats,
        async move {
            let _ = stop_aggregator_rx.wait_for(|s| *s).await;
        },
    ));

    let agent = config.agent.map(|mut agent_config| {
        if let Some(addr) = grpc_addr {
            agent_config.aggregator = format!("http://{addr}");
        }
        tokio::spawn(agent::run(agent_config, async move {
            let _ = stop_agent_rx.wait_for(|s| *s).await;
        }))
    });

    tokio::select! {
        _ = shutdown => {}
        // The aggregator ended on its own: it failed to start or to serve.
        early = &mut aggregator => {
            let _ = stop_agent_tx.send(true);
            if let Some(agent) = agent {
                let _ = agent.await;
            }
            return match early {
                Ok(result) => result.map_err(Into::into),
                Err(e) => panic!("aggregator task panicked: {e}"),
            };
        }
    }
    tracing::info!("shutting down");
    let _ = stop_agent_tx.send(true);
    let mut result = Ok(());
    if let Some(agent) = agent
        && let Ok(Err(e)) = agent.await
    {
        result = Err(e.into());
    }
    let _ = stop_aggregator_tx.send(true);
    match aggregator.await {
        Ok(Err(e)) => Err(e.into()),
        _ => result,
    }
}
