//! Criterion benchmarks of what `mon top` does per incoming frame and per
//! redraw, on a fleet of 100 agent-shaped hosts: reading a `metrics` frame,
//! applying it to the store, building the view-model and drawing it.
//!
//! Run: `cargo bench -p tui --bench frame`

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tui::App;
use tui::net::decode;
use tui::state::Update;
use tui::view::Screen;

const HOSTS: usize = 100;
const NOW: i64 = 1_764_180_000_000;

/// A `metrics` frame as the gateway sends it for what `mon agent` reports
/// on a 4-core host (the `agent` shape of `mon bench deliver`).
fn frame(host: usize, ts: i64, seed: f64) -> String {
    let mut values = Vec::new();
    let mut v = |name: &str, labels: &str, value: f64| {
        values.push(format!(
            r#"{{"name":"{name}","labels":{{{labels}}},"value":{value}}}"#
        ))
    };
    let x = |i: f64| (seed * 7.31 + i * 13.7) % 100.0 + 0.123_456_789_012_345;
    for (i, name) in [
        "cpu_usage_percent",
        "load1",
        "load5",
        "load15",
        "memory_used_percent",
        "memory_used_bytes",
        "uptime_seconds",
        "processes",
    ]
    .iter()
    .enumerate()
    {
        v(name, "", x(i as f64));
    }
    for core in 0..4 {
        v(
            "cpu_core_usage_percent",
            &format!(r#""core":"{core}""#),
            x(10.0 + f64::from(core)),
        );
    }
    for name in [
        "filesystem_used_percent",
        "filesystem_used_bytes",
        "filesystem_size_bytes",
    ] {
        v(name, r#""fstype":"ext4","mount":"/""#, x(20.0));
    }
    for name in [
        "network_receive_bytes_per_second",
        "network_transmit_bytes_per_second",
    ] {
        v(name, r#""iface":"eth0""#, x(30.0));
    }
    format!(
        r#"{{"type":"metrics","v":1,"host":"host-{host}","ts":{ts},"seq":42,"values":[{}]}}"#,
        values.join(",")
    )
}

/// An app that has seen `seconds` of the fleet reporting every second.
fn fleet(seconds: i64) -> App {
    let mut app = App::new("ws://127.0.0.1:7071/ws", false);
    app.apply(
        Update::Connected {
            server: "mon 0.1.0".into(),
            role: "gateway".into(),
        },
        NOW - seconds * 1000,
    );
    for s in (0..seconds).rev() {
        for h in 0..HOSTS {
            let ts = NOW - s * 1000 + h as i64;
            let update = decode::parse(&frame(h, ts, (s * 31 + h as i64) as f64))
                .unwrap()
                .unwrap();
            app.apply(update, ts);
        }
    }
    app
}

fn per_frame(c: &mut Criterion) {
    let text = frame(7, NOW + 1000, 3.0);
    c.bench_function("read a metrics frame (19 values)", |b| {
        b.iter(|| decode::parse(std::hint::black_box(&text)).unwrap())
    });
    let mut app = fleet(60);
    c.bench_function("read and apply a metrics frame, 100 hosts known", |b| {
        b.iter(|| {
            // The same timestamp again is applied (only older ones are not).
            let update = decode::parse(&text).unwrap().unwrap();
            app.apply(update, NOW + 1000);
        })
    });
    c.bench_function(
        "read in place and apply a metrics frame, 100 hosts known",
        |b| {
            b.iter(|| {
                let m = decode::read_metrics(&text).unwrap();
                app.store
                    .apply_metrics(m.host, m.ts_ms, m.values(), NOW + 1000);
            })
        },
    );
}

fn per_redraw(c: &mut Criterion) {
    let mut app = fleet(60);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    c.bench_function("fleet view: build, 100 hosts", |b| b.iter(|| app.view(NOW)));
    c.bench_function("fleet view: build and draw, 100 hosts, 120x40", |b| {
        b.iter(|| {
            let view = app.view(NOW);
            terminal.draw(|f| tui::render::render(f, &view)).unwrap();
        })
    });
    app.ui.screen = Screen::Host("host-7".into());
    c.bench_function("host view: build and draw, 60 s of history, 120x40", |b| {
        b.iter(|| {
            let view = app.view(NOW);
            terminal.draw(|f| tui::render::render(f, &view)).unwrap();
        })
    });
}

criterion_group!(benches, per_frame, per_redraw);
criterion_main!(benches);
