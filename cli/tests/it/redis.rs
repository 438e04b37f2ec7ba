//! `mon aggregator --redis` with a real agent, read back the way a user
//! would: `redis-cli PSUBSCRIBE 'metrics.*'` and `redis-cli HGETALL`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{Running, eventually, free_port, mon};
use crate::serve::cpu_samples;

/// A private `redis-server` on a free port with no persistence.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> Self {
        let mut failures = Vec::new();
        // Another process may take the free port first; try a few.
        for _ in 0..3 {
            match Self::try_start() {
                Ok(server) => return server,
                Err(e) => failures.push(e),
            }
        }
        panic!("cannot start redis-server: {failures:?}");
    }

    fn try_start() -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}); install it (.ci/run does) to run these tests"
                )
            });
        let mut server = Self {
            port,
            child,
            _dir: dir,
        };
        let ours = std::fs::canonicalize(server._dir.path()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                return Err(format!("redis-server on port {port} exited: {status}"));
            }
            // Ours, not another server that took the port first: it
            // answers with our data dir.
            let dir = server.cli(&["CONFIG", "GET", "dir"]);
            if dir.lines().nth(1).map(std::path::Path::new) == Some(ours.as_path()) {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "redis-server did not answer on port {port} within 10s"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &self.port.to_string()]).args(args);
        cmd
    }

    /// Runs `redis-cli` and returns its output.
    fn cli(&self, args: &[&str]) -> String {
        let out = self
            .command(args)
            .output()
            .expect("redis-cli is installed (it comes with redis-server)");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn with_redis_each_report_is_one_json_message_and_hgetall_shows_the_latest_values() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cmd = mon();
    cmd.args(["aggregator", "--listen", &listen])
        .args(["--redis", &format!("redis://127.0.0.1:{}", redis.port)])
        .arg("--data-dir")
        .arg(dir.path());
    let mut aggregator = Running::spawn(cmd);
    let subscriber = Running::spawn(redis.command(&["PSUBSCRIBE", "metrics.*"]));
    let messages = || -> Vec<serde_json::Value> {
        subscriber
            .stdout
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.starts_with('{'))
            .map(|line| serde_json::from_str(line).expect("each message is one line of JSON"))
            .collect()
    };
    // The subscription is live once redis-cli has printed its confirmation.
    assert!(eventually(Duration::from_secs(5), || subscriber
        .stdout_text()
        .contains("psubscribe")));

    let mut agent_cmd = mon();
    agent_cmd.args(["agent", "--interval", "200ms", "--host", "Redis-Test"]);
    agent_cmd.args(["--aggregator", &format!("http://{listen}")]);
    let mut agent = Running::spawn(agent_cmd);
    assert!(
        eventually(Duration::from_secs(10), || messages().len() >= 3),
        "JSON messages on metrics.*; aggregator:\n{}\nredis-cli:\n{}",
        aggregator.stderr_text(),
        subscriber.stdout_text()
    );
    agent.signal("TERM");
    assert_eq!(agent.wait(Duration::from_secs(10)).code(), Some(0));

    // Every report carries the CPU usage, so its samples count the reports.
    let reports = cpu_samples(dir.path(), "redis-test") as usize;
    assert!(
        eventually(Duration::from_secs(5), || messages().len() == reports),
        "one message per stored report: {} messages, {reports} reports",
        messages().len()
    );
    let all = messages();
    let seqs: Vec<u64> = all.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in report order: {seqs:?}"
    );
    let last = all.last().unwrap();
    assert_eq!(last["type"], "metrics");
    assert_eq!(last["host"], "redis-test");
    let cpu = last["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "cpu_usage_percent")
        .expect("cpu in every report")["value"]
        .as_f64()
        .unwrap();

    // HGETALL prints field and value on alternate lines.
    let hash = redis.cli(&["HGETALL", "mon:host:redis-test"]);
    let lines: Vec<&str> = hash.lines().collect();
    let field = |name: &str| {
        lines
            .chunks(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].to_owned())
            .unwrap_or_else(|| panic!("{name} missing from HGETALL:\n{hash}"))
    };
    // serde_json's default float parsing may be one ulp off; Redis holds
    // the exact shortest text of the value.
    let stored: f64 = field("cpu_usage_percent").parse().unwrap();
    assert!(
        (stored - cpu).abs() <= 1e-12 * cpu.abs().max(1.0),
        "{stored} vs {cpu}"
    );
    assert_eq!(field("@last_seen_ms"), last["ts"].to_string());
    let meta: serde_json::Value = serde_json::from_str(&field("@meta")).unwrap();
    assert_eq!(meta["agent_version"], env!("CARGO_PKG_VERSION"));
    assert!(hash.contains("memory_used_bytes"), "{hash}");
    assert_eq!(redis.cli(&["ZRANGE", "mon:hosts", "0", "-1"]), "redis-test");

    aggregator.signal("TERM");
    assert_eq!(aggregator.wait(Duration::from_secs(10)).code(), Some(0));
}
