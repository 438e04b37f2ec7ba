//! `mon aggregator`: gRPC ingest, validation, the hot path (bus) and the warm
//! path (SQLite).
//!
//! The one rule a newcomer must know: an `Ack` is sent only after the
//! report's accepted samples are committed, so an agent may forget a report
//! once it is acknowledged and must replay it otherwise.

mod activity;
mod auth;
mod ingest;
mod intern;
mod limits;
mod publish;
mod push;
mod rate;
mod receive;
mod receive_otlp;
mod reject_log;
mod validate;
mod watched;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;

pub use crate::stats::Stats;
pub use auth::TokenCheck;
pub use intern::StreamTable;
pub use limits::{BURST_SECONDS, Limits};
pub use push::{PushIngest, PushOutcome, PushSlot, Retry};
pub use receive::routes as push_routes;
pub use validate::{
    Checked, Rejection, SeriesIndex, check_report, check_stream_report, normalize_host,
};

use crate::bus::SharedBus;
use crate::conn::{ConnLimits, Gate};
use crate::proto::ingest_server::IngestServer;
use crate::store::{self, StoreConfig, StoreError, WriteOutcome};
use crate::tls::ServerTls;

/// How long the publisher may take to drain its queue at shutdown.
const PUBLISH_DRAIN: Duration = Duration::from_secs(5);
/// How long a remote-write request in flight may take at shutdown.
const FORWARD_DRAIN: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct AggregatorConfig {
    pub data_dir: PathBuf,
    /// The shared PostgreSQL store; `None` keeps the SQLite file in
    /// `data_dir`.
    pub store_url: Option<store::postgres::PgUrl>,
    pub limits: Limits,
    /// Retention, rollup timing and the clock of the warm store.
    pub store: StoreConfig,
    /// Bearer token every agent must send in its stream's metadata; `None`
    /// lets any agent in (fine on loopback).
    pub token: Option<String>,
    /// Certificate and key to serve gRPC over TLS; `None` serves plain h2c.
    pub tls: Option<ServerTls>,
    /// Open connections at most, and how soon each must open a stream.
    pub conn: ConnLimits,
    /// Where every stored sample is forwarded (`--remote-write`).
    pub remote_write: crate::forward::RemoteWrite,
}

impl AggregatorConfig {
    /// An aggregator keeping its SQLite store in `data_dir`, with every
    /// other setting at its default (no token, plain h2c, no forwarding).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            store_url: None,
            limits: Limits::default(),
            store: StoreConfig::default(),
            token: None,
            tls: None,
            conn: ConnLimits::default(),
            remote_write: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Its message holds the whole chain: tonic's own says only
    /// "transport error".
    #[error("gRPC server failed: {}", crate::error_chain::one_line(.0))]
    Serve(#[from] tonic::transport::Error),
    #[error("HTTP receiver failed: {0}")]
    Http(#[from] std::io::Error),
}

/// Where pushed samples (remote-write, OTLP) come in: the aggregator's own
/// HTTP listener (`--http-listen`), and a slot another router (`mon
/// serve`'s gateway) serves them from.
#[derive(Default)]
pub struct Push {
    pub listener: Option<TcpListener>,
    pub slot: PushSlot,
}

impl Stats {
    fn stored(&self, outcome: WriteOutcome) {
        self.samples_stored
            .fetch_add(outcome.inserted as u64, Ordering::Relaxed);
        self.samples_duplicate
            .fetch_add(outcome.duplicates as u64, Ordering::Relaxed);
    }

    fn rejected(&self, n: usize) {
        self.samples_rejected.fetch_add(n as u64, Ordering::Relaxed);
        self.reports_acked.fetch_add(1, Ordering::Relaxed);
    }
}

/// Serves gRPC ingest on `listener` until `shutdown` resolves, then stops
/// reading, acknowledges what is in flight, flushes the store and returns.
pub async fn run(
    config: AggregatorConfig,
    listener: TcpListener,
    bus: SharedBus,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AggregatorError> {
    run_with_push(config, listener, Push::default(), bus, stats, shutdown).await
}

/// [`run`], also taking pushed samples over HTTP: on `push.listener` if
/// there is one, and through `push.slot` while the store is open.
pub async fn run_with_push(
    config: AggregatorConfig,
    listener: TcpListener,
    push: Push,
    bus: SharedBus,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AggregatorError> {
    let location = store::Location::new(config.store_url.as_ref(), &config.data_dir);
    let mut store_config = config.store.clone();
    store_config.forward_log = !config.remote_write.is_empty();
    let (writer, writer_handle, readers) = location.open(store_config).await?;
    let _ = stats.store.set(writer.stats());
    // Before ingest starts, so every sample stored from now on is forwarded.
    let forwarders = crate::forward::start(&config.remote_write, &writer, &readers).await?;
    let _ = stats.forward.set(forwarders.stats.clone());
    let known = tokio::task::spawn_blocking(move || readers.reader()?.series())
        .await
        .map_err(|e| StoreError::Read(crate::store::cause(e)))??;
    tracing::info!(
        db = %location.describe(),
        series = known.len(),
        "store open"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    // A report older than raw retention would be deleted as soon as it was
    // stored, so it is refused like any other too-old report.
    let mut limits = config.limits.clone();
    limits.max_age = limits.max_age.min(config.store.retention.raw);
    let rate = rate::ReportRate::new(limits.max_reports_per_second, limits.report_burst);
    if let Some(rate) = &rate {
        tracing::info!(
            reports_per_second = rate.per_second(),
            burst = limits.report_burst,
            "report rate limited per host"
        );
    }
    // Which hosts a viewer watches, as the gateways say on the bus: their
    // agents read the process table with every report while it lasts.
    let watched = Arc::new(watched::Watched::default());
    let watch_task = {
        let (watched, bus, stop) = (watched.clone(), bus.clone(), stop_rx.clone());
        tokio::spawn(async move { watched.listen(bus, stop).await })
    };
    let (publisher, publisher_task) = publish::start(bus, stats.clone());
    let service = ingest::IngestService {
        limits: Arc::new(limits),
        series: Arc::new(SeriesIndex::new(known)),
        writer,
        publisher,
        rejects: Arc::new(reject_log::RejectLog::new(Duration::from_secs(10))),
        rate: rate.map(Arc::new),
        stats: stats.clone(),
        watched,
        stop: stop_rx,
    };
    // Pushed samples share everything with the agents' streams: limits,
    // the cardinality index, the writer, the publisher and the rate.
    push.slot.set(Some(PushIngest {
        limits: service.limits.clone(),
        series: service.series.clone(),
        writer: service.writer.clone(),
        publisher: service.publisher.clone(),
        rejects: service.rejects.clone(),
        rate: service.rate.clone(),
        stats: stats.clone(),
    }));
    let (http_stop_tx, http_stop_rx) = watch::channel(false);
    let http_task = push.listener.map(|listener| {
        let router = receive::standalone(
            push.slot.clone(),
            stats.clone(),
            config.token.as_deref(),
            &listener,
        );
        let tls = config.tls.as_ref().map(ServerTls::http_config);
        if let Ok(addr) = listener.local_addr() {
            let scheme = if tls.is_some() { "https" } else { "http" };
            tracing::info!(url = %format!("{scheme}://{addr}"), "aggregator listening for pushed samples (HTTP: /api/v1/write, /v1/metrics)");
        }
        let (inner_stop, _) = watch::channel(false);
        let mut stop = http_stop_rx.clone();
        tokio::spawn(crate::http::serve::serve(
            "aggregator-http",
            listener,
            router,
            tls,
            config.conn.clone(),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
            inner_stop,
        ))
    });
    let addr = listener.local_addr().ok();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        url = %addr.map(|a| format!("{scheme}://{a}")).unwrap_or_default(),
        token_required = config.token.is_some(),
        "aggregator listening for agents (gRPC)"
    );
    // The gate caps connections, closes those that open no stream within the
    // first-request timeout (the token check marks the ones that do), sets
    // TCP_NODELAY (acks are small frames) and backs off when descriptors run
    // out instead of handing tonic an error to spin on.
    let incoming = crate::conn::incoming(Gate::new("aggregator", config.conn.clone()), listener);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        // tonic runs each handshake in a task of its own, bounded by the
        // configured timeout, so a silent client holds up nobody.
        builder = builder.tls_config(tls.grpc_config())?;
    }
    let server = builder
        // A connection whose peer stops answering pings is closed: the
        // interval plus the timeout bound how long a dead agent holds one.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .add_service(InterceptedService::new(
            IngestServer::new(service).max_decoding_message_size(config.limits.max_message_bytes),
            TokenCheck::new(config.token.as_deref()),
        ));
    server
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            tracing::info!("aggregator stopping: draining streams");
            let _ = stop_tx.send(true);
        })
        .await?;
    watch_task.abort();
    // No new push is let in; those in flight finish (and are answered)
    // before the writer closes, since each holds a writer of its own.
    push.slot.set(None);
    let _ = http_stop_tx.send(true);
    if let Some(task) = http_task {
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP receiver failed"),
            Err(e) => tracing::warn!(error = %e, "the HTTP receiver panicked"),
            Ok(Ok(())) => {}
        }
    }
    // Forwarders hold a writer too; what they have not sent waits in the
    // forward log for the next start.
    forwarders.stop(FORWARD_DRAIN).await;
    // The service and every stream task held a writer; once they are gone the
    // writer thread commits what is queued and closes the database.
    writer_handle.finish().await;
    // The last stream task is gone, so the publisher drains what is queued
    // and ends; a bus that is down does not get to hold up the exit.
    let drain = tokio::time::timeout(PUBLISH_DRAIN, publisher_task).await;
    if drain.is_err() {
        tracing::warn!(
            "the bus did not take the last updates within {PUBLISH_DRAIN:?}; they are dropped"
        );
    }
    tracing::info!(
        samples_stored = stats.samples_stored.load(Ordering::Relaxed),
        reports_acked = stats.reports_acked.load(Ordering::Relaxed),
        bus_published = stats.bus_published.load(Ordering::Relaxed),
        bus_errors = stats.bus_errors.load(Ordering::Relaxed),
        "aggregator stopped"
    );
    Ok(())
}
