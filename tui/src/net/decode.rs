//! The WebSocket protocol's frames as `mon top` reads them, turned into
//! store [`Update`]s. The frames' shapes are the `wire` crate's readers,
//! which ignore the fields `mon top` does not show, so newer servers stay
//! readable; this module maps them onto the store.

use wire::alert::{Alert as AlertFrame, state};
use wire::frame::{Frame, Snapshot};
use wire::host::HostMeta;
use wire::metrics::{Metrics, Value as ValueFrame};
use wire::{frame_type, kind};

use crate::state::{Alert, AlertState, HostSample, Meta, Update, Value};

mod activity;
mod in_place;

pub use in_place::{MetricsRef, read_metrics};

fn values(values: Vec<ValueFrame>) -> Vec<Value> {
    values
        .into_iter()
        .map(|v| Value {
            name: v.name,
            labels: v.labels.0,
            value: v.value,
        })
        .collect()
}

/// True for a `metrics` frame as mon servers write it, which
/// [`read_metrics`] reads in place.
pub fn is_metrics(text: &str) -> bool {
    frame_type(text) == Some(kind::METRICS)
}

/// The store's metadata of a host, from what its agent said in `Hello`.
pub fn meta(m: HostMeta) -> Meta {
    Meta {
        os: m.os,
        kernel: m.kernel,
        cores: m.cores,
        memory_bytes: m.memory_bytes,
        interval_ms: m.interval_ms,
    }
}

fn alert(a: AlertFrame) -> Alert {
    let state = match a.state.as_str() {
        state::PENDING => AlertState::Pending,
        state::FIRING => AlertState::Firing,
        _ => AlertState::Resolved,
    };
    let summary = a
        .annotations
        .get("summary")
        .or_else(|| a.annotations.get("description"))
        .cloned();
    Alert {
        id: a.id,
        host: a.host,
        name: a.alert,
        state,
        severity: if a.severity.is_empty() {
            "none".into()
        } else {
            a.severity
        },
        value: a.value,
        active_since_ms: a.active_since_ms,
        summary,
        labels: a.labels.into_iter().collect(),
        silenced: a.silenced,
    }
}

fn metrics(m: Metrics) -> Update {
    Update::Metrics(HostSample {
        host: m.host,
        ts_ms: m.ts,
        meta: None,
        values: values(m.values),
    })
}

fn snapshot(s: Snapshot) -> Update {
    Update::Snapshot {
        hosts: s
            .hosts
            .into_iter()
            .map(|h| HostSample {
                host: h.host,
                ts_ms: h.last_seen_ms,
                meta: h.meta.map(meta),
                values: values(h.values),
            })
            .collect(),
        alerts: s.alerts.into_iter().map(alert).collect(),
    }
}

/// Reads one text frame; `Ok(None)` for frames `mon top` has no use for.
pub fn parse(text: &str) -> Result<Option<Update>, String> {
    let unreadable = |e: serde_json::Error| format!("unreadable frame: {e}");
    // Frames that open with their type, as mon servers write them all, go
    // straight into their struct. The tagged enum below first copies a
    // whole frame into an intermediate tree to find its tag, which costs
    // more than the rest: for `metrics` frames (nearly all the traffic),
    // and for a snapshot (the whole fleet, which would briefly take
    // several times its size).
    match frame_type(text) {
        Some(kind::METRICS) => {
            return serde_json::from_str(text)
                .map(|m| Some(metrics(m)))
                .map_err(unreadable);
        }
        Some(kind::SNAPSHOT) => {
            return serde_json::from_str(text)
                .map(|s| Some(snapshot(s)))
                .map_err(unreadable);
        }
        Some(kind::PROCESSES) => {
            return serde_json::from_str(text)
                .map(|p| Some(activity::processes(p)))
                .map_err(unreadable);
        }
        Some(kind::CGROUPS) => {
            return serde_json::from_str(text)
                .map(|c| Some(activity::cgroups(c)))
                .map_err(unreadable);
        }
        _ => {}
    }
    let frame: Frame = serde_json::from_str(text).map_err(unreadable)?;
    Ok(match frame {
        Frame::Hello(h) => Some(Update::Connected {
            server: h.server,
            role: h.role,
        }),
        Frame::Snapshot(s) => Some(snapshot(s)),
        Frame::Metrics(m) => Some(metrics(m)),
        Frame::Alert(a) => Some(Update::Alert(alert(a))),
        Frame::Status(s) => Some(Update::Upstream {
            connected: s.is_connected(),
        }),
        Frame::Error(e) => Some(Update::ServerError(e.message)),
        Frame::Processes(p) => Some(activity::processes(p)),
        Frame::Cgroups(c) => Some(activity::cgroups(c)),
        Frame::Host(_) | Frame::Subscribed(_) | Frame::Other => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_frames_become_updates() {
        let snap = r#"{"type":"snapshot","v":1,"ts":1764180000000,
         "hosts":[{"host":"web-1","last_seen_ms":1764179999000,
           "meta":{"os":"Debian 12","kernel":"6.1.0","cores":2,"memory_bytes":25276502016,"agent_version":"0.1.0","interval_ms":5000},
           "values":[{"name":"cpu_usage_percent","labels":{},"value":12.5}]}],
         "alerts":[{"type":"alert","v":1,"id":"f1","host":"web-1","alert":"HostHighCpu","state":"firing",
           "severity":"warning","value":97.1,"labels":{},"annotations":{},"active_since_ms":1764180000000,"ts":1764180005000}]}"#;
        let Some(Update::Snapshot { hosts, alerts }) = parse(snap).unwrap() else {
            panic!("a snapshot")
        };
        assert_eq!(hosts[0].meta.as_ref().unwrap().interval_ms, 5000);
        assert_eq!(hosts[0].values[0].value, 12.5);
        assert_eq!(alerts[0].state, AlertState::Firing);

        let metrics = r#"{"type":"metrics","v":1,"host":"web-1","ts":1764180005000,"seq":43,
          "values":[{"name":"filesystem_used_percent","labels":{"mount":"/","fstype":"ext4"},"value":61.2}]}"#;
        let Some(Update::Metrics(m)) = parse(metrics).unwrap() else {
            panic!("metrics")
        };
        assert_eq!(
            m.values[0].labels,
            vec![
                ("fstype".to_owned(), "ext4".to_owned()),
                ("mount".to_owned(), "/".to_owned())
            ]
        );
        assert_eq!(
            parse(r#"{"type":"status","v":1,"upstream":"reconnecting"}"#).unwrap(),
            Some(Update::Upstream { connected: false })
        );
        assert_eq!(
            parse(r#"{"type":"subscribed","v":1,"hosts":[],"metrics":[]}"#).unwrap(),
            None
        );
        assert!(parse("not json").unwrap_err().contains("unreadable frame"));
    }

    #[test]
    fn a_metrics_frame_read_in_place_changes_the_store_as_the_full_reader_does() {
        use crate::state::Store;
        let frames = [
            // Labels out of order and a repeated label name, fields in an
            // unusual order, a field this reader does not know.
            r#"{"type":"metrics","v":1,"values":[{"labels":{},"value":12.5,"name":"cpu_usage_percent"},
              {"name":"filesystem_used_percent","labels":{"mount":"/","fstype":"xfs","fstype":"ext4"},"value":61.2,"unit":"%"},
              {"name":"network_receive_bytes_per_second","labels":{"iface":"eth0"},"value":1024}],
              "host":"web-1","ts":1764180005000,"seq":43}"#,
            r#"{"type":"metrics","v":1,"host":"web-1","ts":1764180006000,"seq":44,"values":[]}"#,
        ];
        let mut full = Store::new("ws://x/ws", false);
        let mut in_place = Store::new("ws://x/ws", false);
        for (i, text) in frames.iter().enumerate() {
            let now = 1_764_180_010_000 + i as i64;
            assert!(is_metrics(text));
            full.apply(parse(text).unwrap().unwrap(), now);
            let m = read_metrics(text).unwrap();
            in_place.apply_metrics(m.host, m.ts_ms, m.values(), now);
        }
        assert_eq!(full.hosts, in_place.hosts);
        assert_eq!(
            &in_place.hosts["web-1"].values["filesystem_used_percent"][0].0,
            &vec![
                ("fstype".to_owned(), "ext4".to_owned()),
                ("mount".to_owned(), "/".to_owned())
            ]
        );
        assert_eq!(
            full.updates_per_second(1_764_180_012_000),
            in_place.updates_per_second(1_764_180_012_000)
        );

        // A string with escapes cannot be borrowed: the full reader takes it.
        let escaped = r#"{"type":"metrics","v":1,"host":"web-1","ts":1,"values":[{"name":"filesystem_used_percent","labels":{"mount":"/mnt/a\"b"},"value":1}]}"#;
        assert!(read_metrics(escaped).is_err());
        let Some(Update::Metrics(m)) = parse(escaped).unwrap() else {
            panic!("metrics")
        };
        assert_eq!(m.values[0].labels[0].1, "/mnt/a\"b");
        // A frame that is wrong is wrong for both.
        for bad in [
            r#"{"type":"metrics","host":"web-1","values":[]}"#,
            r#"{"type":"metrics","host":"web-1","ts":1,"values":[{"name":"x"}]}"#,
            r#"{"type":"metrics","host":"web-1","ts":1,"ts":2,"values":[]}"#,
        ] {
            assert!(read_metrics(bad).is_err(), "{bad}");
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
