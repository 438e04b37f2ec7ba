//! `mon gateway`.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use server::gateway::{self, GatewayConfig};

use super::http::AccessArgs;
use super::store::StoreArgs;
use super::{GlobalArgs, runtime};
use crate::bus::{self, BusArgs};
use crate::{config, shutdown};

/// Serves the live stream over WebSocket (/ws), the HTTP API (/api/...),
/// Prometheus /metrics and the web dashboard (/). It reads the aggregators'
/// Redis for live data and history from the shared store (--store), or from
/// the SQLite file in --data-dir; run as many gateways as you like side by
/// side.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  mon gateway --redis redis://127.0.0.1:6379 --data-dir /var/lib/mon\n  mon gateway --redis redis://10.0.0.2:6379 --store postgres://mon@10.0.0.3/mon\n  mon gateway --redis redis://10.0.0.2:6379 --listen 0.0.0.0:7071 --token $TOKEN\n  mon gateway --redis redis://10.0.0.2:6379 --listen 0.0.0.0:7071 --token $TOKEN --tls-cert cert.pem --tls-key key.pem"
)]
pub struct GatewayArgs {
    /// HTTP address for browsers, `mon top` and edges
    #[arg(
        long,
        env = "MON_LISTEN",
        default_value = "127.0.0.1:7071",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub bus: BusArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub access: AccessArgs,
}

pub fn run(global: &GlobalArgs, args: GatewayArgs) -> anyhow::Result<()> {
    args.access.trust.check(&[args.listen])?;
    let tls = args.access.trust.tls.load()?;
    let (http, ws) = super::trust::schemes(tls.is_some());
    let file = config::load(global.config.as_deref())?;
    let store_url = args.store.resolve(&file)?;
    // With a shared store the gateway keeps nothing on disk.
    let data_dir = match store_url {
        Some(_) => None,
        None => Some(config::data_dir(global.data_dir.as_deref(), &file)?),
    };
    let redis = args.bus.resolve(&file);
    if redis.is_none() {
        tracing::warn!(
            "no --redis: this gateway has only its own embedded bus, which no aggregator publishes to; \
             give the aggregators' Redis, or use `mon serve`"
        );
    }
    let config = GatewayConfig {
        data_dir,
        store_url,
        access: args.access.resolve(),
        tls,
        ws: args.access.limits.ws(),
        http: args.access.limits.http(),
        conn: args.access.trust.conn.limits(),
        ..GatewayConfig::default()
    };
    runtime(true)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("mon gateway");
        println!("  dashboard     {http}://{addr}/");
        println!("  WebSocket     {ws}://{addr}/ws");
        gateway::run(
            config,
            listener,
            bus::open(redis).await?,
            None,
            shutdown::signal(),
        )
        .await?;
        Ok(())
    })
}
