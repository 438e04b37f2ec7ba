//! The alerts pane: active alerts, firing before pending, with severity
//! and age; a silenced alert says so and is drawn faint (nobody is being
//! told about it).

use super::{AlertsView, Cell, Level, Ui};
use crate::format::age;
use crate::state::{Alert, AlertState, Store};

/// How long `s` in the alerts pane silences the selected alert.
pub const SILENCE_FOR: &str = "1h";

pub(super) fn alert_lines(store: &Store, host: &str, now_ms: i64) -> Vec<Cell> {
    store
        .alerts_of(host)
        .map(|a| {
            let level = alert_level(a);
            Cell::new(
                format!(
                    "{} {} ({}, {} for {})",
                    a.severity,
                    a.name,
                    state_text(a),
                    a.value.map(|v| format!("{v:.1}")).unwrap_or_default(),
                    age(now_ms - a.active_since_ms)
                ),
                level,
            )
        })
        .collect()
}

fn state_name(s: AlertState) -> &'static str {
    match s {
        AlertState::Pending => "pending",
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
    }
}

/// The state, and "silenced" when a silence holds for it.
fn state_text(a: &Alert) -> String {
    if a.silenced {
        format!("{}·silenced", state_name(a.state))
    } else {
        state_name(a.state).to_owned()
    }
}

fn alert_level(a: &Alert) -> Level {
    if a.silenced {
        return Level::Faint;
    }
    match (a.state, a.severity.as_str()) {
        (AlertState::Firing, "critical" | "page") => Level::Alarm,
        (AlertState::Firing, _) | (AlertState::Pending, "critical" | "page") => Level::Warn,
        _ => Level::Normal,
    }
}

/// The pane's order: firing before pending, then the longest-running first.
pub fn alert_order(store: &Store) -> Vec<&Alert> {
    let mut alerts: Vec<_> = store.alerts.values().collect();
    alerts.sort_by(|a, b| {
        (b.state == AlertState::Firing)
            .cmp(&(a.state == AlertState::Firing))
            .then(a.active_since_ms.cmp(&b.active_since_ms))
            .then(a.id.cmp(&b.id))
    });
    alerts
}

/// Matchers in the rule-file syntax that select exactly this alert.
pub fn silence_matchers(a: &Alert) -> Vec<String> {
    let quoted = |name: &str, value: &str| {
        let q = if value.contains('"') { '\'' } else { '"' };
        format!("{name}={q}{value}{q}")
    };
    let mut out = vec![quoted("alertname", &a.name), quoted("host", &a.host)];
    out.extend(
        a.labels
            .iter()
            .filter(|(k, _)| k != "alertname" && k != "host")
            .map(|(k, v)| quoted(k, v)),
    );
    out
}

pub(super) fn alerts_view(store: &Store, ui: &Ui, now_ms: i64) -> AlertsView {
    let alerts = alert_order(store);
    let rows: Vec<[Cell; 7]> = alerts
        .iter()
        .map(|a| {
            let level = alert_level(a);
            [
                Cell::new(a.severity.clone(), level),
                Cell::new(state_text(a), level),
                Cell::new(a.host.clone(), Level::Normal),
                Cell::new(a.name.clone(), Level::Normal),
                a.value.map_or_else(Cell::missing, |v| {
                    Cell::new(format!("{v:.1}"), Level::Normal)
                }),
                Cell::new(age(now_ms - a.active_since_ms), Level::Normal),
                Cell::new(a.summary.clone().unwrap_or_default(), Level::Faint),
            ]
        })
        .collect();
    AlertsView {
        selected: ui.alert_selected.min(rows.len().saturating_sub(1)),
        rows,
    }
}
