//! The flags every listening role shares, `--token` and `--insecure`, and
//! the start-up check built on them: a role refuses to listen beyond
//! loopback without a token unless `--insecure` waives it.

use std::net::SocketAddr;

use clap::Args;
use server::trust::{Exposure, check_listen};

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Bearer token clients must present: agents in gRPC metadata, HTTP clients
    /// as `Authorization: Bearer`, browsers as ?token=... [default: none]
    #[arg(long, env = "MON_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Listen beyond loopback without a token: anyone who can reach the port
    /// gets in
    #[arg(long, env = "MON_INSECURE")]
    pub insecure: bool,
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
