//! `mon alerts silence add|list|expire`: silences through a running
//! server's HTTP API (`mon serve` or `mon gateway`), as `amtool silence`
//! talks to Alertmanager. The server keeps them in the alert state store
//! the alerts role reads, so this command needs no data dir of its own and
//! works from any machine that can reach the gateway.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use server::alerts::silence::{self, NewSilence, SilenceJson, SilenceList, SilenceState};
use server::http::client::{client_with, json_request};

use super::runtime;

/// The default server: `mon serve`'s and `mon gateway`'s HTTP port.
const DEFAULT_URL: &str = "http://127.0.0.1:7071";

/// Silence alerts for a maintenance window: matching alerts still change
/// state and show on the dashboards (marked silenced), but no webhook,
/// Alertmanager push or log line announces them while the silence holds,
/// not even their resolution.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  mon alerts silence add --match host=web-1 --match 'alertname=~Disk.*' --for 2h --comment reboot\n  mon alerts silence list\n  mon alerts silence expire 3f1c...\n  mon alerts silence list --url https://mon.example:7071 --token s3cret --ca ca.pem\n\nThe silences live with the alert state (alerts.db, or the fleet's PostgreSQL) and are read\nby the alerts engine every second, so they hold for every alerts instance on that store."
)]
pub struct SilenceArgs {
    #[command(subcommand)]
    pub command: SilenceCommand,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Which server to ask.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The gateway or `mon serve`: http://HOST:7071, https://..., or the
    /// ws:// URL `mon top` is given
    #[arg(long, global = true, env = "MON_URL", value_name = "URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// Bearer token the server requires
    #[arg(long, global = true, env = "MON_TOKEN", value_name = "TOKEN", hide_env_values = true, value_parser = super::trust::parse_token)]
    pub token: Option<String>,
    /// PEM file of the CA that signed an https:// server's certificate
    /// [default: the system's roots]
    #[arg(long, global = true, env = "MON_CA", value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Add a silence and print its id
    Add {
        /// A label matcher as in rule files: LABEL=VALUE, LABEL!=VALUE,
        /// LABEL=~REGEX or LABEL!~REGEX (regexes anchored); repeat for more,
        /// all must match
        #[arg(long = "match", short = 'm', value_name = "MATCHER", required = true, value_parser = parse_matcher)]
        matchers: Vec<String>,
        /// How long it holds, from 1m to 365d
        #[arg(long = "for", short = 'd', value_name = "DURATION", default_value = "1h", allow_hyphen_values = true, value_parser = parse_for)]
        duration: String,
        /// When it starts (RFC 3339, e.g. 2026-05-01T22:00:00Z) [default: now]
        #[arg(long, value_name = "TIME", value_parser = parse_start)]
        start: Option<i64>,
        /// Why: shown beside the silence
        #[arg(long, short = 'c', default_value = "")]
        comment: String,
        /// Who [default: $USER]
        #[arg(long, value_name = "NAME")]
        author: Option<String>,
    },
    /// List the active and pending silences
    List {
        /// Also the expired ones (kept five days)
        #[arg(long)]
        expired: bool,
        /// Print the API's JSON
        #[arg(long)]
        json: bool,
    },
    /// End silences now
    Expire {
        /// Silence ids, as `list` shows them
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
}

/// Checks a matcher before anything is sent, with the server's own parser.
fn parse_matcher(text: &str) -> Result<String, String> {
    silence::parse_matcher(text).map(|_| text.to_owned())
}

fn parse_for(text: &str) -> Result<String, String> {
    silence::parse_duration(text).map(|_| text.to_owned())
}

fn parse_start(text: &str) -> Result<i64, String> {
    let t = humantime::parse_rfc3339_weak(text)
        .map_err(|_| format!("{text:?} is not a time; give RFC 3339, e.g. 2026-05-01T22:00:00Z"))?;
    Ok(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64)
}

/// The API's base URL from what the user gave (a `ws://…/ws` as for `mon top` too).
fn base_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix("/ws").unwrap_or(url);
    let url = if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        url.to_owned()
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!(
            "--url {url:?} is not accepted: give http://HOST:PORT, https://HOST:PORT or ws://HOST:PORT/ws"
        );
    }
    Ok(url)
}

pub fn run(args: SilenceArgs) -> anyhow::Result<()> {
    let base = base_url(&args.server.url)?;
    let token = args.server.token.filter(|t| !t.is_empty());
    let tls = super::trust::client_tls(args.server.ca.as_deref())?;
    runtime(false)?.block_on(async move {
        let client = client_with(&tls);
        let call = |method: &'static str, path: String, body: Option<Vec<u8>>| {
            let url = format!("{base}{path}");
            let client = client.clone();
            let token = token.clone();
            async move {
                let answer = tokio::time::timeout(
                    Duration::from_secs(30),
                    json_request(&client, method, &url, token.as_deref(), body),
                )
                .await
                .map_err(|_| anyhow::anyhow!("{url} did not answer within 30s"))?
                .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}; is `mon serve` or `mon gateway` running there? (--url)"))?;
                let (status, bytes) = answer;
                if !(200..300).contains(&status) {
                    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
                    bail!("{message}");
                }
                Ok(bytes)
            }
        };
        match args.command {
            SilenceCommand::Add {
                matchers,
                duration,
                start,
                comment,
                author,
            } => {
                let new = NewSilence {
                    matchers,
                    duration: Some(duration),
                    starts_at_ms: start,
                    ends_at_ms: None,
                    created_by: author
                        .or_else(|| std::env::var("USER").ok())
                        .unwrap_or_default(),
                    comment,
                };
                let body = serde_json::to_vec(&new)?;
                let bytes = call("POST", "/api/silences".into(), Some(body)).await?;
                let made: SilenceJson =
                    serde_json::from_slice(&bytes).context("the server's answer is not a silence")?;
                println!("{}", made.id);
            }
            SilenceCommand::List { expired, json } => {
                let bytes = call("GET", "/api/silences".into(), None).await?;
                if json {
                    println!("{}", String::from_utf8_lossy(&bytes));
                    return Ok(());
                }
                let list: SilenceList =
                    serde_json::from_slice(&bytes).context("the server's answer is not a silence list")?;
                let shown: Vec<&SilenceJson> = list
                    .silences
                    .iter()
                    .filter(|s| expired || s.state != SilenceState::Expired)
                    .collect();
                print!("{}", table(&shown));
            }
            SilenceCommand::Expire { ids } => {
                for id in ids {
                    call("DELETE", format!("/api/silences/{id}"), None).await?;
                    println!("expired {id}");
                }
            }
        }
        Ok(())
    })
}

fn time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The list as a table with a header, columns padded to fit.
fn table(silences: &[&SilenceJson]) -> String {
    if silences.is_empty() {
        return "no silences\n".into();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let mut rows = vec![[
        "ID".to_owned(),
        "STATE".to_owned(),
        "MATCHERS".to_owned(),
        "ENDS".to_owned(),
        "LEFT".to_owned(),
        "BY".to_owned(),
        "COMMENT".to_owned(),
    ]];
    for s in silences {
        let left = if s.state == SilenceState::Expired {
            "-".to_owned()
        } else {
            let secs = ((s.ends_at_ms - now).max(0) / 1000) as u64;
            humantime::format_duration(Duration::from_secs(secs)).to_string()
        };
        rows.push([
            s.id.clone(),
            s.state.as_str().to_owned(),
            s.matchers.join(" "),
            time(s.ends_at_ms),
            left,
            s.created_by.clone(),
            s.comment.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_may_be_the_api_or_the_websocket_of_mon_top() {
        assert_eq!(base_url("http://h:7071/").unwrap(), "http://h:7071");
        assert_eq!(base_url("ws://h:7071/ws").unwrap(), "http://h:7071");
        assert_eq!(base_url("wss://h/ws").unwrap(), "https://h");
        let e = base_url("h:7071").unwrap_err().to_string();
        assert!(
            e.contains("\"h:7071\"") && e.contains("http://HOST:PORT"),
            "{e}"
        );
    }
}
