//! Reports over the aggregator's message size limit (`--max-message-bytes`).
//!
//! The aggregator ends the stream at a message over its limit and names
//! the limit ([`MAX_MESSAGE_BYTES`](crate::proto::MAX_MESSAGE_BYTES)).
//! Replayed as it is, that report would end every later stream at the same
//! place, and nothing after it would be stored again. The bulky part of a
//! report is its process and cgroup tables, a view of the moment; its
//! samples are the series. So a report over the limit goes without its
//! tables, and only one whose samples alone are over it is dropped.

use prost::Message;

use crate::proto::{AgentMessage, Report, agent_message::Kind};

/// What [`fit`] did to a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Within the limit as it was.
    Whole,
    /// Within it once its tables were taken out.
    WithoutTables,
    /// Over it even without them: not sendable to this aggregator.
    TooLarge,
}

/// The bytes `report` takes as a message in its plain form, the form a
/// replay sends and the one the aggregator's limit is checked against.
pub fn message_len(report: &mut Report) -> usize {
    let message = AgentMessage {
        kind: Some(Kind::Report(std::mem::take(report))),
    };
    let len = message.encoded_len();
    if let Some(Kind::Report(r)) = message.kind {
        *report = r;
    }
    len
}

/// Makes `report` fit in `limit` bytes if taking its tables out does.
pub fn fit(report: &mut Report, limit: usize) -> Fit {
    if message_len(report) <= limit {
        return Fit::Whole;
    }
    if report.processes.is_none() && report.cgroups.is_none() {
        return Fit::TooLarge;
    }
    report.processes = None;
    report.cgroups = None;
    if message_len(report) <= limit {
        Fit::WithoutTables
    } else {
        Fit::TooLarge
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Process, ProcessTable, Sample};

    fn report(samples: usize, processes: usize) -> Report {
        Report {
            host: "web-1".into(),
            seq: 7,
            timestamp_ms: 1_764_000_000_000,
            samples: (0..samples)
                .map(|i| Sample {
                    name: format!("metric_{i}"),
                    value: i as f64,
                    ..Default::default()
                })
                .collect(),
            processes: (processes > 0).then(|| ProcessTable {
                total: processes as u32,
                processes: (0..processes)
                    .map(|pid| Process {
                        pid: pid as u32,
                        name: "postgres".into(),
                        command: "postgres: checkpointer ".repeat(8),
                        ..Default::default()
                    })
                    .collect(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_length_is_what_the_message_encodes_to_and_the_report_is_left_as_it_was() {
        let mut r = report(20, 10);
        let before = r.clone();
        let encoded = AgentMessage {
            kind: Some(Kind::Report(r.clone())),
        }
        .encode_to_vec()
        .len();
        assert_eq!(message_len(&mut r), encoded);
        assert_eq!(r, before);
    }

    #[test]
    fn a_report_over_the_limit_loses_its_tables_and_keeps_its_samples() {
        let mut r = report(20, 10);
        let samples_only = message_len(&mut report(20, 0));
        let whole = message_len(&mut r);
        assert!(whole > samples_only + 1_000, "{whole} vs {samples_only}");

        assert_eq!(fit(&mut r.clone(), whole), Fit::Whole);
        assert_eq!(fit(&mut r, samples_only), Fit::WithoutTables);
        assert!(r.processes.is_none() && r.cgroups.is_none());
        assert_eq!(r.samples.len(), 20);
        assert_eq!(r.seq, 7);
        // Samples alone over the limit: nothing can make it fit.
        assert_eq!(fit(&mut report(20, 10), samples_only - 1), Fit::TooLarge);
        assert_eq!(fit(&mut report(20, 0), samples_only - 1), Fit::TooLarge);
    }
}
