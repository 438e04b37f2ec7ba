//! The log notifier: every transition is a log line, firing at `warn`,
//! resolved at `info`, pending and inactive at `debug`.

use crate::alerts::alert::AlertState;
use crate::alerts::engine::Transition;

pub(super) fn transition(t: &Transition) {
    let a = &t.alert;
    let summary = a.annotations.get("summary").map_or("", String::as_str);
    match a.state {
        AlertState::Firing => tracing::warn!(
            alert = %a.name, host = %a.host, severity = %a.severity, value = a.value,
            id = %a.id, "alert firing: {summary}"
        ),
        AlertState::Resolved => tracing::info!(
            alert = %a.name, host = %a.host, value = a.value, id = %a.id,
            "alert resolved: {summary}"
        ),
        state => tracing::debug!(
            alert = %a.name, host = %a.host, value = a.value, id = %a.id, from = %t.from,
            "alert {state}"
        ),
    }
}
