//! The state machine driven by an invented clock: every test says what time
//! it is, so timers are exact and nothing sleeps.

use super::*;
use crate::alerts::rules::check;

const T0: i64 = 1_700_000_000_000;
const S: i64 = 1000;

fn engine(yaml: &str) -> Engine {
    let checked = check(yaml);
    assert_eq!(checked.errors(), 0, "{:?}", checked.problems);
    Engine::new(checked.rules, EngineOptions::default())
}

fn rule(body: &str) -> String {
    format!("groups:\n  - name: g\n    rules:\n      - alert: A\n{body}")
}

fn cpu(value: f64) -> Vec<Point> {
    vec![Point {
        key: SeriesKey::new("cpu_usage_percent"),
        value,
    }]
}

/// Feeds one CPU sample for `web-1` at `at` and returns the states entered.
fn feed(e: &mut Engine, at: i64, value: f64) -> Vec<AlertState> {
    states(e.observe("web-1", at, &cpu(value), at))
}

fn states(ts: Vec<Transition>) -> Vec<AlertState> {
    ts.into_iter().map(|t| t.alert.state).collect()
}

use AlertState::{Firing, Inactive, Pending, Resolved};

#[test]
fn an_alert_is_pending_then_fires_once_for_has_elapsed() {
    let mut e = engine(&rule(
        "        expr: cpu_usage_percent > 90\n        for: 1m\n",
    ));
    assert_eq!(feed(&mut e, T0, 95.0), [Pending]);
    assert_eq!(feed(&mut e, T0 + 30 * S, 96.0), []);
    assert_eq!(states(e.tick(T0 + 59 * S)), []);
    // The tick fires it on time, with no sample needed.
    assert_eq!(states(e.tick(T0 + 60 * S)), [Firing]);
    let alert = e.active().next().unwrap();
    assert_eq!(alert.active_since_ms, T0);
    assert_eq!(alert.fired_at_ms, Some(T0 + 60 * S));
    assert_eq!(alert.labels["alertname"], "A");
    assert_eq!(alert.labels["host"], "web-1");
}

#[test]
fn flapping_inside_for_never_fires() {
    let mut e = engine(&rule(
        "        expr: cpu_usage_percent > 90\n        for: 1m\n",
    ));
    let mut seen = Vec::new();
    for step in 0..20 {
        let at = T0 + step * 10 * S;
        let value = if step % 5 == 4 { 50.0 } else { 95.0 };
        seen.extend(feed(&mut e, at, value));
        seen.extend(states(e.tick(at + S)));
    }
    assert!(!seen.contains(&Firing), "{seen:?}");
    assert!(seen.contains(&Pending) && seen.contains(&Inactive));
}

#[test]
fn hysteresis_holds_firing_between_the_two_thresholds() {
    let mut e = engine(&rule(
        "        expr: cpu_usage_percent > 90\n        recover: 80\n",
    ));
    assert_eq!(feed(&mut e, T0, 95.0), [Firing]);
    // Below the firing threshold but above the recovery one: still firing.
    assert_eq!(feed(&mut e, T0 + 5 * S, 85.0), []);
    assert_eq!(feed(&mut e, T0 + 10 * S, 81.0), []);
    assert_eq!(feed(&mut e, T0 + 15 * S, 79.0), [Resolved]);
    // Once resolved, it takes the firing threshold again, not the recovery one.
    assert_eq!(feed(&mut e, T0 + 20 * S, 85.0), []);
    assert_eq!(feed(&mut e, T0 + 25 * S, 91.0), [Firing]);
}

#[test]
fn keep_firing_for_holds_an_alert_after_its_condition_clears() {
    let mut e = engine(&rule(
        "        expr: cpu_usage_percent > 90\n        keep_firing_for: 30s\n",
    ));
    assert_eq!(feed(&mut e, T0, 95.0), [Firing]);
    assert_eq!(feed(&mut e, T0 + 5 * S, 10.0), []);
    assert_eq!(states(e.tick(T0 + 30 * S)), []);
    // Back above before the time ran out: the clock starts over.
    assert_eq!(feed(&mut e, T0 + 31 * S, 95.0), []);
    assert_eq!(feed(&mut e, T0 + 40 * S, 10.0), []);
    assert_eq!(states(e.tick(T0 + 69 * S)), []);
    assert_eq!(states(e.tick(T0 + 70 * S)), [Resolved]);
}

#[test]
fn a_silent_host_trips_the_no_data_rule_and_keeps_its_host_label() {
    let mut e = engine(&rule(
        "        expr: cpu_usage_percent\n        absent_for: 1m\n        annotations:\n          summary: \"{{ $labels.host }} silent {{ $value }}s\"\n",
    ));
    assert_eq!(feed(&mut e, T0, 5.0), []);
    e.observe("db-1", T0, &cpu(5.0), T0);
    // db-1 keeps reporting; web-1 goes quiet.
    for s in (10..=60).step_by(10) {
        e.observe("db-1", T0 + s * S, &cpu(5.0), T0 + s * S);
    }
    assert_eq!(states(e.tick(T0 + 59 * S)), []);
    let fired = e.tick(T0 + 60 * S);
    assert_eq!(fired.len(), 1);
    let alert = &fired[0].alert;
    assert_eq!((alert.state, alert.host.as_str()), (Firing, "web-1"));
    assert_eq!(alert.labels["host"], "web-1");
    assert_eq!(alert.annotations["summary"], "web-1 silent 60s");
    // Still silent: no new transition. Then it reports again: resolved.
    assert_eq!(states(e.tick(T0 + 90 * S)), []);
    let back = e.observe("web-1", T0 + 95 * S, &cpu(7.0), T0 + 95 * S);
    assert_eq!(states(back), [Resolved]);
}

#[test]
fn a_resolved_alert_carries_the_current_value_not_the_firing_one() {
    let mut e = engine(&rule(
        "        expr: cpu_usage_percent > 90\n        annotations:\n          summary: \"at {{ $value }}%\"\n",
    ));
    let fired = e.observe("web-1", T0, &cpu(97.0), T0);
    assert_eq!(fired[0].alert.value, 97.0);
    let resolved = e.observe("web-1", T0 + S, &cpu(42.5), T0 + S);
    assert_eq!(resolved[0].alert.state, Resolved);
    assert_eq!(resolved[0].alert.value, 42.5);
    assert_eq!(resolved[0].alert.annotations["summary"], "at 42.5%");
    assert_eq!(resolved[0].alert.active_since_ms, T0);
    assert_eq!(resolved[0].alert.ts_ms, T0 + S);
}

#[test]
fn a_replayed_older_report_changes_nothing() {
    let mut e = engine(&rule("        expr: cpu_usage_percent > 90\n"));
    assert_eq!(feed(&mut e, T0 + 10 * S, 95.0), [Firing]);
    // An agent replaying its spool sends a report from before: ignored.
    assert_eq!(states(e.observe("web-1", T0, &cpu(10.0), T0 + 11 * S)), []);
}

#[test]
fn two_metrics_of_one_host_compare_series_with_the_same_labels() {
    let mut e = engine(&rule(
        "        expr: filesystem_used_bytes > filesystem_size_bytes * 0.9\n",
    ));
    let fs = |name: &str, mount: &str, v: f64| Point {
        key: SeriesKey::with_labels(name, [("mount", mount)]),
        value: v,
    };
    let report = [
        fs("filesystem_size_bytes", "/", 100.0),
        fs("filesystem_size_bytes", "/data", 1000.0),
        fs("filesystem_used_bytes", "/", 95.0),
        fs("filesystem_used_bytes", "/data", 95.0),
    ];
    let t = e.observe("web-1", T0, &report, T0);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].alert.labels["mount"], "/");
    assert_eq!(t[0].alert.value, 95.0);
}

#[test]
fn a_series_that_stops_arriving_ends_its_alert() {
    let mut e = engine(&rule("        expr: cpu_usage_percent > 90\n"));
    assert_eq!(feed(&mut e, T0, 95.0), [Firing]);
    assert_eq!(states(e.tick(T0 + 299 * S)), []);
    assert_eq!(states(e.tick(T0 + 300 * S)), [Resolved]);
}

#[test]
fn restored_alerts_go_on_without_a_new_transition() {
    let yaml = rule("        expr: cpu_usage_percent > 90\n        for: 1m\n");
    let mut before = engine(&yaml);
    feed(&mut before, T0, 95.0);
    feed(&mut before, T0 + 60 * S, 95.0);
    let saved: Vec<Alert> = before.active().cloned().collect();
    assert_eq!(saved[0].state, Firing);

    let mut after = engine(&yaml);
    assert_eq!(after.restore(saved.clone(), T0 + 120 * S), []);
    assert_eq!(feed(&mut after, T0 + 125 * S, 99.0), []);
    assert_eq!(feed(&mut after, T0 + 130 * S, 10.0), [Resolved]);

    // A rule that changed meanwhile ends its old alerts.
    let mut edited = engine(&rule("        expr: cpu_usage_percent > 95\n"));
    assert_eq!(states(edited.restore(saved, T0 + 120 * S)), [Resolved]);
}

#[test]
fn a_restored_no_data_alert_stays_firing_while_the_host_is_silent() {
    let yaml = rule("        expr: cpu_usage_percent\n        absent_for: 1m\n");
    let mut before = engine(&yaml);
    feed(&mut before, T0, 5.0);
    assert_eq!(states(before.tick(T0 + 60 * S)), [Firing]);
    let saved: Vec<Alert> = before.active().cloned().collect();

    let mut after = engine(&yaml);
    assert_eq!(after.restore(saved, T0 + 100 * S), []);
    assert_eq!(states(after.tick(T0 + 101 * S)), []);
    assert_eq!(after.active().next().unwrap().value, 101.0);
}

mod silences {
    use super::*;
    use crate::alerts::silence::{NewSilence, Silence, validate};

    /// A silence of `web-1`'s alerts from `start` for `minutes`.
    fn silence(start: i64, minutes: i64) -> Silence {
        let mut s = validate(
            &NewSilence {
                matchers: vec!["host=web-1".into()],
                duration: Some(format!("{minutes}m")),
                starts_at_ms: Some(start),
                ..NewSilence::default()
            },
            start,
            None,
        )
        .unwrap();
        s.id = "s1".into();
        s
    }

    /// (state entered, notified, silenced) per transition.
    fn seen(ts: Vec<Transition>) -> Vec<(AlertState, bool, bool)> {
        ts.into_iter()
            .map(|t| (t.alert.state, t.notify, !t.alert.silenced_by.is_empty()))
            .collect()
    }

    fn instant() -> Engine {
        engine(&rule("        expr: cpu_usage_percent > 90\n"))
    }

    #[test]
    fn a_silenced_alert_changes_state_but_neither_firing_nor_resolution_is_sent() {
        let mut e = instant();
        e.set_silences(vec![silence(T0, 10)], T0);
        let obs = |e: &mut Engine, at, v| seen(e.observe("web-1", at, &cpu(v), at));
        assert_eq!(obs(&mut e, T0 + S, 95.0), [(Firing, false, true)]);
        assert!(e.active().next().unwrap().silenced_by == ["s1"]);
        assert_eq!(obs(&mut e, T0 + 2 * S, 10.0), [(Resolved, false, true)]);
        // After the silence, the next episode is sent.
        assert_eq!(seen(e.tick(T0 + 10 * 60 * S)), []);
        assert_eq!(obs(&mut e, T0 + 11 * 60 * S, 95.0), [(Firing, true, false)]);
        assert_eq!(
            obs(&mut e, T0 + 12 * 60 * S, 10.0),
            [(Resolved, true, false)]
        );
    }

    #[test]
    fn a_firing_missed_while_silenced_is_sent_when_the_silence_expires_on_time() {
        let mut e = instant();
        e.set_silences(vec![silence(T0, 3)], T0);
        assert_eq!(
            seen(e.observe("web-1", T0 + S, &cpu(95.0), T0 + S)),
            [(Firing, false, true)]
        );
        assert_eq!(seen(e.tick(T0 + 3 * 60 * S - 1)), []);
        // Expiry is on the clock (well within the 5 minutes a series may be
        // silent before it goes stale): the tick at its end lifts it and sends
        // the firing the receivers never heard.
        assert_eq!(seen(e.tick(T0 + 3 * 60 * S)), [(Firing, true, false)]);
        assert_eq!(
            seen(e.observe("web-1", T0 + 4 * 60 * S, &cpu(5.0), T0 + 4 * 60 * S)),
            [(Resolved, true, false)]
        );
    }

    #[test]
    fn silencing_a_notified_alert_sends_nothing_not_even_its_resolution() {
        let mut e = instant();
        assert_eq!(
            seen(e.observe("web-1", T0, &cpu(95.0), T0)),
            [(Firing, true, false)]
        );
        // The dashboards learn it is silenced; receivers hear nothing.
        assert_eq!(
            seen(e.set_silences(vec![silence(T0 + S, 3)], T0 + S)),
            [(Firing, false, true)]
        );
        assert_eq!(
            seen(e.observe("web-1", T0 + 2 * S, &cpu(5.0), T0 + 2 * S)),
            [(Resolved, false, true)]
        );
        // Still firing at the end of a silence it was notified before: no repeat.
        let mut e = instant();
        e.observe("web-1", T0, &cpu(95.0), T0);
        e.set_silences(vec![silence(T0 + S, 3)], T0 + S);
        assert_eq!(seen(e.tick(T0 + S + 3 * 60 * S)), [(Firing, false, false)]);
    }

    #[test]
    fn a_pending_silence_holds_only_from_its_start_and_other_hosts_are_not_silenced() {
        let mut e = instant();
        e.set_silences(vec![silence(T0 + 60 * S, 10)], T0);
        assert_eq!(
            seen(e.observe("web-2", T0, &cpu(95.0), T0)),
            [(Firing, true, false)]
        );
        assert_eq!(
            seen(e.observe("web-1", T0, &cpu(95.0), T0)),
            [(Firing, true, false)]
        );
        // At its start it silences web-1's alert alone.
        let t = e.tick(T0 + 60 * S);
        assert_eq!(seen(t.clone()), [(Firing, false, true)]);
        assert_eq!(t[0].alert.host, "web-1");
    }

    #[test]
    fn a_restored_alert_keeps_whether_receivers_heard_it() {
        let mut e = instant();
        e.set_silences(vec![silence(T0, 3)], T0);
        e.observe("web-1", T0, &cpu(95.0), T0);
        let saved: Vec<Alert> = e.active().cloned().collect();
        assert!(!saved[0].notified);
        let mut again = instant();
        again.set_silences(vec![silence(T0, 3)], T0 + S);
        again.restore(saved, T0 + S);
        assert_eq!(again.active().next().unwrap().silenced_by, ["s1"]);
        assert_eq!(seen(again.tick(T0 + 3 * 60 * S)), [(Firing, true, false)]);
    }
}
