//! What a WebSocket client sends: `subscribe` (a filter) and `watch` (the
//! host whose process and cgroup tables it wants). Unlike the server's
//! frames these are read strictly (an unknown field is an error the client
//! is told about), since a mistyped filter would otherwise pass silently.

use serde::{Deserialize, Serialize};

/// A client message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Restricts the stream to hosts and metrics matching the globs (`*`
    /// and `?`); an empty or missing list means everything.
    Subscribe {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosts: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        metrics: Vec<String>,
    },
    /// Watches one host's process and cgroup tables (`null` stops; a new
    /// watch replaces the last): the latest are sent at once, then every
    /// new one, and the host's agent reads them with every report while
    /// someone watches. A relay (the edge) gives `hosts`, the list its own
    /// clients watch, instead.
    Watch {
        #[serde(default)]
        host: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosts: Vec<String>,
    },
}

impl ClientMessage {
    /// Every host, only these metrics.
    pub fn subscribe_metrics(metrics: &[String]) -> Self {
        Self::Subscribe {
            hosts: Vec::new(),
            metrics: metrics.to_vec(),
        }
    }

    /// One host's tables, or none.
    pub fn watch(host: Option<&str>) -> Self {
        Self::Watch {
            host: host.map(str::to_owned),
            hosts: Vec::new(),
        }
    }

    /// A relay's list of hosts.
    pub fn watch_all(hosts: Vec<String>) -> Self {
        Self::Watch { host: None, hosts }
    }

    /// The text frame to send.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a text frame, with an error a person can act on.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "cannot read message ({e}); expected {{\"type\":\"subscribe\",\"hosts\":[\"web-*\"],\"metrics\":[\"cpu_*\"]}} or {{\"type\":\"watch\",\"host\":\"web-1\"}}"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_round_trip_in_their_documented_form() {
        let cases = [
            (
                ClientMessage::subscribe_metrics(&["cpu_*".into()]),
                r#"{"type":"subscribe","metrics":["cpu_*"]}"#,
            ),
            (
                ClientMessage::Subscribe {
                    hosts: vec!["web-*".into()],
                    metrics: vec!["cpu_*".into()],
                },
                r#"{"type":"subscribe","hosts":["web-*"],"metrics":["cpu_*"]}"#,
            ),
            (
                ClientMessage::watch(Some("web-1")),
                r#"{"type":"watch","host":"web-1"}"#,
            ),
            (
                ClientMessage::watch(None),
                r#"{"type":"watch","host":null}"#,
            ),
            (
                ClientMessage::watch_all(vec!["web-1".into(), "db-2".into()]),
                r#"{"type":"watch","host":null,"hosts":["web-1","db-2"]}"#,
            ),
        ];
        for (message, text) in cases {
            assert_eq!(message.to_text(), text);
            assert_eq!(ClientMessage::parse(text), Ok(message));
        }
        assert_eq!(
            ClientMessage::parse(r#"{"type":"watch","hosts":["a"]}"#),
            Ok(ClientMessage::watch_all(vec!["a".into()]))
        );
    }

    #[test]
    fn bad_messages_say_what_is_expected() {
        for bad in [
            "not json",
            r#"{"type":"unsubscribe"}"#,
            r#"{"type":"subscribe","hosts":"web"}"#,
            r#"{"type":"subscribe","colour":1}"#,
        ] {
            let err = ClientMessage::parse(bad).unwrap_err();
            assert!(
                err.contains(r#"expected {"type":"subscribe""#),
                "{bad}: {err}"
            );
        }
    }
}
