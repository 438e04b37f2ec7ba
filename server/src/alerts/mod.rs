//! `mon alerts`: alerting rules evaluated on the live `metrics.*` stream,
//! with state that survives restarts, notifications in Alertmanager's
//! formats, and every transition published on `alerts.<host>` for the
//! dashboards.
//!
//! The one rule a newcomer must know: a transition is committed to the
//! alert state store before it is published or notified. A restart, or a
//! standby taking over, therefore finds every pending and firing alert the
//! store holds where it was and goes on from there, without notifying any
//! of them again.
//!
//! Several instances may share one Redis: each contends for the `alerts`
//! lease (`bus::Leadership`), only the holder evaluates, publishes and
//! notifies (`leader.rs`), and the others wait as standbys. On the
//! embedded bus the lease is always this process's.

mod engine;
pub mod expr;
mod leader;
mod notify;
mod outline;
pub mod rules;
pub mod silence;
mod template;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::alert::{Alert, AlertState, fingerprint};
pub use engine::{Engine, EngineOptions, Transition};
pub use notify::{NotifyConfig, NotifyError, RetryPolicy, parse_url, webhook_payload};
pub use rules::{Checked, DEFAULT_RULES, Problem, RuleSet, RulesError, Severity, check};
pub use silence::{NewSilence, Silence, SilenceJson, SilenceList, SilenceState};

use crate::bus::{BusError, Leadership, SharedBus};
use crate::store::{self, AlertStateStore, StoreError};

#[derive(Clone, Debug)]
pub struct AlertsConfig {
    /// Where `alerts.db` lives.
    pub data_dir: PathBuf,
    /// The fleet's PostgreSQL store, holding the alert state every alerts
    /// instance shares; `None` keeps it in `alerts.db`.
    pub store_url: Option<store::postgres::PgUrl>,
    pub rules: RuleSet,
    pub notify: NotifyConfig,
    pub engine: EngineOptions,
    /// How often timers are checked (`for`, `keep_firing_for`, no-data).
    pub tick: Duration,
    /// How long the leader lease lasts without a renewal; renewed every
    /// third of it. A standby takes over within about this long after the
    /// leader dies.
    pub lease_ttl: Duration,
}

/// The lease's default TTL.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// The name of the lease the instances contend for (`mon:lease:alerts`).
pub const LEASE_NAME: &str = "alerts";

impl AlertsConfig {
    /// The default rules and no notifier but the log.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            store_url: None,
            rules: RuleSet::defaults(),
            notify: NotifyConfig::default(),
            engine: EngineOptions::default(),
            tick: Duration::from_secs(1),
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot subscribe to metrics: {0}")]
    Bus(#[from] BusError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// How long shutdown waits for queued notifications.
const DRAIN: Duration = Duration::from_secs(5);

/// Contends for the lease and evaluates the rules on the bus's metrics
/// while this instance holds it, until `shutdown` resolves.
pub async fn run(
    config: AlertsConfig,
    bus: SharedBus,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AlertsError> {
    let store = open_state(&config).await?;
    let mut leadership = Leadership::new(bus.lease(LEASE_NAME, config.lease_ttl), LEASE_NAME);
    tokio::pin!(shutdown);
    let mut result = Ok(());
    loop {
        let mut term = tokio::select! {
            _ = &mut shutdown => break,
            term = leadership.acquire() => term,
        };
        match leader::lead(&config, &bus, store.as_ref(), &mut term, &mut shutdown).await {
            Ok(leader::Ended::Lost) => continue,
            Ok(leader::Ended::Shutdown) => {
                term.release().await;
                break;
            }
            Err(e) => {
                term.release().await;
                result = Err(e);
                break;
            }
        }
    }
    store.close().await;
    tracing::info!("alerts stopped");
    result
}

/// The alert state store: the shared PostgreSQL store with `--store`, else
/// `alerts.db` in the data dir.
async fn open_state(config: &AlertsConfig) -> Result<Box<dyn AlertStateStore>, AlertsError> {
    if let Some(url) = config.store_url.clone() {
        let store = tokio::task::spawn_blocking(move || store::postgres::open_alerts(&url))
            .await
            .unwrap_or_else(|e| panic!("opening the PostgreSQL alert state panicked: {e}"))?;
        return Ok(Box::new(store));
    }
    let data_dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || store::open_alerts(&data_dir))
        .await
        .unwrap_or_else(|e| panic!("opening alerts.db panicked: {e}"))?;
    Ok(Box::new(store))
}
