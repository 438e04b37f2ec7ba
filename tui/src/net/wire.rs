//! The WebSocket protocol's frames as `mon top` reads them, turned into
//! store [`Update`]s. This is the only place that knows the JSON shapes;
//! fields `mon top` does not show are ignored, so newer servers stay readable.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::state::{Alert, AlertState, HostSample, Labels, Meta, Update, Value};

mod activity;
mod in_place;

pub use in_place::{MetricsRef, read_metrics};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame {
    Hello {
        #[serde(default)]
        server: String,
        #[serde(default)]
        role: String,
    },
    Snapshot {
        #[serde(default)]
        hosts: Vec<HostJson>,
        #[serde(default)]
        alerts: Vec<AlertJson>,
    },
    Metrics {
        host: String,
        ts: i64,
        #[serde(default)]
        values: Vec<ValueJson>,
    },
    Alert(AlertJson),
    Status {
        upstream: String,
    },
    // Read here only when `type` is not the first field; see `parse`.
    Processes(activity::ProcessesJson),
    Cgroups(activity::CgroupsJson),
    Error {
        #[serde(default)]
        message: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct ValueJson {
    name: String,
    #[serde(default)]
    labels: LabelsJson,
    value: f64,
}

/// A label object read straight into sorted pairs: no map is built only
/// to be turned into a vector.
#[derive(Debug, Default)]
struct LabelsJson(Labels);

impl<'de> Deserialize<'de> for LabelsJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = LabelsJson;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of label names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<LabelsJson, A::Error> {
                let mut pairs: Labels = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    // A repeated name keeps its last value, as a map would.
                    match pairs.iter_mut().find(|(name, _)| *name == k) {
                        Some(pair) => pair.1 = v,
                        None => pairs.push((k, v)),
                    }
                }
                // Servers send the names sorted; the store relies on it.
                if !pairs.is_sorted() {
                    pairs.sort();
                }
                Ok(LabelsJson(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[derive(Debug, Deserialize)]
struct SnapshotJson {
    #[serde(default)]
    hosts: Vec<HostJson>,
    #[serde(default)]
    alerts: Vec<AlertJson>,
}

/// A `metrics` frame, the one that arrives once per host per interval.
#[derive(Debug, Deserialize)]
struct MetricsJson {
    host: String,
    ts: i64,
    #[serde(default)]
    values: Vec<ValueJson>,
}

#[derive(Debug, Deserialize)]
struct MetaJson {
    #[serde(default)]
    os: String,
    #[serde(default)]
    kernel: String,
    #[serde(default)]
    cores: u32,
    #[serde(default)]
    memory_bytes: u64,
    #[serde(default)]
    interval_ms: u64,
}

#[derive(Debug, Deserialize)]
pub struct HostJson {
    host: String,
    #[serde(default)]
    last_seen_ms: i64,
    #[serde(default)]
    meta: Option<MetaJson>,
    #[serde(default)]
    values: Vec<ValueJson>,
}

#[derive(Debug, Deserialize)]
struct AlertJson {
    id: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    alert: String,
    state: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    active_since_ms: i64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    silenced: bool,
}

fn values(values: Vec<ValueJson>) -> Vec<Value> {
    values
        .into_iter()
        .map(|v| Value {
            name: v.name,
            labels: v.labels.0,
            value: v.value,
        })
        .collect()
}

/// The `type` of a frame whose first field it is, as every mon server
/// writes them, read without parsing the frame.
fn leading_type(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(r#"{"type":""#)?;
    rest.split_once('"').map(|(kind, _)| kind)
}

/// True for a `metrics` frame as mon servers write it, which
/// [`read_metrics`] reads in place.
pub fn is_metrics(text: &str) -> bool {
    leading_type(text) == Some("metrics")
}

impl From<MetaJson> for Meta {
    fn from(m: MetaJson) -> Self {
        Meta {
            os: m.os,
            kernel: m.kernel,
            cores: m.cores,
            memory_bytes: m.memory_bytes,
            interval_ms: m.interval_ms,
        }
    }
}

impl AlertJson {
    fn into_alert(self) -> Alert {
        let state = match self.state.as_str() {
            "pending" => AlertState::Pending,
            "firing" => AlertState::Firing,
            _ => AlertState::Resolved,
        };
        let summary = self
            .annotations
            .get("summary")
            .or_else(|| self.annotations.get("description"))
            .cloned();
        Alert {
            id: self.id,
            host: self.host,
            name: self.alert,
            state,
            severity: if self.severity.is_empty() {
                "none".into()
            } else {
                self.severity
            },
            value: self.value,
            active_since_ms: self.active_since_ms,
            summary,
            labels: self.labels.into_iter().collect(),
            silenced: self.silenced,
        }
    }
}

fn snapshot(hosts: Vec<HostJson>, alerts: Vec<AlertJson>) -> Update {
    Update::Snapshot {
        hosts: hosts
            .into_iter()
            .map(|h| HostSample {
                host: h.host,
                ts_ms: h.last_seen_ms,
                meta: h.meta.map(Meta::from),
                values: values(h.values),
            })
            .collect(),
        alerts: alerts.into_iter().map(AlertJson::into_alert).collect(),
    }
}

/// Reads one text frame; `Ok(None)` for frames `mon top` has no use for.
pub fn parse(text: &str) -> Result<Option<Update>, String> {
    let unreadable = |e: serde_json::Error| format!("unreadable frame: {e}");
    // `metrics` frames are nearly all the traffic: read them straight into
    // their struct. The tagged enum below first copies a whole frame into
    // an intermediate tree to find its tag, which costs more than the rest.
    if leading_type(text) == Some("metrics") {
        let m: MetricsJson = serde_json::from_str(text).map_err(unreadable)?;
        return Ok(Some(Update::Metrics(HostSample {
            host: m.host,
            ts_ms: m.ts,
            meta: None,
            values: values(m.values),
        })));
    }
    // A snapshot holds the whole fleet: copied into the tagged enum's
    // intermediate tree first, it would briefly take several times its size.
    if leading_type(text) == Some("snapshot") {
        let s: SnapshotJson = serde_json::from_str(text).map_err(unreadable)?;
        return Ok(Some(snapshot(s.hosts, s.alerts)));
    }
    match leading_type(text) {
        Some("processes") => return activity::processes(text).map(Some).map_err(unreadable),
        Some("cgroups") => return activity::cgroups(text).map(Some).map_err(unreadable),
        _ => {}
    }
    let frame: Frame = serde_json::from_str(text).map_err(unreadable)?;
    Ok(match frame {
        Frame::Hello { server, role } => Some(Update::Connected { server, role }),
        Frame::Snapshot { hosts, alerts } => Some(snapshot(hosts, alerts)),
        Frame::Metrics {
            host,
            ts,
            values: v,
        } => Some(Update::Metrics(HostSample {
            host,
            ts_ms: ts,
            meta: None,
            values: values(v),
        })),
        Frame::Alert(a) => Some(Update::Alert(a.into_alert())),
        Frame::Status { upstream } => Some(Update::Upstream {
            connected: upstream == "connected",
        }),
        Frame::Error { message } => Some(Update::ServerError(message)),
        Frame::Processes(p) => Some(p.into_update()),
        Frame::Cgroups(c) => Some(c.into_update()),
        Frame::Other => None,
    })
}

impl HostJson {
    /// The metadata of a `GET /api/hosts/{host}` answer, if the agent sent it.
    pub fn into_meta(self) -> Option<Meta> {
        self.meta.map(Meta::from)
    }
}

/// Points of a `GET /api/series` answer.
#[derive(Debug, Deserialize)]
pub struct SeriesAnswer {
    pub points: Vec<PointJson>,
}

#[derive(Debug, Deserialize)]
pub struct PointJson {
    pub ts: i64,
    pub value: f64,
}

/// The `{"error": "..."}` body of a failed API call.
#[derive(Debug, Deserialize)]
pub struct ApiError {
    pub error: String,
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
