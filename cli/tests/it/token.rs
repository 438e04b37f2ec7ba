//! Tokens and the loopback rule as a user meets them: a role asked to listen
//! beyond loopback without a token refuses to start and says what to pass,
//! `--insecure` waives the rule, and a real agent with the aggregator's token
//! gets its reports stored while one with a wrong token is refused.

use std::time::Duration;

use crate::process::{Running, eventually, free_port, mon};
use crate::serve::cpu_samples;

#[test]
fn every_role_refuses_to_listen_beyond_loopback_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let exposed = format!("0.0.0.0:{port}");
    let local = "127.0.0.1:0";
    let cases: Vec<Vec<&str>> = vec![
        vec!["aggregator", "--listen", &exposed],
        vec!["gateway", "--listen", &exposed],
        vec![
            "edge",
            "--upstream",
            "ws://127.0.0.1:1/ws",
            "--listen",
            &exposed,
        ],
        vec!["serve", "--grpc-listen", &exposed, "--http-listen", local],
        vec!["serve", "--grpc-listen", local, "--http-listen", &exposed],
    ];
    for args in cases {
        let out = mon()
            .args(&args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(
            stderr.contains(&exposed)
                && stderr.contains("--token")
                && stderr.contains("--insecure"),
            "{args:?}: the refusal names the address and the way out: {stderr}"
        );
    }
    assert!(
        !dir.path().join("mon.db").exists(),
        "nothing was started before the refusal"
    );
}

#[test]
fn insecure_waives_the_rule_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = mon();
    cmd.args([
        "aggregator",
        "--listen",
        &format!("0.0.0.0:{}", free_port()),
        "--insecure",
        "--data-dir",
    ])
    .arg(dir.path());
    let mut aggregator = Running::spawn(cmd);
    assert!(
        eventually(Duration::from_secs(10), || aggregator
            .stderr_text()
            .contains("aggregator listening")),
        "the aggregator starts with --insecure; stderr:\n{}",
        aggregator.stderr_text()
    );
    let logs = aggregator.stderr_text();
    assert_eq!(
        logs.matches("without a token (--insecure)").count(),
        1,
        "one warning: {logs}"
    );
    aggregator.signal("TERM");
    assert_eq!(aggregator.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn an_agent_with_the_aggregators_token_is_stored_and_one_with_a_wrong_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = "tok-3f9a1c";
    let mut cmd = mon();
    cmd.args([
        "aggregator",
        "--listen",
        &format!("0.0.0.0:{port}"),
        "--data-dir",
    ])
    .arg(dir.path())
    .env("MON_TOKEN", token);
    let mut aggregator = Running::spawn(cmd);
    let agent = |host: &str, token: &str| {
        let mut cmd = mon();
        cmd.args([
            "agent",
            "--interval",
            "200ms",
            "--host",
            host,
            "--aggregator",
            &format!("http://127.0.0.1:{port}"),
            "--token",
            token,
        ]);
        Running::spawn(cmd)
    };
    let mut trusted = agent("trusted", token);
    let mut refused = agent("refused", "not-the-token");
    assert!(
        eventually(Duration::from_secs(10), || cpu_samples(
            dir.path(),
            "trusted"
        ) >= 2),
        "the agent with the token is stored; agent stderr:\n{}\naggregator stderr:\n{}",
        trusted.stderr_text(),
        aggregator.stderr_text()
    );
    assert!(
        eventually(Duration::from_secs(5), || refused
            .stderr_text()
            .contains("aggregator refused this agent")),
        "the refused agent says so; stderr:\n{}",
        refused.stderr_text()
    );
    // Let it retry a few times: the refusal is logged once, not per attempt.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(cpu_samples(dir.path(), "refused"), 0);
    for running in [&mut trusted, &mut refused] {
        running.signal("TERM");
        running.wait(Duration::from_secs(10));
    }
    let refused_logs = refused.stderr_text();
    assert_eq!(
        refused_logs
            .matches("aggregator refused this agent")
            .count(),
        1,
        "{refused_logs}"
    );
    assert!(refused_logs.contains("--token"), "{refused_logs}");
    for logs in [
        refused_logs,
        trusted.stderr_text(),
        aggregator.stderr_text(),
    ] {
        assert!(
            !logs.contains(token) && !logs.contains("not-the-token"),
            "no token in the logs: {logs}"
        );
    }
    aggregator.signal("TERM");
    assert_eq!(aggregator.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn serve_with_a_token_on_an_exposed_port_stores_its_own_agents_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = mon();
    cmd.args([
        "serve",
        "--interval",
        "200ms",
        "--host",
        "serve-local",
        "--grpc-listen",
        &format!("0.0.0.0:{}", free_port()),
        "--http-listen",
        "127.0.0.1:0",
        "--token",
        "tok-serve",
        "--data-dir",
    ])
    .arg(dir.path());
    let mut serve = Running::spawn(cmd);
    assert!(
        eventually(Duration::from_secs(10), || cpu_samples(
            dir.path(),
            "serve-local"
        ) >= 2),
        "the local agent sends serve's token; stderr:\n{}",
        serve.stderr_text()
    );
    serve.signal("TERM");
    assert_eq!(serve.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn a_blank_token_is_refused_and_does_not_open_a_listener_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let exposed = format!("0.0.0.0:{}", free_port());
    for (args, blank) in [
        (vec!["gateway", "--listen", &exposed, "--token"], " "),
        (vec!["aggregator", "--listen", &exposed, "--token"], "\t "),
        (vec!["agent", "--token"], "  "),
        (vec!["gateway", "--token"], " s3cret"),
    ] {
        let out = mon()
            .args(&args)
            .arg(blank)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {blank:?}: {stderr}");
        assert!(
            stderr.contains("--token") && stderr.contains("is not accepted"),
            "{args:?} {blank:?}: {stderr}"
        );
    }
    let out = mon()
        .args(["gateway", "--listen", &exposed])
        .env("MON_TOKEN", " ")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("blank token"), "{stderr}");
}

/// CPU time (user + system) of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn an_aggregator_out_of_file_descriptors_backs_off_logs_once_and_still_takes_an_agent() {
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        let message = "SKIPPED: this test needs prlimit (util-linux) to lower the descriptor limit";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cmd = std::process::Command::new("prlimit");
    cmd.args(["--nofile=64:64", env!("CARGO_BIN_EXE_mon")])
        .env_remove("RUST_LOG")
        .args(["aggregator", "--listen", &listen, "--data-dir"])
        .arg(dir.path());
    let mut aggregator = Running::spawn(cmd);
    assert!(
        eventually(Duration::from_secs(10), || aggregator
            .stderr_text()
            .contains("aggregator listening")),
        "{}",
        aggregator.stderr_text()
    );
    // More idle sockets than the process has descriptors.
    let flood: Vec<std::net::TcpStream> = (0..150)
        .map(|_| std::net::TcpStream::connect(&listen).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let pid = aggregator.child.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(3));
    let spent = cpu_ticks(pid) - before;
    // A spinning accept loop burns all 300 ticks of 3 s; backing off, a few.
    assert!(
        spent < 60,
        "{spent} CPU ticks in 3 s while out of descriptors"
    );

    eprintln!("aggregator out of descriptors: {spent} CPU ticks in 3 s");
    let mut agent = mon();
    agent.args([
        "--log-format",
        "json",
        "agent",
        "--interval",
        "100ms",
        "--host",
        "fd-starved",
        "--aggregator",
        &format!("http://{listen}"),
    ]);
    let mut agent = Running::spawn(agent);
    assert!(
        eventually(Duration::from_secs(15), || cpu_samples(
            dir.path(),
            "fd-starved"
        ) >= 3),
        "the agent's reports are stored during the flood; aggregator:\n{}\nagent:\n{}",
        aggregator.stderr_text(),
        agent.stderr_text()
    );
    let warned = aggregator
        .stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("cannot accept connections"))
        .count();
    assert_eq!(warned, 1, "logged once:\n{}", aggregator.stderr_text());
    drop(flood);
    crate::process::stop_agent(&mut agent);
    aggregator.signal("TERM");
    assert_eq!(aggregator.wait(Duration::from_secs(10)).code(), Some(0));
}
