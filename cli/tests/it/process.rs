//! Running `mon` child processes and reading their SQLite file.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `mon` command with a clean environment. Each gets its own platform
/// data dir (`XDG_DATA_HOME`), so commands run without `--data-dir` (an
/// agent keeping its spool, say) never share state across tests or with
/// the user's own `~/.local/share/mon`.
pub fn mon() -> Command {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mon"));
    cmd.env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("MON_") {
            cmd.env_remove(key);
        }
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data_home = std::env::temp_dir().join(format!("mon-test-{}-{n}", std::process::id()));
    cmd.env("XDG_DATA_HOME", data_home);
    cmd
}

/// A running `mon` whose stderr is collected line by line.
pub struct Running {
    pub child: Child,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub stdout: Arc<Mutex<Vec<String>>>,
    /// How many of the two pipes' reader threads have read to the end.
    ended: Arc<AtomicUsize>,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mon starts");
        let ended = Arc::new(AtomicUsize::new(0));
        let stderr = collect(child.stderr.take().unwrap(), &ended);
        let stdout = collect(child.stdout.take().unwrap(), &ended);
        Self {
            child,
            stderr,
            stdout,
            ended,
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for exit, failing the test after `limit`.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last lines, up to the
                // pipes' end (a child of mon's may hold them open longer).
                let read = Instant::now() + Duration::from_secs(5);
                while self.ended.load(Ordering::SeqCst) < 2 && Instant::now() < read {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "mon did not exit within {limit:?}; stderr: {:?}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    pipe: impl std::io::Read + Send + 'static,
    ended: &Arc<AtomicUsize>,
) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let ended = ended.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
        ended.fetch_add(1, Ordering::SeqCst);
    });
    lines
}

/// Runs a query with the `sqlite3` shell, as a user would.
pub fn sqlite(db: &Path, sql: &str) -> String {
    try_sqlite(db, sql).unwrap_or_else(|e| panic!("sqlite3 failed: {e}"))
}

/// [`sqlite`] for polling: a database still being created (no tables yet)
/// is an `Err`, not a failed test. The shell waits up to 5 s for a lock, as
/// the server's own connections do.
pub fn try_sqlite(db: &Path, sql: &str) -> Result<String, String> {
    let out = Command::new("sqlite3")
        .args(["-cmd", ".timeout 5000"])
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 shell is installed (.ci/run installs it)");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// A plain HTTP/1.1 GET to a `http://host:port/path` URL: (status, body).
pub fn http_get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Stops the agent and returns how many reports it produced, after checking
/// that it kept every one until acknowledged.
pub fn stop_agent(agent: &mut Running) -> u64 {
    agent.signal("TERM");
    assert_eq!(agent.wait(Duration::from_secs(10)).code(), Some(0));
    let summary = agent
        .stderr
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "agent stopped")
        .expect("the agent logs a summary when it stops");
    assert_eq!(summary["unacknowledged"], 0, "{summary}");
    assert_eq!(summary["dropped"], 0, "{summary}");
    summary["produced"].as_u64().unwrap()
}
