//! Flags shared by the roles that serve HTTP and WebSocket clients: the
//! token and `--insecure` of every listener, the origins allowed on `/ws`,
//! and the request and WebSocket limits.

use clap::Args;
use server::http::Access;

use super::limits::HttpLimitArgs;
use super::trust::TrustArgs;

#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Extra origin allowed to open /ws, e.g. https://dash.example.com (repeatable)
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Host name served on a listener without --token, besides localhost, loopback
    /// addresses and the listen address, e.g. mon.lan (repeatable; a guard against
    /// DNS rebinding)
    #[arg(long = "allow-host", value_name = "NAME", value_parser = parse_host_name)]
    pub allow_hosts: Vec<String>,
    #[command(flatten)]
    pub limits: HttpLimitArgs,
}

impl AccessArgs {
    pub fn resolve(&self) -> Access {
        Access {
            token: self.trust.token(),
            allowed_origins: self.allow_origins.clone(),
            allowed_hosts: self.allow_hosts.clone(),
            listen: None,
        }
    }
}

/// Parses an `--allow-host` name: a DNS name, without scheme, port or path.
fn parse_host_name(text: &str) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "{text:?} is not a host name: give a DNS name without scheme, port or path, e.g. --allow-host mon.lan"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts_are_bare_dns_names() {
        assert_eq!(parse_host_name("Mon.LAN."), Ok("mon.lan".into()));
        for bad in [
            "",
            "http://mon.lan",
            "mon.lan:7071",
            "mon..lan",
            "mon.lan/x",
        ] {
            assert!(
                parse_host_name(bad)
                    .unwrap_err()
                    .contains("e.g. --allow-host mon.lan"),
                "{bad}"
            );
        }
    }
}
