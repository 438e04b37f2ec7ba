//! A host's `Hello` metadata, the `host` event that carries it on
//! `hosts.<host>`, and a host as the live state shows it (in a snapshot
//! frame and the `/api/hosts` answers).
//!
//! `{"type":"host","v":1,"host":"web-1","meta":{"os":"Debian 12","kernel":"6.1.0","cores":2,...}}`

use serde::{Deserialize, Serialize};

use crate::metrics::Value;
use crate::{EVENT_VERSION, kind};

/// What an agent says about its host in `Hello`. Also the `@meta` field
/// of a host's state in Redis. Read with every field defaulted, so an
/// agent that sends less (or a newer one that sends more) stays readable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostMeta {
    pub os: String,
    pub kernel: String,
    pub cores: u32,
    pub memory_bytes: u64,
    pub agent_version: String,
    pub interval_ms: u64,
}

/// A `host` event as written.
#[derive(Debug, Serialize)]
pub struct HostEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub v: u32,
    pub host: &'a str,
    pub meta: &'a HostMeta,
}

impl<'a> HostEvent<'a> {
    pub fn new(host: &'a str, meta: &'a HostMeta) -> Self {
        Self {
            kind: kind::HOST,
            v: EVENT_VERSION,
            host,
            meta,
        }
    }
}

/// A `host` event as read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Host {
    pub host: String,
    pub meta: HostMeta,
}

/// One host of the live state: its latest value of every series, when it
/// last reported and its metadata (`null` until its agent says hello).
/// The same shape is written and read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveHost {
    pub host: String,
    #[serde(default)]
    pub last_seen_ms: i64,
    #[serde(default)]
    pub meta: Option<HostMeta>,
    #[serde(default)]
    pub values: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_event_round_trips() {
        let meta = HostMeta {
            os: "Debian 12".into(),
            kernel: "6.1.0".into(),
            cores: 2,
            memory_bytes: 25_276_502_016,
            agent_version: "0.1.0".into(),
            interval_ms: 5000,
        };
        let text = serde_json::to_string(&HostEvent::new("web-1", &meta)).unwrap();
        assert_eq!(
            text,
            r#"{"type":"host","v":1,"host":"web-1","meta":{"os":"Debian 12","kernel":"6.1.0","cores":2,"memory_bytes":25276502016,"agent_version":"0.1.0","interval_ms":5000}}"#
        );
        let back: Host = serde_json::from_str(&text).unwrap();
        assert_eq!((back.host.as_str(), &back.meta), ("web-1", &meta));
    }

    #[test]
    fn a_live_host_round_trips_and_meta_is_null_until_hello() {
        let host = LiveHost {
            host: "web-1".into(),
            last_seen_ms: 10,
            meta: None,
            values: vec![],
        };
        let text = serde_json::to_string(&host).unwrap();
        assert_eq!(
            text,
            r#"{"host":"web-1","last_seen_ms":10,"meta":null,"values":[]}"#
        );
        assert_eq!(serde_json::from_str::<LiveHost>(&text).unwrap(), host);
    }
}
