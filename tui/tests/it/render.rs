//! Snapshots of whole screens, and the styles of the cells that carry
//! meaning: an alarm must stand out without relying on hue alone.

use crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};
use tui::App;
use tui::state::{Chart, HISTORY_WINDOW_MS, Update};

use tui::keys::Effect;

use crate::fixtures::{
    NOW, URL, alerts, cgroups, cgroups_unavailable, connected, connected_fleet, draw, find,
    fleet_hosts, host_view_of_web_01, key, press, processes, row_text, sample,
};

macro_rules! snapshot {
    ($name:expr, $terminal:expr) => {
        insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $terminal.backend());
        })
    };
}

#[test]
fn an_empty_fleet_while_connecting_says_where_it_connects() {
    let app = App::new(URL, false);
    let t = draw(&app, 120, 40);
    snapshot!("top_connecting", t);
    assert!(find(t.backend().buffer(), "connecting to ws://10.0.0.5:7071/ws").is_some());
}

#[test]
fn thirty_hosts_sorted_by_cpu_with_the_alarm_and_the_stale_host_marked() {
    let app = connected_fleet();
    let t = draw(&app, 120, 40);
    snapshot!("top_fleet_30_by_cpu", t);
    let buf = t.backend().buffer();

    // The busiest host comes first, and its 95% CPU is the alarm style:
    // white on red and bold, readable on light and dark backgrounds.
    let (_, y) = find(buf, "db-03").unwrap();
    assert_eq!(y, 2, "first row under the header");
    let (x, y) = find(buf, "95.0").unwrap();
    let cell = &buf[(x, y)];
    assert_eq!(cell.bg, Color::Red);
    assert_eq!(cell.fg, Color::White);
    assert!(cell.modifier.contains(Modifier::BOLD));

    // A warning (≥ 75%, as on the web) is black on yellow; 74.3% is not.
    let (_, y) = find(buf, "db-09").unwrap();
    let (cpu_x, cpu_y) = find(buf, "77.3").unwrap();
    assert_eq!(cpu_y, y);
    assert_eq!(buf[(cpu_x, y)].bg, Color::Yellow);
    assert_eq!(buf[(cpu_x, y)].fg, Color::Black);
    let (cpu_x, cpu_y) = find(buf, "74.3").unwrap();
    assert_eq!(buf[(cpu_x, cpu_y)].bg, Color::Reset);

    // The stale host stays on screen, marked and dimmed.
    let (x, y) = find(buf, "cache-07").unwrap();
    assert!(row_text(buf, y).contains("STALE 1m00s"));
    assert!(buf[(x, y)].modifier.contains(Modifier::DIM));
    // A fresh host is not dimmed.
    let (x, y) = find(buf, "web-01").unwrap();
    assert!(!buf[(x, y)].modifier.contains(Modifier::DIM));
}

/// The cells of row `y` from `x` on, as (symbol, foreground).
fn cells_from(buf: &ratatui::buffer::Buffer, x: u16, y: u16, n: u16) -> Vec<(String, Color)> {
    (x..x + n)
        .map(|x| (buf[(x, y)].symbol().to_owned(), buf[(x, y)].fg))
        .collect()
}

#[test]
fn fleet_meters_fill_by_value_and_colour_by_the_web_thresholds() {
    let app = connected_fleet();
    let t = draw(&app, 120, 40);
    let buf = t.backend().buffer();
    // The host column is as wide as the longest name (cache-07, 8
    // characters) and the age column follows right after it.
    let header = row_text(buf, 1);
    assert!(header.starts_with("│HOST         "), "{header}");
    let (age_x, _) = find(buf, "AGE").unwrap();
    assert_eq!(age_x, 1 + 8 + 1 + 11 - 3, "{header}");

    // db-03 at 95% CPU: a red bar of 9½ cells out of 10, then the figure.
    let (_, y) = find(buf, "db-03").unwrap();
    let (figure_x, _) = find(buf, "95.0").unwrap();
    let bar = cells_from(buf, figure_x - 12, y, 10);
    let text: String = bar.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(text, "█████████▌");
    assert!(bar.iter().all(|(_, fg)| *fg == Color::Red), "{bar:?}");
    // Its memory (86.5%) warns in yellow, its disk (85.5%) too.
    let row = row_text(buf, y);
    assert!(row.contains("████████▋·  86.5"), "{row}");
    let (mem_x, _) = find(buf, "86.5").unwrap();
    assert_eq!(buf[(mem_x - 4, y)].symbol(), "▋");
    assert_eq!(buf[(mem_x - 4, y)].fg, Color::Yellow);
    assert_eq!(buf[(mem_x, y)].bg, Color::Yellow);

    // db-07 at 3.3%: a sliver of green, the rest dotted and dim.
    let (_, y) = find(buf, "db-07").unwrap();
    let row = row_text(buf, y);
    let figure_x = row[..row.find("   3.3 ").unwrap()].chars().count() as u16 + 3;
    let bar = cells_from(buf, figure_x - 13, y, 10);
    assert_eq!(bar[0], ("▍".to_owned(), Color::Green), "{bar:?}");
    assert!(bar[1..].iter().all(|(s, _)| s == "·"), "{bar:?}");
    assert!(buf[(figure_x - 12, y)].modifier.contains(Modifier::DIM));
}

#[test]
fn the_cpu_trend_shows_the_last_reports_newest_at_the_right_in_their_levels() {
    let app = connected_fleet();
    let t = draw(&app, 120, 40);
    let buf = t.backend().buffer();
    let (trend_x, _) = find(buf, "CPU TREND").unwrap();
    // db-03 swung around 95% and settled there: its newest glyph, at the
    // right edge, is a full block in red; its swings dipped below 75%
    // (green), so the trend holds more than one colour.
    let (_, y) = find(buf, "db-03").unwrap();
    let trend = cells_from(buf, trend_x, y, 119 - trend_x);
    let (newest, colour) = trend.last().unwrap();
    assert_eq!((newest.as_str(), *colour), ("█", Color::Red), "{trend:?}");
    let colours: std::collections::BTreeSet<String> =
        trend.iter().map(|(_, c)| format!("{c:?}")).collect();
    assert!(colours.len() >= 2, "{trend:?}");
    // db-07 sits near 3%: the lowest glyph, green.
    let (_, y) = find(buf, "db-07").unwrap();
    let trend = cells_from(buf, trend_x, y, 119 - trend_x);
    assert_eq!(trend.last().unwrap(), &("▁".to_owned(), Color::Green));
    // The stale host's trend is dimmed, not coloured as an alarm.
    let (_, y) = find(buf, "cache-07").unwrap();
    assert!(buf[(118, y)].modifier.contains(Modifier::DIM));
    assert_ne!(buf[(118, y)].fg, Color::Red);
}

#[test]
fn a_filtered_fleet_shows_only_matching_hosts_and_the_filter() {
    let mut app = connected_fleet();
    press(&mut app, "/db-0");
    app.key(key(KeyCode::Enter), NOW);
    let t = draw(&app, 120, 40);
    snapshot!("top_fleet_filtered", t);
    let buf = t.backend().buffer();
    assert!(find(buf, "Fleet 9/30 hosts").is_some());
    assert!(find(buf, "/db-0").is_some());
    assert!(find(buf, "web-01").is_none());
}

#[test]
fn the_host_view_joins_stored_history_and_the_live_stream() {
    let mut app = App::new(URL, false);
    app.apply(connected(), NOW - 130_000);
    let mut hosts = fleet_hosts();
    hosts[0] = sample("web-01", NOW - 120_000, 40.0);
    app.apply(
        Update::Snapshot {
            hosts,
            alerts: alerts(),
        },
        NOW - 120_000,
    );
    // Live reports every 5 s for the last two minutes…
    for i in 1..24 {
        let ts = NOW - 120_000 + i * 5_000;
        let cpu = 40.0 + 30.0 * ((i as f64) / 4.0).sin();
        app.apply(Update::Metrics(sample("web-01", ts, cpu)), ts);
    }
    app.ui.selected = Some("web-01".into());
    assert_eq!(
        app.key(key(KeyCode::Enter), NOW),
        Effect::FetchHistory("web-01".into())
    );
    // …and the stored history before them.
    let stored = |f: fn(f64) -> f64| -> Vec<(i64, f64)> {
        (0..156)
            .map(|i| (NOW - 900_000 + i * 5_000, f(i as f64)))
            .collect()
    };
    app.apply(
        Update::History {
            host: "web-01".into(),
            chart: Chart::Cpu,
            range_ms: HISTORY_WINDOW_MS,
            points: stored(|i| 20.0 + (i / 10.0).sin() * 15.0),
        },
        NOW,
    );
    app.apply(
        Update::History {
            host: "web-01".into(),
            chart: Chart::Memory,
            range_ms: HISTORY_WINDOW_MS,
            points: stored(|i| 45.0 + i / 20.0),
        },
        NOW,
    );
    let t = draw(&app, 120, 40);
    snapshot!("top_host_view", t);
    let buf = t.backend().buffer();
    assert!(find(buf, "Debian 12 · kernel 6.1.0 · 4 cores · 16G RAM").is_some());
    assert!(find(buf, "Filesystems").is_some() && find(buf, "/var").is_some());
    assert!(find(buf, "eth0").is_some());
    assert_eq!(app.store.hosts["web-01"].history.cpu.len(), 156 + 24);
}

#[test]
fn the_alerts_pane_lists_firing_before_pending_with_severity_styles() {
    let mut app = connected_fleet();
    press(&mut app, "a");
    let t = draw(&app, 120, 40);
    snapshot!("top_alerts", t);
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "critical").unwrap();
    assert_eq!(buf[(x, y)].bg, Color::Red);
    let (_, pending_y) = find(buf, "pending").unwrap();
    assert!(pending_y > y, "firing alerts come first");
    assert!(row_text(buf, y).contains("5m00s"));
}

#[test]
fn a_disconnected_gateway_keeps_the_last_data_marked_stale_with_a_countdown() {
    let mut app = connected_fleet();
    app.apply(
        Update::Disconnected {
            reason: "Connection refused (os error 111)".into(),
            retry_at_ms: NOW + 2_500,
            attempt: 2,
        },
        NOW - 500,
    );
    let t = draw(&app, 120, 40);
    snapshot!("top_disconnected", t);
    let buf = t.backend().buffer();
    assert!(find(buf, "disconnected, retry 2 in 3s").is_some());
    assert!(find(buf, "stale: last update 2s ago").is_some());
    let (x, y) = find(buf, "web-01").unwrap();
    assert!(buf[(x, y)].modifier.contains(Modifier::DIM));
}

#[test]
fn a_narrow_terminal_keeps_every_column() {
    let app = connected_fleet();
    let t = draw(&app, 80, 24);
    snapshot!("top_narrow_80x24", t);
    let buf = t.backend().buffer();
    for title in [
        "HOST", "AGE", "CPU%", "LOAD", "MEM%", "DISK%", "RX/s", "TX/s", "ALRT",
    ] {
        assert!(find(buf, title).is_some(), "{title} missing at 80 columns");
    }
}

#[test]
fn help_lists_every_key() {
    let mut app = connected_fleet();
    press(&mut app, "?");
    let t = draw(&app, 120, 40);
    snapshot!("top_help", t);
    for k in tui::view::KEYS {
        assert!(find(t.backend().buffer(), k.1).is_some(), "{k:?}");
    }
}

#[test]
fn a_fleet_longer_than_the_screen_scrolls_to_keep_the_selection_in_view() {
    // 100 hosts in a 120×40 terminal: 35 table rows. The table scrolls only
    // as far as the selection needs, and the selected host is highlighted.
    let mut app = App::new(URL, false);
    app.apply(connected(), NOW - 2_000);
    let hosts = (0..100)
        .map(|i| {
            sample(
                &format!("host-{i:03}"),
                NOW - 1_000,
                99.0 - f64::from(i) * 0.5,
            )
        })
        .collect();
    app.apply(
        Update::Snapshot {
            hosts,
            alerts: vec![],
        },
        NOW - 2_000,
    );
    for (selected, first) in [(0, 0), (34, 0), (35, 1), (60, 26), (99, 65)] {
        app.ui.selected = Some(format!("host-{selected:03}"));
        let t = draw(&app, 120, 40);
        let buf = t.backend().buffer();
        let (_, top) = find(buf, &format!("host-{first:03}")).unwrap();
        assert_eq!(
            top, 2,
            "selection {selected}: host-{first:03} heads the table"
        );
        let (x, y) = find(buf, &format!("host-{selected:03}")).unwrap();
        assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
        let last = (first + 34).min(99);
        assert_eq!(
            find(buf, &format!("host-{last:03}")).map(|(_, y)| y),
            Some(36)
        );
    }
}

#[test]
fn plus_and_minus_step_the_host_views_history_range_and_refetch_it() {
    let mut app = connected_fleet();
    app.ui.selected = Some("web-01".into());
    assert_eq!(
        app.key(key(KeyCode::Enter), NOW),
        Effect::FetchHistory("web-01".into())
    );
    assert_eq!(app.ui.range_ms(), HISTORY_WINDOW_MS, "15 minutes to start");
    // `-` twice: 5 minutes, then nothing shorter to go to.
    assert_eq!(
        app.key(key(KeyCode::Char('-')), NOW),
        Effect::FetchHistory("web-01".into())
    );
    assert_eq!(app.key(key(KeyCode::Char('-')), NOW), Effect::None);
    assert_eq!(app.ui.range_ms(), 300_000);
    // `+` three times from there: 15m, 1h, 6h.
    for _ in 0..3 {
        assert_eq!(
            app.key(key(KeyCode::Char('+')), NOW),
            Effect::FetchHistory("web-01".into())
        );
    }
    const SIX_HOURS: i64 = 6 * 3_600_000;
    assert_eq!(app.ui.range_ms(), SIX_HOURS);
    // The answer of a range already left is dropped; the 6 h one is drawn:
    // a minute per point, with a one-minute spike to 100% three hours ago.
    let points = |range: i64| -> Vec<(i64, f64)> {
        (0..range / 60_000)
            .map(|i| {
                let ts = NOW - range + i * 60_000;
                let v = if ts == NOW - 3 * 3_600_000 {
                    100.0
                } else {
                    20.0 + (i % 60) as f64 / 6.0
                };
                (ts, v)
            })
            .collect()
    };
    app.apply(
        Update::History {
            host: "web-01".into(),
            chart: Chart::Cpu,
            range_ms: HISTORY_WINDOW_MS,
            points: vec![(NOW - 60_000, 99.0)],
        },
        NOW,
    );
    assert!(
        app.store.hosts["web-01"].history.cpu.is_empty(),
        "a stale answer is dropped"
    );
    app.apply(
        Update::History {
            host: "web-01".into(),
            chart: Chart::Cpu,
            range_ms: SIX_HOURS,
            points: points(SIX_HOURS),
        },
        NOW,
    );
    let t = draw(&app, 120, 40);
    snapshot!("top_host_view_6h", t);
    let buf = t.backend().buffer();
    assert!(
        find(buf, "history 6h").is_some(),
        "the range is in the title"
    );
    assert!(find(buf, "-6h").is_some(), "and under the charts");
    assert!(find(buf, "-15m").is_none());
}

#[test]
fn a_week_of_points_is_thinned_for_the_chart_and_a_spike_survives() {
    let mut app = connected_fleet();
    app.ui.selected = Some("web-01".into());
    app.key(key(KeyCode::Enter), NOW);
    press(&mut app, "++++");
    const WEEK: i64 = 7 * 24 * 3_600_000;
    assert_eq!(app.ui.range_ms(), WEEK);
    let points: Vec<(i64, f64)> = (0..WEEK / 60_000)
        .map(|i| {
            (
                NOW - WEEK + i * 60_000,
                if i == 4_321 { 97.0 } else { 10.0 },
            )
        })
        .collect();
    assert_eq!(points.len(), 10_080);
    app.apply(
        Update::History {
            host: "web-01".into(),
            chart: Chart::Cpu,
            range_ms: WEEK,
            points,
        },
        NOW,
    );
    let tui::view::Body::Host(host) = app.view(NOW).body else {
        panic!("the host view")
    };
    let drawn = &host.cpu.series[0].1;
    assert!(drawn.len() <= 802, "{} points", drawn.len());
    let max = drawn.iter().map(|p| p.1).fold(0.0, f64::max);
    assert_eq!(max, 97.0, "the one-minute spike is still drawn");
    assert_eq!(host.range, "7d");
}

#[test]
fn a_silenced_alert_is_marked_and_drawn_faint_and_s_silences_the_selected_one() {
    let mut app = connected_fleet();
    let mut silenced = app.store.alerts["a1"].clone();
    silenced.silenced = true;
    app.apply(Update::Alert(silenced), NOW);
    press(&mut app, "a");
    let t = draw(&app, 120, 40);
    snapshot!("top_alerts_silenced", t);
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "firing·silenced").expect("the state says silenced");
    assert!(buf[(x, y)].modifier.contains(Modifier::DIM), "drawn faint");
    assert!(
        find(buf, "s:silence 1h").is_some(),
        "the footer names the key"
    );

    // `s` asks to silence the selected alert, by all of its labels.
    let effect = app.key(key(KeyCode::Char('j')), NOW);
    assert_eq!(effect, tui::keys::Effect::None);
    let effect = app.key(key(KeyCode::Char('s')), NOW);
    let tui::keys::Effect::Silence { alert, matchers } = effect else {
        panic!("s silences: {effect:?}");
    };
    let order = tui::view::alert_order(&app.store);
    assert_eq!(alert, format!("{} on {}", order[1].name, order[1].host));
    assert_eq!(
        matchers,
        [
            format!("alertname=\"{}\"", order[1].name),
            format!("host=\"{}\"", order[1].host),
            format!("severity=\"{}\"", order[1].severity),
        ]
    );
    app.apply(
        Update::Silenced(Ok(
            "silenced HostHighCpu on db-03 for 1h (silence 1234)".into()
        )),
        NOW,
    );
    let t = draw(&app, 120, 40);
    assert!(find(t.backend().buffer(), "silenced HostHighCpu on db-03 for 1h").is_some());
}

/// Every cell's symbol on screen, joined: what a terminal would be sent.
fn screen_text(buf: &ratatui::buffer::Buffer) -> String {
    (0..buf.area.height)
        .map(|y| row_text(buf, y))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_host_view_lists_its_processes_busiest_first_and_its_cgroups() {
    let mut app = host_view_of_web_01();
    app.apply(processes("web-01"), NOW - 3_000);
    app.apply(cgroups("web-01"), NOW - 3_000);
    let t = draw(&app, 120, 40);
    snapshot!("top_host_processes", t);
    let buf = t.backend().buffer();
    assert!(find(buf, "Processes 6 of 312 · by CPU% ▼").is_some());
    assert!(find(buf, "Cgroups 4 of 12").is_some());
    assert!(find(buf, "3s ago").is_some(), "the table's age");
    // Busiest first: the JVM at 180% of a core, then the spinning process.
    let (_, java) = find(buf, "java").unwrap();
    let (_, spin) = find(buf, "spin --hard").unwrap();
    assert!(java < spin, "{java} {spin}");
    // A process pegging a core is an alarm, as a host's CPU is.
    let (x, y) = find(buf, "99.5").unwrap();
    assert_eq!((buf[(x, y)].bg, buf[(x, y)].fg), (Color::Red, Color::White));
    // The long command line is cut to its column with an ellipsis.
    let row = row_text(buf, java);
    assert!(
        row.contains("java -Xmx4g -jar") && row.contains('…'),
        "{row}"
    );
    assert!(row.contains("3.5G"), "memory in human bytes: {row}");
    // Beside the cgroups, 120 columns leave the command more room than
    // the rates: they show on a wider screen (see below).
    assert!(find(buf, "READ/s").is_none());
    // The container busiest among the cgroups, warning at 75%.
    let (x, y) = find(buf, "75.2").unwrap();
    assert!(row_text(buf, y).contains("web-frontend"));
    assert_eq!(buf[(x, y)].bg, Color::Yellow);
}

#[test]
fn a_hostile_process_name_reaches_the_screen_as_plain_text() {
    let mut app = host_view_of_web_01();
    app.apply(processes("web-01"), NOW - 3_000);
    app.apply(cgroups("web-01"), NOW - 3_000);
    let t = draw(&app, 120, 40);
    let buf = t.backend().buffer();
    let screen = screen_text(buf);
    assert!(
        !screen.chars().any(|c| c.is_control() && c != '\n'),
        "no control character reaches the terminal"
    );
    // What remains of the sequences is printable and in its own row.
    let (_, y) = find(buf, "31337").unwrap();
    let row = row_text(buf, y);
    assert!(row.contains(" ]0;pwned evil…"), "{row}");
    assert!(row.contains("/tmp/x  [31mred [0m -…"), "{row}");
    assert!(row.contains("mallory"), "{row}");
}

#[test]
fn m_sorts_the_panes_by_memory_and_c_back_by_cpu() {
    let mut app = host_view_of_web_01();
    app.apply(processes("web-01"), NOW - 3_000);
    app.apply(cgroups("web-01"), NOW - 3_000);
    press(&mut app, "m");
    let t = draw(&app, 120, 40);
    snapshot!("top_host_processes_by_memory", t);
    let buf = t.backend().buffer();
    assert!(find(buf, "by MEM ▼").is_some());
    assert!(find(buf, "MEM▼").is_some(), "the header marks the column");
    // Most memory first: the JVM (3.5G), then postgres (512M); systemd
    // (12M) above spin (1.2M) though it uses no CPU.
    let y = |text| find(buf, text).unwrap().1;
    assert!(y("java -Xmx4g") < y("postgres: checkpointer"));
    assert!(y("/sbin/init") < y("spin --hard"));
    assert!(y("web-frontend") < y("user-1000.slice"));
    assert!(y("user-1000.slice") < y("postgresql.ser…"));
    press(&mut app, "c");
    let t = draw(&app, 120, 40);
    let buf = t.backend().buffer();
    let y = |text| find(buf, text).unwrap().1;
    assert!(y("spin --hard") < y("/sbin/init"));
}

#[test]
fn a_host_without_cgroup_v2_says_why_and_the_panes_stack_on_a_narrower_screen() {
    let mut app = host_view_of_web_01();
    app.apply(processes("web-01"), NOW - 3_000);
    app.apply(cgroups_unavailable("web-01"), NOW - 3_000);
    let t = draw(&app, 96, 48);
    snapshot!("top_host_cgroups_unavailable", t);
    let buf = t.backend().buffer();
    assert!(find(buf, "not available here: cgroup v1 host").is_some());
    let (_, processes) = find(buf, "Processes 6 of 312").unwrap();
    let (_, cgroups) = find(buf, "Cgroups").unwrap();
    assert!(processes < cgroups, "one above the other");
    // The whole width for the processes: the rates show, and the command.
    let (_, pg) = find(buf, "postgres: checkpointer").unwrap();
    let row = row_text(buf, pg);
    assert!(
        row.contains("1.5M/s  256K/s"),
        "read and write per second: {row}"
    );
}

#[test]
fn before_any_table_both_panes_say_they_are_waiting() {
    let app = host_view_of_web_01();
    let view = app.view(NOW);
    let tui::view::Body::Host(host) = view.body else {
        panic!("the host view")
    };
    assert_eq!(
        host.activity.processes.note.as_deref(),
        Some("waiting for the first table…")
    );
    assert_eq!(
        host.activity.cgroups.note.as_deref(),
        Some("waiting for the first table…")
    );
    // The snapshot of the host view before any table shows them (see
    // `top_host_view`).
    let t = draw(&app, 120, 40);
    assert!(find(t.backend().buffer(), "waiting for the first table…").is_some());
}

#[test]
fn a_small_terminal_keeps_the_charts_and_says_where_the_panes_went() {
    let mut app = host_view_of_web_01();
    app.apply(processes("web-01"), NOW - 3_000);
    app.apply(cgroups("web-01"), NOW - 3_000);
    let t = draw(&app, 80, 24);
    snapshot!("top_host_80x24", t);
    let buf = t.backend().buffer();
    assert!(find(buf, "Processes").is_none());
    assert!(find(buf, "processes and cgroups need a taller terminal").is_some());
    assert!(find(buf, "CPU").is_some() && find(buf, "Network").is_some());
    // A little taller, the process pane comes back, the cgroups below it
    // only when there is room for both.
    let t = draw(&app, 80, 40);
    let buf = t.backend().buffer();
    assert!(find(buf, "Processes 6 of 312").is_some());
    assert!(find(buf, "taller terminal").is_none());
}
