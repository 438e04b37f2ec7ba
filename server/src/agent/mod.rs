//! `mon agent`: collects this host's metrics every interval and streams them
//! to an aggregator over gRPC.
//!
//! Every report goes into a bounded spool first and leaves it only when its
//! `Ack` arrives, so a report survives any number of reconnects: after one,
//! the whole spool is replayed in order and the aggregator's idempotent
//! writes turn the replay into exactly-once storage.

mod auth;
mod cgroups;
mod collect;
mod diskstats;
mod failover;
mod intern;
mod journal;
mod oversize;
mod processes;
mod sensors;
mod spool;
mod statfs;
mod tables;
mod transport;

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

pub use auth::BearerToken;
pub use cgroups::{CgroupReader, ROOT as CGROUP_ROOT};
pub use collect::Collector;
pub use processes::{ProcessReader, TOP as TOP_ROWS};
pub use spool::Spool;

use crate::backoff::Backoff;
use crate::episode::{Episode, Throttle};
use crate::host_name;
use crate::proto::{
    self, Ack, AgentMessage, MAX_MESSAGE_BYTES, RETRY_AFTER_MS, agent_message::Kind,
    ingest_client::IngestClient,
};
use crate::time::now_ms;
use crate::tls::ClientTls;
use failover::Aggregators;
pub(crate) use intern::SeriesIds;
use oversize::Fit;
use tables::{Readers, Tables};
use transport::Transport;

#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Aggregator URLs, e.g. `http://127.0.0.1:7070`, or `https://...` for
    /// an aggregator serving TLS. The agent streams to the first and moves
    /// on to the next, in order, when the one it uses fails.
    pub aggregators: Vec<String>,
    /// Whom to trust for an `https://` aggregator (`--ca`).
    pub tls: ClientTls,
    /// Host name to report as; `None` means this machine's host name.
    pub host: Option<String>,
    pub interval: Duration,
    /// How often reports carry the process and cgroup tables while no
    /// viewer watches this host (while one does: every report); `ZERO`
    /// never.
    pub processes_interval: Duration,
    /// Most unacknowledged reports kept while the aggregator is away.
    pub spool_capacity: usize,
    /// Longest wait for acks of spooled reports when stopping.
    pub drain_timeout: Duration,
    /// Bearer token sent in the stream's metadata, for an aggregator started
    /// with one.
    pub token: Option<String>,
    /// Where unacknowledged reports are kept across a clean restart; `None`
    /// keeps them in memory only.
    pub spool_file: Option<std::path::PathBuf>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            aggregators: vec!["http://127.0.0.1:7070".into()],
            tls: ClientTls::default(),
            host: None,
            interval: Duration::from_secs(5),
            processes_interval: Duration::from_secs(30),
            spool_capacity: 720,
            drain_timeout: Duration::from_secs(3),
            token: None,
            spool_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid host name: {0}")]
    Host(String),
    #[error("cannot read this machine's metrics: {0}")]
    Collect(#[source] sysinfo::Error),
    #[error(
        "invalid aggregator URL {url:?}: {reason}; expected e.g. http://127.0.0.1:7070 or https://metrics.example:7070"
    )]
    Url { url: String, reason: String },
    #[error("invalid token: {0}")]
    Token(String),
}

/// What the agent did, returned (and logged) when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentSummary {
    pub produced: u64,
    pub acknowledged: u64,
    /// Given up: the oldest reports when the spool was full, and those over
    /// the aggregator's message size limit even without their tables.
    pub dropped: u64,
    pub unacknowledged: u64,
}

/// Longest wait an aggregator's retry hint can impose: a hint beyond it
/// is a misconfiguration, and the spool keeps filling meanwhile.
const MAX_RETRY_HINT: Duration = Duration::from_secs(300);

/// The open stream to the aggregator.
struct Link {
    tx: mpsc::Sender<AgentMessage>,
    acks: Streaming<Ack>,
    /// The series defined on this stream, once the aggregator has said
    /// (in an ack) that it takes interned series; plain reports until then.
    ids: Option<SeriesIds>,
}

impl Link {
    /// Queues the report in the form this stream sends it.
    fn send(&mut self, report: &proto::Report) -> Result<(), ()> {
        let report = match &mut self.ids {
            Some(ids) => ids.encode(report),
            None => report.clone(),
        };
        self.tx
            .try_send(AgentMessage {
                kind: Some(Kind::Report(report)),
            })
            .map_err(|_| ())
    }
}

/// Checks one `--aggregator` entry without connecting: `http://HOST:PORT`
/// or `https://HOST:PORT`.
pub fn check_aggregator_url(url: &str) -> Result<(), AgentError> {
    transport::check_url(url).map(|_| ())
}

/// Resolves the host name an agent reports as.
pub fn resolve_host(host: Option<&str>) -> Result<String, AgentError> {
    let name = match host {
        Some(h) => h.to_owned(),
        None => sysinfo::System::host_name().unwrap_or_else(|_| "localhost".into()),
    };
    host_name::normalize(&name, host_name::MAX_LEN).map_err(AgentError::Host)
}

/// The spool journaled to `path`, with what an earlier run left there. An
/// unreadable file is moved aside (never deleted: it may be worth a look)
/// and a fresh one started; if even that fails the spool lives in memory.
fn open_spool(path: &std::path::Path, capacity: usize) -> Spool {
    let opened = match Spool::with_file(path, capacity) {
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            let aside = path.with_extension("unreadable");
            tracing::warn!(file = %path.display(), moved_to = %aside.display(), error = %e, "moving an unreadable spool file aside");
            std::fs::rename(path, &aside).and_then(|()| Spool::with_file(path, capacity))
        }
        other => other,
    };
    match opened {
        Ok((spool, restored)) => {
            if restored.reports > 0 {
                tracing::info!(file = %path.display(), reports = restored.reports, "restored unacknowledged reports from the last run");
            }
            if restored.torn_bytes > 0 {
                tracing::warn!(file = %path.display(), bytes = restored.torn_bytes, "dropped a report cut short when the last run was killed");
            }
            spool
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot use the spool file; unacknowledged reports will not survive a restart");
            Spool::new(capacity)
        }
    }
}

/// Logs, once, that the spool's file could not be written.
fn log_journal_error(spool: &mut Spool, file: Option<&std::path::Path>) {
    if let (Some(e), Some(path)) = (spool.take_journal_error(), file) {
        tracing::warn!(file = %path.display(), error = %e, "cannot write the spool file; unacknowledged reports are kept in memory only and will not survive a restart");
    }
}

/// Collects and sends until `shutdown` resolves, then waits up to
/// `drain_timeout` for outstanding acks.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<AgentSummary, AgentError> {
    let host = resolve_host(config.host.as_deref())?;
    let mut aggregators = Aggregators::new(&config.aggregators, &config.tls)?;
    let token = BearerToken::new(config.token.as_deref()).map_err(AgentError::Token)?;
    let mut collector = Collector::new().map_err(AgentError::Collect)?;
    let hello = proto::Hello::from_meta(&host, collector.meta(config.interval.as_millis() as u64));
    let mut tables = Tables::new(
        Readers::system(),
        config.processes_interval,
        config.interval,
    );

    tracing::info!(
        host = %host,
        aggregator = %aggregators.all(),
        interval = %humantime::format_duration(config.interval),
        processes_interval = %humantime::format_duration(config.processes_interval),
        "agent started"
    );
    let spool_file = config.spool_file.as_deref();
    let mut spool = match spool_file {
        Some(path) => open_spool(path, config.spool_capacity),
        None => Spool::new(config.spool_capacity),
    };
    let mut summary = AgentSummary::default();
    // Number on from restored reports: acks settle everything up to their seq.
    let mut seq = spool.max_seq();
    let mut link: Option<Link> = None;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    let mut next_attempt = tokio::time::Instant::now();
    let mut was_connected = false;
    // Without a stream since a warning said so: the reconnection is then
    // told at info. Refusals and TLS failures, which retrying cannot fix,
    // are warned about once per stretch without a stream (a TLS failure
    // again when its advice changes).
    let mut down = Episode::new();
    let mut refused = Episode::new();
    let mut tls_failing: Episode<String> = Episode::new();
    // A link counts as working once an ack comes back on it: only then is
    // the backoff reset, so an aggregator that takes the stream and then
    // fails every report (a full disk, say) is retried with growing delays
    // and its repeated failure, for the same reason, logged once.
    let mut link_proven = false;
    let mut stream_failing: Episode<String> = Episode::new();
    // From the first rate refusal until the spool has drained: one warning
    // per episode, however many replays it takes.
    let mut throttled = Episode::new();
    let mut spool_full = Episode::new();
    let mut rejects = Throttle::new(Duration::from_secs(60));
    // The aggregator's message size limit, once a stream ended at a report
    // over it: later reports are fitted before they are spooled
    // (`oversize.rs`). Interning stays off once a refusal found every
    // spooled report within the limit: then only a report's first interned
    // form, which carries its series' definitions, can have been over it.
    let mut size_limit: Option<usize> = None;
    let mut interning = true;
    let mut oversized = Episode::new();
    let mut too_large = Throttle::new(Duration::from_secs(60));
    let mut too_large_dropped = 0;
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticker.tick() => {
                seq += 1;
                let mut report = proto::Report::from_points(&host, seq, now_ms(), collector.collect());
                tables.fill(&mut report, tokio::time::Instant::now()).await;
                summary.produced += 1;
                match size_limit.map(|limit| oversize::fit(&mut report, limit)) {
                    None | Some(Fit::Whole) => {}
                    Some(Fit::WithoutTables) => {
                        tracing::debug!(seq, "sending a report without its process tables: over the aggregator's message size limit with them");
                    }
                    Some(Fit::TooLarge) => {
                        too_large_dropped += 1;
                        if too_large.hit(1).is_some() {
                            tracing::warn!(seq, limit = size_limit, "dropped a report over the aggregator's message size limit even without its process tables; raise --max-message-bytes on the aggregator");
                        }
                        continue;
                    }
                }
                if spool.push(report.clone()) && spool_full.fail() {
                    tracing::warn!(capacity = config.spool_capacity, "spool full: dropping the oldest unacknowledged reports");
                }
                log_journal_error(&mut spool, spool_file);
                if let Some(l) = &mut link
                    && l.send(&report).is_err()
                {
                    // The aggregator stopped reading: start over with a replay.
                    if aggregators.several() {
                        aggregators.move_on("the aggregator is not keeping up", spool.len());
                        let _ = down.fail();
                    } else {
                        tracing::warn!("aggregator is not keeping up; reconnecting");
                    }
                    link = None;
                    next_attempt = tokio::time::Instant::now() + backoff.next_delay();
                }
            }
            ack = next_ack(&mut link) => match ack {
                Ok(Some(ack)) => {
                    tables.ack(ack.watched, tokio::time::Instant::now());
                    if let Some(l) = &mut link
                        && l.ids.is_none()
                        && ack.protocol >= 2
                        && interning
                    {
                        l.ids = Some(SeriesIds::new());
                    }
                    if !link_proven {
                        link_proven = true;
                        let _ = stream_failing.recover();
                        let _ = spool_full.recover();
                        let _ = oversized.recover();
                        backoff.reset();
                        aggregators.proven();
                    }
                    let before = spool.len();
                    spool.ack(ack.seq);
                    summary.acknowledged += (before - spool.len()) as u64;
                    log_journal_error(&mut spool, spool_file);
                    if spool.is_empty() && throttled.recover().is_some() {
                        tracing::info!("caught up: every report the aggregator refused for its rate limit is stored");
                    }
                    if ack.rejected > 0 && rejects.hit(1).is_some() {
                        let first = ack.reasons.first();
                        tracing::warn!(
                            seq = ack.seq,
                            rejected = ack.rejected,
                            series = first.map(|r| r.series.as_str()).unwrap_or(""),
                            reason = first.map(|r| r.reason.as_str()).unwrap_or(""),
                            "aggregator rejected samples"
                        );
                    }
                }
                Err(status) if retry_hint(&status).is_some() => {
                    // Over the aggregator's report rate: nothing is lost, the
                    // refused report and everything after it stay spooled and
                    // are replayed once the hint has passed.
                    if throttled.fail() {
                        tracing::warn!(reason = %status.message(), spooled = spool.len(), "aggregator refused reports over its rate limit; keeping them spooled and replaying later");
                    } else {
                        tracing::debug!(reason = %status.message(), "refused again for the rate limit");
                    }
                    link = None;
                    let hint = retry_hint(&status).unwrap_or_default().min(MAX_RETRY_HINT);
                    next_attempt = tokio::time::Instant::now() + hint.max(backoff.next_delay());
                }
                Err(status) if message_limit(&status).is_some() => {
                    // The report can never pass as it is: fit the spool, so
                    // the replay goes on past it, and every report after.
                    let limit = message_limit(&status).unwrap_or(usize::MAX);
                    size_limit = Some(limit);
                    let fitted = spool.fit(limit);
                    log_journal_error(&mut spool, spool_file);
                    if fitted == spool::Fitted::default() {
                        interning = false;
                    }
                    if oversized.fail() {
                        tracing::warn!(reason = %status.message(), limit, without_tables = fitted.without_tables, dropped = fitted.dropped, "a report was over the aggregator's message size limit; sending reports without their process tables where that fits, dropping the rest");
                    } else {
                        tracing::debug!(reason = %status.message(), limit, without_tables = fitted.without_tables, dropped = fitted.dropped, interning, "over the message size limit again");
                    }
                    link = None;
                    next_attempt = tokio::time::Instant::now() + backoff.next_delay();
                }
                Ok(None) | Err(_) => {
                    let why = match &ack { Err(s) => s.message().to_owned(), _ => "stream closed".into() };
                    if aggregators.several() {
                        aggregators.move_on(&why, spool.len());
                        let _ = down.fail();
                    } else if stream_failing.fail_as(why.clone()) {
                        tracing::warn!(reason = %why, spooled = spool.len(), "disconnected from aggregator; spooling reports");
                        let _ = down.fail();
                    } else {
                        tracing::debug!(reason = %why, spooled = spool.len(), "disconnected from aggregator again");
                    }
                    link = None;
                    next_attempt = tokio::time::Instant::now() + backoff.next_delay();
                }
            },
            _ = tokio::time::sleep_until(next_attempt), if link.is_none() => {
                match connect(&aggregators.current().transport, &token, &hello, &spool, config.spool_capacity).await {
                    Ok(l) => {
                        let outage = down.recover();
                        if aggregators.several() {
                            // The switch was logged; say where the stream
                            // went only the first time.
                            if was_connected {
                                tracing::debug!(aggregator = %aggregators.url(), replaying = spool.len(), "connected to aggregator");
                            } else {
                                tracing::info!(aggregator = %aggregators.url(), replaying = spool.len(), "connected to aggregator");
                            }
                        } else if throttled.is_open() {
                            tracing::debug!(replaying = spool.len(), "reconnected after a rate refusal");
                        } else if let Some(outage) = outage {
                            tracing::info!(replaying = spool.len(), failures = outage.failures, down_for = %outage.lasted_text(), "reconnected to aggregator");
                        } else if was_connected {
                            tracing::debug!(replaying = spool.len(), "reconnected to aggregator");
                        } else {
                            tracing::info!(aggregator = %aggregators.url(), "connected to aggregator");
                        }
                        was_connected = true;
                        let _ = refused.recover();
                        let _ = tls_failing.recover();
                        link_proven = false;
                        link = Some(l);
                    }
                    Err(e @ ConnectError::Refused(_)) => {
                        // Retrying cannot fix a wrong token, but the operator
                        // can, without losing the spooled reports; another
                        // aggregator may already take it (a rotation).
                        if aggregators.several() {
                            aggregators.move_on(&format!("refused this agent: {e}"), spool.len());
                        } else if refused.fail() {
                            tracing::warn!(aggregator = %aggregators.url(), error = %e, "aggregator refused this agent; spooling reports and retrying with backoff");
                        } else {
                            tracing::debug!(error = %e, "reconnect refused");
                        }
                        let _ = down.fail();
                        next_attempt = tokio::time::Instant::now() + backoff.next_delay();
                    }
                    Err(ConnectError::Tls { advice, .. }) => {
                        // Like a refusal, retrying cannot fix a certificate
                        // problem: say what to change once, keep spooling.
                        if aggregators.several() {
                            aggregators.move_on(&advice, spool.len());
                        } else if tls_failing.fail_as(advice.clone()) {
                            tracing::warn!(aggregator = %aggregators.url(), "{advice}; spooling reports and retrying with backoff");
                        } else {
                            tracing::debug!(error = %advice, "reconnect failed");
                        }
                        let _ = down.fail();
                        next_attempt = tokio::time::Instant::now() + backoff.next_delay();
                    }
                    Err(ConnectError::Failed(e)) => {
                        let news = down.fail();
                        if aggregators.several() {
                            aggregators.move_on(&e.to_string(), spool.len());
                        } else if news {
                            tracing::warn!(aggregator = %aggregators.url(), error = %e, "aggregator unreachable; spooling reports and retrying with backoff");
                        } else {
                            tracing::debug!(error = %e, "reconnect failed");
                        }
                        next_attempt = tokio::time::Instant::now() + backoff.next_delay();
                    }
                }
            }
        }
    }

    // Give the reports in flight a bounded chance to be acknowledged.
    if let Some(mut l) = link.take() {
        let deadline = tokio::time::Instant::now() + config.drain_timeout;
        while !spool.is_empty() {
            match tokio::time::timeout_at(deadline, l.acks.message()).await {
                Ok(Ok(Some(ack))) => {
                    let before = spool.len();
                    spool.ack(ack.seq);
                    summary.acknowledged += (before - spool.len()) as u64;
                }
                _ => break,
            }
        }
    }
    summary.dropped = spool.dropped() + too_large_dropped;
    summary.unacknowledged = spool.len() as u64;
    let owed = spool.len();
    match (spool_file, spool.close()) {
        (Some(path), Ok(())) if owed > 0 => {
            tracing::info!(file = %path.display(), reports = owed, "kept unacknowledged reports for the next run")
        }
        (Some(path), Err(e)) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot keep the unacknowledged reports; they are lost")
        }
        _ => {}
    }
    tracing::info!(
        produced = summary.produced,
        acknowledged = summary.acknowledged,
        dropped = summary.dropped,
        unacknowledged = summary.unacknowledged,
        "agent stopped"
    );
    Ok(summary)
}

async fn next_ack(link: &mut Option<Link>) -> Result<Option<Ack>, tonic::Status> {
    match link {
        Some(l) => l.acks.message().await,
        None => std::future::pending().await,
    }
}

/// The number the aggregator set as `key` metadata on a refusal
/// (`RESOURCE_EXHAUSTED`); `None` for any other status.
fn refusal_metadata<T: std::str::FromStr>(status: &tonic::Status, key: &str) -> Option<T> {
    if status.code() != tonic::Code::ResourceExhausted {
        return None;
    }
    status.metadata().get(key)?.to_str().ok()?.parse().ok()
}

/// The aggregator's retry hint on a rate refusal (`retry-after-ms`).
fn retry_hint(status: &tonic::Status) -> Option<Duration> {
    refusal_metadata(status, RETRY_AFTER_MS).map(Duration::from_millis)
}

/// The aggregator's message size limit on the refusal of an oversized
/// message (`max-message-bytes`).
fn message_limit(status: &tonic::Status) -> Option<usize> {
    refusal_metadata(status, MAX_MESSAGE_BYTES)
}

/// Longest wait for the aggregator to open the stream.
const STREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection attempt failed. Each says in its message what the
/// agent logs, and keeps what it was made from.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    /// The aggregator answered and refused this agent's token.
    #[error("{}", .0.message())]
    Refused(tonic::Status),
    /// The TLS handshake failed; `advice` says what to change.
    #[error("{advice}")]
    Tls {
        advice: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// Anything else: unreachable, slow, or the stream failed.
    #[error(transparent)]
    Failed(#[from] Unreachable),
}

/// Why the aggregator could not be reached, or would not open the stream.
/// The message holds the whole chain on one line (tonic's own error says
/// only "transport error"), then the hint of [`Transport::hint`].
#[derive(Debug, thiserror::Error)]
enum Unreachable {
    #[error("no answer from the aggregator within {0:?}")]
    Timeout(Duration),
    #[error("{}{hint}", .status.message())]
    Stream {
        #[source]
        status: tonic::Status,
        hint: &'static str,
    },
    #[error("{}{hint}", crate::error_chain::one_line(.source))]
    Transport {
        #[source]
        source: tonic::transport::Error,
        hint: &'static str,
    },
}

/// Opens the stream, sends `Hello` and replays the spool in order.
async fn connect(
    transport: &Transport,
    token: &BearerToken,
    hello: &proto::Hello,
    spool: &Spool,
    capacity: usize,
) -> Result<Link, ConnectError> {
    let channel = transport.open().await?;
    let mut client = IngestClient::with_interceptor(channel, token.clone());
    // Room for the hello, the whole spool and the reports of a stalled period.
    let (tx, rx) = mpsc::channel(capacity + 64);
    let hello = AgentMessage {
        kind: Some(Kind::Hello(hello.clone())),
    };
    let _ = tx.try_send(hello);
    // The replay goes plain: whether this aggregator takes interned series
    // is known from its first ack.
    for report in spool.iter() {
        let _ = tx.try_send(AgentMessage {
            kind: Some(Kind::Report(report.clone())),
        });
    }
    let response = tokio::time::timeout(STREAM_TIMEOUT, client.stream(ReceiverStream::new(rx)))
        .await
        .map_err(|_| Unreachable::Timeout(STREAM_TIMEOUT))?
        .map_err(|status| match status.code() {
            tonic::Code::Unauthenticated => ConnectError::Refused(status),
            _ => Unreachable::Stream {
                hint: transport.hint(status.message()),
                status,
            }
            .into(),
        })?;
    Ok(Link {
        tx,
        acks: response.into_inner(),
        ids: None,
    })
}
