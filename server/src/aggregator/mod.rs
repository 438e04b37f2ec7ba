//! `mon aggregator`: gRPC ingest, validation, the hot path (bus) and the warm
//! path (SQLite).
//!
//! The one rule a newcomer must know: an `Ack` is sent only after the
//! report's accepted samples are committed, so an agent may forget a report
//! once it is acknowledged and must replay it otherwise.

mod auth;
mod ingest;
mod limits;
mod publish;
mod rate;
mod reject_log;
mod validate;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;

pub use auth::TokenCheck;
pub use ingest::RETRY_AFTER_MS;
pub use limits::{BURST_SECONDS, Limits};
pub use validate::{Checked, Rejection, SeriesIndex, check_report, normalize_host};

use crate::bus::SharedBus;
use crate::conn::{ConnLimits, Gate};
use crate::proto::ingest_server::IngestServer;
use crate::store::{self, StoreConfig, StoreError, WriteOutcome};
use crate::tls::ServerTls;

/// How long the publisher may take to drain its queue at shutdown.
const PUBLISH_DRAIN: Duration = Duration::from_secs(5);

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
}

#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Counters of what the aggregator did, for logs, tests and `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub samples_stored: AtomicU64,
    pub samples_duplicate: AtomicU64,
    pub samples_rejected: AtomicU64,
    pub reports_acked: AtomicU64,
    /// Reports refused because their host was over its report rate (each
    /// ends a stream; the agent replays the report later).
    pub reports_throttled: AtomicU64,
    /// Bus updates (reports and host metadata) dropped: the bus failed or
    /// could not keep up.
    pub bus_errors: AtomicU64,
    /// Bus updates the bus accepted.
    pub bus_published: AtomicU64,
    /// The store's maintenance counters, once the store is open.
    pub store: std::sync::OnceLock<Arc<store::StoreStats>>,
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
    let location = store::Location::new(config.store_url.as_ref(), &config.data_dir);
    let (writer, writer_handle, readers) = location.open(config.store.clone()).await?;
    let _ = stats.store.set(writer.stats());
    let known = tokio::task::spawn_blocking(move || readers.reader()?.series())
        .await
        .map_err(|e| StoreError::Read(e.to_string()))??;
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
    let (publisher, publisher_task) = publish::start(bus, stats.clone());
    let service = ingest::IngestService {
        limits: Arc::new(limits),
        series: Arc::new(SeriesIndex::new(known)),
        writer,
        publisher,
        rejects: Arc::new(reject_log::RejectLog::new(Duration::from_secs(10))),
        rate: rate.map(Arc::new),
        stats: stats.clone(),
        stop: stop_rx,
    };
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
