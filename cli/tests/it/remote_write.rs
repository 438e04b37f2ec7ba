//! Prometheus remote-write into `mon`: a real Prometheus scraping a real
//! node_exporter and remote-writing to `mon serve`, and hand-made requests
//! for every kind of bad input, each checked through what a user sees (the
//! answer's status and message, `/api/series`, `/ws`).

use std::time::Duration;

use server::interop::remote_write::{
    Label, STALE_NAN_BITS, Sample, TimeSeries, WriteRequest, encode,
};

use crate::peers::{Peer, http, installed, series_points, start, ws_snapshot};
use crate::process::{Running, eventually, free_port, mon};

/// `mon serve` with no local agent, on free ports; returns it and its HTTP
/// address.
pub(crate) fn serve(dir: &std::path::Path, extra: &[&str]) -> (Running, String) {
    let http_addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = mon();
    cmd.args([
        "serve",
        "--no-agent",
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        &http_addr,
        "--data-dir",
    ])
    .arg(dir)
    .args(extra);
    let running = Running::spawn(cmd);
    // Up once the receiver answers (with the token, if there is one)
    // anything but "starting" (503).
    let bearer = extra
        .iter()
        .position(|a| *a == "--token")
        .map(|i| format!("Bearer {}", extra[i + 1]));
    let auth: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("Authorization", b.as_str()))
        .collect();
    let up = eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&http_addr).is_ok()
            && write(&http_addr, &WriteRequest::default(), &auth).0 != 503
    });
    assert!(up, "mon serve listens; stderr: {}", running.stderr_text());
    (running, http_addr)
}

fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(value, timestamp)| Sample { value, timestamp })
            .collect(),
        histograms: Vec::new(),
    }
}

const PROTOBUF: (&str, &str) = ("Content-Type", "application/x-protobuf");

fn write(addr: &str, request: &WriteRequest, extra: &[(&str, &str)]) -> (u16, String, String) {
    let mut headers = vec![PROTOBUF, ("Content-Encoding", "snappy")];
    headers.extend_from_slice(extra);
    http(addr, "POST", "/api/v1/write", &headers, &encode(request))
}

#[test]
fn prometheus_scraping_node_exporter_remote_writes_into_mon_under_the_nodes_host() {
    let (Some(prometheus), Some(node_exporter)) = (
        installed("prometheus", "prometheus"),
        installed("prometheus-node-exporter", "prometheus-node-exporter"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut mon_serve, addr) = serve(&dir.path().join("mon"), &[]);

    let node_port = free_port();
    let _node: Peer = start(
        "node_exporter",
        &node_exporter,
        &[
            format!("--web.listen-address=127.0.0.1:{node_port}"),
            // The collectors a host dashboard needs; the rest (systemd, the
            // text-file collector) depend on the machine running them.
            "--collector.disable-defaults".into(),
            "--collector.cpu".into(),
            "--collector.loadavg".into(),
            "--collector.meminfo".into(),
            "--collector.filesystem".into(),
        ],
        &dir.path().join("node_exporter.log"),
    );
    let config = dir.path().join("prometheus.yml");
    // mon takes lower-case names only: the README's relabelling.
    let yaml = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['localhost:{node_port}']
remote_write:
  - url: http://{addr}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
    write_relabel_configs:
      - source_labels: [__name__]
        target_label: __name__
        action: lowercase
"#
    );
    std::fs::write(&config, yaml).unwrap();
    let prom_port = free_port();
    let prom_log = dir.path().join("prometheus.log");
    let _prom = start(
        "prometheus",
        &prometheus,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &prom_log,
    );

    // The node's host is `localhost`: the instance label without its port.
    let labels = format!("instance=localhost:{node_port},job=node");
    let stored = eventually(Duration::from_secs(60), || {
        !series_points(&addr, "localhost", "node_load1", &labels).is_empty()
    });
    assert!(
        stored,
        "node_load1 of host localhost in /api/series; prometheus log:\n{}\nmon:\n{}",
        std::fs::read_to_string(&prom_log).unwrap_or_default(),
        mon_serve.stderr_text()
    );
    let memory = eventually(Duration::from_secs(10), || {
        !series_points(&addr, "localhost", "node_memory_memtotal_bytes", &labels).is_empty()
    });
    assert!(
        memory,
        "node_exporter's MemTotal, lower-cased by the relabelling"
    );
    let up = series_points(&addr, "localhost", "up", &labels);
    assert_eq!(
        up.last().map(|p| p["value"].as_f64()),
        Some(Some(1.0)),
        "Prometheus' own up series arrives too: {up:?}"
    );

    // A new WebSocket client's snapshot has the host and its live values.
    let snapshot = ws_snapshot(&addr);
    let host = snapshot["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "localhost")
        .unwrap_or_else(|| panic!("host localhost on /ws: {snapshot}"));
    let names: Vec<&str> = host["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for want in ["node_load1", "node_cpu_seconds_total", "up"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let load = host["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "node_load1")
        .unwrap();
    assert_eq!(load["labels"]["job"], "node", "{load}");
    assert_eq!(
        load["labels"]["instance"],
        format!("localhost:{node_port}"),
        "{load}"
    );

    mon_serve.signal("TERM");
    assert_eq!(mon_serve.wait(Duration::from_secs(15)).code(), Some(0));
}

#[test]
fn remote_write_answers_bad_bodies_per_spec_and_stores_the_good_series_of_a_mixed_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mut mon_serve, addr) = serve(
        dir.path(),
        &["--token", "secret", "--max-write-bytes", "64KiB"],
    );
    let auth = ("Authorization", "Bearer secret");
    let now = server::time::now_ms();
    let good = || {
        series(
            &[
                ("__name__", "pushed_total"),
                ("instance", "edge-1:9100"),
                ("job", "app"),
            ],
            &[(1.0, now - 2000), (2.0, now - 1000)],
        )
    };

    // The agents' token guards the receiver too.
    let (status, _, body) = write(
        &addr,
        &WriteRequest {
            timeseries: vec![good()],
        },
        &[],
    );
    assert_eq!(status, 401, "{body}");

    // Bodies that cannot be read: 4xx naming what was wrong, never retried.
    let (status, _, body) = http(
        &addr,
        "POST",
        "/api/v1/write",
        &[PROTOBUF, auth],
        b"plain text",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not snappy-compressed"), "{body}");
    // A valid snappy block around bytes that are no protobuf message.
    let not_protobuf = snap_compress(&[0xffu8; 64]);
    let (status, _, body) = http(
        &addr,
        "POST",
        "/api/v1/write",
        &[PROTOBUF, auth],
        &not_protobuf,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("not a remote-write 1.0 WriteRequest"),
        "{body}"
    );
    let huge = snap_compress(&vec![0u8; 200 * 1024]);
    let (status, _, body) = http(&addr, "POST", "/api/v1/write", &[PROTOBUF, auth], &huge);
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("--max-write-bytes") && body.contains("204800"),
        "{body}"
    );
    let (status, _, body) = http(
        &addr,
        "POST",
        "/api/v1/write",
        &[
            (
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            ),
            auth,
        ],
        &encode(&WriteRequest::default()),
    );
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("remote-write 1.0"), "{body}");

    // A request mixing good and bad series: the good ones are stored, the
    // answer is 400 (do not retry) naming each refused sample and why.
    let mixed = WriteRequest {
        timeseries: vec![
            good(),
            series(
                &[("__name__", "Bad-Name"), ("instance", "edge-1:9100")],
                &[(1.0, now)],
            ),
            series(
                &[("__name__", "temperature"), ("instance", "edge-1:9100")],
                &[(f64::NAN, now)],
            ),
            // The staleness marker: the series ended, nothing to refuse.
            series(
                &[("__name__", "ended_gauge"), ("instance", "edge-1:9100")],
                &[(3.0, now - 1000), (f64::from_bits(STALE_NAN_BITS), now)],
            ),
            series(&[("__name__", "orphan")], &[(1.0, now)]),
            series(
                &[("__name__", "ancient"), ("instance", "edge-1:9100")],
                &[(1.0, now - 48 * 3600 * 1000)],
            ),
            series(
                &[
                    ("__name__", "hosted"),
                    ("host", "db-7"),
                    ("instance", "10.0.0.7:9100"),
                ],
                &[(7.0, now)],
            ),
        ],
    };
    let (status, _, body) = write(&addr, &mixed, &[auth]);
    assert_eq!(status, 400, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["stored"], 4, "{answer}");
    assert_eq!(answer["refused"], 4, "{answer}");
    let reasons: Vec<String> = answer["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["series"], p["reason"]))
        .collect();
    let all = reasons.join("\n");
    assert!(
        all.contains("Bad-Name") && all.contains("[a-z_][a-z0-9_]*"),
        "{all}"
    );
    assert!(
        all.contains("temperature") && all.contains("not a finite number"),
        "{all}"
    );
    assert!(
        all.contains("orphan") && all.contains("neither a host nor an instance"),
        "{all}"
    );
    assert!(all.contains("older than"), "{all}");
    assert!(
        !all.contains("ended_gauge"),
        "a staleness marker is not refused: {all}"
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("4 samples were refused"),
        "{answer}"
    );

    let token = "token=secret";
    let pushed = |host: &str, metric: &str, labels: &str| {
        series_points(&addr, host, metric, &format!("{labels}&{token}"))
    };
    assert_eq!(
        pushed("edge-1", "pushed_total", "instance=edge-1:9100,job=app").len(),
        2
    );
    assert_eq!(
        pushed("edge-1", "ended_gauge", "instance=edge-1:9100").len(),
        1
    );
    // `host` wins over `instance`, and is not kept as a label.
    assert_eq!(pushed("db-7", "hosted", "instance=10.0.0.7:9100").len(), 1);

    // A retried request (its answer was lost) stores nothing twice: 204.
    let (status, _, body) = write(
        &addr,
        &WriteRequest {
            timeseries: vec![good()],
        },
        &[auth],
    );
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        pushed("edge-1", "pushed_total", "instance=edge-1:9100,job=app").len(),
        2
    );
    // Out of order (older than what is stored, within retention) is kept.
    let late = series(
        &[
            ("__name__", "pushed_total"),
            ("instance", "edge-1:9100"),
            ("job", "app"),
        ],
        &[(0.5, now - 60_000)],
    );
    let (status, _, body) = write(
        &addr,
        &WriteRequest {
            timeseries: vec![late],
        },
        &[auth],
    );
    assert_eq!(status, 204, "{body}");
    let points = pushed("edge-1", "pushed_total", "instance=edge-1:9100,job=app");
    assert_eq!(points.len(), 3, "{points:?}");
    // The same sample twice in one request: the second is refused.
    let twice = WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "twice"), ("instance", "edge-1:1")],
                &[(1.0, now)],
            ),
            series(
                &[("__name__", "twice"), ("instance", "edge-1:1")],
                &[(2.0, now)],
            ),
        ],
    };
    let (status, _, body) = write(&addr, &twice, &[auth]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("appears twice"), "{body}");

    // The pushed host is live on /ws like an agent's.
    let (status, _, body) = http(
        &addr,
        "GET",
        &format!("/api/hosts/edge-1?{token}"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("pushed_total"), "{body}");

    mon_serve.signal("TERM");
    assert_eq!(mon_serve.wait(Duration::from_secs(15)).code(), Some(0));
}

#[test]
fn a_host_over_its_report_rate_gets_429_with_retry_after_and_what_fitted_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    // One report per second, bursts of 120: 150 timestamps are over it.
    let (mut mon_serve, addr) = serve(dir.path(), &["--max-reports-per-second", "1"]);
    let now = server::time::now_ms();
    let samples: Vec<(f64, i64)> = (0..150)
        .map(|i| (i as f64, now - 150_000 + i * 1000))
        .collect();
    let request = WriteRequest {
        timeseries: vec![series(
            &[("__name__", "burst"), ("instance", "busy:1")],
            &samples,
        )],
    };
    let (status, head, body) = write(&addr, &request, &[]);
    assert_eq!(status, 429, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    assert!(
        body.contains("--max-reports-per-second") && body.contains("busy"),
        "{body}"
    );
    let stored = series_points(&addr, "busy", "burst", "instance=busy:1").len();
    assert!(
        (1..150).contains(&stored),
        "what fitted is stored: {stored}"
    );
    mon_serve.signal("TERM");
    assert_eq!(mon_serve.wait(Duration::from_secs(15)).code(), Some(0));
}

fn snap_compress(raw: &[u8]) -> Vec<u8> {
    server::interop::remote_write::compress(raw)
}

#[test]
fn mon_aggregator_takes_remote_write_on_its_http_listen_port_into_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let http_addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = mon();
    cmd.args([
        "aggregator",
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        &http_addr,
        "--data-dir",
    ])
    .arg(dir.path());
    let mut aggregator = Running::spawn(cmd);
    let now = server::time::now_ms();
    let request = WriteRequest {
        timeseries: vec![series(
            &[("__name__", "pushed"), ("instance", "far-1:9100")],
            &[(1.0, now), (2.0, now + 1)],
        )],
    };
    let answered = eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&http_addr).is_ok()
            && write(&http_addr, &request, &[]).0 == 204
    });
    assert!(
        answered,
        "204 from the aggregator; stderr: {}",
        aggregator.stderr_text()
    );
    let db = dir.path().join("mon.db");
    let rows = crate::process::sqlite(
        &db,
        "SELECT host || ' ' || name || ' ' || labels FROM series",
    );
    assert_eq!(rows, r#"far-1 pushed {"instance":"far-1:9100"}"#);
    let (status, _, body) = http(&http_addr, "GET", "/api/v1/write", &[], b"");
    assert_eq!(status, 405, "{body}");
    assert!(body.contains("takes POST"), "{body}");
    let (status, _, body) = http(&http_addr, "GET", "/elsewhere", &[], b"");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("/api/v1/write"), "{body}");
    aggregator.signal("TERM");
    assert_eq!(aggregator.wait(Duration::from_secs(15)).code(), Some(0));
}
