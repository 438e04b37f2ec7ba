//! `mon aggregator`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use server::aggregator::{self, AggregatorConfig, Stats};
use server::store::StoreConfig;

use super::limits::IngestLimitArgs;
use super::remote_write::RemoteWriteArgs;
use super::store::StoreArgs;
use super::trust::TrustArgs;
use super::{GlobalArgs, runtime};
use crate::bus::BusArgs;
use crate::{bus, config, shutdown};

/// Receives agents' reports over gRPC, validates and normalizes every sample,
/// stores accepted samples in SQLite, or with --store in a PostgreSQL database
/// shared with other aggregators (acknowledging a report only once it is
/// durable) and publishes them on the bus: with --redis, each host's latest
/// values in Redis and one JSON message per report on metrics.<host>.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  mon aggregator\n  mon aggregator --listen 0.0.0.0:7070 --token $TOKEN --data-dir /var/lib/mon\n  mon aggregator --listen 0.0.0.0:7070 --token $TOKEN --tls-cert cert.pem --tls-key key.pem\n  mon aggregator --redis redis://127.0.0.1:6379/0\n  mon aggregator --listen 0.0.0.0:7070 --token $TOKEN --redis redis://redis:6379 --store postgres://mon@db/mon\n  mon aggregator --http-listen 127.0.0.1:7073 --remote-write http://victoria:8428/api/v1/write"
)]
pub struct AggregatorArgs {
    /// gRPC address to listen on for agents [default: 127.0.0.1:7070]
    #[arg(long, env = "MON_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// HTTP address to listen on for pushed samples: Prometheus remote-write
    /// (POST /api/v1/write) and OTLP (POST /v1/metrics), behind the same
    /// token and TLS as gRPC [default: off]
    #[arg(long, env = "MON_HTTP_LISTEN", value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub trust: TrustArgs,
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
}

/// How long the store keeps each tier, settable from the command line.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// How long raw samples are kept, e.g. 24h, 36h [default: 24h]
    #[arg(long, env = "MON_RETENTION_RAW", value_parser = parse_retention, value_name = "DURATION")]
    pub retention_raw: Option<Duration>,
    /// How long 1-minute rollups are kept [default: 7d]
    #[arg(long = "retention-1m", env = "MON_RETENTION_1M", value_parser = parse_retention, value_name = "DURATION")]
    pub retention_1m: Option<Duration>,
    /// How long 1-hour rollups are kept [default: 90d]
    #[arg(long = "retention-1h", env = "MON_RETENTION_1H", value_parser = parse_retention, value_name = "DURATION")]
    pub retention_1h: Option<Duration>,
}

impl RetentionArgs {
    /// The store configuration: these flags over the config file over the
    /// defaults. Refuses a retention shorter than the rollup reading it.
    pub fn resolve(&self, file: &config::RetentionSection) -> anyhow::Result<StoreConfig> {
        let mut retention = file.to_retention();
        if let Some(d) = self.retention_raw {
            retention.raw = d;
        }
        if let Some(d) = self.retention_1m {
            retention.one_minute = d;
        }
        if let Some(d) = self.retention_1h {
            retention.one_hour = d;
        }
        let store = StoreConfig {
            retention,
            ..StoreConfig::default()
        };
        store.validate()?;
        Ok(store)
    }
}

fn parse_retention(text: &str) -> Result<Duration, String> {
    super::DurationFlag {
        what: "a retention",
        // The store checks retention against the rollup lag and says so.
        min: Duration::from_millis(1),
        max: None,
        examples: "24h, 36h or 7d",
    }
    .parse(text)
}

pub fn run(global: &GlobalArgs, args: AggregatorArgs) -> anyhow::Result<()> {
    let file = config::load(global.config.as_deref())?;
    let data_dir = config::data_dir(global.data_dir.as_deref(), &file)?;
    let listen = args
        .listen
        .or(file.aggregator.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7070)));
    let http_listen = args.http_listen.or(file.aggregator.http_listen);
    let listens: Vec<SocketAddr> = std::iter::once(listen).chain(http_listen).collect();
    args.trust.check(&listens)?;
    let tls = args.trust.tls.load()?;
    let config = AggregatorConfig {
        data_dir,
        store_url: args.store.resolve(&file)?,
        limits: args.limits.resolve(&file.limits),
        store: args.retention.resolve(&file.retention)?,
        token: args.trust.token(),
        tls,
        conn: args.trust.conn.limits(),
        remote_write: args.remote_write.resolve(&file.remote_write)?,
    };
    let redis = args.bus.resolve(&file);
    runtime(true)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let mut push = aggregator::Push::default();
        if let Some(addr) = http_listen {
            push.listener = Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} for HTTP (pick another with --http-listen)")
            })?);
        }
        aggregator::run_with_push(
            config,
            listener,
            push,
            bus::open(redis).await?,
            Arc::new(Stats::default()),
            shutdown::signal(),
        )
        .await?;
        Ok(())
    })
}
