//! The web dashboard as a person sees it: a real `mon serve`, a real
//! headless Chromium, and assertions on what the page shows. Screenshots are
//! saved under `target/test-artifacts/` for a human to look at.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use server::proto::{
    AgentMessage, Hello, Label, Report, Sample, agent_message::Kind, ingest_client::IngestClient,
};

use crate::process::{Running, eventually, free_port, mon};
use crate::webdriver::{Browser, artifact};

/// A running `mon serve` and the addresses it printed.
struct Serve {
    process: Running,
    dashboard: String,
    grpc: String,
}

/// Starts `mon serve` on `dir` with the HTTP address `http` (port 0: any)
/// and waits until it prints its addresses.
fn serve_in(dir: &Path, http: &str, extra: &[&str]) -> Serve {
    let mut cmd = mon();
    cmd.args([
        "serve",
        "--interval",
        "1s",
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        http,
    ])
    .args(extra)
    .arg("--data-dir")
    .arg(dir);
    let process = Running::spawn(cmd);
    let printed = |label: &str| {
        process
            .stdout
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    };
    assert!(
        eventually(Duration::from_secs(10), || printed("gRPC ingest").is_some()),
        "mon serve prints its addresses; stderr:\n{}",
        process.stderr_text()
    );
    Serve {
        dashboard: printed("dashboard").expect("mon serve prints the dashboard URL"),
        grpc: printed("gRPC ingest").unwrap(),
        process,
    }
}

/// A JavaScript string literal for `text`.
fn js(text: &str) -> String {
    Value::from(text).to_string()
}

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn the_dashboard_shows_this_machine_live_and_its_host_page_draws_history() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_in(dir.path(), "127.0.0.1:0", &[]);
    let host = server::agent::resolve_host(None).unwrap();
    let tile = format!(
        "document.querySelector('[data-host=\"' + {} + '\"].tile')",
        js(&host)
    );
    let browser = Browser::launch();
    browser.record_page_errors();
    browser.goto(&serve.dashboard);

    browser.wait_for(
        "the connection state to say live",
        WAIT,
        "const c = document.getElementById('conn'); \
         return c.dataset.state === 'live' && c.textContent.trim() === 'live'",
    );
    let read_tile = format!(
        "const t = {tile}; if (!t) return null; \
         const text = (c) => t.querySelector(c).textContent; \
         const cpu = text('.cpu-value'); \
         return /^\\d+\\.\\d%$/.test(cpu) \
           ? {{values: [cpu, text('.mem-value'), text('.rx-value'), text('.tx-value'), text('.load-value')], \
               age: parseInt(text('.tile-age'), 10)}} \
           : null"
    );
    let first = browser.wait_for(
        &format!("a tile for this machine ({host}) with a CPU value"),
        WAIT,
        &read_tile,
    );
    // Live: a value changes, or the age of the last sample drops back when
    // a newer sample arrives, or stays under three seconds for longer than
    // that (a busy machine can sit at 100% CPU and "0s ago" throughout).
    let watching = std::time::Instant::now();
    let mut previous = first.clone();
    let mut max_age = 0;
    assert!(
        eventually(WAIT, || {
            let now = browser.eval(&read_tile);
            let age = now["age"].as_i64().unwrap_or(i64::MAX);
            max_age = max_age.max(age);
            let moved = now["values"] != first["values"]
                || age < previous["age"].as_i64().unwrap_or(0)
                || (watching.elapsed() > Duration::from_secs(4) && max_age < 3);
            previous = now;
            moved
        }),
        "the tile of {host} stayed at {first} while samples arrive every second"
    );
    browser.wait_for(
        "the CPU sparkline to be drawn",
        WAIT,
        &format!("return {tile}.querySelector('.spark').width > 0"),
    );
    browser.screenshot(&artifact("dashboard.png"));

    browser.eval(&format!("{tile}.click(); return true"));
    browser.wait_for(
        "the host page",
        WAIT,
        &format!("return location.hash === '#/host/' + {} && document.querySelector('.view-host') !== null", js(&host)),
    );
    let painted = browser.wait_for(
        "the CPU chart to draw a line through at least two samples",
        WAIT,
        "const c = document.querySelector('[data-chart=\"cpu\"] canvas'); \
         if (!c || Number(c.dataset.points) < 2) return null; \
         const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
         let painted = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) painted++; \
         return painted > 1000 ? painted : null",
    );
    assert!(painted.as_u64().unwrap() > 1000);
    let history = browser.eval(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/api/series?'))",
    );
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap().contains("metric=cpu_usage_percent")),
        "the CPU chart starts from the stored history: {history}"
    );
    browser.wait_for(
        "the CPU cores and filesystems tables to have rows",
        WAIT,
        "const rows = [...document.querySelectorAll('.table-panel')].map(p => p.querySelectorAll('tbody tr').length); \
         return rows[0] > 0 && rows[1] > 0",
    );
    browser.wait_for(
        "the connection to still say live",
        WAIT,
        "return document.getElementById('conn').dataset.state === 'live'",
    );
    // A fresh server has minutes of history, not an hour: zoom in for the
    // picture, and make the window tall enough for the tables.
    browser.eval("document.querySelector('[data-range=\"300000\"]').click(); return true");
    browser.resize(1360, 1500);
    browser.wait_for(
        "the 5-minute range to be selected",
        WAIT,
        "return document.querySelector('[data-range=\"300000\"]').getAttribute('aria-pressed') === 'true'",
    );
    std::thread::sleep(Duration::from_millis(300));
    browser.screenshot(&artifact("dashboard-host.png"));
    browser.color_scheme("dark");
    std::thread::sleep(Duration::from_millis(300));
    browser.screenshot(&artifact("dashboard-host-dark.png"));
    assert_eq!(
        browser.page_errors(),
        Vec::<String>::new(),
        "the page ran without errors"
    );
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn sample(name: &str, labels: Vec<Label>, value: f64) -> Sample {
    Sample {
        name: name.into(),
        labels,
        value,
    }
}

/// Says hello as `host` (running `os`, reporting every second) and pushes
/// one report of `samples` over gRPC, as an agent would, then goes silent.
/// Streams one report as an agent would, sending `token` when the server
/// requires one.
fn push_report(grpc: &str, token: Option<&str>, host: &str, os: &str, samples: Vec<Sample>) {
    let expected = samples.len() as u32;
    let messages = [
        AgentMessage {
            kind: Some(Kind::Hello(Hello {
                host: host.into(),
                os: os.into(),
                agent_version: "test".into(),
                interval_ms: 1000,
                ..Hello::default()
            })),
        },
        AgentMessage {
            kind: Some(Kind::Report(Report {
                host: host.into(),
                seq: 1,
                timestamp_ms: server::time::now_ms(),
                samples,
            })),
        },
    ];
    let ack = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let channel = tonic::transport::Channel::from_shared(grpc.to_owned())
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut client = IngestClient::with_interceptor(
                channel,
                server::agent::BearerToken::new(token).unwrap(),
            );
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            for message in messages {
                tx.send(message).await.unwrap();
            }
            // The sender stays alive until the ack: closing the stream
            // first could end it before the report is acknowledged.
            let mut acks = client
                .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .unwrap()
                .into_inner();
            let ack = tokio::time::timeout(Duration::from_secs(10), acks.message())
                .await
                .expect("an ack within 10s")
                .unwrap()
                .expect("an ack");
            drop(tx);
            ack
        });
    assert_eq!((ack.accepted, ack.rejected), (expected, 0), "{ack:?}");
}

#[test]
fn html_in_labels_and_metadata_is_shown_as_text_and_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_in(dir.path(), "127.0.0.1:0", &["--no-agent"]);
    let hostile = [
        "<img src=x onerror=\"window.__pwned='mount'\">",
        "<script>window.__pwned='fstype'</script>",
        "\"><svg onload=\"window.__pwned='iface'\">",
        "<iframe srcdoc=\"<script>parent.__pwned='os'</script>\"></iframe>",
    ];
    // Host names are checked by the aggregator; label values and metadata
    // are free text, so they carry the markup.
    push_report(
        &serve.grpc,
        None,
        "xss-probe",
        hostile[3],
        vec![
            sample("cpu_usage_percent", vec![], 42.0),
            sample(
                "filesystem_used_percent",
                vec![label("fstype", hostile[1]), label("mount", hostile[0])],
                97.0,
            ),
            sample(
                "network_receive_bytes_per_second",
                vec![label("iface", hostile[2])],
                1000.0,
            ),
        ],
    );

    let browser = Browser::launch();
    browser.record_page_errors();
    browser.goto(&serve.dashboard);
    let mount = browser.wait_for(
        "the probe's tile with its fullest filesystem",
        WAIT,
        "const t = document.querySelector('[data-host=\"xss-probe\"].tile'); \
         return t && t.querySelector('.fs-value').textContent === '97%' \
           ? t.querySelector('.fs-mount').textContent : null",
    );
    assert_eq!(mount, hostile[0], "the mount point is shown verbatim");

    browser.goto(&format!("{}#/host/xss-probe", serve.dashboard));
    let shown = browser.wait_for(
        "the probe's filesystem and interface rows",
        WAIT,
        "const cells = [...document.querySelectorAll('.view-host td')].map(td => td.textContent); \
         return cells.length >= 4 ? {cells, meta: document.querySelector('.host-meta').textContent} : null",
    );
    let cells: Vec<&str> = shown["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for text in &hostile[..3] {
        assert!(
            cells.contains(text),
            "{text:?} is shown as text in {cells:?}"
        );
    }
    assert!(
        shown["meta"].as_str().unwrap().contains(hostile[3]),
        "{shown}"
    );
    let injected = browser.eval(
        "return {pwned: window.__pwned ?? null, \
                 elements: document.querySelectorAll('img, svg, iframe, script:not([src])').length}",
    );
    assert_eq!(injected["pwned"], Value::Null, "no injected script ran");
    assert_eq!(injected["elements"], 0, "no injected element exists");
    browser.screenshot(&artifact("dashboard-hostile-labels.png"));
}

#[test]
fn the_page_marks_silent_hosts_stale_shows_offline_and_reconnects_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let args = ["--no-agent", "--token", "s3cret"];
    let mut serve = serve_in(dir.path(), &http, &args);
    push_report(
        &serve.grpc,
        Some("s3cret"),
        "quiet-1",
        "Linux",
        vec![sample("cpu_usage_percent", vec![], 5.0)],
    );
    let browser = Browser::launch();
    // The token in the page's URL is passed on to /ws: without it the
    // server would refuse the stream.
    browser.goto(&format!("{}?token=s3cret", serve.dashboard));
    // [state, label, page dimmed, colour of the state dot]
    let state = "const c = document.getElementById('conn'); \
                 const dot = getComputedStyle(c.querySelector('.conn-dot')).backgroundColor; \
                 return [c.dataset.state, c.textContent.trim(), document.body.classList.contains('disconnected'), \
                         dot.match(/\\d+/g).slice(0, 3).map(Number)]";
    let until = |what: &str, check: &str| {
        browser.wait_for(
            what,
            WAIT,
            &format!("{{ const s = (() => {{ {state} }})(); return ({check}) ? s : null }}"),
        )
    };
    let live = until("live", "s[0] === 'live' && !s[2]");
    assert_eq!(hue(&live[3]), "green", "{live}");
    // quiet-1 said it reports every second and then went silent: after
    // three intervals its tile is marked stale.
    let stale = browser.wait_for(
        "the silent host's tile to be marked stale",
        WAIT,
        "const t = document.querySelector('[data-host=\"quiet-1\"].tile'); \
         return t && t.classList.contains('stale') ? t.querySelector('.tile-age').textContent : null",
    );
    assert!(
        stale.as_str().unwrap().ends_with("s ago"),
        "the age of the last sample is shown: {stale}"
    );

    let offline = |yes: bool| {
        browser.devtools(
            "Network.emulateNetworkConditions",
            serde_json::json!({"offline": yes, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        );
    };
    offline(true);
    let off = until(
        "offline when the browser loses the network",
        "s[1] === 'offline' && s[2]",
    );
    assert_eq!(hue(&off[3]), "red", "{off}");
    offline(false);
    until("live again when the network is back", "s[0] === 'live'");

    serve.process.signal("TERM");
    assert_eq!(serve.process.wait(Duration::from_secs(10)).code(), Some(0));
    let waiting = until(
        "a reconnect countdown while the server is down",
        "/^reconnecting in \\d+s$/.test(s[1]) && s[2]",
    );
    serve = serve_in(dir.path(), &http, &args);
    until(
        "live again after the server restarted",
        "s[0] === 'live' && !s[2]",
    );
    drop(serve);
    assert_eq!(hue(&waiting[3]), "amber", "{waiting}");
}

/// The rough colour of an `[r, g, b]` triple, to check a state's colour
/// without pinning the theme's exact shades.
fn hue(rgb: &Value) -> &'static str {
    let c: Vec<i64> = rgb
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let (r, g, b) = (c[0], c[1], c[2]);
    if g > r && g > b {
        "green"
    } else if r > g + 80 && r > b + 80 && (g - b).abs() < 60 {
        "red"
    } else if r >= g && g > b + 40 {
        "amber"
    } else {
        "other"
    }
}

#[test]
fn the_silence_button_silences_an_alert_and_expire_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: t\n    rules:\n      - alert: HighCpu\n        expr: cpu_usage_percent > 90\n        labels: {severity: page}\n",
    )
    .unwrap();
    let rules = rules.display().to_string();
    let serve = serve_in(
        dir.path(),
        "127.0.0.1:0",
        &["--no-agent", "--token", "s3cret", "--rules", &rules],
    );
    push_report(
        &serve.grpc,
        Some("s3cret"),
        "web-1",
        "Linux",
        vec![sample("cpu_usage_percent", vec![], 97.0)],
    );
    let browser = Browser::launch();
    browser.record_page_errors();
    // Writes from the page carry the page's token, as its reads do.
    browser.goto(&format!("{}?token=s3cret#/alerts", serve.dashboard));
    let row = "document.querySelector('.view-alerts .alert[data-state=\"firing\"]')";
    browser.wait_for(
        "the firing alert on the alerts page, not silenced",
        WAIT,
        &format!("const r = {row}; return r && r.dataset.silenced === 'false' && r.querySelector('.alert-silenced').hidden"),
    );
    browser.eval(&format!(
        "{row}.querySelector('.silence-button').click(); return true"
    ));
    let prefilled = browser.wait_for(
        "the silence form, prefilled with the alert's labels",
        WAIT,
        "const f = document.querySelector('.silence-form'); return f && !f.hidden ? f.querySelector('textarea').value : null",
    );
    assert_eq!(
        prefilled,
        "alertname=\"HighCpu\"\nhost=\"web-1\"\nseverity=\"page\""
    );

    // A bad duration: the server's message shows in the form, nothing is made.
    let submit = "const f = document.querySelector('.silence-form'); \
                  f.querySelector('[name=duration]').value = DURATION; \
                  f.querySelector('[name=comment]').value = 'reboot'; \
                  f.querySelector('button[type=submit]').click(); return true";
    browser.eval(&submit.replace("DURATION", &js("-1h")));
    let error = browser.wait_for(
        "the form to show why -1h is refused",
        WAIT,
        "const e = document.querySelector('.silence-form .silence-error'); return e && !e.hidden ? e.textContent : null",
    );
    assert!(
        error
            .as_str()
            .unwrap()
            .contains("duration \"-1h\" is not accepted: give a length from 1m to 365d"),
        "{error}"
    );

    browser.eval(&submit.replace("DURATION", &js("2h")));
    let listed = browser.wait_for(
        "the new silence in the list, active, with its matchers and comment",
        WAIT,
        "const s = document.querySelector('.silence[data-state=\"active\"]'); \
         return s ? {matchers: s.querySelector('.silence-matchers').textContent, \
                     comment: s.querySelector('.silence-comment').textContent, \
                     left: s.querySelector('.silence-left').textContent} : null",
    );
    assert_eq!(
        listed["matchers"],
        "alertname=\"HighCpu\" host=\"web-1\" severity=\"page\""
    );
    assert_eq!(listed["comment"], "reboot");
    assert!(
        listed["left"].as_str().unwrap().starts_with("ends in 1h 5")
            || listed["left"].as_str().unwrap().starts_with("ends in 2h"),
        "{listed}"
    );
    assert_eq!(
        browser.eval("return document.querySelector('.silence-form') === null || document.querySelector('.silence-form').hidden"),
        true,
        "the form closed"
    );
    let marked = browser.wait_for(
        "the alert to be marked silenced (the engine reads the silence within a second)",
        WAIT,
        &format!("const r = {row}; return r && r.dataset.silenced === 'true' && !r.querySelector('.alert-silenced').hidden \
                  ? r.querySelector('.alert-silenced').textContent : null"),
    );
    assert_eq!(marked, "silenced");
    browser.screenshot(&artifact("dashboard-silenced.png"));

    browser.eval("document.querySelector('.silence .expire').click(); return true");
    browser.wait_for(
        "the silence gone from the list after Expire",
        WAIT,
        "return document.querySelector('.silence') === null && !document.querySelector('.silences .empty').hidden",
    );
    browser.wait_for(
        "the alert no longer marked silenced",
        WAIT,
        &format!("const r = {row}; return r && r.dataset.silenced === 'false'"),
    );
    assert_eq!(
        browser.page_errors(),
        Vec::<String>::new(),
        "the page ran without errors"
    );
}
