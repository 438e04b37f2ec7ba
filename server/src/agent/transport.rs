//! How the agent reaches its aggregator: `http://` is plain h2c, `https://`
//! is h2 over TLS with the trust of `--ca` (or the system's roots).
//!
//! The one thing to know: for `https://` tonic is given the `http://` form
//! of the URL and a connector that does the TLS itself, so every client of
//! `mon` (agent, edge, `mon top`) verifies certificates with the same
//! rustls configuration and explains a failed handshake the same way.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::{AgentError, ConnectError, Unreachable};
use crate::tls::ClientTls;

pub(super) struct Transport {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// Checks an aggregator URL: `http://HOST:PORT` or `https://HOST:PORT`.
/// Returns the URL tonic is given (always `http://`) and whether TLS is ours
/// to do.
pub(super) fn check_url(url: &str) -> Result<(String, bool), AgentError> {
    let bad = |reason: String| AgentError::Url {
        url: url.to_owned(),
        reason,
    };
    let (target, tls) = match url.strip_prefix("https://") {
        Some(rest) => (format!("http://{rest}"), true),
        None if url.starts_with("http://") => (url.to_owned(), false),
        None => return Err(bad("the scheme must be http:// or https://".into())),
    };
    let authority = &target["http://".len()..];
    let no_host = || bad("it has no host".into());
    if authority.is_empty() || authority.starts_with([':', '/', '?', '@']) {
        return Err(no_host());
    }
    let uri = target.parse::<Uri>().map_err(|e| bad(e.to_string()))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(no_host());
    }
    // `Uri` takes any text after the last colon as a port.
    let host_port = uri.authority().map_or("", |a| a.as_str());
    let host_port = host_port.rsplit('@').next().unwrap_or_default();
    let port = match host_port.rsplit_once("]:") {
        Some((_, port)) => Some(port),
        None if host_port.starts_with('[') => None,
        None => host_port.rsplit_once(':').map(|(_, port)| port),
    };
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(bad(format!(
            "the port {port:?} is not a number from 0 to 65535"
        )));
    }
    Ok((target, tls))
}

impl Transport {
    pub(super) fn new(url: &str, tls: &ClientTls) -> Result<Self, AgentError> {
        let bad = |reason: String| AgentError::Url {
            url: url.to_owned(),
            reason,
        };
        let (target, secure) = check_url(url)?;
        let tls = secure.then(|| tls.config(&[b"h2"]));
        let mut endpoint = Endpoint::from_shared(target)
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(Duration::from_secs(3))
            .http2_keep_alive_interval(Duration::from_secs(15))
            .keep_alive_timeout(Duration::from_secs(10))
            .tcp_nodelay(true);
        if tls.is_some() {
            let origin = url.parse::<Uri>().map_err(|e| bad(e.to_string()))?;
            endpoint = endpoint.origin(origin);
        }
        Ok(Self { endpoint, tls })
    }

    pub(super) async fn open(&self) -> Result<Channel, ConnectError> {
        let result = match &self.tls {
            None => self.endpoint.connect().await,
            Some(config) => {
                let config = config.clone();
                let connector = tower::service_fn(move |uri: Uri| {
                    let config = config.clone();
                    async move {
                        let host = uri.host().unwrap_or_default().to_owned();
                        let port = uri.port_u16().unwrap_or(443);
                        ClientTls::connect(config, &host, port)
                            .await
                            .map(TokioIo::new)
                    }
                });
                self.endpoint.connect_with_connector(connector).await
            }
        };
        result.map_err(|source| match crate::tls::explain(&source, "--ca") {
            Some(advice) => ConnectError::Tls { advice, source },
            None => Unreachable::Transport {
                hint: self.hint(&crate::error_chain::one_line(&source)),
                source,
            }
            .into(),
        })
    }

    /// What to add to `error` when the TCP connection was made but plain
    /// HTTP/2 failed: a TLS port answers a plain client with an alert or a
    /// hang-up, which h2 reports only as a protocol or transport error.
    pub(super) fn hint(&self, error: &str) -> &'static str {
        if self.tls.is_none() && !error.contains("tcp connect") {
            "; the aggregator did not speak plain HTTP/2: if it was started with --tls-cert, \
             use https:// in --aggregator"
        } else {
            ""
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_aggregator_is_told_with_its_whole_chain_which_it_keeps() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let transport =
            Transport::new(&format!("http://127.0.0.1:{port}"), &ClientTls::default()).unwrap();
        let Err(ConnectError::Failed(e)) = transport.open().await else {
            panic!("a closed port was reached");
        };
        let text = e.to_string();
        assert!(
            text.starts_with("transport error: tcp connect error"),
            "tonic's own message says only \"transport error\": {text}"
        );
        assert!(!text.contains("plain HTTP/2"), "no TLS hint: {text}");
        let source = std::error::Error::source(&e).expect("the transport error is kept");
        assert!(source.is::<tonic::transport::Error>(), "{source:?}");
        assert_eq!(crate::error_chain::one_line(&e), text, "told once");
    }
}
