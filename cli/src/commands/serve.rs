//! `mon serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use server::aggregator::{AggregatorConfig, Stats};
use server::gateway::GatewayConfig;
use server::serve::{self, ServeConfig};

use super::aggregator::RetentionArgs;
use super::alerts::RuleArgs;
use super::http::AccessArgs;
use super::limits::IngestLimitArgs;
use super::remote_write::RemoteWriteArgs;
use super::store::StoreArgs;
use super::{GlobalArgs, parse_interval, runtime};
use crate::bus::BusArgs;
use crate::{bus, config, shutdown};

/// Runs the whole pipeline in one process: the gRPC aggregator, the SQLite
/// store, the alerts engine, the dashboard and a local agent for this
/// machine, on the in-process bus unless --redis names one. Other hosts can
/// stream to it with `mon agent --aggregator http://THIS-HOST:7070`
/// (and `--token`, if it was started with one; `https://` and `--ca` if it
/// was started with --tls-cert).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  mon serve\n  mon serve --data-dir ./mon-data --interval 1s\n  mon serve --grpc-listen 0.0.0.0:7070 --token $TOKEN --no-agent\n  mon serve --grpc-listen 0.0.0.0:7070 --http-listen 0.0.0.0:7071 --token $TOKEN --tls-cert cert.pem --tls-key key.pem\n  mon serve --rules rules.yaml --webhook http://127.0.0.1:9000/hook\n  mon serve --redis redis://127.0.0.1:6379/0\n  mon serve --remote-write https://mimir.example/api/v1/push --remote-write-token $MIMIR_TOKEN"
)]
pub struct ServeArgs {
    /// gRPC address agents connect to [default: 127.0.0.1:7070]
    #[arg(long, env = "MON_GRPC_LISTEN", value_name = "ADDR")]
    pub grpc_listen: Option<SocketAddr>,
    /// HTTP address of the dashboard, API and WebSocket [default: 127.0.0.1:7071]
    #[arg(long, env = "MON_HTTP_LISTEN", value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub access: AccessArgs,
    /// Do not run the local agent
    #[arg(long, env = "MON_NO_AGENT")]
    pub no_agent: bool,
    /// Collection interval of the local agent, e.g. 5s, 1s, 500ms [default: 5s]
    #[arg(long, env = "MON_INTERVAL", value_parser = parse_interval, value_name = "DURATION")]
    pub interval: Option<Duration>,
    /// Host name the local agent reports as [default: this machine's host name]
    #[arg(long, env = "MON_HOST", value_name = "NAME")]
    pub host: Option<String>,
    #[command(flatten)]
    pub bus: BusArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub limits: IngestLimitArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub remote_write: RemoteWriteArgs,
    #[command(flatten)]
    pub alerts: RuleArgs,
}

pub fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let file = config::load(global.config.as_deref())?;
    let data_dir = config::data_dir(global.data_dir.as_deref(), &file)?;
    let grpc_listen = args
        .grpc_listen
        .or(file.serve.grpc_listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7070)));
    let http_listen = args
        .http_listen
        .or(file.serve.http_listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7071)));
    args.access.trust.check(&[grpc_listen, http_listen])?;
    // One certificate for both listeners: they share a host name.
    let tls = args.access.trust.tls.load()?;
    let (http_s, ws_s) = super::trust::schemes(tls.is_some());
    let no_agent = args.no_agent || file.serve.no_agent.unwrap_or(false);
    let agent = (!no_agent).then(|| {
        let mut agent = super::agent::AgentArgs {
            aggregator: Vec::new(),
            host: args.host.clone(),
            interval: args.interval,
            processes_interval: None,
            spool_reports: None,
            token: None,
            ca: None,
        }
        .resolve(&file.agent);
        agent.aggregators = vec![format!("http://{grpc_listen}")];
        // Its own file, so a `mon agent` sharing the data dir never takes it.
        agent.spool_file = super::agent::spool_file(&data_dir, "local-agent-spool.bin");
        agent
    });
    let mut alerts = args.alerts.resolve(&file.alerts, &data_dir, None)?;
    let store_url = args.store.resolve(&file)?;
    alerts.store_url = store_url.clone();
    let location = server::store::Location::new(store_url.as_ref(), &data_dir);
    let config = ServeConfig {
        aggregator: AggregatorConfig {
            data_dir: data_dir.clone(),
            store_url: store_url.clone(),
            limits: args.limits.resolve(&file.limits),
            store: args.retention.resolve(&file.retention)?,
            token: args.access.trust.token(),
            tls: tls.clone(),
            conn: args.access.trust.conn.limits(),
            remote_write: args.remote_write.resolve(&file.remote_write)?,
        },
        agent,
        gateway: GatewayConfig {
            data_dir: Some(data_dir.clone()),
            store_url,
            access: args.access.resolve(),
            tls,
            ws: args.access.limits.ws(),
            http: args.access.limits.http(),
            conn: args.access.trust.conn.limits(),
            ..GatewayConfig::default()
        },
        alerts,
    };
    let redis = args.bus.resolve(&file);
    runtime(true)?.block_on(async {
        let grpc = tokio::net::TcpListener::bind(grpc_listen)
            .await
            .with_context(|| format!("cannot listen on {grpc_listen} for gRPC (is another mon running? pick another with --grpc-listen)"))?;
        let grpc_addr = grpc.local_addr()?;
        let http = tokio::net::TcpListener::bind(http_listen)
            .await
            .with_context(|| format!("cannot listen on {http_listen} for HTTP (is another mon running? pick another with --http-listen)"))?;
        let http_addr = http.local_addr()?;
        println!("mon serve");
        println!("  dashboard     {http_s}://{http_addr}/");
        println!("  WebSocket     {ws_s}://{http_addr}/ws   (mon top --url {ws_s}://{http_addr}/ws)");
        println!("  gRPC ingest   {http_s}://{grpc_addr}   (mon agent --aggregator {http_s}://{grpc_addr})");
        println!("  store         {}", location.describe());
        println!(
            "  alerts        {} rules, state in {}",
            config.alerts.rules.rules.len(),
            match &config.alerts.store_url {
                Some(url) => url.to_string(),
                None => server::store::alerts_db_path(&data_dir).display().to_string(),
            }
        );
        for target in &config.aggregator.remote_write.targets {
            println!("  remote-write  {}", target.destination());
        }
        match &redis {
            Some(url) => println!("  bus           Redis {url}"),
            None => println!("  bus           in-process (no Redis)"),
        }
        match &config.agent {
            Some(a) => println!(
                "  local agent   every {}",
                humantime::format_duration(a.interval)
            ),
            None => println!("  local agent   off (--no-agent)"),
        }
        println!("  stop with Ctrl-C");
        serve::run(
            config,
            grpc,
            http,
            bus::open(redis).await?,
            Arc::new(Stats::default()),
            shutdown::signal(),
        )
        .await?;
        Ok(())
    })
}
