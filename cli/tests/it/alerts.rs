//! `mon alerts check` as a user runs it, and the alerts engine inside
//! `mon serve` notifying a webhook.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::process::{Running, eventually, mon};

#[test]
fn check_reports_three_different_mistakes_with_their_lines_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(
        &file,
        "\
groups:
  - name: host
    rules:
      - alert: HighCpu
        expr: cpu_usage_percnt > 90
        for: 5m
      - alert: HighLoad
        expr: load1 > 4
        for: five minutes
      - alert: Full
        expr: filesystem_used_percent{mount=\"/\"} => 90
",
    )
    .unwrap();
    let out = mon().args(["alerts", "check"]).arg(&file).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let name = file.display().to_string();
    for (line, says, help) in [
        (
            5,
            "unknown metric `cpu_usage_percnt`",
            "did you mean `cpu_usage_percent`?",
        ),
        (9, "not a duration", "5m"),
        (11, "unknown comparison \"=>\"", "did you mean >=?"),
    ] {
        let at = format!("{name}:{line}: error: ");
        let report = stdout
            .lines()
            .position(|l| l.starts_with(&at) && l.contains(says))
            .unwrap_or_else(|| panic!("no `{at}...{says}` in:\n{stdout}"));
        let next = stdout.lines().nth(report + 1).unwrap_or_default();
        assert!(next.contains("help:") && next.contains(help), "{next}");
    }
    assert!(stderr.contains("3 error(s)"), "{stderr}");
}

#[test]
fn check_accepts_the_default_rules_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    let out = mon().args(["alerts", "defaults"]).output().unwrap();
    assert!(out.status.success());
    std::fs::write(&file, out.stdout).unwrap();
    let out = mon().args(["alerts", "check"]).arg(&file).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("valid, 1 group(s), 6 rule(s), 0 warning(s)"),
        "{stdout}"
    );
}

/// A minimal HTTP/1.1 receiver on a thread: records each request body and
/// answers 200.
pub fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

#[test]
fn serve_runs_the_rules_file_and_notifies_the_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: t\n    rules:\n      - alert: Up\n        expr: uptime_seconds > 0\n",
    )
    .unwrap();
    let (url, bodies) = receiver();
    let mut cmd = mon();
    cmd.args([
        "serve",
        "--interval",
        "500ms",
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--webhook",
        &url,
        "--rules",
    ])
    .arg(&rules)
    .arg("--data-dir")
    .arg(dir.path());
    let mut serve = Running::spawn(cmd);
    let fired = eventually(Duration::from_secs(10), || {
        bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains("\"alertname\":\"Up\""))
    });
    assert!(fired, "no webhook call; stderr:\n{}", serve.stderr_text());
    assert!(
        serve.stdout_text().contains("alerts.db"),
        "{}",
        serve.stdout_text()
    );
    serve.signal("TERM");
    assert_eq!(
        serve.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        serve.stderr_text()
    );
}
