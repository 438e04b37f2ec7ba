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

/// `mon alerts silence` against a running `mon serve`, as `amtool` is used
/// against Alertmanager.
#[test]
fn silence_add_list_and_expire_through_a_running_serve() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: t\n    rules:\n      - alert: Up\n        expr: uptime_seconds > 0\n",
    )
    .unwrap();
    let port = crate::process::free_port();
    let mut cmd = mon();
    cmd.args([
        "serve",
        "--interval",
        "500ms",
        "--grpc-listen",
        "127.0.0.1:0",
    ])
    .arg("--http-listen")
    .arg(format!("127.0.0.1:{port}"))
    .arg("--rules")
    .arg(&rules)
    .arg("--data-dir")
    .arg(dir.path());
    let mut serve = Running::spawn(cmd);
    let url = format!("http://127.0.0.1:{port}");
    let alerts = || crate::process::http_get(&format!("{url}/api/alerts")).1;
    assert!(
        eventually(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "serve listens; stderr:\n{}",
        serve.stderr_text()
    );
    assert!(
        eventually(Duration::from_secs(10), || alerts().contains("\"Up\"")),
        "the Up alert fires; stderr:\n{}",
        serve.stderr_text()
    );
    let silence = |args: &[&str]| {
        let out = mon()
            .args(["alerts", "silence"])
            .args(args)
            .args(["--url", &url])
            .env_remove("MON_URL")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };

    // A label no alert of these rules carries: refused, naming it and the ones they do.
    let (code, _, stderr) = silence(&["add", "--match", "alrtname=Up", "--for", "1h"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("\"alrtname\"")
            && stderr.contains("alerts carry alertname, host, severity"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let (code, id, stderr) = silence(&[
        "add",
        "--match",
        "alertname=Up",
        "--for",
        "2h",
        "--comment",
        "maintenance",
        "--author",
        "ops",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "the id alone on stdout: {id}");
    let (_, list, _) = silence(&["list"]);
    let row = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{list}"));
    for shown in ["active", "alertname=\"Up\"", "ops", "maintenance", "1h 59m"] {
        assert!(row.contains(shown), "{shown} in {row}");
    }
    // The engine marks the firing alert silenced within a tick or so.
    assert!(
        eventually(Duration::from_secs(5), || alerts()
            .contains("\"silenced\":true")),
        "{}",
        alerts()
    );

    let (code, out, stderr) = silence(&["expire", &id]);
    assert_eq!(
        (code, out.trim()),
        (Some(0), format!("expired {id}").as_str()),
        "{stderr}"
    );
    let (_, list, _) = silence(&["list"]);
    assert_eq!(list, "no silences\n");
    let (_, list, _) = silence(&["list", "--expired"]);
    assert!(list.contains(&id) && list.contains("expired"), "{list}");
    let (code, _, stderr) = silence(&["expire", &id]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("already expired"), "{stderr}");
    assert!(
        eventually(Duration::from_secs(5), || alerts()
            .contains("\"silenced\":false")),
        "{}",
        alerts()
    );
    serve.signal("TERM");
    assert_eq!(serve.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn silence_refuses_bad_matchers_and_durations_before_sending_anything() {
    // No server: these must fail on the flags alone, naming the value.
    for (args, says) in [
        (
            &["--match", "host:web-1"][..],
            "matcher \"host:web-1\" has no operator",
        ),
        (
            &["--match", "host=web-1", "--for", "-1h"],
            "duration \"-1h\" is not accepted: give a length from 1m to 365d",
        ),
        (
            &["--match", "host=web-1", "--for", "1000d"],
            "duration \"1000d\" is not accepted",
        ),
        (&["--match", "alertname=~Disk("], "bad regular expression"),
    ] {
        let out = mon()
            .args(["alerts", "silence", "add"])
            .args(args)
            .args(["--url", "http://127.0.0.1:9"])
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = mon()
        .args(["alerts", "silence", "list", "--url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("cannot reach http://127.0.0.1:9/api/silences") && stderr.contains("--url"),
        "{stderr}"
    );
}
