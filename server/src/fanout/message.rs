//! The WebSocket protocol (version 1) as the server speaks it: the frames
//! it writes itself, the checks it makes of what clients send, and their
//! filters. The shapes are the `wire` crate's (the contract is in its
//! PROTOCOL.md); `metrics` and `alert` frames are the bus payloads as-is.

use wire::frame::{ErrorFrame, HelloFrame, StatusFrame, SubscribedFrame};

use crate::bus::Pattern;

pub use wire::client::ClientMessage;

/// Longest host name a `watch` may give (as DNS allows).
const MAX_WATCH_HOST: usize = 253;
/// Most hosts one `watch` may list.
pub const MAX_WATCH_HOSTS: usize = 256;

/// Most globs in one `subscribe`.
const MAX_GLOBS: usize = 64;

/// Every host a `watch` names, lower-cased and without repeats, or why
/// one of them cannot be watched.
pub fn watch_hosts(host: Option<&str>, hosts: &[String]) -> Result<Vec<String>, String> {
    if hosts.len() > MAX_WATCH_HOSTS {
        return Err(format!(
            "watch lists {} hosts; at most {MAX_WATCH_HOSTS} are accepted",
            hosts.len()
        ));
    }
    let mut all = Vec::with_capacity(hosts.len() + 1);
    for h in host.into_iter().chain(hosts.iter().map(String::as_str)) {
        let h = watch_host(h)?;
        if !all.contains(&h) {
            all.push(h);
        }
    }
    Ok(all)
}

/// The host a `watch` names, lower-cased as ingest stores it, or why it
/// cannot be one.
pub fn watch_host(host: &str) -> Result<String, String> {
    if host.is_empty() || host.len() > MAX_WATCH_HOST || host.chars().any(|c| c.is_control()) {
        return Err(format!(
            "watch host {:?} is not a host name: 1 to {MAX_WATCH_HOST} characters, no control characters",
            host.chars().take(80).collect::<String>()
        ));
    }
    Ok(host.to_ascii_lowercase())
}

/// A client's subscription.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    hosts: Vec<Pattern>,
    metrics: Vec<Pattern>,
}

impl Filter {
    pub fn new(hosts: &[String], metrics: &[String]) -> Result<Self, String> {
        if hosts.len() > MAX_GLOBS || metrics.len() > MAX_GLOBS {
            return Err(format!(
                "subscribe lists {} host and {} metric globs; at most {MAX_GLOBS} of each are accepted",
                hosts.len(),
                metrics.len()
            ));
        }
        let parse = |globs: &[String]| {
            globs
                .iter()
                .map(|g| Pattern::parse(g).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            hosts: parse(hosts)?,
            metrics: parse(metrics)?,
        })
    }

    pub fn host(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|p| p.matches(host))
    }

    pub fn metric(&self, name: &str) -> bool {
        self.metrics.is_empty() || self.metrics.iter().any(|p| p.matches(name))
    }

    /// True when no metric is filtered out, so shared frames can be sent as-is.
    pub fn all_metrics(&self) -> bool {
        self.metrics.is_empty()
    }

    pub fn describe(&self) -> (Vec<&str>, Vec<&str>) {
        (
            self.hosts.iter().map(Pattern::as_str).collect(),
            self.metrics.iter().map(Pattern::as_str).collect(),
        )
    }
}

pub fn hello(role: &str) -> String {
    let server = concat!("mon ", env!("CARGO_PKG_VERSION"));
    serde_json::to_string(&HelloFrame::new(server, role)).unwrap_or_default()
}

/// An `error` frame: `code` is machine-readable, `message` is for people.
pub fn error(code: &str, message: &str) -> String {
    serde_json::to_string(&ErrorFrame::new(code, message)).unwrap_or_default()
}

pub fn subscribed(filter: &Filter) -> String {
    let (hosts, metrics) = filter.describe();
    serde_json::to_string(&SubscribedFrame::new(&hosts, &metrics)).unwrap_or_default()
}

/// A `status` frame about the upstream link (sent by the edge).
pub fn status(upstream: &str) -> String {
    serde_json::to_string(&StatusFrame::new(upstream)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_parses_and_builds_a_filter() {
        let m =
            ClientMessage::parse(r#"{"type":"subscribe","hosts":["web-*"],"metrics":["cpu_*"]}"#)
                .unwrap();
        let ClientMessage::Subscribe { hosts, metrics } = m else {
            panic!("not a subscribe: {m:?}");
        };
        let f = Filter::new(&hosts, &metrics).unwrap();
        assert!(f.host("web-1") && !f.host("db-1"));
        assert!(f.metric("cpu_usage_percent") && !f.metric("load1"));
    }

    #[test]
    fn watch_names_one_host_or_none() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"watch","host":"Web-1"}"#),
            Ok(ClientMessage::Watch {
                host: Some("Web-1".into()),
                hosts: vec![]
            })
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"watch","host":null}"#),
            Ok(ClientMessage::Watch {
                host: None,
                hosts: vec![]
            })
        );
        assert_eq!(
            watch_hosts(None, &["A".into(), "b".into(), "a".into()]),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        let many: Vec<String> = (0..300).map(|i| format!("h{i}")).collect();
        assert!(
            watch_hosts(None, &many)
                .unwrap_err()
                .contains("at most 256")
        );
        assert_eq!(watch_host("Web-1").as_deref(), Ok("web-1"));
        let err = watch_host("a\u{1b}b").unwrap_err();
        assert!(err.contains("no control characters"), "{err}");
        assert!(watch_host(&"x".repeat(300)).is_err());
    }

    // What a bad message is answered with is the wire crate's
    // (`wire::client`); a bad host pattern is the filter's.
    #[test]
    fn a_bad_host_pattern_is_named() {
        let err = Filter::new(&["web-[12]".into()], &[]).unwrap_err();
        assert!(err.contains("web-[12]"), "{err}");
    }
}
