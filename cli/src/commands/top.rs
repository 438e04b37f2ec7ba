//! `mon top`: the terminal dashboard. With `--url` it watches that gateway
//! or edge; without, the default local gateway; and when nothing answers
//! there, it starts an aggregator, a gateway and an agent in-process (on
//! loopback, with a throw-away store) and watches this machine alone.

use std::net::SocketAddr;

use std::time::Duration;

use clap::Args;
#[cfg(feature = "roles")]
use server::{
    agent::AgentConfig,
    aggregator::{AggregatorConfig, Stats},
    alerts::AlertsConfig,
    bus::EmbeddedBus,
    gateway::GatewayConfig,
    serve::{self, ServeConfig},
};
use tui::TopConfig;
use tui::net::Endpoint;

use super::runtime;
use crate::shutdown;

const DEFAULT_GATEWAY: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7071);

/// A live view of the fleet: every host's CPU, load, memory, fullest file
/// system, network and alerts, a host's history, the active alerts. Press ?
/// for the keys.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  mon top\n  mon top --url ws://metrics.internal:7071/ws --token s3cret\n  mon top --url wss://metrics.internal:7071/ws --token s3cret --ca ca.pem\n\nWithout --url, mon top connects to ws://127.0.0.1:7071/ws; if nothing answers there it\nwatches this machine alone with an in-process agent."
)]
pub struct TopArgs {
    /// WebSocket of a gateway or edge, e.g. ws://HOST:7071/ws, or wss://... for
    /// one started with --tls-cert
    #[arg(long, env = "MON_URL", value_name = "URL")]
    pub url: Option<String>,
    /// Bearer token the gateway requires
    #[arg(long, env = "MON_TOKEN", value_name = "TOKEN", hide_env_values = true, value_parser = super::trust::parse_token)]
    pub token: Option<String>,
    /// PEM file of the CA that signed a wss:// gateway's or edge's certificate
    /// [default: the system's roots]
    #[arg(long, env = "MON_CA", value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
}

pub fn run(args: TopArgs) -> anyhow::Result<()> {
    let token = args.token.filter(|t| !t.is_empty());
    if let Some(url) = args.url {
        let mut endpoint = Endpoint::parse(&url, token)?;
        if endpoint.secure {
            endpoint.tls =
                Some(super::trust::client_tls(args.ca.as_deref())?.config(&[b"http/1.1"]));
        }
        let config = TopConfig {
            endpoint,
            local: false,
        };
        // One thread: a frame is parsed and applied where it arrives, with
        // no hand-over between threads for each of a fleet's updates.
        return runtime(false)?.block_on(async { Ok(tui::run(config, shutdown::signal()).await?) });
    }
    runtime(true)?.block_on(async {
        let probe = tokio::net::TcpStream::connect(DEFAULT_GATEWAY);
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), probe).await {
            let endpoint = Endpoint::parse(&format!("ws://{DEFAULT_GATEWAY}/ws"), token)?;
            return Ok(tui::run(
                TopConfig {
                    endpoint,
                    local: false,
                },
                shutdown::signal(),
            )
            .await?);
        }
        #[cfg(feature = "roles")]
        return watch_this_machine().await;
        #[cfg(not(feature = "roles"))]
        anyhow::bail!(
            "no gateway answers at {DEFAULT_GATEWAY}; give --url ws://SERVER:7071/ws (this build has no in-process pipeline to watch this machine with: that is the full build's `mon top`)"
        )
    })
}

/// Runs the pipeline in-process on loopback and watches it.
#[cfg(feature = "roles")]
async fn watch_this_machine() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("mon-top-").tempdir()?;
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http_addr = http.local_addr()?;
    let config = ServeConfig {
        aggregator: AggregatorConfig::new(dir.path()),
        // Once a second, like top: the agent's cost is small either way.
        agent: Some(AgentConfig {
            interval: Duration::from_secs(1),
            ..AgentConfig::default()
        }),
        gateway: GatewayConfig {
            data_dir: Some(dir.path().to_owned()),
            ..GatewayConfig::default()
        },
        // The built-in rules, so the alerts pane means something here too.
        alerts: AlertsConfig::new(dir.path().to_owned()),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::run(
        config,
        grpc,
        http,
        std::sync::Arc::new(EmbeddedBus::default()),
        std::sync::Arc::new(Stats::default()),
        async {
            let _ = stopped.await;
        },
    ));
    let endpoint = Endpoint::parse(&format!("ws://{http_addr}/ws"), None)?;
    let result = tui::run(
        TopConfig {
            endpoint,
            local: true,
        },
        shutdown::signal(),
    )
    .await;
    let _ = stop.send(());
    // The store is thrown away, so there is nothing worth a long drain.
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    Ok(result?)
}
