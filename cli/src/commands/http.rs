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
    #[command(flatten)]
    pub limits: HttpLimitArgs,
}

impl AccessArgs {
    pub fn resolve(&self) -> Access {
        Access {
            token: self.trust.token(),
            allowed_origins: self.allow_origins.clone(),
        }
    }
}
