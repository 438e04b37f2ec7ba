//! `mon agent`.

use std::time::Duration;

use clap::Args;
use server::agent::{self, AgentConfig};

use super::{DurationFlag, GlobalArgs, parse_interval, parse_positive, runtime};
use crate::{config, shutdown};

/// Collects CPU, memory, filesystem, disk and network metrics every interval
/// and streams them to an aggregator over gRPC (over TLS for https://). Reports the aggregator has not
/// acknowledged are kept (bounded) and replayed after a reconnect. Given several aggregators, it streams
/// to one at a time and moves on to the next in the list when that one fails, replaying its spool there.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  mon agent\n  mon agent --aggregator http://metrics.internal:7070 --interval 1s\n  mon agent --aggregator http://agg-1.internal:7070,http://agg-2.internal:7070\n  mon agent --aggregator http://metrics.internal:7070 --token $TOKEN\n  mon agent --aggregator https://metrics.internal:7070 --token $TOKEN --ca ca.pem"
)]
pub struct AgentArgs {
    /// Aggregator URL; for failover, a comma-separated list or the flag repeated: the agent uses the
    /// first that takes its reports and moves on to the next in order when it fails (never back on its
    /// own) [default: http://127.0.0.1:7070]
    #[arg(
        long,
        env = "MON_AGGREGATOR",
        value_delimiter = ',',
        value_parser = parse_aggregator,
        value_name = "URL"
    )]
    pub aggregator: Vec<String>,
    /// Host name to report as [default: this machine's host name]
    #[arg(long, env = "MON_HOST", value_name = "NAME")]
    pub host: Option<String>,
    /// Collection interval, e.g. 5s, 1s, 500ms [default: 5s]
    #[arg(long, env = "MON_INTERVAL", value_parser = parse_interval, value_name = "DURATION")]
    pub interval: Option<Duration>,
    /// How often reports carry this host's top processes and its cgroups (systemd services,
    /// containers, user sessions), e.g. 30s, 1m; 0 turns them off. While someone views this host
    /// (a dashboard's host page, mon top's host view) every report carries them instead, until
    /// the aggregator stops saying so. Each read walks /proc and /sys/fs/cgroup, so a shorter
    /// interval costs agent CPU [default: 30s]
    #[arg(long, env = "MON_PROCESSES_INTERVAL", value_parser = parse_processes_interval, value_name = "DURATION")]
    pub processes_interval: Option<Duration>,
    /// Unacknowledged reports kept while the aggregator is away [default: 720]
    #[arg(long, env = "MON_SPOOL_REPORTS", value_parser = parse_positive, value_name = "N")]
    pub spool_reports: Option<usize>,
    /// Bearer token the aggregator requires, sent in the stream's metadata
    #[arg(long, env = "MON_TOKEN", value_name = "TOKEN", hide_env_values = true, value_parser = super::trust::parse_token)]
    pub token: Option<String>,
    /// PEM file of the CA that signed an https:// aggregator's certificate
    /// [default: the system's roots]
    #[arg(long, env = "MON_CA", value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
}

impl AgentArgs {
    /// Resolves flags over the config file over the defaults.
    pub fn resolve(&self, file: &config::AgentSection) -> AgentConfig {
        let d = AgentConfig::default();
        AgentConfig {
            aggregators: if !self.aggregator.is_empty() {
                self.aggregator.clone()
            } else if let Some(list) = &file.aggregator {
                list.clone()
            } else {
                d.aggregators
            },
            host: self.host.clone().or_else(|| file.host.clone()),
            interval: self.interval.or(file.interval).unwrap_or(d.interval),
            processes_interval: self
                .processes_interval
                .or(file.processes_interval)
                .unwrap_or(d.processes_interval),
            spool_capacity: self
                .spool_reports
                .or(file.spool_reports)
                .unwrap_or(d.spool_capacity),
            drain_timeout: d.drain_timeout,
            token: self.token.clone().filter(|t| !t.is_empty()),
            spool_file: None,
            tls: d.tls,
        }
    }
}

/// `--processes-interval`: 0 (or `0s`) for none, else from 1s to 1h.
pub fn parse_processes_interval(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" || humantime::parse_duration(text).is_ok_and(|d| d.is_zero()) {
        return Ok(Duration::ZERO);
    }
    DurationFlag {
        what: "a processes interval (or 0 for none)",
        min: Duration::from_secs(1),
        max: Some(Duration::from_secs(3600)),
        examples: "30s, 1m or 0",
    }
    .parse(text)
}

/// One `--aggregator` entry, surrounding blanks ignored, checked as the
/// agent would check it, so a bad entry is a usage error at start-up.
fn parse_aggregator(text: &str) -> Result<String, String> {
    let url = text.trim();
    agent::check_aggregator_url(url).map_err(|e| e.to_string())?;
    Ok(url.to_owned())
}

/// Where the agent keeps unacknowledged reports across a clean restart:
/// `name` in the data dir, or nowhere if the dir cannot be made.
pub fn spool_file(data_dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    match std::fs::create_dir_all(data_dir) {
        Ok(()) => Some(data_dir.join(name)),
        Err(e) => {
            tracing::warn!(dir = %data_dir.display(), error = %e, "no data dir: unacknowledged reports will not survive a restart");
            None
        }
    }
}

pub fn run(global: &GlobalArgs, args: AgentArgs) -> anyhow::Result<()> {
    let file = config::load(global.config.as_deref())?;
    let mut config = args.resolve(&file.agent);
    config.tls = super::trust::client_tls(args.ca.as_deref())?;
    config.spool_file = config::data_dir(global.data_dir.as_deref(), &file)
        .ok()
        .and_then(|dir| spool_file(&dir, "agent-spool.bin"));
    // One thread is plenty for one report every few seconds, and keeps the
    // agent's footprint small.
    runtime(false)?.block_on(async {
        agent::run(config, shutdown::signal()).await?;
        Ok(())
    })
}
