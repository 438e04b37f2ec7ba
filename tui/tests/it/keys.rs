//! Key sequences mixed with protocol updates, checked against the view
//! state they must produce.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui::keys::Effect;
use tui::state::{Link, Update};
use tui::view::{ActivitySort, Body, Column, Screen};

use crate::fixtures::{NOW, cgroups, connected_fleet, key, press, processes, sample};

fn selected_host(app: &tui::App) -> String {
    let Body::Fleet(fleet) = app.view(NOW).body else {
        panic!("the fleet view")
    };
    fleet.rows[fleet.selected.unwrap()].host.clone()
}

fn hosts_in_order(app: &tui::App) -> Vec<String> {
    let Body::Fleet(fleet) = app.view(NOW).body else {
        panic!("the fleet view")
    };
    fleet.rows.into_iter().map(|r| r.host).collect()
}

#[test]
fn vim_and_arrow_keys_move_the_selection_within_the_table() {
    let mut app = connected_fleet();
    app.ui.page = 10;
    assert_eq!(
        selected_host(&app),
        "db-03",
        "the first row starts selected"
    );
    press(&mut app, "jj");
    assert_eq!(selected_host(&app), "db-02");
    app.key(key(KeyCode::Up), NOW);
    assert_eq!(selected_host(&app), "cache-09");
    press(&mut app, "G");
    assert_eq!(selected_host(&app), "db-07");
    press(&mut app, "j");
    assert_eq!(selected_host(&app), "db-07", "the last row stays selected");
    app.key(key(KeyCode::PageUp), NOW);
    assert_eq!(hosts_in_order(&app)[19], selected_host(&app));
    press(&mut app, "g");
    app.key(key(KeyCode::PageDown), NOW);
    assert_eq!(hosts_in_order(&app)[10], selected_host(&app));
    app.key(key(KeyCode::Home), NOW);
    press(&mut app, "k");
    assert_eq!(selected_host(&app), "db-03", "the first row stays selected");
}

#[test]
fn the_selection_follows_its_host_when_new_data_reorders_the_table() {
    let mut app = connected_fleet();
    press(&mut app, "jjj");
    assert_eq!(selected_host(&app), "cache-04");
    // cache-04 becomes the busiest host and moves to the top.
    app.apply(Update::Metrics(sample("cache-04", NOW, 99.0)), NOW);
    assert_eq!(hosts_in_order(&app)[0], "cache-04");
    assert_eq!(selected_host(&app), "cache-04");
    press(&mut app, "j");
    assert_eq!(selected_host(&app), "db-03");
}

#[test]
fn sort_keys_choose_a_column_and_direction() {
    let mut app = connected_fleet();
    press(&mut app, "1");
    assert_eq!((app.ui.sort, app.ui.descending), (Column::Host, false));
    assert_eq!(hosts_in_order(&app)[0], "cache-01");
    press(&mut app, "1");
    assert!(app.ui.descending, "the same column again reverses");
    assert_eq!(hosts_in_order(&app)[0], "web-10");
    press(&mut app, ">");
    assert_eq!((app.ui.sort, app.ui.descending), (Column::Age, true));
    assert_eq!(hosts_in_order(&app)[0], "cache-07", "the stalest first");
    press(&mut app, "<<");
    assert_eq!(app.ui.sort, Column::Alerts, "< wraps around");
    press(&mut app, "r");
    assert!(!app.ui.descending);
    press(&mut app, "4");
    assert_eq!(app.ui.sort, Column::Load);
}

#[test]
fn slash_filters_live_and_escape_clears_the_filter() {
    let mut app = connected_fleet();
    press(&mut app, "/web-1");
    assert!(app.ui.editing_filter);
    // Letters typed into the filter are not commands: "q" did not quit.
    assert_eq!(hosts_in_order(&app), vec!["web-10"]);
    app.key(key(KeyCode::Backspace), NOW);
    assert_eq!(hosts_in_order(&app).len(), 10);
    press(&mut app, "q");
    assert!(!app.ui.quit);
    assert!(hosts_in_order(&app).is_empty());
    let Body::Fleet(fleet) = app.view(NOW).body else {
        panic!()
    };
    assert_eq!(
        fleet.empty.as_deref(),
        Some("no host name contains \"web-q\"")
    );
    app.key(key(KeyCode::Backspace), NOW);
    app.key(key(KeyCode::Enter), NOW);
    assert!(!app.ui.editing_filter);
    assert_eq!(app.ui.filter, "web-");
    press(&mut app, "j");
    assert_eq!(selected_host(&app), "web-02", "keys move again after Enter");
    app.key(key(KeyCode::Esc), NOW);
    assert_eq!(hosts_in_order(&app).len(), 30);
}

#[test]
fn enter_opens_the_host_and_asks_for_its_history_and_esc_or_q_come_back() {
    let mut app = connected_fleet();
    press(&mut app, "j");
    let effect = app.key(key(KeyCode::Enter), NOW);
    assert_eq!(effect, Effect::FetchHistory("cache-09".into()));
    assert_eq!(app.ui.screen, Screen::Host("cache-09".into()));
    assert_eq!(
        app.store.hosts["cache-09"].history.status,
        tui::state::HistoryStatus::Loading
    );
    assert!(matches!(app.view(NOW).body, Body::Host(_)));
    assert_eq!(app.key(key(KeyCode::Char('q')), NOW), Effect::None);
    assert_eq!(app.ui.screen, Screen::Fleet, "q in a host view goes back");
    assert_eq!(selected_host(&app), "cache-09");
    app.key(key(KeyCode::Enter), NOW);
    app.key(key(KeyCode::Esc), NOW);
    assert_eq!(app.ui.screen, Screen::Fleet);
    assert_eq!(app.key(key(KeyCode::Char('q')), NOW), Effect::Quit);
}

#[test]
fn ctrl_c_quits_from_anywhere_even_while_typing_a_filter() {
    let mut app = connected_fleet();
    press(&mut app, "a/");
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.key(ctrl_c, NOW), Effect::Quit);
    let mut app = connected_fleet();
    press(&mut app, "/abc");
    assert_eq!(app.key(ctrl_c, NOW), Effect::Quit);
}

#[test]
fn help_opens_with_a_question_mark_and_any_key_closes_it_without_acting() {
    let mut app = connected_fleet();
    press(&mut app, "?");
    assert!(app.view(NOW).help.is_some());
    assert_eq!(app.key(key(KeyCode::Char('q')), NOW), Effect::None);
    assert!(app.view(NOW).help.is_none());
    assert_eq!(app.ui.screen, Screen::Fleet);
}

#[test]
fn the_alerts_pane_opens_with_a_and_moves_within_its_rows() {
    let mut app = connected_fleet();
    press(&mut app, "a");
    assert_eq!(app.ui.screen, Screen::Alerts);
    press(&mut app, "jjjj");
    let Body::Alerts(alerts) = app.view(NOW).body else {
        panic!("the alerts pane")
    };
    assert_eq!(alerts.selected, 2, "three alerts: the last stays selected");
    press(&mut app, "a");
    assert_eq!(app.ui.screen, Screen::Fleet);
}

#[test]
fn a_lost_link_keeps_the_data_and_a_new_snapshot_replaces_it() {
    let mut app = connected_fleet();
    app.apply(
        Update::Disconnected {
            reason: "connection reset".into(),
            retry_at_ms: NOW + 1_000,
            attempt: 1,
        },
        NOW,
    );
    assert_eq!(app.store.hosts.len(), 30, "the last data stays on screen");
    let Body::Fleet(fleet) = app.view(NOW).body else {
        panic!()
    };
    assert!(fleet.rows.iter().all(|r| r.stale));
    // A second failure keeps the time the link was first lost.
    app.apply(
        Update::Disconnected {
            reason: "connection refused".into(),
            retry_at_ms: NOW + 3_000,
            attempt: 2,
        },
        NOW + 1_000,
    );
    assert!(
        matches!(app.store.link, Link::Disconnected { since_ms, attempt: 2, .. } if since_ms == NOW)
    );

    app.apply(crate::fixtures::connected(), NOW + 3_000);
    app.apply(
        Update::Snapshot {
            hosts: vec![sample("web-01", NOW + 2_500, 10.0)],
            alerts: vec![],
        },
        NOW + 3_000,
    );
    assert_eq!(app.store.hosts.len(), 1);
    assert!(app.store.alerts.is_empty());
    assert!(app.store.is_connected());
}

#[test]
fn an_edge_that_loses_its_gateway_shows_it_in_the_status_bar() {
    let mut app = connected_fleet();
    app.apply(Update::Upstream { connected: false }, NOW);
    let view = app.view(NOW);
    assert!(view.status.link.text.contains("edge lost its gateway"));
    app.apply(Update::Upstream { connected: true }, NOW);
    assert!(app.view(NOW).status.link.text.contains("live"));
}

#[test]
fn c_and_m_order_the_host_views_panes_and_mean_nothing_in_the_fleet() {
    let mut app = connected_fleet();
    press(&mut app, "m");
    assert_eq!(
        app.ui.activity_sort,
        ActivitySort::Cpu,
        "not in the fleet view"
    );
    assert_eq!(app.ui.screen, Screen::Fleet);
    app.ui.selected = Some("web-01".into());
    app.key(key(KeyCode::Enter), NOW);
    app.apply(processes("web-01"), NOW);
    let first = |app: &tui::App| {
        let Body::Host(host) = app.view(NOW).body else {
            panic!("the host view")
        };
        host.activity.processes.rows[0].pid.clone()
    };
    assert_eq!(first(&app), "2001", "by CPU to start: the JVM at 180%");
    assert_eq!(app.key(key(KeyCode::Char('m')), NOW), Effect::None);
    assert_eq!(app.ui.activity_sort, ActivitySort::Memory);
    assert_eq!(first(&app), "2001", "and by memory too (3.5G)");
    let Body::Host(host) = app.view(NOW).body else {
        panic!()
    };
    let pids: Vec<_> = host
        .activity
        .processes
        .rows
        .iter()
        .map(|r| r.pid.as_str())
        .collect();
    assert_eq!(pids, ["2001", "812", "31337", "977", "1", "4242"]);
    press(&mut app, "c");
    assert_eq!(app.ui.activity_sort, ActivitySort::Cpu);
    // The order is kept when leaving and coming back.
    press(&mut app, "m");
    app.key(key(KeyCode::Esc), NOW);
    app.key(key(KeyCode::Enter), NOW);
    assert_eq!(app.ui.activity_sort, ActivitySort::Memory);
}

#[test]
fn only_the_host_view_watches_and_each_host_shows_only_its_own_tables() {
    let mut app = connected_fleet();
    assert_eq!(app.watched(), None, "the fleet view watches nothing");
    // Frames of a host nobody watches are not kept.
    app.apply(processes("web-01"), NOW);
    assert!(app.store.activity.processes.is_none());

    app.ui.selected = Some("web-01".into());
    app.key(key(KeyCode::Enter), NOW);
    assert_eq!(app.watched(), Some("web-01"));
    app.apply(processes("web-01"), NOW);
    app.apply(cgroups("web-01"), NOW);
    // A table of the previous host, still on its way, is dropped.
    app.apply(processes("db-03"), NOW);
    assert_eq!(
        app.store.activity.processes.as_ref().unwrap().host,
        "web-01"
    );

    // The alerts pane watches nothing either; back in the fleet, another
    // host's view starts empty, waiting for its own tables.
    press(&mut app, "a");
    assert_eq!(app.watched(), None);
    press(&mut app, "a");
    app.ui.selected = Some("db-03".into());
    app.key(key(KeyCode::Enter), NOW);
    assert_eq!(app.watched(), Some("db-03"));
    let Body::Host(host) = app.view(NOW).body else {
        panic!("the host view")
    };
    assert!(host.activity.processes.rows.is_empty());
    assert_eq!(
        host.activity.processes.note.as_deref(),
        Some("waiting for the first table…")
    );
    app.key(key(KeyCode::Esc), NOW);
    assert_eq!(app.watched(), None);
    assert!(app.store.activity.processes.is_none());
}
