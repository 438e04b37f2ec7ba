//! The subcommands, one module each, plus the arguments every one shares.

pub mod agent;
#[cfg(feature = "roles")]
pub mod aggregator;
#[cfg(feature = "roles")]
pub mod alerts;
#[cfg(feature = "roles")]
pub mod bench;
pub mod config;
#[cfg(feature = "roles")]
pub mod edge;
#[cfg(feature = "roles")]
pub mod gateway;
#[cfg(feature = "roles")]
pub mod http;
#[cfg(feature = "roles")]
pub mod limits;
#[cfg(feature = "roles")]
pub mod query;
#[cfg(feature = "roles")]
pub mod query_activity;
#[cfg(feature = "roles")]
pub mod remote_write;
#[cfg(feature = "roles")]
pub mod serve;
#[cfg(feature = "roles")]
pub mod silence;
#[cfg(feature = "roles")]
pub mod store;
#[cfg(feature = "top")]
pub mod top;
pub mod trust;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

/// mon — live metrics for a fleet of hosts, from one binary.
///
/// Start everything on this machine with `mon serve`; on other hosts run
/// `mon agent --aggregator http://SERVER:7070`.
#[derive(Debug, Parser)]
#[command(name = "mon", version, propagate_version = true, max_term_width = 100)]
#[cfg_attr(
    all(not(feature = "roles"), not(feature = "top")),
    command(
        about = "mon — live metrics for a fleet of hosts; this build is the agent alone",
        long_about = "mon — live metrics for a fleet of hosts; this build is the agent alone.\n\n\
                      Run `mon agent --aggregator http://SERVER:7070`; the other roles are in the \
                      full build."
    )
)]
#[cfg_attr(
    all(not(feature = "roles"), feature = "top"),
    command(
        about = "mon — live metrics for a fleet of hosts; this build is the agent and mon top",
        long_about = "mon — live metrics for a fleet of hosts; this build is the agent and `mon top`.\n\n\
                      Run `mon top --url ws://SERVER:7071/ws` or `mon agent --aggregator \
                      http://SERVER:7070`; the other roles are in the full build."
    )
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML config file (print an example with `mon config default`)
    #[arg(long, global = true, env = "MON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the SQLite store [default: the platform data dir, e.g. ~/.local/share/mon]
    #[arg(long, global = true, env = "MON_DATA_DIR", value_name = "DIR")]
    #[cfg_attr(
        not(feature = "roles"),
        arg(
            help = "Directory of the agent's spool file [default: the platform data dir, e.g. ~/.local/share/mon]"
        )
    )]
    pub data_dir: Option<PathBuf>,
    /// Log line format on stderr; RUST_LOG sets the level (default info)
    #[arg(long, global = true, env = "MON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect this host's metrics and stream them to an aggregator
    Agent(agent::AgentArgs),
    #[cfg(feature = "roles")]
    /// Receive agents' reports over gRPC, validate them and store them
    Aggregator(aggregator::AggregatorArgs),
    #[cfg(feature = "roles")]
    /// Evaluate alerting rules on the live metrics and notify; `check` a rule file
    Alerts(alerts::AlertsArgs),
    #[cfg(feature = "roles")]
    /// Run the aggregator, alerts, gateway and a local agent in one process (no Redis needed)
    // Boxed: it flattens the most flag groups, and the enum is as big as
    // its biggest variant.
    Serve(Box<serve::ServeArgs>),
    #[cfg(feature = "roles")]
    /// Serve the live stream, HTTP API, /metrics and dashboard from Redis and the store
    Gateway(gateway::GatewayArgs),
    #[cfg(feature = "roles")]
    /// Relay a gateway's live stream to many browsers, close to them
    Edge(edge::EdgeArgs),
    #[cfg(feature = "roles")]
    /// Print stored history of one series (table or --json)
    Query(query::QueryArgs),
    #[cfg(feature = "top")]
    /// Live fleet dashboard in the terminal (watches this machine when no server answers)
    Top(top::TopArgs),
    /// Print or check configuration
    Config(config::ConfigArgs),
    #[cfg(feature = "roles")]
    /// Load generators and latency probes for the benchmarks
    Bench(bench::BenchArgs),
}

impl Command {
    /// Whether the command draws its own screen, where log lines on stderr
    /// would tear through it (`mon top`).
    pub fn draws_on_the_terminal(&self) -> bool {
        #[cfg(feature = "top")]
        if matches!(self, Command::Top(_)) {
            return true;
        }
        false
    }
}

/// What a duration flag accepts: every duration flag parses with
/// [`DurationFlag::parse`], so they read alike and err alike.
pub struct DurationFlag {
    /// What the value is, for the range error: "an interval", "a timeout".
    pub what: &'static str,
    pub min: Duration,
    /// `None`: no upper bound.
    pub max: Option<Duration>,
    /// Shown when the text is not a duration, e.g. "5s, 500ms or 1m".
    pub examples: &'static str,
}

impl DurationFlag {
    pub fn parse(&self, text: &str) -> Result<Duration, String> {
        let d = humantime::parse_duration(text)
            .map_err(|e| format!("{e}; expected a duration such as {}", self.examples))?;
        let within = d >= self.min && self.max.is_none_or(|max| d <= max);
        if within {
            return Ok(d);
        }
        let min = humantime::format_duration(self.min);
        Err(match self.max {
            Some(max) => format!(
                "{text} is out of range; {} from {min} to {} is accepted",
                self.what,
                humantime::format_duration(max)
            ),
            None => format!(
                "{text} is out of range; {} of at least {min} is accepted, such as {}",
                self.what, self.examples
            ),
        })
    }
}

/// Parses a collection interval such as `5s`, `500ms` or `1m`.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    DurationFlag {
        what: "an interval",
        min: Duration::from_millis(100),
        max: Some(Duration::from_secs(3600)),
        examples: "5s, 500ms or 1m",
    }
    .parse(text)
}

/// Parses a positive count.
pub fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("0 is not accepted; give a number of at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// A current-thread or multi-thread tokio runtime, as the role needs.
pub fn runtime(multi_thread: bool) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    Ok(builder.enable_all().build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn intervals_accept_human_durations_and_refuse_nonsense() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_interval("0s").unwrap_err().contains("100ms to 1h"));
        assert!(parse_interval("fast").unwrap_err().contains("such as 5s"));
    }

    #[test]
    fn a_processes_interval_is_a_duration_or_zero_for_none() {
        use agent::parse_processes_interval as parse;
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert!(parse("500ms").unwrap_err().contains("from 1s to 1h"));
        assert!(parse("often").unwrap_err().contains("such as 30s, 1m or 0"));
    }

    #[test]
    fn a_duration_flag_without_an_upper_bound_names_its_minimum_and_examples() {
        let since = DurationFlag {
            what: "a duration",
            min: Duration::from_millis(1),
            max: None,
            examples: "15m, 1h or 7d",
        };
        assert_eq!(since.parse("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(
            since.parse("0s").unwrap_err(),
            "0s is out of range; a duration of at least 1ms is accepted, such as 15m, 1h or 7d"
        );
        assert!(
            since
                .parse("-5m")
                .unwrap_err()
                .ends_with("expected a duration such as 15m, 1h or 7d")
        );
    }
}
