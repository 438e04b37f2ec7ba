//! The HTTP API's JSON bodies (gateway, and the edge for the live routes).
//! Every error, on every route, is [`ApiError`]: `{"error":"..."}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::host::LiveHost;

/// `GET /api/hosts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostList {
    pub hosts: Vec<LiveHost>,
}

/// `GET /api/alerts`: the active alerts, each the event it arrived as
/// (`A`: how they are held; [`Alert`] to read them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertList<A = Alert> {
    #[serde(default = "Vec::new")]
    pub alerts: Vec<A>,
}

/// `GET /api/series`: a range of one series from the store, with `value`
/// (the average) on every point, so a client can plot one field whatever
/// the tier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesAnswer {
    pub host: String,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub from: i64,
    pub to: i64,
    /// `raw`, `1m` or `1h`, chosen from the range.
    pub tier: String,
    pub step_ms: i64,
    pub points: Vec<SeriesPoint>,
}

/// One point of a [`SeriesAnswer`]; a raw sample has every figure equal
/// to its value and a count of 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesPoint {
    pub ts: i64,
    pub value: f64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub last: f64,
    pub count: u64,
}

/// The body of every error answer, with a 4xx or 5xx status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiError {
    /// What went wrong, for a person to act on.
    pub error: String,
}

/// Where a silence stands on the wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Starts in the future.
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

/// `POST /api/silences`: a silence to make. Read strictly (an unknown
/// field is refused), so a misspelt `ends_at_ms` is not a silence that
/// never ends.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Rule-file matchers, e.g. `["host=web-1", "alertname=~Disk.*"]`.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// How long from the start, e.g. `2h`; or give `ends_at_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Unix ms; default now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at_ms: Option<i64>,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

/// A silence as the API answers it (`POST`, `DELETE /api/silences/{id}`,
/// and each of `GET /api/silences`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SilenceJson {
    pub id: String,
    /// Rule-file syntax, e.g. `host="web-1"`.
    pub matchers: Vec<String>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub state: SilenceState,
    pub created_by: String,
    pub comment: String,
    /// When it was created or last expired (Unix ms).
    pub updated_ms: i64,
}

/// `GET /api/silences`: by start, expired ones for five days.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SilenceList {
    pub silences: Vec<SilenceJson>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_answer_round_trips() {
        let answer = SeriesAnswer {
            host: "web-1".into(),
            metric: "cpu_usage_percent".into(),
            labels: BTreeMap::new(),
            from: 1,
            to: 2,
            tier: "raw".into(),
            step_ms: 1,
            points: vec![SeriesPoint {
                ts: 1,
                value: 2.5,
                min: 2.5,
                max: 2.5,
                avg: 2.5,
                last: 2.5,
                count: 1,
            }],
        };
        let text = serde_json::to_string(&answer).unwrap();
        assert_eq!(
            text,
            r#"{"host":"web-1","metric":"cpu_usage_percent","labels":{},"from":1,"to":2,"tier":"raw","step_ms":1,"points":[{"ts":1,"value":2.5,"min":2.5,"max":2.5,"avg":2.5,"last":2.5,"count":1}]}"#
        );
        assert_eq!(serde_json::from_str::<SeriesAnswer>(&text).unwrap(), answer);
    }

    #[test]
    fn silence_bodies_round_trip() {
        let new = NewSilence {
            matchers: vec!["host=web-1".into()],
            duration: Some("2h".into()),
            ..NewSilence::default()
        };
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(
            text,
            r#"{"matchers":["host=web-1"],"duration":"2h","created_by":"","comment":""}"#
        );
        let back: NewSilence = serde_json::from_str(&text).unwrap();
        assert_eq!((back.matchers, back.duration), (new.matchers, new.duration));
        assert!(serde_json::from_str::<NewSilence>(r#"{"ends_at":1}"#).is_err());

        let made = SilenceJson {
            id: "s1".into(),
            matchers: vec![r#"host="web-1""#.into()],
            starts_at_ms: 1,
            ends_at_ms: 2,
            state: SilenceState::Active,
            created_by: "ops".into(),
            comment: String::new(),
            updated_ms: 1,
        };
        let list = SilenceList {
            silences: vec![made.clone()],
        };
        let text = serde_json::to_string(&list).unwrap();
        assert!(text.contains(r#""state":"active""#), "{text}");
        let back: SilenceList = serde_json::from_str(&text).unwrap();
        assert_eq!(back.silences, vec![made]);
    }

    #[test]
    fn an_error_body_is_one_field() {
        let text = serde_json::to_string(&ApiError {
            error: "no such host".into(),
        })
        .unwrap();
        assert_eq!(text, r#"{"error":"no such host"}"#);
    }
}
