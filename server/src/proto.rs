//! Types and service stubs generated from `proto/mon.proto`, the ingest
//! contract between agent and aggregator. Everything else in the crate speaks
//! the protocol-neutral types of [`crate::model`]; conversions live here.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("mon.v1");

use crate::model::{HostMeta, Point};

/// The ingest protocol this build speaks (`Hello.protocol`): 2 adds
/// interned series (`Report.defs`, `ids`, `values`) to the plain samples.
pub const PROTOCOL: u32 = 2;

/// gRPC metadata key of a refusal's retry hint, in milliseconds: the
/// aggregator sets it on `RESOURCE_EXHAUSTED`, and the agent waits at least
/// this long before it reconnects.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// gRPC metadata key of the aggregator's message size limit, in bytes: set
/// on the `RESOURCE_EXHAUSTED` that ends a stream for an oversized
/// message, so the agent can send that report, and later ones, within it.
pub const MAX_MESSAGE_BYTES: &str = "max-message-bytes";

impl Hello {
    pub fn from_meta(host: &str, meta: HostMeta) -> Self {
        Self {
            host: host.to_owned(),
            os: meta.os,
            kernel: meta.kernel,
            cores: meta.cores,
            memory_bytes: meta.memory_bytes,
            agent_version: meta.agent_version,
            interval_ms: meta.interval_ms,
            protocol: PROTOCOL,
        }
    }
}

impl Report {
    pub fn from_points(host: &str, seq: u64, timestamp_ms: i64, points: Vec<Point>) -> Self {
        Self {
            host: host.to_owned(),
            seq,
            timestamp_ms,
            samples: points
                .into_iter()
                .map(|p| Sample {
                    name: p.key.name.clone(),
                    labels: p
                        .key
                        .labels
                        .iter()
                        .map(|(name, value)| Label {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    value: p.value,
                })
                .collect(),
            ..Self::default()
        }
    }
}
