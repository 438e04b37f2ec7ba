//! Whom to trust. Here, what every client takes: a `--token` checked as it
//! is parsed, and the authorities a `--ca` flag names. In `trust/listen.rs`
//! (not in the agent-only build), what every listening role shares:
//! `--token`, `--insecure`, `--tls-cert` and `--tls-key`, and the start-up
//! checks built on them: a role refuses to listen beyond loopback without a
//! token unless `--insecure` waives it, and refuses a certificate or key it
//! cannot use before it binds.

use std::path::Path;

use server::tls::ClientTls;

#[cfg(feature = "roles")]
mod listen;
#[cfg(feature = "roles")]
pub use listen::{TrustArgs, schemes};

/// Parses a `--token`: empty means none (an unset `MON_TOKEN=`); blank,
/// padded or unprintable is refused, without echoing it.
pub fn parse_token(text: &str) -> Result<String, String> {
    if !text.is_empty() {
        server::trust::check_token(text)?;
    }
    Ok(text.to_owned())
}

/// What a client trusts: the CA certificates in `ca` (a `--ca` flag), or
/// the system's and the webpki roots.
pub fn client_tls(ca: Option<&Path>) -> anyhow::Result<ClientTls> {
    Ok(match ca {
        Some(file) => ClientTls::from_ca_file(file)?,
        None => ClientTls::default(),
    })
}
