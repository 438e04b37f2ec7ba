//! The agent's list of aggregators (`--aggregator A,B,...`): which one it
//! streams to, and moving on to the next, in order, when that one fails.
//!
//! What a newcomer must know: the agent sticks to the aggregator that works
//! and never fails back on its own, so a fleet whose agents list the
//! aggregators in different orders spreads over them and stays spread. Any
//! failure to keep a stream moves on, a refused token or certificate
//! included (during a rotation the next aggregator may already accept what
//! this one refuses); only a rate refusal does not, since a host over its
//! rate must slow down, not try its luck elsewhere. A list of one behaves
//! and logs exactly as a single `--aggregator` always did.

use super::AgentError;
use super::transport::Transport;
use crate::episode::Episode;
use crate::tls::ClientTls;

/// One aggregator of the list.
pub(super) struct Target {
    pub(super) url: String,
    pub(super) transport: Transport,
}

pub(super) struct Aggregators {
    list: Vec<Target>,
    current: usize,
    /// Failures since an ack last came back, on any aggregator: once every
    /// aggregator has failed in a row, switches stop being news.
    failures_in_a_row: usize,
    /// Every aggregator failing in a row: warned about once.
    all_down: Episode,
}

impl Aggregators {
    /// Checks every URL before anything connects, so a typo in the third
    /// entry is found at start-up, not in the middle of an outage.
    pub(super) fn new(urls: &[String], tls: &ClientTls) -> Result<Self, AgentError> {
        if urls.is_empty() {
            return Err(AgentError::Url {
                url: String::new(),
                reason: "no aggregator given".into(),
            });
        }
        let mut list: Vec<Target> = Vec::with_capacity(urls.len());
        for url in urls {
            if list.iter().any(|t| &t.url == url) {
                return Err(AgentError::Url {
                    url: url.clone(),
                    reason: "listed twice".into(),
                });
            }
            list.push(Target {
                url: url.clone(),
                transport: Transport::new(url, tls)?,
            });
        }
        Ok(Self {
            list,
            current: 0,
            failures_in_a_row: 0,
            all_down: Episode::new(),
        })
    }

    pub(super) fn current(&self) -> &Target {
        &self.list[self.current]
    }

    pub(super) fn url(&self) -> &str {
        &self.current().url
    }

    /// Every URL, comma-separated, for the start-up line.
    pub(super) fn all(&self) -> String {
        let urls: Vec<&str> = self.list.iter().map(|t| t.url.as_str()).collect();
        urls.join(",")
    }

    /// Whether there is anywhere else to go.
    pub(super) fn several(&self) -> bool {
        self.list.len() > 1
    }

    /// An ack came back: the current aggregator works.
    pub(super) fn proven(&mut self) {
        if self.all_down.recover().is_some() {
            tracing::info!(aggregator = %self.url(), "an aggregator answers again; streaming to it");
        }
        self.failures_in_a_row = 0;
    }

    /// The current aggregator failed for `reason`: the next one in the list
    /// is tried after the backoff. One line per switch; once every
    /// aggregator has failed in a row, one warning and then quiet.
    pub(super) fn move_on(&mut self, reason: &str, spooled: usize) {
        if !self.several() {
            return;
        }
        let from = self.current;
        self.current = (self.current + 1) % self.list.len();
        self.failures_in_a_row += 1;
        let (from, to) = (&self.list[from].url, &self.list[self.current].url);
        if self.failures_in_a_row < self.list.len() {
            tracing::warn!(%from, %to, %reason, spooled, "switching aggregator");
        } else if self.all_down.fail() {
            tracing::warn!(aggregators = %self.all(), last_reason = %reason, spooled, "no aggregator in the list is taking reports; spooling and trying each in turn with backoff");
        } else {
            tracing::debug!(%from, %to, %reason, "switching aggregator again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_list_is_walked_in_order_and_wraps_around() {
        let mut a = Aggregators::new(
            &urls(&["http://a:7070", "http://b:7070", "https://c:7070"]),
            &ClientTls::default(),
        )
        .unwrap();
        let mut seen = vec![a.url().to_owned()];
        for _ in 0..3 {
            a.move_on("unreachable", 0);
            seen.push(a.url().to_owned());
        }
        assert_eq!(
            seen,
            [
                "http://a:7070",
                "http://b:7070",
                "https://c:7070",
                "http://a:7070"
            ]
        );
    }

    #[test]
    fn bad_lists_are_refused_naming_the_entry_and_what_is_accepted() {
        let cases: &[(&[&str], &str, &str)] = &[
            (&["http://a:7070", "http://"], "\"http://\"", "has no host"),
            (&["ftp://a:7070"], "\"ftp://a:7070\"", "http:// or https://"),
            (&["a:7070"], "\"a:7070\"", "http:// or https://"),
            (&["http://a:7070", ""], "\"\"", "http:// or https://"),
            (&["http://a b:7070"], "\"http://a b:7070\"", ""),
            (&["http://a:port"], "\"http://a:port\"", "not a number"),
            (
                &["http://a:7070", "http://a:7070"],
                "\"http://a:7070\"",
                "listed twice",
            ),
            (&[], "", "no aggregator given"),
        ];
        for (list, names, reason) in cases {
            let err = Aggregators::new(&urls(list), &ClientTls::default())
                .err()
                .unwrap_or_else(|| panic!("{list:?} was accepted"))
                .to_string();
            assert!(
                err.contains(names)
                    && err.contains(reason)
                    && err.ends_with("https://metrics.example:7070"),
                "{list:?}: {err}"
            );
        }
    }
}
