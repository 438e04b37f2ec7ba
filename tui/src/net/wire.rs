//! The WebSocket protocol's frames as `mon top` reads them, turned into
//! store [`Update`]s. This is the only place that knows the JSON shapes;
//! fields `mon top` does not show are ignored, so newer servers stay readable.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::state::{Alert, AlertState, HostSample, Meta, Update, Value};

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
    labels: BTreeMap<String, String>,
    value: f64,
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
}

fn values(values: Vec<ValueJson>) -> Vec<Value> {
    values
        .into_iter()
        .map(|v| Value {
            name: v.name,
            labels: v.labels.into_iter().collect(),
            value: v.value,
        })
        .collect()
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
        }
    }
}

/// Reads one text frame; `Ok(None)` for frames `mon top` has no use for.
pub fn parse(text: &str) -> Result<Option<Update>, String> {
    let frame: Frame = serde_json::from_str(text).map_err(|e| format!("unreadable frame: {e}"))?;
    Ok(match frame {
        Frame::Hello { server, role } => Some(Update::Connected { server, role }),
        Frame::Snapshot { hosts, alerts } => Some(Update::Snapshot {
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
        }),
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
}
