//! Flags shared by the roles that serve HTTP and WebSocket clients.

use clap::Args;
use server::http::Access;

#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Bearer token required on /api and /ws (browsers pass ?token=...)
    #[arg(long, env = "MON_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Extra origin allowed to open /ws, e.g. https://dash.example.com (repeatable)
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
}

impl AccessArgs {
    pub fn resolve(&self) -> Access {
        Access {
            token: self.token.clone().filter(|t| !t.is_empty()),
            allowed_origins: self.allow_origins.clone(),
        }
    }
}
