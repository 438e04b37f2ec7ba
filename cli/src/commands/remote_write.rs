//! `--remote-write URL` and its credentials, shared by `mon aggregator` and
//! `mon serve`: the Prometheus remote-write receivers every stored sample
//! is forwarded to, through the store's forward log.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use server::forward::{RemoteWrite, RemoteWriteTarget};
use server::tls::ClientTls;

use crate::config::RemoteWriteSection;

#[derive(Debug, Args)]
pub struct RemoteWriteArgs {
    /// Forward every stored sample to this Prometheus remote-write receiver,
    /// e.g. http://victoria:8428/api/v1/write (repeatable; comma-separated in
    /// MON_REMOTE_WRITE). Basic auth: https://USER:PASSWORD@HOST/PATH. Samples
    /// wait in the store while a receiver is down [default: none]
    #[arg(
        long = "remote-write",
        env = "MON_REMOTE_WRITE",
        value_delimiter = ',',
        value_parser = parse_url,
        value_name = "URL"
    )]
    pub remote_write: Vec<String>,
    /// Bearer token sent to every --remote-write receiver
    #[arg(
        long,
        env = "MON_REMOTE_WRITE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub remote_write_token: Option<String>,
    /// File holding the basic-auth password of a --remote-write URL that
    /// names a user without one (https://USER@HOST/PATH), so it stays out of
    /// the process list
    #[arg(long, env = "MON_REMOTE_WRITE_PASSWORD_FILE", value_name = "FILE")]
    pub remote_write_password_file: Option<PathBuf>,
    /// CA certificates (PEM) an https:// --remote-write receiver's certificate
    /// must chain to [default: the system's roots]
    #[arg(long, env = "MON_REMOTE_WRITE_CA", value_name = "FILE")]
    pub remote_write_ca: Option<PathBuf>,
}

/// Checks a `--remote-write` URL's form as the flag is read (credentials
/// and files are resolved later), so a typo is a usage error.
fn parse_url(text: &str) -> Result<String, String> {
    match RemoteWriteTarget::parse(text, None, None, ClientTls::default()) {
        Ok(_) => Ok(text.to_owned()),
        Err(server::forward::TargetError::BadUrl(_)) => Err(
            "give http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH, e.g. http://victoria:8428/api/v1/write".into(),
        ),
        Err(e) => Err(e.to_string()),
    }
}

impl RemoteWriteArgs {
    /// The flags over the config file's `[remote_write]`; checks every URL
    /// and reads the CA and password files now, before anything starts.
    pub fn resolve(&self, file: &RemoteWriteSection) -> anyhow::Result<RemoteWrite> {
        let urls: Vec<String> = if self.remote_write.is_empty() {
            file.url.clone().unwrap_or_default()
        } else {
            self.remote_write.clone()
        };
        let urls: Vec<String> = urls
            .into_iter()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Ok(RemoteWrite::default());
        }
        let token = self
            .remote_write_token
            .clone()
            .or_else(|| file.token.clone());
        let password = match self
            .remote_write_password_file
            .as_ref()
            .or(file.password_file.as_ref())
        {
            Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                format!(
                    "cannot read --remote-write-password-file {}",
                    path.display()
                )
            })?),
            None => None,
        };
        let tls = match self.remote_write_ca.as_ref().or(file.ca.as_ref()) {
            Some(path) => ClientTls::from_ca_file(path)
                .with_context(|| format!("--remote-write-ca {}", path.display()))?,
            None => ClientTls::default(),
        };
        let mut targets = Vec::with_capacity(urls.len());
        for url in &urls {
            let target =
                RemoteWriteTarget::parse(url, token.as_deref(), password.as_deref(), tls.clone())?;
            if targets
                .iter()
                .any(|t: &RemoteWriteTarget| t.destination() == target.destination())
            {
                anyhow::bail!(
                    "--remote-write {} is given twice; give each receiver once",
                    target.destination()
                );
            }
            targets.push(target);
        }
        Ok(RemoteWrite {
            targets,
            ..RemoteWrite::default()
        })
    }
}
