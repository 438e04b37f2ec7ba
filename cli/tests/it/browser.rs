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
pub(crate) struct Serve {
    pub(crate) process: Running,
    pub(crate) dashboard: String,
    pub(crate) grpc: String,
}

/// Starts `mon serve` on `dir` with the HTTP address `http` (port 0: any)
/// and waits until it prints its addresses.
pub(crate) fn serve_in(dir: &Path, http: &str, extra: &[&str]) -> Serve {
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
pub(crate) fn js(text: &str) -> String {
    Value::from(text).to_string()
}

pub(crate) const WAIT: Duration = Duration::from_secs(15);

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
    browser.eval("document.querySelector('[data-range=\"5m\"]').click(); return true");
    browser.resize(1360, 1500);
    browser.wait_for(
        "the 5-minute range to be selected",
        WAIT,
        "return document.querySelector('[data-range=\"5m\"]').getAttribute('aria-pressed') === 'true' \
           && location.hash.endsWith('?range=5m')",
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

pub(crate) fn sample(name: &str, labels: Vec<Label>, value: f64) -> Sample {
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
                ..Default::default()
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

/// Streams `reports` of `host` (timestamp, CPU percent; memory follows at
/// half) over one gRPC stream after a hello, and waits for every ack.
fn push_history(grpc: &str, host: &str, reports: &[(i64, f64)]) {
    let reports = reports
        .iter()
        .map(|&(ts, cpu)| Report {
            timestamp_ms: ts,
            samples: vec![
                sample("cpu_usage_percent", vec![], cpu),
                sample("memory_used_percent", vec![], cpu / 2.0),
                sample("load1", vec![], cpu / 50.0),
            ],
            ..Default::default()
        })
        .collect();
    stream_reports(grpc, host, reports);
}

/// Sends `reports` as `host` (numbered from 1) over one gRPC stream after
/// a hello, and waits for every ack, none of them rejecting anything.
pub(crate) fn stream_reports(grpc: &str, host: &str, reports: Vec<Report>) {
    let expected = reports.len();
    let mut messages = vec![AgentMessage {
        kind: Some(Kind::Hello(Hello {
            host: host.into(),
            os: "Linux".into(),
            agent_version: "test".into(),
            interval_ms: 10_000,
            ..Hello::default()
        })),
    }];
    for (seq, report) in reports.into_iter().enumerate() {
        messages.push(AgentMessage {
            kind: Some(Kind::Report(Report {
                host: host.into(),
                seq: seq as u64 + 1,
                ..report
            })),
        });
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let channel = tonic::transport::Channel::from_shared(grpc.to_owned())
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut client = IngestClient::new(channel);
            let (tx, rx) = tokio::sync::mpsc::channel(expected + 1);
            for message in messages {
                tx.send(message).await.unwrap();
            }
            let mut acks = client
                .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .unwrap()
                .into_inner();
            for _ in 0..expected {
                let ack = tokio::time::timeout(Duration::from_secs(20), acks.message())
                    .await
                    .expect("an ack within 20s")
                    .unwrap()
                    .expect("an ack");
                assert_eq!(ack.rejected, 0, "{ack:?}");
            }
            drop(tx);
        });
}

/// The `from`/`to` of every `/api/series` request the page made for `metric`.
fn series_requests(browser: &Browser, metric: &str) -> Vec<(i64, i64)> {
    let urls = browser.eval(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/api/series?'))",
    );
    urls.as_array()
        .unwrap()
        .iter()
        .filter_map(|u| {
            let url = u.as_str()?;
            if !url.contains(&format!("metric={metric}&"))
                && !url.ends_with(&format!("metric={metric}"))
            {
                return None;
            }
            let param = |name: &str| -> Option<i64> {
                url.split(['?', '&'])
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))?
                    .parse()
                    .ok()
            };
            Some((param("from")?, param("to")?))
        })
        .collect()
}

#[test]
fn dragging_across_a_chart_zooms_every_chart_keeps_the_range_in_the_url_and_asks_the_api_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_in(dir.path(), "127.0.0.1:0", &["--no-agent"]);
    // Two hours of reports every 10 s: a slow wave, and one spike to 100%
    // an hour ago.
    let now = server::time::now_ms();
    let reports: Vec<(i64, f64)> = (0..720)
        .map(|i| {
            let ts = now - 7_200_000 + i * 10_000;
            let cpu = if i == 360 {
                100.0
            } else {
                30.0 + 20.0 * (i as f64 / 40.0).sin()
            };
            (ts, cpu)
        })
        .collect();
    push_history(&serve.grpc, "zoom-probe", &reports);

    let browser = Browser::launch();
    browser.record_page_errors();
    browser.goto(&format!("{}#/host/zoom-probe?range=6h", serve.dashboard));
    let cpu = "document.querySelector('[data-chart=\"cpu\"] canvas')";
    let drawn = browser.wait_for(
        "the CPU chart to draw the stored two hours",
        WAIT,
        &format!("const c = {cpu}; return c && Number(c.dataset.points) >= 700 ? {{points: Number(c.dataset.points), columns: Number(c.dataset.columns), width: c.clientWidth}} : null"),
    );
    // Thinned to the pixel width: no more columns than the canvas is wide.
    assert!(
        drawn["columns"].as_i64().unwrap() <= drawn["width"].as_i64().unwrap(),
        "{drawn}"
    );
    let label = browser.eval("return document.querySelector('.range-label').textContent");
    assert!(
        label.as_str().unwrap().starts_with("the last 6 hours"),
        "{label}"
    );
    let asked = series_requests(&browser, "cpu_usage_percent");
    assert!(
        asked
            .iter()
            .any(|&(f, t)| (t - f - 6 * 3_600_000).abs() < 5_000),
        "the page asked /api/series for six hours: {asked:?}"
    );

    // A real drag across the middle of the plot, left to right.
    let rect = browser.eval(&format!(
        "const r = {cpu}.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]"
    ));
    let r: Vec<f64> = serde_json::from_value(rect).unwrap();
    let y = (r[1] + r[3] / 2.0) as i64;
    let x0 = (r[0] + r[2] * 0.55) as i64;
    let x1 = (r[0] + r[2] * 0.8) as i64;
    browser.pointer(&[(x0, y), ((x0 + x1) / 2, y), (x1, y)], true);
    let hash = browser.wait_for(
        "the URL to carry the zoomed range",
        WAIT,
        "return /from=\\d+&to=\\d+$/.test(location.hash) ? location.hash : null",
    );
    let hash = hash.as_str().unwrap();
    let param = |name: &str| -> i64 {
        hash.split(['?', '&'])
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    let (from, to) = (param("from"), param("to"));
    assert!(hash.starts_with("#/host/zoom-probe?"), "{hash}");
    // A quarter of the canvas (a little more of the plot, which leaves out
    // the axis labels) of six hours, ending within the last 2.5 hours.
    let span = to - from;
    assert!(
        (4_000_000..8_000_000).contains(&span),
        "a drag over a quarter of 6 h zooms to about 1.5 h, not {span} ms"
    );
    assert!(
        from > now - 6 * 3_600_000 && to <= server::time::now_ms(),
        "{from}..{to}"
    );
    // Every chart follows, the label says the span, and the page asked the
    // API for exactly that range.
    browser.wait_for(
        "every chart to draw the zoomed range, the CPU chart with its stored points",
        WAIT,
        &format!(
            "const cs = [...document.querySelectorAll('.chart-canvas')]; \
             return cs.length === 4 && cs.every(c => c.dataset.from === '{from}' && c.dataset.to === '{to}') \
               && Number(cs[0].dataset.points) > 100 ? cs.map(c => Number(c.dataset.points)) : null"
        ),
    );
    let label = browser.eval(
        "const l = document.querySelector('.range-label'); return [l.textContent, l.dataset.from, l.dataset.to]",
    );
    assert_eq!(label[1], from.to_string(), "{label}");
    assert_eq!(label[2], to.to_string(), "{label}");
    assert!(label[0].as_str().unwrap().contains(" → "), "{label}");
    assert!(
        label[0].as_str().unwrap().contains("every sample"),
        "raw tier: {label}"
    );
    browser.wait_for(
        "a request for the zoomed range",
        WAIT,
        &format!(
            "return performance.getEntriesByType('resource').some(e => e.name.includes('metric=memory_used_percent') \
               && e.name.includes('from={from}&to={to}'))"
        ),
    );
    assert!(series_requests(&browser, "cpu_usage_percent").contains(&(from, to)));

    // The cursor over one chart shows its time and values on every chart.
    let mx = (r[0] + r[2] * 0.6) as i64;
    browser.pointer(&[(mx, y)], false);
    let hover = browser.wait_for(
        "the shared cursor on every chart",
        WAIT,
        "const ts = [...document.querySelectorAll('.legend-time')].map(l => l.dataset.ts); \
         const values = [...document.querySelectorAll('.legend-value')].map(v => v.textContent); \
         return ts.length === 4 && ts.every(t => t !== '' && t === ts[0]) \
           ? {ts: Number(ts[0]), time: document.querySelector('.legend-time').textContent, values} : null",
    );
    let at = hover["ts"].as_i64().unwrap();
    assert!((from..=to).contains(&at), "{hover}");
    assert!(
        hover["time"]
            .as_str()
            .unwrap()
            .chars()
            .filter(|&c| c == ':')
            .count()
            == 2,
        "the exact time, to the second: {hover}"
    );
    assert!(
        hover["values"][0].as_str().unwrap().ends_with('%'),
        "{hover}"
    );
    browser.screenshot(&artifact("dashboard-zoomed.png"));

    // Zoom out returns to six hours, in the URL too.
    browser.eval("document.querySelector('.zoom-out').click(); return true");
    browser.wait_for(
        "the 6 h preset back after zooming out",
        WAIT,
        "return location.hash.endsWith('?range=6h') \
           && document.querySelector('[data-range=\"6h\"]').getAttribute('aria-pressed') === 'true'",
    );

    // 24 hours reads the 1-minute tier: its band keeps the spike, which
    // averages would flatten.
    browser.eval("document.querySelector('[data-range=\"24h\"]').click(); return true");
    let label = browser.wait_for(
        "the 1-minute tier for 24 hours",
        WAIT,
        "const t = document.querySelector('.range-label').textContent; return t.includes('1-minute') ? t : null",
    );
    assert!(
        label.as_str().unwrap().starts_with("the last 24 hours"),
        "{label}"
    );
    // The cursor near the right edge (within the stored two hours) is on a
    // minute of six samples: the legend gives its average and its range.
    browser.pointer(&[((r[0] + r[2] * 0.97) as i64, y)], false);
    let legend = browser.wait_for(
        "the legend to show a rollup point's min–max",
        WAIT,
        "const v = document.querySelector('[data-chart=\"cpu\"] .legend-value').textContent; \
         return /^\\d+% \\(\\d+%–\\d+%\\)$/.test(v) ? v : null",
    );
    assert!(legend.as_str().unwrap().contains('%'), "{legend}");
    assert_eq!(
        browser.page_errors(),
        Vec::<String>::new(),
        "the page ran without errors"
    );
}

#[test]
fn a_malformed_range_in_the_url_falls_back_to_the_last_hour_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_in(dir.path(), "127.0.0.1:0", &["--no-agent"]);
    let now = server::time::now_ms();
    let reports: Vec<(i64, f64)> = (0..30)
        .map(|i| (now - 300_000 + i * 10_000, 40.0))
        .collect();
    push_history(&serve.grpc, "range-probe", &reports);
    let browser = Browser::launch();
    browser.record_page_errors();
    for bad in [
        "range=banana",
        "from=yesterday&to=now",
        "from=1764180000000&to=1764170000000",
    ] {
        browser.goto(&format!("{}#/host/range-probe?{bad}", serve.dashboard));
        let shown = browser.wait_for(
            &format!("the note about {bad} and a drawn chart"),
            WAIT,
            "const n = document.querySelector('.range-note'); \
             const c = document.querySelector('[data-chart=\"cpu\"] canvas'); \
             return n && !n.hidden && c && Number(c.dataset.points) > 0 \
               ? {note: n.textContent, hash: location.hash, label: document.querySelector('.range-label').textContent} : null",
        );
        let note = shown["note"].as_str().unwrap();
        let named = bad.split('&').next().unwrap();
        assert!(note.contains(named), "the note names {named}: {note}");
        assert!(
            note.contains("showing the last hour") && note.contains("range=5m"),
            "{note}"
        );
        assert_eq!(shown["hash"], "#/host/range-probe?range=1h", "{shown}");
        assert!(
            shown["label"]
                .as_str()
                .unwrap()
                .starts_with("the last hour"),
            "{shown}"
        );
        // Reload: the same page again, not a cached view.
        browser.goto("about:blank");
    }
    assert_eq!(browser.page_errors(), Vec::<String>::new());
}

#[test]
fn the_fleet_rows_show_meters_coloured_by_threshold_and_a_host_column_as_wide_as_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_in(dir.path(), "127.0.0.1:0", &["--no-agent"]);
    let fs = |v: f64| {
        sample(
            "filesystem_used_percent",
            vec![label("fstype", "ext4"), label("mount", "/")],
            v,
        )
    };
    for (host, cpu, disk) in [("busy-1", 95.0, 85.0), ("idle-1", 5.0, 10.0)] {
        push_report(
            &serve.grpc,
            None,
            host,
            "Linux",
            vec![
                sample("cpu_usage_percent", vec![], cpu),
                sample("memory_used_percent", vec![], 50.0),
                fs(disk),
            ],
        );
    }
    let browser = Browser::launch();
    browser.record_page_errors();
    browser.goto(&serve.dashboard);
    browser.wait_for(
        "both tiles",
        WAIT,
        "return document.querySelectorAll('.tile').length === 2",
    );
    let meters = "const m = (h, k) => { const f = document.querySelector(`[data-host=\"${h}\"].tile .${k} .meter-fill`) \
                    ?? document.querySelector(`[data-host=\"${h}\"].tile .stat .meter-fill`); \
                    return {width: f.style.width, cls: f.className, shown: f.parentNode.offsetWidth > 0, \
                            colour: getComputedStyle(f).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)}; };";
    let cards = browser.eval(&format!("{meters} return m('busy-1', 'cpu')"));
    assert_eq!(
        cards["shown"], false,
        "cards keep their sparklines, no meters: {cards}"
    );
    browser.eval("document.querySelector('[data-layout=\"rows\"]').click(); return true");
    let rows = browser.wait_for(
        "the rows layout with meters",
        WAIT,
        &format!(
            "{meters} const busy = m('busy-1', 'cpu'); if (!busy.shown) return null; \
             const tile = document.querySelector('[data-host=\"busy-1\"].tile'); \
             return {{busy, busyMem: m('busy-1', 'mem'), idle: m('idle-1', 'cpu'), \
                      hostColumn: parseFloat(getComputedStyle(tile).gridTemplateColumns), \
                      name: tile.querySelector('.tile-name').scrollWidth, \
                      spark: tile.querySelector('.cpu .spark').width}}"
        ),
    );
    assert_eq!(rows["busy"]["width"], "95%", "{rows}");
    assert!(
        rows["busy"]["cls"].as_str().unwrap().contains("level-crit"),
        "{rows}"
    );
    assert_eq!(hue(&rows["busy"]["colour"]), "red", "{rows}");
    assert_eq!(rows["busyMem"]["width"], "50%", "{rows}");
    assert!(
        !rows["busyMem"]["cls"].as_str().unwrap().contains("level-"),
        "{rows}"
    );
    assert_eq!(hue(&rows["busyMem"]["colour"]), "green", "{rows}");
    assert_eq!(rows["idle"]["width"], "5%", "{rows}");
    let disk = browser.eval(&format!("{meters} return m('busy-1', 'fs')"));
    assert!(
        disk["cls"].as_str().unwrap().contains("level-warn"),
        "85% disk warns: {disk}"
    );
    assert_eq!(hue(&disk["colour"]), "amber", "{disk}");
    // The host column fits the six-letter names with their dot, badge and
    // age, rather than a fixed share of the row.
    let column = rows["hostColumn"].as_f64().unwrap();
    let name = rows["name"].as_f64().unwrap();
    assert!(column >= name && column < 240.0, "{rows}");
    assert!(
        rows["spark"].as_i64().unwrap() > 0,
        "the CPU sparkline is drawn: {rows}"
    );
    browser.screenshot(&artifact("dashboard-rows.png"));
    assert_eq!(browser.page_errors(), Vec::<String>::new());
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
