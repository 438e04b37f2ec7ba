//! A deterministic fleet: fixed names, values and clock.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use tui::App;
use tui::state::{
    Alert, AlertState, CgroupKind, CgroupRow, CgroupTable, HostSample, Meta, ProcessRow,
    ProcessTable, Update, Value,
};

/// The tests' "now": 2025-11-26 18:00:00 UTC.
pub const NOW: i64 = 1_764_180_000_000;
pub const URL: &str = "ws://10.0.0.5:7071/ws";

pub fn value(name: &str, labels: &[(&str, &str)], value: f64) -> Value {
    Value {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        value,
    }
}

/// A host's report: CPU, per-core CPU, load, memory, two file systems and
/// an interface, all derived from `cpu`.
pub fn sample(host: &str, ts: i64, cpu: f64) -> HostSample {
    let mut values = vec![
        value("cpu_usage_percent", &[], cpu),
        value("load1", &[], cpu / 25.0),
        value("load5", &[], cpu / 30.0),
        value("load15", &[], cpu / 40.0),
        value("memory_used_percent", &[], (cpu * 0.7 + 20.0).min(99.0)),
        value("uptime_seconds", &[], 86_400.0 * 3.0 + 3_600.0 * 4.0),
        value(
            "filesystem_used_percent",
            &[("mount", "/"), ("fstype", "ext4")],
            (cpu * 0.9).min(97.0),
        ),
        value(
            "filesystem_size_bytes",
            &[("mount", "/"), ("fstype", "ext4")],
            100.0 * 1024.0 * 1024.0 * 1024.0,
        ),
        value(
            "filesystem_used_bytes",
            &[("mount", "/"), ("fstype", "ext4")],
            cpu * 0.9 * 1024.0 * 1024.0 * 1024.0,
        ),
        value(
            "filesystem_used_percent",
            &[("mount", "/var"), ("fstype", "xfs")],
            12.0,
        ),
        value(
            "network_receive_bytes_per_second",
            &[("iface", "eth0")],
            cpu * 12_000.0,
        ),
        value(
            "network_transmit_bytes_per_second",
            &[("iface", "eth0")],
            cpu * 3_000.0,
        ),
    ];
    for core in 0..4 {
        let c = (cpu + f64::from(core) * 7.0).min(100.0);
        values.push(value(
            "cpu_core_usage_percent",
            &[("core", &core.to_string())],
            c,
        ));
    }
    HostSample {
        host: host.into(),
        ts_ms: ts,
        meta: Some(meta()),
        values,
    }
}

pub fn meta() -> Meta {
    Meta {
        os: "Debian 12".into(),
        kernel: "6.1.0".into(),
        cores: 4,
        memory_bytes: 16 * 1024 * 1024 * 1024,
        interval_ms: 5_000,
    }
}

/// 30 hosts: web-01..10, db-01..10, cache-01..10. `db-03` runs at 95% CPU;
/// `cache-07` last reported a minute ago (stale at a 5 s interval).
pub fn fleet_hosts() -> Vec<HostSample> {
    let mut hosts = Vec::new();
    for (g, group) in ["web", "db", "cache"].iter().enumerate() {
        for i in 1..=10 {
            let name = format!("{group}-{i:02}");
            let cpu = match name.as_str() {
                "db-03" => 95.0,
                _ => ((i * 37 + g * 11) % 89) as f64 + 0.3,
            };
            let ts = if name == "cache-07" {
                NOW - 60_000
            } else {
                NOW - 1_000
            };
            hosts.push(sample(&name, ts, cpu));
        }
    }
    hosts
}

pub fn alert(id: &str, host: &str, name: &str, state: AlertState, severity: &str) -> Alert {
    Alert {
        id: id.into(),
        host: host.into(),
        name: name.into(),
        state,
        severity: severity.into(),
        value: Some(95.0),
        active_since_ms: NOW - 5 * 60_000,
        summary: Some(format!("{name} on {host}")),
        labels: vec![("severity".into(), severity.into())],
        silenced: false,
    }
}

pub fn alerts() -> Vec<Alert> {
    vec![
        alert("a1", "db-03", "HostHighCpu", AlertState::Firing, "critical"),
        alert(
            "a2",
            "web-04",
            "HostMemoryHigh",
            AlertState::Pending,
            "warning",
        ),
        alert("a3", "cache-07", "HostDown", AlertState::Firing, "warning"),
    ]
}

pub fn connected() -> Update {
    Update::Connected {
        server: "mon 0.1.0".into(),
        role: "gateway".into(),
    }
}

/// An app connected to a gateway that streamed 30 reports of each host
/// (a CPU wave that ends where the snapshot's value is) and then sent the
/// 30-host snapshot.
pub fn connected_fleet() -> App {
    let mut app = App::new(URL, false);
    app.apply(connected(), NOW - 200_000);
    for host in fleet_hosts() {
        let last = host.values[0].value;
        for k in 0..30_i64 {
            let ts = host.ts_ms - (30 - k) * 5_000;
            // Swings of ±25 points around the snapshot's value.
            let cpu = (last + (k as f64 * 0.7).sin() * 25.0).clamp(0.0, 100.0);
            app.apply(Update::Metrics(sample(&host.host, ts, cpu)), ts);
        }
    }
    app.apply(
        Update::Snapshot {
            hosts: fleet_hosts(),
            alerts: alerts(),
        },
        NOW - 2_000,
    );
    app
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.key(key(KeyCode::Char(c)), NOW);
    }
}

/// Renders the app at `NOW` into a `width`×`height` test terminal, telling
/// it the table's height as the app's loop does.
pub fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut app = app.clone();
    app.ui.table_rows = usize::from(height.saturating_sub(5));
    let view = app.view(NOW);
    terminal.draw(|f| tui::render::render(f, &view)).unwrap();
    terminal
}

/// Where `text` starts on screen, as (x, y).
pub fn find(buffer: &Buffer, text: &str) -> Option<(u16, u16)> {
    let area = buffer.area;
    for y in 0..area.height {
        let line: String = (0..area.width)
            .map(|x| buffer[(x, y)].symbol().to_owned())
            .collect();
        if let Some(byte) = line.find(text) {
            let x = line[..byte].chars().count() as u16;
            return Some((x, y));
        }
    }
    None
}

/// The screen's row `y` as text.
pub fn row_text(buffer: &Buffer, y: u16) -> String {
    (0..buffer.area.width)
        .map(|x| buffer[(x, y)].symbol().to_owned())
        .collect()
}

/// A process row.
#[allow(clippy::too_many_arguments)]
fn process(
    pid: u32,
    name: &str,
    command: &str,
    user: &str,
    cpu: f64,
    memory: u64,
    read: f64,
    write: f64,
) -> ProcessRow {
    ProcessRow {
        pid,
        name: name.into(),
        command: command.into(),
        user: user.into(),
        cpu_percent: cpu,
        memory_bytes: memory,
        read_bytes_per_second: read,
        write_bytes_per_second: write,
    }
}

const MIB: u64 = 1024 * 1024;

/// A name and a command line carrying escape sequences: one that sets the
/// terminal's title and clears the screen, one that turns text red.
pub const HOSTILE_NAME: &str = "\u{1b}]0;pwned\u{7}evil\u{1b}[2J";
pub const HOSTILE_COMMAND: &str = "/tmp/x \u{1b}[31mred\u{1b}[0m --flag";

/// `host`'s process table read 3 s before `NOW`, rows in no order (as the
/// server sends them): a process pegging a core, a JVM using nearly two,
/// a hostile one, and quiet ones.
pub fn processes(host: &str) -> Update {
    Update::Processes(ProcessTable {
        host: host.into(),
        ts_ms: NOW - 3_000,
        total: 312,
        rows: vec![
            process(
                1,
                "systemd",
                "/sbin/init splash",
                "root",
                0.1,
                12 * MIB,
                0.0,
                0.0,
            ),
            process(
                812,
                "postgres",
                "postgres: checkpointer",
                "postgres",
                12.25,
                512 * MIB,
                1_572_864.0,
                262_144.0,
            ),
            process(
                4242,
                "spin",
                "spin --hard",
                "root",
                99.5,
                1_234_567,
                0.0,
                4096.0,
            ),
            process(
                31337,
                HOSTILE_NAME,
                HOSTILE_COMMAND,
                "mallory",
                45.0,
                64 * MIB,
                0.0,
                0.0,
            ),
            process(
                2001,
                "java",
                "java -Xmx4g -jar /opt/app/very-long-name-service.jar --spring.profiles.active=production --server.port=8080",
                "app",
                180.0,
                3584 * MIB,
                20_480.0,
                0.0,
            ),
            process(
                977,
                "nginx",
                "nginx: worker process",
                "www-data",
                2.0,
                48 * MIB,
                0.0,
                0.0,
            ),
        ],
    })
}

fn cgroup(path: &str, name: &str, kind: CgroupKind, cpu: f64, memory: u64, pids: u64) -> CgroupRow {
    CgroupRow {
        path: path.into(),
        name: name.into(),
        kind,
        cpu_percent: cpu,
        memory_bytes: memory,
        memory_peak_bytes: None,
        read_bytes_per_second: 0.0,
        write_bytes_per_second: 0.0,
        pids,
    }
}

/// `host`'s cgroups read 3 s before `NOW`.
pub fn cgroups(host: &str) -> Update {
    Update::Cgroups(CgroupTable {
        host: host.into(),
        ts_ms: NOW - 3_000,
        total: 12,
        rows: vec![
            cgroup(
                "system.slice/nginx.service",
                "nginx.service",
                CgroupKind::Service,
                1.5,
                50 * MIB,
                3,
            ),
            cgroup(
                "system.slice/docker-4f2a.scope",
                "web-frontend",
                CgroupKind::Container,
                75.2,
                1229 * MIB,
                14,
            ),
            cgroup(
                "user.slice/user-1000.slice",
                "user-1000.slice",
                CgroupKind::User,
                3.0,
                800 * MIB,
                40,
            ),
            cgroup(
                "system.slice/postgresql.service",
                "postgresql.service",
                CgroupKind::Service,
                12.4,
                600 * MIB,
                9,
            ),
        ],
        unavailable: None,
    })
}

/// The cgroup table of a host without cgroup v2.
pub fn cgroups_unavailable(host: &str) -> Update {
    Update::Cgroups(CgroupTable {
        host: host.into(),
        ts_ms: NOW - 3_000,
        total: 0,
        rows: vec![],
        unavailable: Some("cgroup v1 host: /sys/fs/cgroup is not a cgroup2 mount".into()),
    })
}

/// The connected fleet with `web-01`'s host view open.
pub fn host_view_of_web_01() -> App {
    let mut app = connected_fleet();
    app.ui.selected = Some("web-01".into());
    app.key(key(KeyCode::Enter), NOW);
    app
}
