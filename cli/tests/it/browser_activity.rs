//! The host page's process and cgroup tables as a person sees them: a real
//! `mon serve` whose agent reads this machine's `/proc`, a real process
//! with a hostile name, a headless Chromium clicking the table's headers and
//! a chart, and tables pushed over gRPC with past timestamps for history.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use server::proto::{Cgroup, CgroupTable, Process, ProcessTable, Report};

use crate::browser::{WAIT, js, sample, serve_in, stream_reports};
use crate::webdriver::{Browser, artifact};

/// The spinning process's `argv[0]`: markup that would run a script if it
/// were ever parsed as HTML, and an escape sequence that would colour a
/// terminal.
const HOSTILE_ARGV0: &str = "<img src=x onerror=\"window.__pwned='argv0'\">\u{1b}[31mred";
/// Its name (`/proc/PID/comm`, at most 15 bytes), set by the process itself.
const HOSTILE_NAME: &str = "<i>spin</i>";

/// A child process killed when dropped, so a failed assertion leaves no
/// spinning process behind.
struct Spinner(Child);

impl Drop for Spinner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A shell that renames itself to [`HOSTILE_NAME`] and spins at the lowest
/// priority, so it is among the busiest processes the agent lists without
/// slowing the machine's other work.
fn hostile_spinner() -> Spinner {
    let child = Command::new("bash")
        .arg0(HOSTILE_ARGV0)
        .args([
            "-c",
            &format!(
                "renice -n 19 -p $$ >/dev/null 2>&1; printf '%s' '{HOSTILE_NAME}' > /proc/$$/comm; \
                 while :; do :; done"
            ),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bash starts");
    Spinner(child)
}

/// The rows of a table (`processes` or `cgroups`) as the page shows them.
fn rows_script(table: &str) -> String {
    format!(
        "const panel = document.querySelector('.activity [data-table=\"{table}\"]'); \
         if (!panel) return null; \
         const rows = [...panel.querySelectorAll('tbody tr')].map(tr => ({{ \
           key: tr.dataset.key, cpu: Number(tr.dataset.cpu), memory: Number(tr.dataset.memory), \
           cells: [...tr.children].map(td => td.textContent), \
           titles: [...tr.children].map(td => td.getAttribute('title')) }})); \
         const note = panel.querySelector('.activity-note'); \
         return {{ rows, sort: panel.dataset.sort, \
           note: note.hidden ? '' : note.textContent, \
           meta: panel.querySelector('.activity-meta').textContent, \
           sorted: [...panel.querySelectorAll('th[aria-sort]')] \
             .filter(th => th.getAttribute('aria-sort') !== 'none') \
             .map(th => th.dataset.sort + ' ' + th.getAttribute('aria-sort')) }};"
    )
}

/// True when `key` of the rows never goes up from one row to the next.
fn descending(rows: &Value, key: &str) -> bool {
    let values: Vec<f64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_f64().unwrap_or(f64::NAN))
        .collect();
    values.windows(2).all(|w| w[0] >= w[1])
}

#[test]
fn the_host_page_lists_this_machines_processes_sorts_by_memory_and_shows_hostile_names_as_text() {
    let spinner = hostile_spinner();
    let spin_pid = spinner.0.id().to_string();
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_in(dir.path(), "127.0.0.1:0", &[]);
    let host = server::agent::resolve_host(None).unwrap();
    let browser = Browser::launch();
    browser.record_page_errors();
    browser.resize(1360, 1600);
    browser.goto(&format!("{}#/host/{host}", serve.dashboard));

    // While the page watches the host the agent reads the tables with every
    // report (every second here), so the first comes within seconds.
    let processes = rows_script("processes");
    let shown = browser.wait_for(
        &format!("the process table to list this machine's processes, the spinner (pid {spin_pid}) among them"),
        WAIT,
        &format!(
            "const t = (() => {{ {processes} }})(); \
             return t && t.rows.length >= 3 && t.rows.some(r => r.key === {}) ? t : null",
            js(&spin_pid)
        ),
    );
    assert_eq!(shown["sort"], "cpu", "sorted by CPU at first: {shown}");
    assert_eq!(
        shown["sorted"],
        serde_json::json!(["cpu descending"]),
        "{shown}"
    );
    assert!(
        descending(&shown["rows"], "cpu"),
        "the busiest process first: {shown:#}"
    );
    assert!(
        shown["meta"].as_str().unwrap().contains("updated"),
        "the table says how old it is: {shown}"
    );

    // The hostile names are text: the name as the process set it, the
    // command with its markup and the escape character made a space, the
    // whole command in the cell's title.
    let spin = shown["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == spin_pid.as_str())
        .unwrap();
    let cells: Vec<&str> = spin["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cells[0], spin_pid, "{spin}");
    assert_eq!(cells[2], HOSTILE_NAME, "the name is shown verbatim: {spin}");
    let command = cells[3];
    assert!(
        command.starts_with("<img src=x onerror=\"window.__pwned='argv0'\"> [31mred"),
        "the command is shown as text, its escape character a space: {command:?}"
    );
    assert!(!command.contains('\u{1b}'), "{command:?}");
    assert_eq!(
        spin["titles"][3], command,
        "the full command is the cell's title"
    );
    let injected = browser.eval(
        "return {pwned: window.__pwned ?? null, \
                 elements: document.querySelectorAll('.activity img, .activity i, .activity svg').length}",
    );
    assert_eq!(injected["pwned"], Value::Null, "no injected script ran");
    assert_eq!(injected["elements"], 0, "no injected element exists");

    // A click on the memory header sorts by memory: the largest first, and
    // the rows no longer in CPU order (real processes differ in the two).
    browser.eval(
        "document.querySelector('[data-table=\"processes\"] th[data-sort=\"memory\"] button').click(); return true",
    );
    let by_memory = browser.wait_for(
        "the process table sorted by memory",
        WAIT,
        &format!(
            "const t = (() => {{ {processes} }})(); \
             if (!t || t.sort !== 'memory' || t.rows.length < 3) return null; \
             const down = (k) => t.rows.every((r, i) => i === 0 || t.rows[i - 1][k] >= r[k]); \
             return down('memory') && !down('cpu') ? t : null"
        ),
    );
    assert_eq!(
        by_memory["sorted"],
        serde_json::json!(["memory descending"]),
        "{by_memory}"
    );
    let cgroups = browser.eval(&rows_script("cgroups"));
    assert!(
        cgroups["rows"].as_array().is_some_and(|r| !r.is_empty())
            || cgroups["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("Not available here: ")),
        "the cgroup table lists cgroups or says why it cannot: {cgroups:#}"
    );
    browser.screenshot(&artifact("dashboard-host-processes.png"));

    // A click on the CPU chart asks for the tables kept at that time.
    let rect = browser.eval(
        "const r = document.querySelector('[data-chart=\"cpu\"] canvas').getBoundingClientRect(); \
         return {x: Math.round(r.left + r.width * 0.8), y: Math.round(r.top + r.height / 2)}",
    );
    let point = (rect["x"].as_i64().unwrap(), rect["y"].as_i64().unwrap());
    browser.pointer(&[point, point], true);
    let past = browser.wait_for(
        "the tables at the time clicked",
        WAIT,
        &format!(
            "const pane = document.querySelector('.activity'); \
             if (pane.dataset.mode !== 'history') return null; \
             const t = (() => {{ {processes} }})(); \
             if (t.note.startsWith('Loading')) return null; \
             const asked = performance.getEntriesByType('resource').map(e => e.name) \
               .filter(n => n.includes('/api/hosts/') && n.includes('/processes?at=')); \
             return {{ t, asked, at: Number(pane.dataset.at), \
               title: pane.querySelector('.activity-title').textContent }}"
        ),
    );
    assert!(
        past["title"]
            .as_str()
            .unwrap()
            .starts_with("Top processes at "),
        "{past:#}"
    );
    assert!(
        past["asked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap().ends_with(&format!("at={}", past["at"]))),
        "the page asks the API for the time clicked: {past:#}"
    );
    assert!(
        !past["t"]["rows"].as_array().unwrap().is_empty()
            || past["t"]["note"]
                .as_str()
                .unwrap()
                .starts_with("No table kept for that time"),
        "a table, or a note saying none was kept: {past:#}"
    );
    browser.eval("document.querySelector('.back-live').click(); return true");
    browser.wait_for(
        "the live tables again",
        WAIT,
        &format!(
            "const t = (() => {{ {processes} }})(); \
             return document.querySelector('.activity').dataset.mode === 'live' && t.rows.length >= 3"
        ),
    );
    assert_eq!(
        browser.page_errors(),
        Vec::<String>::new(),
        "the page ran without errors"
    );
    drop(spinner);
}

fn process(pid: u32, name: &str, cpu: f64, memory: u64) -> Process {
    Process {
        pid,
        name: name.into(),
        command: format!("/usr/bin/{name} --serve"),
        user: "svc".into(),
        cpu_percent: cpu,
        memory_bytes: memory,
        read_bytes_per_second: 0.0,
        write_bytes_per_second: 2048.0,
    }
}

/// Streams one report a time of `host` with its process table and a
/// cgroup table that says cgroup v2 is missing, as an agent on a cgroup v1
/// host would, and waits for every ack.
fn push_tables(grpc: &str, host: &str, reports: &[(i64, Vec<Process>)]) {
    let reports = reports
        .iter()
        .map(|(ts, processes)| Report {
            timestamp_ms: *ts,
            samples: vec![sample("cpu_usage_percent", vec![], 20.0)],
            processes: Some(ProcessTable {
                total: 200,
                processes: processes.clone(),
            }),
            cgroups: Some(CgroupTable {
                total: 0,
                cgroups: Vec::<Cgroup>::new(),
                unavailable: "cgroup v1 host: no /sys/fs/cgroup/cgroup.controllers".into(),
            }),
            ..Default::default()
        })
        .collect();
    stream_reports(grpc, host, reports);
}

#[test]
fn a_past_range_shows_the_processes_kept_then_and_says_so_when_none_was_kept() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_in(dir.path(), "127.0.0.1:0", &["--no-agent"]);
    let now = server::time::now_ms();
    let minute = 60_000;
    // Two minutes' tables ten and eight minutes ago, then the latest now.
    let then = now - 10 * minute;
    let later = now - 8 * minute;
    push_tables(
        &serve.grpc,
        "history-probe",
        &[
            (
                then,
                vec![
                    process(101, "old-batch", 180.0, 900 << 20),
                    process(102, "old-cache", 5.0, 3 << 30),
                ],
            ),
            (later, vec![process(201, "later-job", 50.0, 10 << 20)]),
            (now, vec![process(301, "live-web", 12.5, 64 << 20)]),
        ],
    );

    let browser = Browser::launch();
    browser.record_page_errors();
    browser.resize(1360, 1600);
    browser.goto(&format!("{}#/host/history-probe", serve.dashboard));
    let processes = rows_script("processes");
    let cgroups = rows_script("cgroups");
    let live = browser.wait_for(
        "the latest tables of the probe",
        WAIT,
        &format!(
            "const p = (() => {{ {processes} }})(); const c = (() => {{ {cgroups} }})(); \
             return p && p.rows.length === 1 && c && c.note !== 'Waiting for the first table…' ? {{p, c}} : null"
        ),
    );
    assert_eq!(live["p"]["rows"][0]["cells"][2], "live-web", "{live:#}");
    assert_eq!(
        live["c"]["note"],
        "Not available here: cgroup v1 host: no /sys/fs/cgroup/cgroup.controllers",
        "{live:#}"
    );
    assert!(
        live["p"]["meta"]
            .as_str()
            .unwrap()
            .starts_with("1 of 200 processes"),
        "{live:#}"
    );

    // A fixed range ending a minute after the first table: the tables of
    // its end, which is that first minute's.
    browser.goto(&format!(
        "{}#/host/history-probe?from={}&to={}",
        serve.dashboard,
        then - 5 * minute,
        then + 30_000
    ));
    let past = browser.wait_for(
        "the tables kept at the end of the range",
        WAIT,
        &format!(
            "const pane = document.querySelector('.activity'); \
             const p = (() => {{ {processes} }})(); \
             return pane && pane.dataset.mode === 'history' && p.rows.length > 0 \
               ? {{p, title: pane.querySelector('.activity-title').textContent, \
                   live: !pane.querySelector('.back-live').hidden}} : null"
        ),
    );
    let names: Vec<&str> = past["p"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cells"][2].as_str().unwrap())
        .collect();
    assert_eq!(names, ["old-batch", "old-cache"], "sorted by CPU: {past:#}");
    assert!(
        past["title"]
            .as_str()
            .unwrap()
            .starts_with("Top processes at "),
        "{past:#}"
    );
    assert_eq!(past["live"], true, "a way back to live: {past:#}");
    browser.eval(
        "document.querySelector('[data-table=\"processes\"] th[data-sort=\"memory\"] button').click(); return true",
    );
    browser.wait_for(
        "the past table sorted by memory",
        WAIT,
        &format!(
            "const p = (() => {{ {processes} }})(); \
             return p.sort === 'memory' && p.rows.map(r => r.cells[2]).join() === 'old-cache,old-batch'"
        ),
    );
    browser.screenshot(&artifact("dashboard-host-processes-past.png"));

    // Before the first table: nothing kept, and the page says so.
    browser.goto(&format!(
        "{}#/host/history-probe?from={}&to={}",
        serve.dashboard,
        then - 30 * minute,
        then - 20 * minute
    ));
    let none = browser.wait_for(
        "a note that no table was kept for that time",
        WAIT,
        &format!(
            "const p = (() => {{ {processes} }})(); \
             return document.querySelector('.activity')?.dataset.mode === 'history' \
               && p.note.startsWith('No table kept for that time') ? p : null"
        ),
    );
    assert!(none["rows"].as_array().unwrap().is_empty(), "{none:#}");

    // Back to live: the latest table again.
    browser.eval("document.querySelector('.back-live').click(); return true");
    browser.wait_for(
        "the live table again",
        WAIT,
        &format!(
            "const p = (() => {{ {processes} }})(); \
             return document.querySelector('.activity').dataset.mode === 'live' \
               && p.rows.length === 1 && p.rows[0].cells[2] === 'live-web'"
        ),
    );
    assert_eq!(
        browser.page_errors(),
        Vec::<String>::new(),
        "the page ran without errors"
    );
}
