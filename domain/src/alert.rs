//! One alert instance as every consumer sees it: the bus event, the stored
//! row and the notifications are all made from an [`Alert`].
//!
//! An alert's `id` is Alertmanager's fingerprint of its label set (FNV-1a
//! over the sorted names and values), so the id on the dashboard, in
//! `alerts.db` and in the `fingerprint` field of a webhook is the one
//! Alertmanager itself computes for the same labels.

use std::collections::BTreeMap;
use std::fmt;

use wire::alert::state;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    /// The condition cleared while pending: the alert never fired and is gone.
    Inactive,
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    /// The `state` of the `alert` event, also the stored one.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => state::INACTIVE,
            AlertState::Pending => state::PENDING,
            AlertState::Firing => state::FIRING,
            AlertState::Resolved => state::RESOLVED,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            state::INACTIVE => AlertState::Inactive,
            state::PENDING => AlertState::Pending,
            state::FIRING => AlertState::Firing,
            state::RESOLVED => AlertState::Resolved,
            _ => return None,
        })
    }

    /// Pending and firing alerts are active: shown, stored and restored.
    pub fn is_active(self) -> bool {
        matches!(self, AlertState::Pending | AlertState::Firing)
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Fingerprint of `labels`.
    pub id: String,
    /// Identity of the rule that made it (see `Rule::key`), to reattach a
    /// restored alert to its rule.
    pub rule_key: String,
    pub host: String,
    /// The rule's `alert` name, also the `alertname` label.
    pub name: String,
    pub state: AlertState,
    /// The `severity` label, or `warning` when the rule sets none.
    pub severity: String,
    /// The latest value seen, not the one it fired with.
    pub value: f64,
    /// Every label, `alertname` and `host` included.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// When the condition started to hold (Unix ms): Alertmanager's `startsAt`.
    pub active_since_ms: i64,
    /// When it went from pending to firing, once it has.
    pub fired_at_ms: Option<i64>,
    /// Time of the latest transition (Unix ms); for a resolved alert, `endsAt`.
    pub ts_ms: i64,
    /// The silences holding for it now, by id; empty when none does.
    pub silenced_by: Vec<String>,
    /// Whether receivers were told this episode fired: a firing alert that
    /// was silenced then is told when the silence ends, and a resolution is
    /// sent only to receivers that heard the firing.
    pub notified: bool,
}

impl Alert {
    /// A key that names this transition of this alert episode and nothing
    /// else: the same on every retry and after a restart, different for the
    /// next episode.
    pub fn idempotency_key(&self) -> String {
        format!("{}-{}-{}", self.id, self.state, self.active_since_ms)
    }
}

/// Alertmanager's label-set fingerprint: FNV-1a (64 bit) over each sorted
/// name and value, each followed by the byte 0xff, as 16 hex digits.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hash = Fnv::default();
    for (name, value) in labels {
        hash.write(name.as_bytes());
        hash.write(&[0xff]);
        hash.write(value.as_bytes());
        hash.write(&[0xff]);
    }
    format!("{:016x}", hash.0)
}

/// 64-bit FNV-1a: tiny, and stable across Rust versions and machines, which
/// `std`'s hasher does not promise. Public for the rule checks, which hash
/// label sets the same way.
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_fingerprint_is_fnv1a_over_names_and_values() {
        // FNV-1a's offset basis: the empty set, as in Alertmanager.
        assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
        // The 0xff separators keep `a=bc` and `ab=c` apart.
        assert_ne!(
            fingerprint(&labels(&[("a", "bc")])),
            fingerprint(&labels(&[("ab", "c")]))
        );
        assert_eq!(
            fingerprint(&labels(&[("host", "web-1"), ("alertname", "A")])),
            fingerprint(&labels(&[("alertname", "A"), ("host", "web-1")]))
        );
    }
}
