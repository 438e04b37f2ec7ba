//! The alerts pane: active alerts, firing before pending, with severity
//! and age.

use super::{AlertsView, Cell, Level, Ui};
use crate::format::age;
use crate::state::{AlertState, Store};

pub(super) fn alert_lines(store: &Store, host: &str, now_ms: i64) -> Vec<Cell> {
    store
        .alerts_of(host)
        .map(|a| {
            let level = alert_level(a.state, &a.severity);
            Cell::new(
                format!(
                    "{} {} ({}, {} for {})",
                    a.severity,
                    a.name,
                    state_name(a.state),
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

fn alert_level(state: AlertState, severity: &str) -> Level {
    match (state, severity) {
        (AlertState::Firing, "critical" | "page") => Level::Alarm,
        (AlertState::Firing, _) | (AlertState::Pending, "critical" | "page") => Level::Warn,
        _ => Level::Normal,
    }
}

pub(super) fn alerts_view(store: &Store, ui: &Ui, now_ms: i64) -> AlertsView {
    let mut alerts: Vec<_> = store.alerts.values().collect();
    // Firing before pending, then the longest-running first.
    alerts.sort_by(|a, b| {
        (b.state == AlertState::Firing)
            .cmp(&(a.state == AlertState::Firing))
            .then(a.active_since_ms.cmp(&b.active_since_ms))
            .then(a.id.cmp(&b.id))
    });
    let rows: Vec<[Cell; 7]> = alerts
        .iter()
        .map(|a| {
            let level = alert_level(a.state, &a.severity);
            [
                Cell::new(a.severity.clone(), level),
                Cell::new(state_name(a.state), level),
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
