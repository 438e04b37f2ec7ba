//! `mon alerts`, `mon alerts check FILE` and `mon alerts defaults`, plus
//! the rule and notifier flags `mon serve` shares.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use server::alerts::{self, AlertsConfig, DEFAULT_RULES, RuleSet, Severity};

use super::store::StoreArgs;
use super::{GlobalArgs, runtime};
use crate::bus::{self, BusArgs};
use crate::config::{self, AlertsSection};
use crate::shutdown;

/// Evaluates alerting rules on the live metrics, notifies webhooks and
/// Alertmanager, and publishes every transition for the dashboards. Alert
/// state is kept in alerts.db in the data dir, so a restart neither forgets
/// a firing alert nor notifies it twice. `mon serve` runs the same engine.
///
/// Several instances may run on one Redis: one holds a lease there and evaluates and notifies, the
/// others wait as standbys and take over within about --lease-ttl once it stops renewing. Each
/// restores the state from its own alerts.db when it takes over.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  mon alerts check rules.yaml\n  mon alerts defaults > rules.yaml\n  mon alerts silence add --match host=web-1 --for 2h --comment reboot\n  mon alerts --redis redis://127.0.0.1:6379 --rules rules.yaml --webhook http://127.0.0.1:9000/hook\n  mon serve --rules rules.yaml --webhook http://127.0.0.1:9000/hook --alertmanager http://127.0.0.1:9093"
)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: Option<AlertsCommand>,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub bus: BusArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Base URL of the dashboard, used in notifications' links [default: http://127.0.0.1:7071]
    #[arg(long, env = "MON_EXTERNAL_URL", value_name = "URL")]
    pub external_url: Option<String>,
    /// With --redis, how long the leader's lease lasts unless renewed (every third of it): a
    /// standby takes over within about this long after the leader dies, and a leader that cannot
    /// renew stops notifying a fifth of it before the lease can lapse [default: 10s]
    #[arg(long, env = "MON_LEASE_TTL", value_parser = parse_lease_ttl, value_name = "DURATION")]
    pub lease_ttl: Option<std::time::Duration>,
}

/// A lease TTL such as `10s`.
fn parse_lease_ttl(text: &str) -> Result<std::time::Duration, String> {
    super::DurationFlag {
        what: "a lease TTL",
        min: std::time::Duration::from_secs(1),
        max: Some(std::time::Duration::from_secs(300)),
        examples: "10s, 5s or 1m",
    }
    .parse(text)
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Check a rule file: every problem with its line and a fix; exit code 1 on an error
    Check {
        /// The rule file
        file: PathBuf,
    },
    /// Print the built-in rules, a starting point for --rules
    Defaults,
    /// Add, list and expire silences on a running server (`mon serve`, `mon gateway`)
    Silence(super::silence::SilenceArgs),
}

/// Where the rules come from and who hears about alerts.
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// Alerting rule file in Prometheus' layout; replaces the built-in rules (see `mon alerts defaults`)
    #[arg(long, env = "MON_RULES", value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Send firing and resolved alerts to this URL as Alertmanager webhook JSON; repeat for more
    #[arg(
        long = "webhook",
        env = "MON_WEBHOOKS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub webhooks: Vec<String>,
    /// Push alerts to this Alertmanager, e.g. http://127.0.0.1:9093
    #[arg(long, env = "MON_ALERTMANAGER", value_name = "URL")]
    pub alertmanager: Option<String>,
    /// PEM file of the CA that signed https:// receivers' certificates
    /// [default: the system's and the webpki roots]
    #[arg(long, env = "MON_NOTIFY_CA", value_name = "FILE")]
    pub notify_ca: Option<PathBuf>,
}

impl RuleArgs {
    /// The alerts role's config over the file's `[alerts]` section.
    pub fn resolve(
        &self,
        file: &AlertsSection,
        data_dir: &Path,
        external_url: Option<String>,
    ) -> anyhow::Result<AlertsConfig> {
        let mut config = AlertsConfig::new(data_dir.to_owned());
        if let Some(path) = self.rules.as_ref().or(file.rules.as_ref()) {
            config.rules = load_rules(path)?;
        }
        config.notify.webhooks = if self.webhooks.is_empty() {
            file.webhooks.clone()
        } else {
            self.webhooks.clone()
        };
        config.notify.alertmanager = self.alertmanager.clone().or(file.alertmanager.clone());
        config.notify.external_url = external_url.or(file.external_url.clone());
        config.notify.tls = super::trust::client_tls(self.notify_ca.as_deref())?;
        // Refuse a bad URL at start-up, not at the first alert.
        for url in &config.notify.webhooks {
            alerts::parse_url("webhook", url)?;
        }
        if let Some(url) = &config.notify.alertmanager {
            alerts::parse_url("alertmanager", url)?;
        }
        Ok(config)
    }
}

/// Reads and checks a rule file; warnings are logged, errors refuse it.
fn load_rules(path: &Path) -> anyhow::Result<RuleSet> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read rule file {}", path.display()))?;
    let (rules, warnings) = RuleSet::parse(&path.display().to_string(), &text)?;
    for w in warnings {
        tracing::warn!(file = %path.display(), "{w}");
    }
    Ok(rules)
}

pub fn run(global: &GlobalArgs, args: AlertsArgs) -> anyhow::Result<()> {
    match args.command {
        Some(AlertsCommand::Check { file }) => return check(&file),
        Some(AlertsCommand::Defaults) => {
            print!("{DEFAULT_RULES}");
            return Ok(());
        }
        Some(AlertsCommand::Silence(args)) => return super::silence::run(args),
        None => {}
    }
    let file = config::load(global.config.as_deref())?;
    let data_dir = config::data_dir(global.data_dir.as_deref(), &file)?;
    let mut config = args
        .rules
        .resolve(&file.alerts, &data_dir, args.external_url.clone())?;
    if let Some(ttl) = file.alerts.lease_ttl {
        // The file's value gets the flag's range check.
        let text = humantime::format_duration(ttl).to_string();
        config.lease_ttl =
            parse_lease_ttl(&text).map_err(|e| anyhow::anyhow!("[alerts] lease_ttl: {e}"))?;
    }
    if let Some(ttl) = args.lease_ttl {
        config.lease_ttl = ttl;
    }
    config.store_url = args.store.resolve(&file)?;
    let redis = args.bus.resolve(&file);
    if redis.is_none() {
        tracing::warn!(
            "no --redis: this process has only its own embedded bus, which no aggregator publishes to; \
             give the aggregators' Redis, or use `mon serve`, which runs the alerts engine next to its aggregator"
        );
    }
    runtime(false)?.block_on(async {
        alerts::run(config, bus::open(redis).await?, shutdown::signal()).await?;
        Ok(())
    })
}

/// `mon alerts check FILE`: every problem, then a summary.
fn check(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read rule file {}", path.display()))?;
    let checked = alerts::check(&text);
    let name = path.display();
    for p in &checked.problems {
        let kind = match p.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        println!("{name}:{}: {kind}: {}", p.line, p.message);
        if let Some(hint) = &p.hint {
            println!("    help: {hint}");
        }
    }
    let errors = checked.errors();
    let warnings = checked.problems.len() - errors;
    if errors > 0 {
        bail!("{name}: {errors} error(s), {warnings} warning(s); fix the errors above");
    }
    println!(
        "{name}: valid, {} group(s), {} rule(s), {warnings} warning(s)",
        checked.rules.groups,
        checked.rules.rules.len()
    );
    Ok(())
}
