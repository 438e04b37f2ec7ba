//! `mon edge`.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use server::edge::{self, EdgeConfig};

use super::http::AccessArgs;
use super::runtime;
use crate::shutdown;

/// Relays one upstream WebSocket from a gateway to many browsers and serves
/// the same dashboard. Run it close to the viewers (e.g. a cloud region in
/// front of the gateway): thousands of browsers cost the gateway one
/// connection, and new browsers are served from the edge's own state.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  mon edge --upstream ws://10.0.0.5:7071/ws\n  mon edge --upstream wss://gw.internal/ws --upstream-token $GW_TOKEN --listen 0.0.0.0:7072 --token $VIEWER_TOKEN\n  mon edge --upstream wss://gw.internal:7071/ws --upstream-ca ca.pem --tls-cert edge.pem --tls-key edge-key.pem"
)]
pub struct EdgeArgs {
    /// The gateway's WebSocket URL
    #[arg(long, env = "MON_UPSTREAM", value_name = "URL")]
    pub upstream: String,
    /// Token the upstream gateway requires
    #[arg(
        long,
        env = "MON_UPSTREAM_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        value_parser = super::trust::parse_token
    )]
    pub upstream_token: Option<String>,
    /// PEM file of the CA that signed a wss:// upstream's certificate
    /// [default: the system's roots]
    #[arg(long, env = "MON_UPSTREAM_CA", value_name = "FILE")]
    pub upstream_ca: Option<std::path::PathBuf>,
    /// HTTP address for browsers
    #[arg(
        long,
        env = "MON_LISTEN",
        default_value = "127.0.0.1:7072",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub access: AccessArgs,
}

pub fn run(args: EdgeArgs) -> anyhow::Result<()> {
    args.access.trust.check(&[args.listen])?;
    let tls = args.access.trust.tls.load()?;
    let (scheme, _) = super::trust::schemes(tls.is_some());
    let config = EdgeConfig {
        upstream: args.upstream,
        upstream_token: args.upstream_token.filter(|t| !t.is_empty()),
        upstream_tls: super::trust::client_tls(args.upstream_ca.as_deref())?,
        access: args.access.resolve(),
        ws: args.access.limits.ws(),
        http: args.access.limits.http(),
        conn: args.access.trust.conn.limits(),
        ring: 0,
        tls,
    };
    runtime(true)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!("mon edge");
        println!("  dashboard     {scheme}://{}/", listener.local_addr()?);
        println!("  upstream      {}", config.upstream);
        edge::run(config, listener, shutdown::signal()).await?;
        Ok(())
    })
}
