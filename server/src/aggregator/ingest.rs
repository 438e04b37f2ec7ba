//! The gRPC ingest service: one task reads an agent's stream, validates each
//! report, hands it to the bus publisher (which never makes it wait) and
//! queues its accepted samples for the store; a second task waits for each
//! write to become durable, in order, then sends the `Ack`. Reading and
//! writing overlap, acks stay in the order of the reports.
//!
//! Live consumers get a report as soon as it is validated, as in the
//! pipeline's design (validate → publish and insert side by side): waiting
//! for the fsync would add its latency to every dashboard. Only the `Ack`
//! promises durability; a report the store then fails to keep is replayed by
//! its agent and published again, which consumers absorb (state never rolls
//! back to an older timestamp).
//!
//! A stream that must end (a message over the size limit, a host over its
//! report rate, a store failure) ends in order: the reports read before it
//! are acked first, so the agent forgets exactly those and replays the rest.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::activity;
use super::intern::StreamTable;
use super::publish::Publisher;
use super::rate::ReportRate;
use super::reject_log::RejectLog;
use super::validate::{Checked, SeriesIndex, check_stream_report, normalize_host};
use super::watched::Watched;
use super::{Limits, Stats};
use crate::bus::Update;
use crate::model::HostMeta;
use crate::proto::{
    self, Ack, AgentMessage, MAX_MESSAGE_BYTES, RETRY_AFTER_MS, agent_message::Kind,
    ingest_server::Ingest,
};
use crate::store::{StoreError, StoreWriter, WriteJob, WriteOutcome};
use crate::time::now_ms;

/// Most reasons listed in one `Ack`; the count covers the rest.
const MAX_REASONS_PER_ACK: usize = 100;
/// Reports read ahead of their acks on one stream.
const PIPELINE_DEPTH: usize = 256;

pub struct IngestService {
    pub(super) limits: Arc<Limits>,
    pub(super) series: Arc<SeriesIndex>,
    pub(super) writer: StoreWriter,
    pub(super) publisher: Publisher,
    pub(super) rejects: Arc<RejectLog>,
    pub(super) rate: Option<Arc<ReportRate>>,
    pub(super) stats: Arc<Stats>,
    pub(super) watched: Arc<Watched>,
    pub(super) stop: watch::Receiver<bool>,
}

/// What the reader hands the ack task, in stream order.
enum Entry {
    Report(Pending),
    /// End the stream with this status once every earlier report is acked.
    End(Status),
}

/// A report whose samples are on their way to disk.
struct Pending {
    /// The validation outcome; its accepted points have gone to the store.
    checked: Checked,
    accepted: usize,
    durable: Option<oneshot::Receiver<Result<WriteOutcome, StoreError>>>,
}

type AckStream = Pin<Box<dyn Stream<Item = Result<Ack, Status>> + Send>>;

#[tonic::async_trait]
impl Ingest for IngestService {
    type StreamStream = AckStream;

    async fn stream(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<AckStream>, Status> {
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let inbound = request.into_inner();
        let (ack_tx, ack_rx) = mpsc::channel(PIPELINE_DEPTH);
        let (pending_tx, pending_rx) = mpsc::channel(PIPELINE_DEPTH);
        tokio::spawn(read_reports(inbound, pending_tx, self.context(), peer));
        tokio::spawn(send_acks(
            pending_rx,
            ack_tx,
            self.stats.clone(),
            self.watched.clone(),
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(ack_rx))))
    }
}

/// What the reader task needs, cloned out of the service.
struct Context {
    limits: Arc<Limits>,
    series: Arc<SeriesIndex>,
    writer: StoreWriter,
    publisher: Publisher,
    rejects: Arc<RejectLog>,
    rate: Option<Arc<ReportRate>>,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
}

impl IngestService {
    fn context(&self) -> Context {
        Context {
            limits: self.limits.clone(),
            series: self.series.clone(),
            writer: self.writer.clone(),
            publisher: self.publisher.clone(),
            rejects: self.rejects.clone(),
            rate: self.rate.clone(),
            stats: self.stats.clone(),
            stop: self.stop.clone(),
        }
    }
}

async fn read_reports(
    mut inbound: Streaming<AgentMessage>,
    pending: mpsc::Sender<Entry>,
    mut ctx: Context,
    peer: String,
) {
    // Ends the stream after the acks of everything read so far.
    let end = |status: Status| {
        let pending = pending.clone();
        async move {
            let _ = pending.send(Entry::End(status)).await;
        }
    };
    let mut host: Option<String> = None;
    let mut meta: Option<HostMeta> = None;
    // The series this stream has defined (interned protocol); a new stream
    // starts empty, so an agent defines its series again after a reconnect.
    let mut table = StreamTable::new(ctx.limits.max_series_per_stream);
    loop {
        let message = tokio::select! {
            biased;
            _ = ctx.stop.wait_for(|stop| *stop) => {
                tracing::debug!(%peer, "closing ingest stream for shutdown");
                return;
            }
            m = inbound.message() => m,
        };
        let message = match message {
            Ok(Some(m)) => m,
            Ok(None) => {
                tracing::info!(%peer, host = host.as_deref().unwrap_or(""), "agent disconnected");
                return;
            }
            Err(status) => {
                tracing::info!(%peer, host = host.as_deref().unwrap_or(""), error = %status.message(), "agent stream ended with an error");
                // Tell the agent why (an oversized message, say) when it can still hear it.
                end(explain_size(status, ctx.limits.max_message_bytes)).await;
                return;
            }
        };
        match message.kind {
            Some(Kind::Hello(hello)) => match normalize_host(&hello.host, &ctx.limits) {
                Ok(name) => {
                    let m = HostMeta {
                        os: hello.os,
                        kernel: hello.kernel,
                        cores: hello.cores,
                        memory_bytes: hello.memory_bytes,
                        agent_version: hello.agent_version,
                        interval_ms: hello.interval_ms,
                    };
                    tracing::info!(%peer, host = %name, agent_version = %m.agent_version, protocol = hello.protocol, "agent connected");
                    ctx.publisher.offer(Update::Meta {
                        host: name.clone(),
                        meta: m.clone(),
                    });
                    host = Some(name);
                    meta = Some(m);
                }
                Err(reason) => {
                    end(Status::invalid_argument(format!("hello refused: {reason}"))).await;
                    return;
                }
            },
            Some(Kind::Report(mut report)) => {
                if let Some(rate) = &ctx.rate {
                    // Charged to the host the report is for (one stream may
                    // carry several, as a relay or the benchmark's do).
                    let key = ReportRate::key(&report.host, ctx.limits.max_host_len);
                    if let Err(wait) = rate.take(&key, Instant::now()) {
                        ctx.stats.reports_throttled.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%peer, host = %key, seq = report.seq, limit = rate.per_second(), retry_after = ?wait, "host over its report rate: ending its stream; it will replay");
                        end(throttled(&key, rate.per_second(), wait)).await;
                        return;
                    }
                }
                // The tables travel apart from the samples: to the bus as
                // events of their own, and to the store's history.
                let tables = (report.processes.take(), report.cgroups.take());
                let mut checked =
                    check_stream_report(report, &ctx.limits, now_ms(), &ctx.series, &mut table);
                let activity = if refused_whole(&checked) {
                    Vec::new()
                } else {
                    activity::accept(&checked.accepted, tables, &ctx.publisher)
                };
                ctx.rejects.record(
                    &checked.accepted.host,
                    checked.accepted.seq,
                    checked.rejected,
                    &checked.rejections,
                );
                let accepted = checked.accepted.points.len();
                let durable = if accepted == 0 {
                    None
                } else {
                    ctx.publisher.offer_report(&checked.accepted);
                    // Host metadata rides along with the first report after a Hello.
                    let job_meta = if host.as_deref() == Some(checked.accepted.host.as_str()) {
                        meta.take()
                    } else {
                        None
                    };
                    let job = WriteJob {
                        host: checked.accepted.host.clone(),
                        meta: job_meta,
                        timestamp_ms: checked.accepted.timestamp_ms,
                        points: std::mem::take(&mut checked.accepted.points),
                        activity,
                    };
                    match ctx.writer.submit(job).await {
                        Ok(rx) => Some(rx),
                        Err(e) => {
                            end(Status::unavailable(e.to_string())).await;
                            return;
                        }
                    }
                };
                if pending
                    .send(Entry::Report(Pending {
                        checked,
                        accepted,
                        durable,
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            None => {
                end(Status::invalid_argument(
                    "empty message: send a hello or a report",
                ))
                .await;
                return;
            }
        }
    }
}

async fn send_acks(
    mut pending: mpsc::Receiver<Entry>,
    acks: mpsc::Sender<Result<Ack, Status>>,
    stats: Arc<Stats>,
    watched: Arc<Watched>,
) {
    while let Some(entry) = pending.recv().await {
        let Pending {
            checked,
            accepted,
            durable,
        } = match entry {
            Entry::Report(p) => p,
            Entry::End(status) => {
                let _ = acks.send(Err(status)).await;
                return;
            }
        };
        if let Some(durable) = durable {
            match durable.await {
                Ok(Ok(outcome)) => stats.stored(outcome),
                Ok(Err(e)) => {
                    // Not durable: end the stream so the agent keeps the
                    // report spooled and replays it once the store recovers.
                    let _ = acks.send(Err(Status::unavailable(e.to_string()))).await;
                    return;
                }
                Err(_) => {
                    let _ = acks
                        .send(Err(Status::unavailable("the store writer has stopped")))
                        .await;
                    return;
                }
            }
        }
        stats.rejected(checked.rejected);
        let watched = watched.is_watched(&checked.accepted.host, Instant::now());
        if acks
            .send(Ok(to_ack(&checked, accepted, watched)))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Whether validation refused the whole report (its host or its time), so
/// nothing of it, tables included, is kept.
fn refused_whole(checked: &Checked) -> bool {
    checked.accepted.points.is_empty() && checked.rejections.iter().any(|r| r.index == -1)
}

/// tonic's own text for an oversized message ("decoded message length too
/// large") names neither the flag nor what to do; say both.
fn explain_size(status: Status, limit: usize) -> Status {
    if status.code() != tonic::Code::OutOfRange
        || !status.message().contains("message length too large")
    {
        return status;
    }
    let size = status
        .message()
        .split("found ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("?");
    let mut status = Status::resource_exhausted(format!(
        "a message of {size} bytes is over this aggregator's limit of {limit} bytes \
         (--max-message-bytes); send fewer samples per report or raise the limit"
    ));
    if let Ok(value) = limit.to_string().parse() {
        status.metadata_mut().insert(MAX_MESSAGE_BYTES, value);
    }
    status
}

/// The refusal of a report over the host's rate, with the retry hint both in
/// words and as `retry-after-ms` metadata for the agent.
fn throttled(host: &str, per_second: u32, wait: Duration) -> Status {
    // Whole milliseconds, rounded up, so the hint is never early.
    let wait_ms = wait.as_nanos().div_ceil(1_000_000) as u64;
    let mut status = Status::resource_exhausted(format!(
        "host {host} is over the limit of {per_second} reports per second \
         (--max-reports-per-second on the aggregator); this report was not stored: \
         keep it and retry in {}",
        humantime::format_duration(Duration::from_millis(wait_ms))
    ));
    if let Ok(value) = wait_ms.to_string().parse() {
        status.metadata_mut().insert(RETRY_AFTER_MS, value);
    }
    status
}

fn to_ack(checked: &Checked, accepted: usize, watched: bool) -> Ack {
    let mut reasons: Vec<proto::Rejection> = checked
        .rejections
        .iter()
        .take(MAX_REASONS_PER_ACK)
        .map(|r| proto::Rejection {
            index: r.index,
            series: r.series.clone(),
            reason: r.reason.clone(),
        })
        .collect();
    if checked.rejections.len() > MAX_REASONS_PER_ACK {
        reasons.push(proto::Rejection {
            index: -1,
            series: String::new(),
            reason: format!(
                "{} more rejections not listed",
                checked.rejections.len() - MAX_REASONS_PER_ACK
            ),
        });
    }
    Ack {
        seq: checked.accepted.seq,
        accepted: accepted as u32,
        rejected: checked.rejected as u32,
        reasons,
        protocol: proto::PROTOCOL,
        watched,
    }
}
