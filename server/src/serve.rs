//! `mon serve`: the aggregator, the alerts engine, the gateway and a local
//! agent in one process on one bus, so one command gives a working pipeline
//! with no Redis.
//!
//! Shutdown runs downstream-first: the agent stops and drains its spool into
//! the aggregator, the aggregator drains and flushes the store, and the
//! alerts engine (delivering queued notifications) and the gateway (closing
//! its WebSocket clients) stop last.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::agent::{self, AgentConfig};
use crate::aggregator::{self, AggregatorConfig, AggregatorError, Stats};
use crate::alerts::{self, AlertsConfig, AlertsError};
use crate::bus::SharedBus;
use crate::gateway::{self, GatewayConfig, GatewayError};

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub aggregator: AggregatorConfig,
    /// The local agent, or `None` for `--no-agent`. Its aggregators are
    /// replaced by the one address the gRPC listener got, and it sends the
    /// aggregator's token (over TLS, if the aggregator has a certificate).
    pub agent: Option<AgentConfig>,
    pub gateway: GatewayConfig,
    /// The alerts engine; its dashboard link defaults to the gateway's address.
    pub alerts: AlertsConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Aggregator(#[from] AggregatorError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(transparent)]
    Agent(#[from] agent::AgentError),
    #[error(transparent)]
    Alerts(#[from] AlertsError),
}

/// Resolves once `rx` carries `true`.
async fn flag(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

pub async fn run(
    config: ServeConfig,
    grpc: TcpListener,
    http: TcpListener,
    bus: SharedBus,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let grpc_addr = grpc.local_addr().ok();
    let http_addr = http.local_addr().ok();
    let (stop_agent, agent_stopped) = watch::channel(false);
    let (stop_aggregator, aggregator_stopped) = watch::channel(false);
    let (stop_gateway, gateway_stopped) = watch::channel(false);
    let (stop_alerts, alerts_stopped) = watch::channel(false);

    let http_scheme = if config.gateway.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let grpc_tls = config.aggregator.tls.clone();
    let push = aggregator::Push::default();
    let mut gateway_config = config.gateway;
    gateway_config.push = Some(push.slot.clone());
    if gateway_config.data_dir.is_none() {
        gateway_config.data_dir = Some(config.aggregator.data_dir.clone());
    }
    let mut gateway = tokio::spawn(gateway::run(
        gateway_config,
        http,
        bus.clone(),
        Some(stats.clone()),
        flag(gateway_stopped),
    ));
    let mut alerts_config = config.alerts;
    if let Some(addr) = http_addr
        && alerts_config.notify.external_url.is_none()
    {
        alerts_config.notify.external_url = Some(format!("{http_scheme}://{addr}"));
    }
    let mut alerts = tokio::spawn(alerts::run(
        alerts_config,
        bus.clone(),
        flag(alerts_stopped),
    ));
    let token = config.aggregator.token.clone();
    let mut aggregator = tokio::spawn(aggregator::run_with_push(
        config.aggregator,
        grpc,
        push,
        bus,
        stats,
        flag(aggregator_stopped),
    ));
    let agent = config.agent.map(|mut agent_config| {
        agent_config.token = token;
        if let Some(addr) = grpc_addr {
            let url = match &grpc_tls {
                // On loopback, to a certificate this process holds: trust
                // exactly it, whatever name or CA it was issued for.
                Some(tls) => {
                    agent_config.tls = tls.loopback_client();
                    format!("https://{addr}")
                }
                None => format!("http://{addr}"),
            };
            agent_config.aggregators = vec![url];
        }
        tokio::spawn(agent::run(agent_config, flag(agent_stopped)))
    });

    let early: Option<Result<(), ServeError>> = tokio::select! {
        _ = shutdown => None,
        // A role ended on its own: it failed to start or to serve.
        r = &mut aggregator => Some(r.unwrap_or_else(|e| panic!("aggregator task panicked: {e}")).map_err(Into::into)),
        r = &mut gateway => Some(r.unwrap_or_else(|e| panic!("gateway task panicked: {e}")).map_err(Into::into)),
        r = &mut alerts => Some(r.unwrap_or_else(|e| panic!("alerts task panicked: {e}")).map_err(Into::into)),
    };
    if early.is_none() {
        tracing::info!("shutting down");
    }
    let _ = stop_agent.send(true);
    let mut result = Ok(());
    if let Some(agent) = agent
        && let Ok(Err(e)) = agent.await
    {
        result = Err(e.into());
    }
    let _ = stop_aggregator.send(true);
    let _ = stop_gateway.send(true);
    let _ = stop_alerts.send(true);
    if let Some(early) = early {
        return early.and(result);
    }
    if let Ok(Err(e)) = aggregator.await {
        result = Err(e.into());
    }
    if let Ok(Err(e)) = gateway.await {
        result = Err(e.into());
    }
    if let Ok(Err(e)) = alerts.await {
        result = Err(e.into());
    }
    result
}
