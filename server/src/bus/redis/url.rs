//! `--redis redis://HOST:PORT[/DB]`: the one place a Redis URL is checked.
//!
//! A URL may carry a password (`redis://:SECRET@HOST:PORT`), so what is shown
//! in logs and errors is [`RedisUrl`]'s `Display`: host, port and database,
//! never the credentials.

use std::fmt;
use std::str::FromStr;

use ::redis::{Client, ConnectionAddr};

use crate::bus::BusError;

/// A checked `redis://` URL and the client it configures.
#[derive(Clone)]
pub struct RedisUrl {
    client: Client,
    shown: String,
}

impl RedisUrl {
    /// Checks `text` as a plain-TCP Redis URL, `redis://HOST:PORT[/DB]`,
    /// optionally with `USER:PASSWORD@` before the host.
    pub fn parse(text: &str) -> Result<Self, BusError> {
        let bad = |reason: &str| BusError::BadUrl {
            url: redact(text),
            reason: reason.to_owned(),
        };
        let Some(rest) = text.strip_prefix("redis://") else {
            return Err(bad(if text.contains("://") {
                "only the redis:// scheme is supported"
            } else {
                "a URL starting with redis:// is needed"
            }));
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        if host_port.is_empty() || host_port.starts_with(':') {
            return Err(bad("the host is missing"));
        }
        let client = Client::open(text).map_err(|e| bad(&e.to_string()))?;
        let info = client.get_connection_info();
        let shown = match info.addr() {
            ConnectionAddr::Tcp(host, port) if host.contains(':') => {
                format!("redis://[{host}]:{port}/{}", info.redis_settings().db())
            }
            ConnectionAddr::Tcp(host, port) => {
                format!("redis://{host}:{port}/{}", info.redis_settings().db())
            }
            _ => return Err(bad("only plain TCP connections are supported")),
        };
        Ok(Self { client, shown })
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }
}

impl FromStr for RedisUrl {
    type Err = BusError;

    fn from_str(text: &str) -> Result<Self, BusError> {
        Self::parse(text)
    }
}

impl fmt::Display for RedisUrl {
    /// `redis://HOST:PORT/DB`, without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.shown)
    }
}

/// `text` with any `user:password@` part replaced, for error messages.
fn redact(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &text[..scheme], &text[at + 1..])
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_urls_are_shown_with_port_and_database_and_never_a_password() {
        let cases = [
            ("redis://127.0.0.1:6380", "redis://127.0.0.1:6380/0"),
            (
                "redis://cache.internal:6379/3",
                "redis://cache.internal:6379/3",
            ),
            ("redis://localhost", "redis://localhost:6379/0"),
            ("redis://:s3cret@10.0.0.5:6379/1", "redis://10.0.0.5:6379/1"),
            ("redis://[::1]:6379", "redis://[::1]:6379/0"),
        ];
        for (text, shown) in cases {
            let url = RedisUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(url.to_string(), shown);
        }
    }

    #[test]
    fn refused_urls_name_the_value_and_the_accepted_form() {
        let cases = [
            ("localhost:6379", "starting with redis://"),
            ("http://localhost:6379", "only the redis:// scheme"),
            ("rediss://localhost:6379", "only the redis:// scheme"),
            ("redis://", "host is missing"),
            ("redis://:6379", "host is missing"),
            ("redis://localhost:port", ""),
            ("redis://localhost:6379/db", ""),
        ];
        for (text, reason) in cases {
            let err = RedisUrl::parse(text)
                .err()
                .unwrap_or_else(|| panic!("{text} was accepted"))
                .to_string();
            assert!(
                err.contains(&format!("{text:?}"))
                    && err.contains(reason)
                    && err.ends_with("expected redis://HOST:PORT[/DB]"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn a_password_never_appears_in_an_error() {
        let err = RedisUrl::parse("redis://:s3cret@host:notaport")
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
