//! The alert state machine: inactive → pending → firing → resolved, one
//! instance per rule and matching series (or per rule and host, for no-data
//! rules).
//!
//! The engine is plain synchronous code with no clock of its own: every
//! call takes `now_ms`, the wall-clock time it should act at. Thresholds are
//! checked in [`Engine::observe`] as samples arrive; everything that depends
//! on time passing with no sample (`for`, `keep_firing_for`, no-data,
//! staleness) is checked in [`Engine::tick`], which the role calls every
//! second. Tests drive both with an invented clock.
//!
//! Silences ([`Engine::set_silences`]) change no state: they decide which
//! transitions are notified. A silenced alert's firing is not sent, nor is
//! a resolution while silenced or of a firing receivers never heard; when
//! the silence ends on a firing alert they did not hear, that firing is sent.

use std::collections::{BTreeMap, HashSet};

use super::expr::{Expr, Rhs, Selector};
use super::rules::{Rule, RuleSet};
use super::silence::{Silence, silenced_by};
use crate::alert::{Alert, AlertState, fingerprint};
use crate::model::{Point, SeriesKey};

#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// A threshold alert whose series has sent nothing for this long ends
    /// (resolved if it fired), as a stale series does in Prometheus. No-data
    /// rules are how a silent host is reported.
    pub stale_after_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            stale_after_ms: 5 * 60_000,
        }
    }
}

/// One state change of one alert, or (with `from` equal to the state) a
/// change of the silences holding for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub from: AlertState,
    /// The alert after the change, with its latest value.
    pub alert: Alert,
    /// Whether receivers are told: firing and resolved are what they hear
    /// about, unless silenced; pending and inactive only reach the
    /// dashboards.
    pub notify: bool,
}

impl Transition {
    pub fn notifies(&self) -> bool {
        self.notify
    }

    /// Only the silences holding for the alert changed.
    pub fn is_silence_change(&self) -> bool {
        self.from == self.alert.state
    }
}

struct Instance {
    rule: usize,
    alert: Alert,
    last_sample_ms: i64,
    /// Since when a firing alert's condition has not held (`keep_firing_for`).
    clear_since_ms: Option<i64>,
}

struct HostTrack {
    /// Newest report timestamp applied: older reports are replays.
    last_ts_ms: i64,
    /// Latest values of the metrics some rule compares against.
    values: BTreeMap<SeriesKey, f64>,
    /// Per rule index: when a sample matching a no-data rule last arrived.
    seen_ms: Vec<i64>,
}

pub struct Engine {
    rules: Vec<Rule>,
    options: EngineOptions,
    instances: BTreeMap<String, Instance>,
    hosts: BTreeMap<String, HostTrack>,
    rhs_metrics: HashSet<String>,
    new_hosts: Vec<String>,
    silences: Vec<Silence>,
}

/// One evaluation of a rule for one label set.
struct Eval {
    rule: usize,
    host: String,
    labels: BTreeMap<String, String>,
    value: f64,
    /// The firing condition holds.
    fire: bool,
    /// The condition that keeps a firing alert firing (hysteresis) holds.
    hold: bool,
}

impl Engine {
    pub fn new(rules: RuleSet, options: EngineOptions) -> Self {
        let rhs_metrics = rules
            .rules
            .iter()
            .filter_map(|r| match &r.expr {
                Expr::Compare {
                    right: Rhs::Series { selector, .. },
                    ..
                } => Some(selector.metric.clone()),
                _ => None,
            })
            .collect();
        Self {
            rules: rules.rules,
            options,
            instances: BTreeMap::new(),
            hosts: BTreeMap::new(),
            rhs_metrics,
            new_hosts: Vec::new(),
            silences: Vec::new(),
        }
    }

    /// Makes a host known (for no-data rules) as last heard from at
    /// `last_seen_ms`; a host already known is left as it is.
    pub fn seed_host(&mut self, host: &str, last_seen_ms: i64) {
        if !self.hosts.contains_key(host) {
            self.hosts.insert(
                host.to_owned(),
                HostTrack {
                    last_ts_ms: i64::MIN,
                    values: BTreeMap::new(),
                    seen_ms: vec![last_seen_ms; self.rules.len()],
                },
            );
            self.new_hosts.push(host.to_owned());
        }
    }

    /// Hosts first seen since the last call, to be remembered across restarts.
    pub fn take_new_hosts(&mut self) -> Vec<String> {
        std::mem::take(&mut self.new_hosts)
    }

    /// Takes back the active alerts saved before a restart. An alert whose
    /// rule is gone (the file changed) ends now; the transitions say so.
    pub fn restore(&mut self, saved: Vec<Alert>, now_ms: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        for mut alert in saved {
            alert.silenced_by = silenced_by(&self.silences, &alert.labels, now_ms);
            let Some(i) = self.rules.iter().position(|r| r.key == alert.rule_key) else {
                let from = alert.state;
                alert.state = ended(from);
                alert.ts_ms = now_ms;
                let notify = notifies_end(&alert);
                out.push(Transition {
                    from,
                    alert,
                    notify,
                });
                continue;
            };
            self.seed_host(&alert.host, now_ms);
            if let Some(absent_for) = self.rules[i].absent_for_ms
                && let Some(track) = self.hosts.get_mut(&alert.host)
            {
                // The condition started to hold `absent_for` after the last sample.
                track.seen_ms[i] = alert.active_since_ms - absent_for;
            }
            self.instances.insert(
                alert.id.clone(),
                Instance {
                    rule: i,
                    alert,
                    last_sample_ms: now_ms,
                    clear_since_ms: None,
                },
            );
        }
        out
    }

    /// The active (pending and firing) alerts.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.instances.values().map(|i| &i.alert)
    }

    /// Applies one report of `host` taken at `ts_ms`, received at `now_ms`.
    pub fn observe(
        &mut self,
        host: &str,
        ts_ms: i64,
        points: &[Point],
        now_ms: i64,
    ) -> Vec<Transition> {
        self.seed_host(host, now_ms);
        let Some(track) = self.hosts.get_mut(host) else {
            return Vec::new();
        };
        if ts_ms < track.last_ts_ms {
            return Vec::new();
        }
        track.last_ts_ms = ts_ms;
        for p in points {
            if self.rhs_metrics.contains(&p.key.name) {
                track.values.insert(p.key.clone(), p.value);
            }
        }
        let mut evals = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            match &rule.expr {
                Expr::Selector(selector) => {
                    if points.iter().any(|p| selector.matches(host, &p.key)) {
                        track.seen_ms[i] = now_ms;
                        let labels = alert_labels(rule, host, &[]);
                        if self.instances.contains_key(&fingerprint(&labels)) {
                            evals.push(Eval {
                                rule: i,
                                host: host.to_owned(),
                                labels,
                                value: 0.0,
                                fire: false,
                                hold: false,
                            });
                        }
                    }
                }
                Expr::Compare { left, op, right } => {
                    for p in points.iter().filter(|p| left.matches(host, &p.key)) {
                        let rhs = match right {
                            Rhs::Number(n) => Some(*n),
                            Rhs::Series { selector, factor } => {
                                partner(&track.values, host, selector, &p.key).map(|v| v * factor)
                            }
                        };
                        let Some(rhs) = rhs else { continue };
                        let fire = op.holds(p.value, rhs);
                        let hold = rule.recover.map_or(fire, |r| op.holds(p.value, r));
                        evals.push(Eval {
                            rule: i,
                            host: host.to_owned(),
                            labels: alert_labels(rule, host, &p.key.labels),
                            value: p.value,
                            fire,
                            hold,
                        });
                    }
                }
            }
        }
        let mut out = Vec::new();
        for e in evals {
            self.apply(e, now_ms, &mut out);
        }
        out
    }

    /// Replaces the silences (all of them, expired ones too) and says which
    /// active alerts they now silence or stop silencing.
    pub fn set_silences(&mut self, silences: Vec<Silence>, now_ms: i64) -> Vec<Transition> {
        self.silences = silences;
        let mut out = Vec::new();
        self.resilence(now_ms, &mut out);
        out
    }

    /// Re-checks which silences hold for each active alert at `now_ms`.
    fn resilence(&mut self, now_ms: i64, out: &mut Vec<Transition>) {
        for inst in self.instances.values_mut() {
            let by = silenced_by(&self.silences, &inst.alert.labels, now_ms);
            if by == inst.alert.silenced_by {
                continue;
            }
            inst.alert.silenced_by = by;
            // A firing its receivers missed while silenced is sent now.
            let notify = inst.alert.state == AlertState::Firing
                && inst.alert.silenced_by.is_empty()
                && !inst.alert.notified;
            if notify {
                inst.alert.notified = true;
            }
            out.push(Transition {
                from: inst.alert.state,
                alert: inst.alert.clone(),
                notify,
            });
        }
    }

    /// Acts on time passing: pending alerts whose `for` has elapsed fire,
    /// `keep_firing_for` runs out, silent hosts trip no-data rules, stale
    /// series end their alerts, and silences start and end.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        self.resilence(now_ms, &mut out);
        let ids: Vec<String> = self.instances.keys().cloned().collect();
        for id in ids {
            let Some(inst) = self.instances.get_mut(&id) else {
                continue;
            };
            let rule = &self.rules[inst.rule];
            if rule.absent_for_ms.is_some() {
                continue;
            }
            let next = if now_ms - inst.last_sample_ms >= self.options.stale_after_ms {
                Some(ended(inst.alert.state))
            } else {
                match inst.alert.state {
                    AlertState::Pending if now_ms - inst.alert.active_since_ms >= rule.for_ms => {
                        Some(AlertState::Firing)
                    }
                    AlertState::Firing
                        if inst
                            .clear_since_ms
                            .is_some_and(|s| now_ms - s >= rule.keep_firing_for_ms) =>
                    {
                        Some(AlertState::Resolved)
                    }
                    _ => None,
                }
            };
            if let Some(state) = next {
                out.push(self.change(&id, state, now_ms));
            }
        }
        let mut evals = Vec::new();
        for (host, track) in &self.hosts {
            for (i, rule) in self.rules.iter().enumerate() {
                let Some(absent_for) = rule.absent_for_ms else {
                    continue;
                };
                let silent_ms = now_ms - track.seen_ms[i];
                let fire = silent_ms >= absent_for;
                let labels = alert_labels(rule, host, &[]);
                if fire || self.instances.contains_key(&fingerprint(&labels)) {
                    evals.push(Eval {
                        rule: i,
                        host: host.clone(),
                        labels,
                        value: (silent_ms.max(0) / 1000) as f64,
                        fire,
                        hold: fire,
                    });
                }
            }
        }
        for e in evals {
            self.apply(e, now_ms, &mut out);
        }
        out
    }

    fn apply(&mut self, e: Eval, now_ms: i64, out: &mut Vec<Transition>) {
        let id = fingerprint(&e.labels);
        let rule = &self.rules[e.rule];
        let Some(inst) = self.instances.get_mut(&id) else {
            if !e.fire {
                return;
            }
            let state = if rule.for_ms == 0 {
                AlertState::Firing
            } else {
                AlertState::Pending
            };
            let mut alert = Alert {
                id: id.clone(),
                rule_key: rule.key.clone(),
                host: e.host,
                name: rule.name.clone(),
                state,
                severity: rule
                    .labels
                    .get("severity")
                    .cloned()
                    .unwrap_or_else(|| "warning".into()),
                value: e.value,
                labels: e.labels,
                annotations: BTreeMap::new(),
                active_since_ms: now_ms,
                fired_at_ms: (state == AlertState::Firing).then_some(now_ms),
                ts_ms: now_ms,
                silenced_by: Vec::new(),
                notified: false,
            };
            alert.silenced_by = silenced_by(&self.silences, &alert.labels, now_ms);
            let notify = state == AlertState::Firing && alert.silenced_by.is_empty();
            alert.notified = notify;
            render(rule, &mut alert);
            out.push(Transition {
                from: AlertState::Inactive,
                alert: alert.clone(),
                notify,
            });
            self.instances.insert(
                id,
                Instance {
                    rule: e.rule,
                    alert,
                    last_sample_ms: now_ms,
                    clear_since_ms: None,
                },
            );
            return;
        };
        inst.alert.value = e.value;
        inst.last_sample_ms = now_ms;
        let next = match inst.alert.state {
            AlertState::Pending if !e.fire => Some(AlertState::Inactive),
            AlertState::Pending if now_ms - inst.alert.active_since_ms >= rule.for_ms => {
                Some(AlertState::Firing)
            }
            AlertState::Firing if e.hold => {
                inst.clear_since_ms = None;
                None
            }
            AlertState::Firing => {
                let since = *inst.clear_since_ms.get_or_insert(now_ms);
                (now_ms - since >= rule.keep_firing_for_ms).then_some(AlertState::Resolved)
            }
            _ => None,
        };
        if let Some(state) = next {
            out.push(self.change(&id, state, now_ms));
        }
    }

    /// Moves an instance to `state`, dropping it once it is no longer active.
    fn change(&mut self, id: &str, state: AlertState, now_ms: i64) -> Transition {
        let inst = self
            .instances
            .get_mut(id)
            .expect("change() is called for a present instance");
        let from = inst.alert.state;
        inst.alert.state = state;
        inst.alert.ts_ms = now_ms;
        inst.alert.silenced_by = silenced_by(&self.silences, &inst.alert.labels, now_ms);
        let notify = match state {
            AlertState::Firing => {
                inst.alert.fired_at_ms = Some(now_ms);
                inst.clear_since_ms = None;
                inst.alert.notified = inst.alert.silenced_by.is_empty();
                inst.alert.notified
            }
            AlertState::Resolved => notifies_end(&inst.alert),
            AlertState::Pending | AlertState::Inactive => false,
        };
        render(&self.rules[inst.rule], &mut inst.alert);
        let alert = inst.alert.clone();
        if !state.is_active() {
            self.instances.remove(id);
        }
        Transition {
            from,
            alert,
            notify,
        }
    }
}

/// A resolution is sent to receivers that heard the firing, unless a
/// silence holds for it now.
fn notifies_end(alert: &Alert) -> bool {
    alert.state == AlertState::Resolved && alert.notified && alert.silenced_by.is_empty()
}

/// What an alert that stops being evaluated becomes.
fn ended(state: AlertState) -> AlertState {
    if state == AlertState::Firing {
        AlertState::Resolved
    } else {
        AlertState::Inactive
    }
}

fn render(rule: &Rule, alert: &mut Alert) {
    alert.annotations = rule
        .annotations
        .iter()
        .map(|(k, t)| (k.clone(), t.render(&alert.labels, alert.value)))
        .collect();
}

/// The series' labels, then `host`, the rule's labels and `alertname`, each
/// overriding what came before.
fn alert_labels(rule: &Rule, host: &str, series: &[(String, String)]) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = series.iter().cloned().collect();
    labels.insert("host".into(), host.to_owned());
    labels.extend(rule.labels.clone());
    labels.insert("alertname".into(), rule.name.clone());
    labels
}

/// The right-hand value for a left-hand series: the selected series with
/// the same labels, or else the only selected series without labels.
fn partner(
    values: &BTreeMap<SeriesKey, f64>,
    host: &str,
    selector: &Selector,
    left: &SeriesKey,
) -> Option<f64> {
    let mut unlabelled = None;
    for (key, value) in values.iter().filter(|(k, _)| selector.matches(host, k)) {
        if key.labels == left.labels {
            return Some(*value);
        }
        if key.labels.is_empty() {
            unlabelled = Some(*value);
        }
    }
    unlabelled
}

#[cfg(test)]
mod tests;
