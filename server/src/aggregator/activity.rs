//! A report's process and cgroup tables on their way in: checked again
//! (the agent's word is not trusted: text cleaned, rows bounded, unshowable
//! figures left out), published as `processes` / `cgroups` events with the
//! host's current state, and handed to the store as history.

use crate::activity::{
    ActivityKind, CgroupTable, Check, ProcessTable, encode_cgroups, encode_processes,
};
use crate::bus::Update;
use crate::model::AcceptedReport;
use crate::proto;
use crate::store::ActivityRecord;

use super::publish::Publisher;

/// Publishes the tables a report carried and returns them for the store.
/// `report` is the validated report: its host and time are the tables'.
pub fn accept(
    report: &AcceptedReport,
    tables: (Option<proto::ProcessTable>, Option<proto::CgroupTable>),
    publisher: &Publisher,
) -> Vec<ActivityRecord> {
    let (processes, cgroups) = tables;
    let mut records = Vec::new();
    let ts = report.timestamp_ms;
    let mut keep = |kind: ActivityKind, payload, record| {
        publisher.offer(Update::Activity {
            host: report.host.clone(),
            kind,
            timestamp_ms: ts,
            payload,
        });
        records.push(record);
    };
    if let Some(table) = processes {
        let (table, dropped) = ProcessTable::from(table).checked();
        log_dropped(&report.host, ActivityKind::Processes, dropped);
        let payload = encode_processes(&report.host, ts, &table);
        let record = ActivityRecord::new(ActivityKind::Processes, ts, &table);
        keep(ActivityKind::Processes, payload, record);
    }
    if let Some(table) = cgroups {
        let (table, dropped) = CgroupTable::from(table).checked();
        log_dropped(&report.host, ActivityKind::Cgroups, dropped);
        let payload = encode_cgroups(&report.host, ts, &table);
        let record = ActivityRecord::new(ActivityKind::Cgroups, ts, &table);
        keep(ActivityKind::Cgroups, payload, record);
    }
    records
}

fn log_dropped(host: &str, kind: ActivityKind, dropped: crate::activity::Dropped) {
    if dropped.bad > 0 || dropped.over > 0 {
        tracing::debug!(
            host,
            table = kind.as_str(),
            unshowable = dropped.bad,
            over_limit = dropped.over,
            limit = crate::activity::MAX_ROWS,
            "rows of a table left out"
        );
    }
}
