//! The optional TOML config file (`--config FILE` or `MON_CONFIG`).
//!
//! Precedence is flags > `MON_*` environment > this file > built-in defaults:
//! clap resolves the first two, and each command falls back to this file and
//! then to the default. Unknown keys are errors, so a typo never silently
//! leaves a default in place.
//!
//! The agent-only build reads the same file: `data_dir` and `[agent]`,
//! checked as strictly, while the roles' keys and sections (`roles.rs`),
//! which it has no use for, are skipped rather than refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

#[cfg(feature = "roles")]
mod roles;
#[cfg(feature = "roles")]
pub use roles::{
    AggregatorSection, AlertsSection, LimitsSection, RemoteWriteSection, RetentionSection,
    ServeSection,
};

#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "roles", serde(deny_unknown_fields))]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    /// The warm store's URL (`postgres://…`); absent, SQLite in `data_dir`.
    #[cfg(feature = "roles")]
    pub store: Option<String>,
    #[cfg(feature = "roles")]
    #[serde(default, deserialize_with = "roles::redis_url")]
    pub redis: Option<server::bus::RedisUrl>,
    #[serde(default)]
    pub agent: AgentSection,
    #[cfg(feature = "roles")]
    #[serde(default)]
    pub aggregator: AggregatorSection,
    #[cfg(feature = "roles")]
    #[serde(default)]
    pub serve: ServeSection,
    #[cfg(feature = "roles")]
    #[serde(default)]
    pub limits: LimitsSection,
    #[cfg(feature = "roles")]
    #[serde(default)]
    pub retention: RetentionSection,
    #[cfg(feature = "roles")]
    #[serde(default)]
    pub alerts: AlertsSection,
    #[cfg(feature = "roles")]
    #[serde(default)]
    pub remote_write: RemoteWriteSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    #[serde(default, deserialize_with = "aggregators")]
    pub aggregator: Option<Vec<String>>,
    pub host: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub interval: Option<Duration>,
    /// `processes_interval = "30s"`, or `"0"` for no process and cgroup
    /// tables.
    #[serde(default, deserialize_with = "processes_interval")]
    pub processes_interval: Option<Duration>,
    pub spool_reports: Option<usize>,
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map(Some).map_err(|e| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration ({e}); write e.g. \"5s\", \"500ms\" or \"24h\""
        ))
    })
}

fn processes_interval<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    crate::commands::agent::parse_processes_interval(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// `aggregator = "URL[,URL...]"` or `aggregator = ["URL", ...]`, each
/// entry checked as the agent checks it.
fn aggregators<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    let parts: Vec<String> = match List::deserialize(d)? {
        List::One(text) => text.split(',').map(str::to_owned).collect(),
        List::Many(list) => list,
    };
    let urls: Vec<String> = parts.iter().map(|p| p.trim().to_owned()).collect();
    for url in &urls {
        server::agent::check_aggregator_url(url).map_err(serde::de::Error::custom)?;
    }
    Ok(Some(urls))
}

/// Reads the config file if one was given.
pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// The data dir: flag or env, then config file, then the platform default
/// (`~/.local/share/mon` on Linux).
pub fn data_dir(flag: Option<&Path>, file: &FileConfig) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag.or(file.data_dir.as_deref()) {
        return Ok(dir.to_owned());
    }
    dirs::data_dir()
        .map(|d| d.join("mon"))
        .context("no platform data directory is known here; pass --data-dir DIR")
}

/// The commented example printed by `mon config default`.
pub const DEFAULT_CONFIG: &str = r#"# mon configuration. Every key is optional; shown here are the defaults.
# Precedence: command-line flags > MON_* environment variables > this file > defaults.

# Where the SQLite store (mon.db) lives. Default: the platform data dir,
# e.g. ~/.local/share/mon on Linux.
# data_dir = "/var/lib/mon"

# The warm store shared by a fleet of aggregators and gateways, instead of
# the SQLite file in data_dir. Default: none (SQLite).
# store = "postgres://mon@db.internal:5432/mon"

# Redis for the hot path (current state of every host, metrics.* and
# alerts.* pub/sub), shared by roles on separate machines. Default: none,
# and `mon serve` uses its in-process bus.
# redis = "redis://127.0.0.1:6379/0"

[agent]
# Aggregator to stream reports to; a list ("http://a:7070,http://b:7070" or
# ["http://a:7070", "http://b:7070"]) for failover: the agent moves on to the
# next when the one it uses fails.
aggregator = "http://127.0.0.1:7070"
# Host name to report as. Default: this machine's host name.
# host = "web-1"
# Collection interval: "5s", "1s", "500ms"...
interval = "5s"
# How often reports carry the top processes and the cgroups (services,
# containers, user sessions); every report while someone views this host.
# "0" turns them off.
processes_interval = "30s"
# Unacknowledged reports kept while the aggregator is away (720 = 1 hour at 5s).
spool_reports = 720

[aggregator]
# gRPC address agents connect to.
listen = "127.0.0.1:7070"
# HTTP address for pushed samples (Prometheus remote-write, OTLP); off
# unless set.
# http_listen = "127.0.0.1:7073"

[serve]
grpc_listen = "127.0.0.1:7070"
http_listen = "127.0.0.1:7071"
# Run without the local agent (ingest from remote agents only).
no_agent = false

[limits]
# Samples beyond these limits are rejected with a reason in the agent's Ack.
max_host_len = 253
max_name_len = 128
max_labels = 16
max_label_value_len = 256
max_samples_per_report = 10000
max_series_per_host = 10000
# Most series one agent stream may define once and then send by id.
max_series_per_stream = 100000
# Oldest and furthest-future report timestamps accepted.
max_age = "24h"
max_future = "5m"
# Largest gRPC message accepted, in bytes.
max_message_bytes = 4194304
# Largest pushed body (remote-write, OTLP), as sent and decompressed.
max_write_bytes = 16777216
# Reports per second one host may send, with bursts of two minutes' worth;
# 0 = unlimited. Over it, the stream ends and the agent replays later.
max_reports_per_second = 20

[retention]
# How long each tier of the store keeps data. Raw samples must outlive the
# 1m rollup's lag (about 2m) and 1m buckets the 1h rollup's (about 1h 2m).
raw = "24h"
1m = "7d"
1h = "90d"

[alerts]
# Alerting rules in Prometheus' layout. Default: the built-in rules (CPU,
# memory, filesystem, host down), printed by `mon alerts defaults`.
# rules = "/etc/mon/rules.yaml"
# Receivers of every firing and resolved alert, in Alertmanager's webhook JSON.
webhooks = []
# An Alertmanager to push alerts to.
# alertmanager = "http://127.0.0.1:9093"
# The dashboard's address, for the links in notifications.
# external_url = "http://127.0.0.1:7071"
# With several `mon alerts` on one Redis, how long the leader's lease lasts
# unless renewed; a standby takes over within about this long.
# lease_ttl = "10s"

[remote_write]
# Prometheus remote-write receivers (VictoriaMetrics, Mimir, Prometheus with
# --web.enable-remote-write-receiver) every stored sample is forwarded to,
# through a log in the store, so a receiver's outage loses nothing within
# raw retention. Default: none. Basic auth: "https://USER:PASSWORD@HOST/PATH".
# url = ["http://victoria:8428/api/v1/write"]
# Bearer token sent to every receiver.
# token = "..."
# Basic-auth password for a URL with a user and no password.
# password_file = "/etc/mon/remote-write-password"
# CA certificates (PEM) for https:// receivers. Default: the system's roots.
# ca = "/etc/mon/ca.pem"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_config_parses_and_matches_the_defaults() {
        let config: FileConfig = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert_eq!(config.agent.interval, Some(Duration::from_secs(5)));
        assert_eq!(
            config.agent.processes_interval,
            Some(server::agent::AgentConfig::default().processes_interval)
        );
        #[cfg(feature = "roles")]
        {
            use server::aggregator::Limits;
            use server::store::Retention;
            assert_eq!(config.limits.to_limits(), Limits::default());
            assert_eq!(config.retention.to_retention(), Retention::default());
            assert_eq!(
                config.serve.grpc_listen,
                Some("127.0.0.1:7070".parse().unwrap())
            );
        }
    }

    /// The agent-only build reads a file written for the full one: the
    /// roles' sections are skipped, `[agent]` is checked as strictly.
    #[cfg(not(feature = "roles"))]
    #[test]
    fn the_agent_only_build_skips_the_roles_sections_and_checks_its_own() {
        let text = "data_dir = \"/srv/mon\"\nredis = \"not a url\"\n\
                    [limits]\nmax_hots_len = 3\n[agent]\nhost = \"web-1\"\n";
        let config: FileConfig = toml::from_str(text).unwrap();
        assert_eq!(config.agent.host.as_deref(), Some("web-1"));
        assert_eq!(config.data_dir, Some(PathBuf::from("/srv/mon")));
        let err = toml::from_str::<FileConfig>("[limits]\n[agent]\nintervall = \"5s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("intervall"), "{err}");
    }

    #[test]
    fn processes_interval_takes_a_duration_or_zero_for_none() {
        let read = |text: &str| {
            toml::from_str::<FileConfig>(&format!("[agent]\nprocesses_interval = \"{text}\"\n"))
                .map(|c| c.agent.processes_interval)
                .map_err(|e| e.to_string())
        };
        assert_eq!(read("1m"), Ok(Some(Duration::from_secs(60))));
        assert_eq!(read("0"), Ok(Some(Duration::ZERO)));
        let err = read("100ms").unwrap_err();
        assert!(err.contains("from 1s to 1h"), "{err}");
    }

    #[test]
    fn a_misspelled_key_is_an_error_naming_it() {
        let err = toml::from_str::<FileConfig>("[agent]\nintervall = \"5s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("intervall"), "{err}");
    }

    #[cfg(feature = "roles")]
    #[test]
    fn a_redis_url_is_checked_when_the_file_is_read() {
        let config: FileConfig = toml::from_str("redis = \"redis://cache:6380/2\"\n").unwrap();
        assert_eq!(config.redis.unwrap().to_string(), "redis://cache:6380/2");
        let err = toml::from_str::<FileConfig>("redis = \"cache:6380\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"cache:6380\"") && err.contains("redis://HOST:PORT[/DB]"),
            "{err}"
        );
    }

    #[test]
    fn aggregators_are_a_comma_separated_string_or_a_list_and_each_is_checked() {
        for text in [
            "aggregator = \"http://a:7070, https://b:7070\"",
            "aggregator = [\"http://a:7070\", \"https://b:7070\"]",
        ] {
            let config: FileConfig = toml::from_str(&format!("[agent]\n{text}\n")).unwrap();
            assert_eq!(
                config.agent.aggregator.unwrap(),
                ["http://a:7070", "https://b:7070"],
                "{text}"
            );
        }
        let err = toml::from_str::<FileConfig>("[agent]\naggregator = \"http://a:7070,http://\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"http://\"") && err.contains("https://metrics.example:7070"),
            "{err}"
        );
    }

    #[cfg(feature = "roles")]
    #[test]
    fn remote_write_urls_are_a_comma_separated_string_or_a_list() {
        for text in [
            "url = \"http://a/api/v1/write, http://b/api/v1/write\"",
            "url = [\"http://a/api/v1/write\", \"http://b/api/v1/write\"]",
        ] {
            let config: FileConfig =
                toml::from_str(&format!("[remote_write]\n{text}\ntoken = \"t\"\n")).unwrap();
            assert_eq!(
                config.remote_write.url.unwrap(),
                ["http://a/api/v1/write", "http://b/api/v1/write"],
                "{text}"
            );
            assert_eq!(config.remote_write.token.as_deref(), Some("t"));
        }
    }

    #[test]
    fn a_bad_duration_names_the_value_and_the_accepted_form() {
        let err = toml::from_str::<FileConfig>("[agent]\ninterval = \"fast\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"fast\"") && err.contains("500ms"), "{err}");
    }
}
