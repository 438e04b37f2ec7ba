//! `--help` that teaches, and bad flags that say what is accepted.

use crate::process::mon;

#[test]
fn help_lists_every_role_and_explains_the_flags() {
    let out = mon().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for role in ["agent", "aggregator", "serve", "config"] {
        assert!(text.contains(role), "{role} missing from:\n{text}");
    }
    let out = mon().args(["agent", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("--interval <DURATION>") && text.contains("500ms"),
        "{text}"
    );
    assert!(
        text.contains("--aggregator <URL>") && text.contains("http://127.0.0.1:7070"),
        "{text}"
    );
    assert!(text.contains("comma-separated list"), "{text}");
    let out = mon().args(["alerts", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("--lease-ttl <DURATION>") && text.contains("[default: 10s]"),
        "{text}"
    );
}

#[test]
fn a_bad_flag_value_is_a_one_line_error_with_exit_code_2() {
    let cases: [(&[&str], &str); 10] = [
        (
            &["agent", "--interval", "0s"],
            "an interval from 100ms to 1h is accepted",
        ),
        (
            &["agent", "--interval", "soon"],
            "expected a duration such as 5s",
        ),
        (
            &["aggregator", "--listen", "nowhere"],
            "invalid value 'nowhere'",
        ),
        (
            &["serve", "--max-series-per-host", "0"],
            "give a number of at least 1",
        ),
        (
            &["aggregator", "--redis", "localhost:6379"],
            r#""localhost:6379": a URL starting with redis:// is needed; expected redis://HOST:PORT[/DB]"#,
        ),
        (
            &["agent", "--aggregator", "http://a:7070,http://"],
            r#"invalid aggregator URL "http://": it has no host; expected e.g. http://127.0.0.1:7070 or https://metrics.example:7070"#,
        ),
        (
            &[
                "agent",
                "--aggregator",
                "http://a:7070",
                "--aggregator",
                "a:7070",
            ],
            r#""a:7070": the scheme must be http:// or https://"#,
        ),
        (
            &["alerts", "--lease-ttl", "100ms"],
            "a lease TTL from 1s to 5m is accepted",
        ),
        (
            &["serve", "--remote-write", "victoria:8428/api/v1/write"],
            "invalid value 'victoria:8428/api/v1/write' for '--remote-write <URL>': give http://HOST[:PORT]/PATH",
        ),
        (
            &["serve", "--redis", "http://cache:6379"],
            r#""http://cache:6379": only the redis:// scheme is supported; expected redis://HOST:PORT[/DB]"#,
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
}

#[test]
fn the_default_config_is_printed_and_a_broken_one_is_refused_by_name() {
    let out = mon().args(["config", "default"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("interval = \"5s\"")
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mon.toml");
    std::fs::write(&file, "[agent]\ninterval = \"fast\"\n").unwrap();
    let out = mon()
        .args(["agent", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(
        text.contains("mon.toml") && text.contains("\"fast\""),
        "{text}"
    );
}

#[test]
fn a_retention_shorter_than_the_rollup_lag_is_refused_at_start_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let out = mon()
        .args([
            "aggregator",
            "--listen",
            "127.0.0.1:0",
            "--retention-raw",
            "30s",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(
        text.contains("raw retention 30s") && text.contains("lag of 1m 40s"),
        "{text}"
    );

    let file = dir.path().join("mon.toml");
    std::fs::write(&file, "[retention]\n1m = \"30m\"\n").unwrap();
    let out = mon()
        .args([
            "serve",
            "--no-agent",
            "--grpc-listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("1m retention 30m"), "{text}");
}
