//! The log notifier: every transition is a log line, firing at `warn`,
//! resolved at `info`, pending and inactive at `debug`; a silenced one only
//! at `debug`, and a silence starting or ending on an alert at `info`.

use crate::alert::AlertState;
use crate::alerts::engine::Transition;

pub(super) fn transition(t: &Transition) {
    let a = &t.alert;
    let summary = a.annotations.get("summary").map_or("", String::as_str);
    if t.is_silence_change() {
        let by = a.silenced_by.join(",");
        if a.silenced_by.is_empty() {
            tracing::info!(alert = %a.name, host = %a.host, state = %a.state, id = %a.id,
                notified = t.notify, "alert no longer silenced");
        } else {
            tracing::info!(alert = %a.name, host = %a.host, state = %a.state, id = %a.id,
                silenced_by = %by, "alert silenced");
        }
        return;
    }
    if !a.silenced_by.is_empty() {
        // The log is a notifier too: what a silence holds is not announced.
        tracing::debug!(alert = %a.name, host = %a.host, value = a.value, id = %a.id, from = %t.from,
            silenced_by = %a.silenced_by.join(","), "alert {} while silenced: not notified", a.state);
        return;
    }
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
