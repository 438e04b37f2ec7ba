//! `--tls-cert`/`--tls-key` and `--ca` as a user runs them: `mon serve`
//! over TLS with its own agent and another `mon agent`, and start-up
//! errors that name the bad file.

use std::path::Path;
use std::time::Duration;

use server::tls::test_pki::write as pki;

use crate::process::{Running, eventually, mon};
use crate::serve::cpu_samples;

/// The address after `prefix` on the first stdout line holding it.
fn printed(serve: &Running, prefix: &str) -> Option<String> {
    let out = serve.stdout_text();
    let start = out.find(prefix)? + prefix.len();
    let rest = &out[start..];
    let end = rest.find(|c: char| c == '/' || c.is_whitespace())?;
    Some(rest[..end].to_owned())
}

#[test]
fn serve_with_a_certificate_prints_https_and_agents_with_the_ca_store_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path());
    let data = dir.path().join("data");
    let mut cmd = mon();
    cmd.args(["serve", "--interval", "1s"])
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--data-dir")
        .arg(&data);
    let mut serve = Running::spawn(cmd);
    assert!(
        eventually(Duration::from_secs(5), || printed(
            &serve,
            "gRPC ingest   https://"
        )
        .is_some()),
        "stdout:\n{}\nstderr:\n{}",
        serve.stdout_text(),
        serve.stderr_text()
    );
    let out = serve.stdout_text();
    assert!(out.contains("dashboard     https://127.0.0.1:"), "{out}");
    assert!(out.contains("WebSocket     wss://127.0.0.1:"), "{out}");
    assert!(!out.contains("http://") && !out.contains("ws://"), "{out}");
    let grpc = printed(&serve, "gRPC ingest   https://").unwrap();
    let port = grpc.rsplit_once(':').unwrap().1;

    // A separate agent trusting the CA, by name.
    let mut agent_cmd = mon();
    agent_cmd
        .args(["agent", "--interval", "500ms", "--host", "tls-agent"])
        .args(["--aggregator", &format!("https://localhost:{port}")])
        .arg("--ca")
        .arg(&ca);
    let mut agent = Running::spawn(agent_cmd);
    let stored = eventually(Duration::from_secs(6), || {
        cpu_samples(&data, "tls-agent") >= 1
    });
    assert!(stored, "agent stderr:\n{}", agent.stderr_text());
    agent.signal("TERM");
    assert!(agent.wait(Duration::from_secs(5)).success());

    // serve's own agent reaches its TLS listener too.
    let own = std::fs::read_dir(&data).is_ok()
        && eventually(Duration::from_secs(4), || {
            crate::process::try_sqlite(
                &data.join("mon.db"),
                "SELECT count(*) FROM hosts WHERE host != 'tls-agent'",
            )
            .is_ok_and(|n| n != "0")
        });
    assert!(own, "serve stderr:\n{}", serve.stderr_text());
    serve.signal("TERM");
    assert!(serve.wait(Duration::from_secs(10)).success());
}

#[test]
fn a_missing_or_unusable_certificate_stops_serve_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = pki(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases: [(&Path, &Path, &Path, &str); 3] = [
        (&missing, &key, &missing, "cannot read"),
        (&garbage, &key, &garbage, "no PEM certificate found in"),
        (&cert, &garbage, &garbage, "no PEM private key found in"),
    ];
    for (c, k, named, want) in cases {
        let out = mon()
            .args([
                "serve",
                "--no-agent",
                "--grpc-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .arg("--tls-cert")
            .arg(c)
            .arg("--tls-key")
            .arg(k)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{want}: {stderr}");
        assert_eq!(stderr.matches(want).count(), 1, "{stderr}");
        assert_eq!(
            stderr.matches("os error").count().min(1),
            stderr.matches("os error").count(),
            "said once: {stderr}"
        );
        assert!(stderr.contains(&named.display().to_string()), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing was started: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // One without the other is refused by the flags themselves.
    let out = mon()
        .args(["gateway", "--tls-cert"])
        .arg(&cert)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--tls-key"),
        "{stderr}"
    );
}
