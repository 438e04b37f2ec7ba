//! The flags every listening role shares (`--token`, `--insecure`,
//! `--tls-cert`, `--tls-key`, `--max-connections`) and the checks a role
//! makes with them before it binds.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use server::conn::ConnLimits;
use server::tls::ServerTls;
use server::trust::{Exposure, check_listen};

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Bearer token clients must present: agents in gRPC metadata, HTTP clients
    /// as `Authorization: Bearer`, browsers as ?token=... [default: none]
    #[arg(long, env = "MON_TOKEN", value_name = "TOKEN", hide_env_values = true, value_parser = super::parse_token)]
    pub token: Option<String>,
    /// Listen beyond loopback without a token: anyone who can reach the port
    /// gets in
    #[arg(long, env = "MON_INSECURE")]
    pub insecure: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub conn: ConnLimitArgs,
}

/// What a listener allows connections before they send anything.
#[derive(Debug, Args)]
pub struct ConnLimitArgs {
    /// Most connections each listener holds open; past it, the oldest one
    /// that has not sent a request yet is closed to make room, or the new one
    /// is refused
    #[arg(long, env = "MON_MAX_CONNECTIONS", default_value_t = server::conn::DEFAULT_MAX_CONNECTIONS, value_parser = crate::commands::parse_positive, value_name = "N")]
    pub max_connections: usize,
}

impl ConnLimitArgs {
    pub fn limits(&self) -> ConnLimits {
        ConnLimits {
            max_connections: self.max_connections,
            ..ConnLimits::default()
        }
    }
}

/// The listener's certificate: with both flags every connection is TLS
/// (`https://`, `wss://`, gRPC over TLS); with neither, plain.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// PEM certificate chain to serve TLS with, the server's certificate first
    /// (needs --tls-key). Clients then use https:// and wss://, and trust it
    /// with --ca when a private CA signed it
    #[arg(long, env = "MON_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, RSA or EC)
    #[arg(long, env = "MON_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// Reads and checks the certificate and key, or `None` without them.
    pub fn load(&self) -> anyhow::Result<Option<ServerTls>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(ServerTls::load(cert, key)?)),
            (None, None) => Ok(None),
            // clap's `requires` already refuses this; kept for callers that
            // build the struct themselves.
            _ => anyhow::bail!("--tls-cert and --tls-key go together: give both, or neither"),
        }
    }
}

/// The URL schemes a listener's clients use: (`https`, `wss`) with TLS,
/// (`http`, `ws`) without.
pub fn schemes(tls: bool) -> (&'static str, &'static str) {
    if tls {
        ("https", "wss")
    } else {
        ("http", "ws")
    }
}

impl TrustArgs {
    /// The token, with an empty one meaning none.
    pub fn token(&self) -> Option<String> {
        self.token.clone().filter(|t| !t.is_empty())
    }

    /// Refuses any of `addrs` that is beyond loopback with no token, unless
    /// `--insecure`; then warns once, naming them.
    pub fn check(&self, addrs: &[SocketAddr]) -> anyhow::Result<()> {
        let mut exposed = Vec::new();
        for &addr in addrs {
            if check_listen(addr, self.token().is_some(), self.insecure)? == Exposure::Insecure {
                exposed.push(addr.to_string());
            }
        }
        if !exposed.is_empty() {
            tracing::warn!(
                addrs = %exposed.join(", "),
                "listening beyond loopback without a token (--insecure): anyone who can reach these \
                 addresses can use them; pass --token to require one"
            );
        }
        Ok(())
    }
}
