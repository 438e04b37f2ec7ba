//! The WebSocket frames of `/ws` (protocol version 1, JSON text) from the
//! server to a client: `hello` and `snapshot` on connect, then the bus
//! events as they come (`metrics`, `alert`, `host`, and the watched
//! host's `processes` and `cgroups`), `subscribed` after a `subscribe`,
//! `status` from an edge about its upstream, `error` for a client message
//! the server could not take.

use serde::{Deserialize, Serialize};

use crate::activity::{Cgroups, Processes};
use crate::alert::Alert;
use crate::host::{Host, LiveHost};
use crate::metrics::Metrics;
use crate::{PROTOCOL_VERSION, kind};

/// `hello`, the first frame: who is answering.
#[derive(Debug, Serialize)]
pub struct HelloFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub v: u32,
    /// `mon VERSION`.
    pub server: &'a str,
    /// `gateway` or `edge`.
    pub role: &'a str,
}

impl<'a> HelloFrame<'a> {
    pub fn new(server: &'a str, role: &'a str) -> Self {
        Self {
            kind: kind::HELLO,
            v: PROTOCOL_VERSION,
            server,
            role,
        }
    }
}

/// `hello` as read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Hello {
    pub server: String,
    pub role: String,
}

/// `snapshot`: the whole live state a client's filter lets through, which
/// replaces what the client holds. `A` is how the active alerts are
/// written: the alert events as they arrived.
#[derive(Debug, Serialize)]
pub struct SnapshotFrame<'a, A: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub v: u32,
    pub ts: i64,
    pub hosts: &'a [LiveHost],
    pub alerts: &'a [A],
}

impl<'a, A: Serialize> SnapshotFrame<'a, A> {
    pub fn new(ts: i64, hosts: &'a [LiveHost], alerts: &'a [A]) -> Self {
        Self {
            kind: kind::SNAPSHOT,
            v: PROTOCOL_VERSION,
            ts,
            hosts,
            alerts,
        }
    }
}

/// `snapshot` as read; `A` is the alerts' reader (a relay that passes them
/// on untouched reads them as `serde_json::Value`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Snapshot<A = Alert> {
    #[serde(default)]
    pub ts: i64,
    #[serde(default)]
    pub hosts: Vec<LiveHost>,
    #[serde(default = "Vec::new")]
    pub alerts: Vec<A>,
}

/// `subscribed`: the filter now in force, as globs.
#[derive(Debug, Serialize)]
pub struct SubscribedFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub v: u32,
    pub hosts: &'a [&'a str],
    pub metrics: &'a [&'a str],
}

impl<'a> SubscribedFrame<'a> {
    pub fn new(hosts: &'a [&'a str], metrics: &'a [&'a str]) -> Self {
        Self {
            kind: kind::SUBSCRIBED,
            v: PROTOCOL_VERSION,
            hosts,
            metrics,
        }
    }
}

/// `subscribed` as read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Subscribed {
    pub hosts: Vec<String>,
    pub metrics: Vec<String>,
}

/// What `status` says of the edge's upstream.
pub mod upstream {
    pub const CONNECTED: &str = "connected";
    pub const RECONNECTING: &str = "reconnecting";
}

/// `status`, from an edge: its upstream link is [`upstream::CONNECTED`]
/// or [`upstream::RECONNECTING`]. Its version follows `upstream`, the
/// order this frame has always had.
#[derive(Debug, Serialize)]
pub struct StatusFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub upstream: &'a str,
    pub v: u32,
}

impl<'a> StatusFrame<'a> {
    pub fn new(upstream: &'a str) -> Self {
        Self {
            kind: kind::STATUS,
            upstream,
            v: PROTOCOL_VERSION,
        }
    }
}

/// `status` as read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Status {
    pub upstream: String,
}

impl Status {
    pub fn is_connected(&self) -> bool {
        self.upstream == upstream::CONNECTED
    }
}

/// The `code` of an `error` frame for a message that could not be read
/// or taken.
pub const BAD_MESSAGE: &str = "bad_message";

/// `error`: `code` is for programs, `message` for people.
#[derive(Debug, Serialize)]
pub struct ErrorFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub v: u32,
    pub code: &'a str,
    pub message: &'a str,
}

impl<'a> ErrorFrame<'a> {
    pub fn new(code: &'a str, message: &'a str) -> Self {
        Self {
            kind: kind::ERROR,
            v: PROTOCOL_VERSION,
            code,
            message,
        }
    }
}

/// `error` as read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServerError {
    pub code: String,
    pub message: String,
}

/// Any frame a client may receive, read by its `type` wherever that is;
/// a type this version does not know is [`Frame::Other`]. Hot paths read
/// the type first ([`crate::frame_type`]) and parse the one struct: this
/// enum copies a frame into an intermediate tree to find its tag.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    Hello(Hello),
    Snapshot(Snapshot),
    Metrics(Metrics),
    Alert(Alert),
    Host(Host),
    Processes(Processes),
    Cgroups(Cgroups),
    Subscribed(Subscribed),
    Status(Status),
    Error(ServerError),
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertEvent;
    use crate::host::HostMeta;
    use crate::metrics::{Labels, Value};

    #[test]
    fn the_servers_own_frames_round_trip() {
        let text = serde_json::to_string(&HelloFrame::new("mon 0.1.0", "gateway")).unwrap();
        assert_eq!(
            text,
            r#"{"type":"hello","v":1,"server":"mon 0.1.0","role":"gateway"}"#
        );
        let Frame::Hello(hello) = serde_json::from_str(&text).unwrap() else {
            panic!("a hello: {text}")
        };
        assert_eq!(
            (hello.server.as_str(), hello.role.as_str()),
            ("mon 0.1.0", "gateway")
        );

        let text = serde_json::to_string(&SubscribedFrame::new(&["web-*"], &["cpu_*"])).unwrap();
        assert_eq!(
            text,
            r#"{"type":"subscribed","v":1,"hosts":["web-*"],"metrics":["cpu_*"]}"#
        );
        let back: Subscribed = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (back.hosts, back.metrics),
            (vec!["web-*".to_owned()], vec!["cpu_*".to_owned()])
        );

        let text = serde_json::to_string(&StatusFrame::new(upstream::RECONNECTING)).unwrap();
        assert_eq!(text, r#"{"type":"status","upstream":"reconnecting","v":1}"#);
        let Frame::Status(status) = serde_json::from_str(&text).unwrap() else {
            panic!("a status: {text}")
        };
        assert!(!status.is_connected());

        let text =
            serde_json::to_string(&ErrorFrame::new(BAD_MESSAGE, "cannot read \"x\"")).unwrap();
        assert_eq!(
            text,
            r#"{"type":"error","v":1,"code":"bad_message","message":"cannot read \"x\""}"#
        );
        let back: ServerError = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (back.code.as_str(), back.message.as_str()),
            (BAD_MESSAGE, "cannot read \"x\"")
        );
    }

    #[test]
    fn a_snapshot_round_trips_with_its_hosts_and_alerts() {
        let hosts = vec![LiveHost {
            host: "web-1".into(),
            last_seen_ms: 1_764_179_999_000,
            meta: Some(HostMeta {
                cores: 2,
                ..HostMeta::default()
            }),
            values: vec![Value {
                name: "cpu_usage_percent".into(),
                labels: Labels::default(),
                value: 12.5,
            }],
        }];
        let annotations = Default::default();
        let alerts = [AlertEvent {
            kind: kind::ALERT,
            v: crate::EVENT_VERSION,
            id: "f1",
            host: "web-1",
            alert: "HostHighCpu",
            state: crate::alert::state::FIRING,
            severity: "warning",
            value: 97.1,
            labels: Default::default(),
            annotations: &annotations,
            active_since_ms: 1,
            ts: 2,
            silenced: false,
            silenced_by: &[],
        }];
        let text = serde_json::to_string(&SnapshotFrame::new(99, &hosts, &alerts)).unwrap();
        assert!(text.starts_with(r#"{"type":"snapshot","v":1,"ts":99,"hosts":[{"host":"web-1","last_seen_ms":1764179999000,"meta":{"os":"","#), "{text}");
        let Frame::Snapshot(back) = serde_json::from_str(&text).unwrap() else {
            panic!("a snapshot: {text}")
        };
        assert_eq!(back.ts, 99);
        assert_eq!(back.hosts, hosts);
        assert_eq!(back.alerts[0].id, "f1");
        assert!(back.alerts[0].is_active());
        // A relay keeps the alerts as they came.
        let relayed: Snapshot<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(relayed.alerts[0]["type"], "alert");
    }

    #[test]
    fn every_kind_names_its_frame_and_an_unknown_one_is_other() {
        let frames = [
            (kind::HELLO, r#"{"type":"hello"}"#),
            (kind::SNAPSHOT, r#"{"type":"snapshot"}"#),
            (kind::METRICS, r#"{"type":"metrics","host":"h","ts":1}"#),
            (kind::ALERT, r#"{"type":"alert","id":"a","state":"firing"}"#),
            (kind::HOST, r#"{"type":"host","host":"h","meta":{}}"#),
            (kind::PROCESSES, r#"{"type":"processes","host":"h","ts":1}"#),
            (kind::CGROUPS, r#"{"type":"cgroups","host":"h","ts":1}"#),
            (kind::SUBSCRIBED, r#"{"type":"subscribed"}"#),
            (kind::STATUS, r#"{"type":"status"}"#),
            (kind::ERROR, r#"{"type":"error"}"#),
        ];
        for (kind, text) in frames {
            assert_eq!(crate::frame_type(text), Some(kind));
            let frame: Frame = serde_json::from_str(text).unwrap();
            assert_ne!(frame, Frame::Other, "{kind}");
        }
        assert_eq!(
            serde_json::from_str::<Frame>(r#"{"v":1,"type":"news","x":1}"#).unwrap(),
            Frame::Other
        );
    }
}
