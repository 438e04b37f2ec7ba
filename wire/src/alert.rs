//! The `alert` event: one alert transition, published on `alerts.<host>`
//! and sent as-is to the clients whose filter takes the host; a snapshot
//! lists the active ones.
//!
//! `labels` leaves out `alertname` and `host`, which the event carries as
//! `alert` and `host`; `silenced_by` is present only while a silence holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The states an alert event can say.
pub mod state {
    /// A pending alert whose condition cleared before its `for`: it never
    /// fired and is gone.
    pub const INACTIVE: &str = "inactive";
    pub const PENDING: &str = "pending";
    pub const FIRING: &str = "firing";
    pub const RESOLVED: &str = "resolved";
}

/// An `alert` event as written.
#[derive(Debug, Serialize)]
pub struct AlertEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub v: u32,
    /// Alertmanager's fingerprint of the full label set.
    pub id: &'a str,
    pub host: &'a str,
    /// The rule's name.
    pub alert: &'a str,
    /// One of [`state`].
    pub state: &'a str,
    pub severity: &'a str,
    /// The latest value (for a no-data alert, the seconds since the host's
    /// last sample).
    pub value: f64,
    pub labels: BTreeMap<&'a str, &'a str>,
    pub annotations: &'a BTreeMap<String, String>,
    /// When the condition began to hold (Unix ms).
    pub active_since_ms: i64,
    pub ts: i64,
    pub silenced: bool,
    /// The ids of the silences holding for it; left out when none does.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub silenced_by: &'a [String],
}

/// An `alert` event as read: the id and the state are required, anything
/// else may be missing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Alert {
    pub id: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub alert: String,
    pub state: String,
    #[serde(default)]
    pub severity: String,
    /// `null` when the value was not finite.
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub active_since_ms: i64,
    #[serde(default)]
    pub ts: i64,
    #[serde(default)]
    pub silenced: bool,
    #[serde(default)]
    pub silenced_by: Vec<String>,
}

impl Alert {
    /// Pending and firing alerts are active: a snapshot lists them, any
    /// other state removes the alert.
    pub fn is_active(&self) -> bool {
        self.state == state::PENDING || self.state == state::FIRING
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EVENT_VERSION, kind};

    #[test]
    fn an_alert_event_round_trips_and_names_its_silences_only_when_silenced() {
        let annotations = BTreeMap::from([("summary".to_owned(), "CPU at 97.1%".to_owned())]);
        let silences = vec!["s1".to_owned()];
        let mut event = AlertEvent {
            kind: kind::ALERT,
            v: EVENT_VERSION,
            id: "f1",
            host: "web-1",
            alert: "HostHighCpu",
            state: state::FIRING,
            severity: "warning",
            value: 97.1,
            labels: BTreeMap::from([("severity", "warning")]),
            annotations: &annotations,
            active_since_ms: 1_764_180_000_000,
            ts: 1_764_180_005_000,
            silenced: false,
            silenced_by: &[],
        };
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(
            text,
            r#"{"type":"alert","v":1,"id":"f1","host":"web-1","alert":"HostHighCpu","state":"firing","severity":"warning","value":97.1,"labels":{"severity":"warning"},"annotations":{"summary":"CPU at 97.1%"},"active_since_ms":1764180000000,"ts":1764180005000,"silenced":false}"#
        );
        let back: Alert = serde_json::from_str(&text).unwrap();
        assert!(back.is_active());
        assert_eq!(
            (back.id.as_str(), back.alert.as_str(), back.value, back.ts),
            ("f1", "HostHighCpu", Some(97.1), 1_764_180_005_000)
        );
        assert_eq!(back.annotations, annotations);
        assert_eq!(back.labels["severity"], "warning");

        event.silenced = true;
        event.silenced_by = &silences;
        event.state = state::RESOLVED;
        event.value = f64::NAN;
        let back: Alert = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(back.silenced_by, silences);
        assert_eq!(back.value, None, "a value that is not finite is null");
        assert!(!back.is_active());
    }

    #[test]
    fn an_alert_needs_an_id_and_a_state() {
        assert!(serde_json::from_str::<Alert>(r#"{"state":"firing"}"#).is_err());
        assert!(serde_json::from_str::<Alert>(r#"{"id":"a"}"#).is_err());
        assert!(serde_json::from_str::<Alert>(r#"{"id":"a","state":"pending"}"#).is_ok());
    }
}
