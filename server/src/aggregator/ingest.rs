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

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::publish::Publisher;
use super::reject_log::RejectLog;
use super::validate::{Checked, SeriesIndex, check_report, normalize_host};
use super::{Limits, Stats};
use crate::bus::Update;
use crate::event::encode_metrics;
use crate::model::HostMeta;
use crate::proto::{self, Ack, AgentMessage, agent_message::Kind, ingest_server::Ingest};
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
    pub(super) stats: Arc<Stats>,
    pub(super) stop: watch::Receiver<bool>,
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
        tokio::spawn(read_reports(
            inbound,
            pending_tx,
            ack_tx.clone(),
            self.context(),
            peer,
        ));
        tokio::spawn(send_acks(pending_rx, ack_tx, self.stats.clone()));
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
            stop: self.stop.clone(),
        }
    }
}

async fn read_reports(
    mut inbound: Streaming<AgentMessage>,
    pending: mpsc::Sender<Pending>,
    acks: mpsc::Sender<Result<Ack, Status>>,
    mut ctx: Context,
    peer: String,
) {
    let mut host: Option<String> = None;
    let mut meta: Option<HostMeta> = None;
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
                let _ = acks.try_send(Err(status));
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
                    tracing::info!(%peer, host = %name, agent_version = %m.agent_version, "agent connected");
                    ctx.publisher.offer(Update::Meta {
                        host: name.clone(),
                        meta: m.clone(),
                    });
                    host = Some(name);
                    meta = Some(m);
                }
                Err(reason) => {
                    let _ = acks
                        .send(Err(Status::invalid_argument(format!(
                            "hello refused: {reason}"
                        ))))
                        .await;
                    return;
                }
            },
            Some(Kind::Report(report)) => {
                let checked = check_report(report, &ctx.limits, now_ms(), &ctx.series);
                ctx.rejects.record(
                    &checked.accepted.host,
                    checked.accepted.seq,
                    checked.rejected,
                    &checked.rejections,
                );
                let mut checked = checked;
                let accepted = checked.accepted.points.len();
                let durable = if accepted == 0 {
                    None
                } else {
                    let payload = encode_metrics(&checked.accepted);
                    ctx.publisher.offer(Update::Report {
                        report: checked.accepted.clone(),
                        payload,
                    });
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
                    };
                    match ctx.writer.submit(job).await {
                        Ok(rx) => Some(rx),
                        Err(e) => {
                            let _ = acks.send(Err(Status::unavailable(e.to_string()))).await;
                            return;
                        }
                    }
                };
                if pending
                    .send(Pending {
                        checked,
                        accepted,
                        durable,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            None => {
                let _ = acks
                    .send(Err(Status::invalid_argument(
                        "empty message: send a hello or a report",
                    )))
                    .await;
                return;
            }
        }
    }
}

async fn send_acks(
    mut pending: mpsc::Receiver<Pending>,
    acks: mpsc::Sender<Result<Ack, Status>>,
    stats: Arc<Stats>,
) {
    while let Some(Pending {
        checked,
        accepted,
        durable,
    }) = pending.recv().await
    {
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
        if acks.send(Ok(to_ack(&checked, accepted))).await.is_err() {
            return;
        }
    }
}

fn to_ack(checked: &Checked, accepted: usize) -> Ack {
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
    }
}
