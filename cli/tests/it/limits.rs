//! The limit flags as a user meets them: `--help` shows each with its
//! default and environment variable, a bad value is a one-line error naming
//! it and what is accepted, and the values reach the running role.

use std::io::{Read, Write};
use std::time::Duration;

use server::proto::ingest_client::IngestClient;
use server::proto::{AgentMessage, Hello, Report, Sample, agent_message::Kind};

use crate::process::{Running, eventually, free_port, mon};

fn help(args: &[&str]) -> String {
    let out = mon().args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_shows_every_limit_with_its_default_and_environment_variable() {
    let ingest = [
        (
            "--max-message-bytes <BYTES>",
            "[default: 4MiB]",
            "MON_MAX_MESSAGE_BYTES",
        ),
        (
            "--max-reports-per-second <N>",
            "[default: 20]",
            "MON_MAX_REPORTS_PER_SECOND",
        ),
        (
            "--max-series-per-host <N>",
            "[default: 10000]",
            "MON_MAX_SERIES_PER_HOST",
        ),
    ];
    let http = [
        (
            "--max-ws-clients <N>",
            "[default: 10000]",
            "MON_MAX_WS_CLIENTS",
        ),
        (
            "--max-ws-frame-bytes <BYTES>",
            "[default: 64KiB]",
            "MON_MAX_WS_FRAME_BYTES",
        ),
        (
            "--max-body-bytes <BYTES>",
            "[default: 1MiB]",
            "MON_MAX_BODY_BYTES",
        ),
        (
            "--request-timeout <DURATION>",
            "[default: 30s]",
            "MON_REQUEST_TIMEOUT",
        ),
    ];
    let roles: [(&[&str], &[_]); 4] = [
        (&["aggregator"], &ingest),
        (&["gateway"], &http),
        (&["edge"], &http),
        (&["serve"], &[ingest.as_slice(), http.as_slice()].concat()),
    ];
    for (role, flags) in roles {
        // Help text wraps, so compare with the whitespace squeezed.
        let text = help(role).split_whitespace().collect::<Vec<_>>().join(" ");
        for (flag, default, env) in flags {
            let at = text
                .find(flag)
                .unwrap_or_else(|| panic!("{role:?}: {flag} missing from {text}"));
            let entry = &text[at..text.len().min(at + 400)];
            assert!(
                entry.contains(default) && entry.contains(env),
                "{role:?}: {flag} lacks {default} or {env}: {entry}"
            );
        }
    }
    assert!(help(&["aggregator"]).contains("0 = unlimited"));
}

#[test]
fn a_bad_limit_is_a_one_line_error_naming_the_value_and_what_is_accepted() {
    let cases: [(&[&str], &str); 8] = [
        (
            &["aggregator", "--max-reports-per-second=-1"],
            "\"-1\" is not accepted; give a whole number of reports per second, 0 for unlimited",
        ),
        (
            &["serve", "--max-message-bytes", "0"],
            "0 is out of range; a size from 1024 to 268435456 bytes is accepted",
        ),
        (
            &["aggregator", "--max-message-bytes", "huge"],
            "\"huge\" is not a size",
        ),
        (
            &["gateway", "--max-ws-clients", "0"],
            "0 is not accepted; give a number of at least 1",
        ),
        (
            &[
                "edge",
                "--upstream",
                "ws://127.0.0.1:1/ws",
                "--max-ws-frame-bytes",
                "10",
            ],
            "10 is out of range; a size from 1024 to 67108864 bytes is accepted",
        ),
        (
            &["gateway", "--max-body-bytes=-5"],
            "\"-5\" is not a size; a size from 1 to 1073741824 bytes is accepted",
        ),
        (
            &["serve", "--request-timeout", "0s"],
            "0s is out of range; a timeout from 1s to 1h is accepted",
        ),
        (
            &["gateway", "--request-timeout", "soon"],
            "expected a duration such as 30s or 2m",
        ),
    ];
    for (args, expect) in cases {
        let out = mon().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let text = String::from_utf8(out.stderr).unwrap();
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(expect),
            "{args:?}: {text}"
        );
    }
    // The environment variables are checked the same way.
    let out = mon()
        .arg("gateway")
        .env("MON_MAX_WS_CLIENTS", "many")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("\"many\" is not a whole number"), "{text}");
}

/// Raw HTTP/1.1 over TCP with a declared body: (status, body).
fn request_with_body(addr: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let _ = stream.write_all(body);
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_body_limit_flag_reaches_a_running_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = mon();
    cmd.args([
        "gateway",
        "--listen",
        &addr,
        "--max-body-bytes",
        "10",
        "--data-dir",
    ])
    .arg(dir.path());
    let mut gateway = Running::spawn(cmd);
    assert!(
        eventually(Duration::from_secs(10), || gateway
            .stderr_text()
            .contains("gateway listening")),
        "{}",
        gateway.stderr_text()
    );
    assert_eq!(request_with_body(&addr, "/healthz", b"0123456789").0, 200);
    let (status, body) = request_with_body(&addr, "/healthz", b"0123456789!");
    assert_eq!(status, 413);
    assert!(
        body.contains(
            "a request body of 11 bytes is over this server's limit of 10 bytes (--max-body-bytes)"
        ),
        "{body}"
    );
    gateway.signal("TERM");
    assert_eq!(gateway.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn the_report_rate_flag_reaches_a_running_aggregator_with_two_minutes_of_burst() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = mon();
    cmd.args([
        "aggregator",
        "--listen",
        &addr,
        "--max-reports-per-second",
        "1",
        "--data-dir",
    ])
    .arg(dir.path());
    let mut aggregator = Running::spawn(cmd);
    assert!(
        eventually(Duration::from_secs(10), || aggregator
            .stderr_text()
            .contains("aggregator listening")),
        "{}",
        aggregator.stderr_text()
    );
    // 1 report/s with a burst of 120: a client sending 140 at once gets
    // about 120 acks (a second's refill may add one), then the refusal.
    let (acked, status) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut client = IngestClient::new(channel);
            let (tx, rx) = tokio::sync::mpsc::channel(200);
            tx.send(AgentMessage {
                kind: Some(Kind::Hello(Hello {
                    host: "busy-1".into(),
                    agent_version: "test".into(),
                    ..Hello::default()
                })),
            })
            .await
            .unwrap();
            let now = server::time::now_ms();
            for seq in 1..=140u64 {
                let report = Report {
                    host: "busy-1".into(),
                    seq,
                    timestamp_ms: now - 140 + seq as i64,
                    samples: vec![Sample {
                        name: "load1".into(),
                        labels: vec![],
                        value: 1.0,
                    }],
                    ..Default::default()
                };
                tx.send(AgentMessage {
                    kind: Some(Kind::Report(report)),
                })
                .await
                .unwrap();
            }
            let mut acks = client
                .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .unwrap()
                .into_inner();
            let mut acked = 0;
            let status = loop {
                match tokio::time::timeout(Duration::from_secs(10), acks.message())
                    .await
                    .expect("an answer within 10s")
                {
                    Ok(Some(_)) => acked += 1,
                    Ok(None) => panic!("the stream ended without a refusal after {acked} acks"),
                    Err(status) => break status,
                }
            };
            drop(tx);
            (acked, status)
        });
    assert!(
        (120..=123).contains(&acked),
        "{acked} acks before the refusal"
    );
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(
        status.message().contains("host busy-1 is over the limit of 1 reports per second (--max-reports-per-second on the aggregator)"),
        "{status:?}"
    );
    aggregator.signal("TERM");
    assert_eq!(aggregator.wait(Duration::from_secs(10)).code(), Some(0));
    let logs = aggregator.stderr_text();
    assert!(logs.contains("host over its report rate"), "{logs}");
}
