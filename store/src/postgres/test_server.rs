//! A private PostgreSQL cluster for tests (behind the `test-postgres`
//! feature): `initdb` in a temp dir, `postgres` on a free loopback port, as
//! the unprivileged `postgres` user when the tests run as root (PostgreSQL
//! refuses root). Tests never touch a server that happens to run on the
//! machine.
//!
//! The server runs under a small shell that waits on a pipe from this
//! process: when the test process ends, even by SIGKILL, the pipe closes
//! and the shell stops PostgreSQL, so no cluster outlives its tests.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::PgUrl;

pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
    child: Option<Child>,
}

/// Where the PostgreSQL binaries are: `MON_TEST_PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin` (Debian's layout), or the `PATH`.
fn find_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MON_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").exists() && d.join("postgres").exists())
    })
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgServer {
    /// One cluster shared by every test of this process (each test makes
    /// its own database with [`PgServer::database`]). `None`, after printing
    /// why, where no PostgreSQL binaries exist; a cluster that exists but
    /// will not start panics.
    pub fn shared() -> Option<&'static PgServer> {
        static SHARED: OnceLock<Option<PgServer>> = OnceLock::new();
        SHARED.get_or_init(PgServer::start).as_ref()
    }

    /// A cluster of its own, for tests that stop and restart it.
    pub fn start() -> Option<Self> {
        let Some(bin) = find_bin() else {
            eprintln!(
                "SKIP: no PostgreSQL binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH; install the postgresql package (.ci/run does) or set MON_TEST_PG_BIN"
            );
            return None;
        };
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("mon-pg-")
            .tempdir()
            .expect("a temp dir for the cluster");
        if as_postgres {
            // The cluster's directory belongs to the user that runs it.
            run(
                Command::new("chown").arg("postgres:").arg(dir.path()),
                "chown",
            );
        }
        let mut server = Self {
            port: 0,
            bin,
            dir,
            as_postgres,
            child: None,
        };
        server.command("initdb", |c| {
            c.arg("-D").arg(server.data()).args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]);
        });
        let mut failures = Vec::new();
        for _ in 0..3 {
            server.port = free_port();
            match server.try_start() {
                Ok(()) => return Some(server),
                Err(e) => failures.push(e),
            }
        }
        panic!("cannot start PostgreSQL: {failures:?}");
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str, args: impl FnOnce(&mut Command)) {
        let mut cmd = self.wrap(program);
        args(&mut cmd);
        run(&mut cmd, program);
    }

    /// `program` from the cluster's bin dir, as the `postgres` user if need be.
    fn wrap(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn try_start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "PostgreSQL is already running");
        let log = self.dir.path().join("postgres.log");
        // The shell stops the server when its stdin (our pipe) closes.
        let script = r#"
            "$@" >>"$LOG" 2>&1 &
            pid=$!
            trap 'kill -INT $pid 2>/dev/null; wait $pid' EXIT
            read _ignored || true
        "#;
        let server = self.bin.join("postgres");
        let mut shell = if self.as_postgres {
            // The shell itself runs as postgres, so its kill reaches the server.
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh"]);
            c
        } else {
            Command::new("sh")
        };
        shell
            .env("LOG", &log)
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(server);
        shell
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()])
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
            ])
            // Tests want speed, not durability across a power cut.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = shell
            .spawn()
            .map_err(|e| format!("cannot run the PostgreSQL server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!(
                    "postgres exited with {status} on port {}: {}",
                    self.port,
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() && self.admin().is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        Err(format!(
            "postgres did not answer on port {} within 30s: {}",
            self.port,
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    fn admin(&self) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            postgres::NoTls,
        )
    }

    /// A new, empty database on this cluster, as a store URL.
    pub fn database(&self) -> PgUrl {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mon_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = self.admin().expect("the test cluster answers");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("creating a test database");
        PgUrl::parse(&self.url(&name)).expect("a valid URL")
    }

    /// The URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs one query on `url`'s database and returns the first column of
    /// the first row as text (`NULL` as an empty string): for tests that
    /// check what is stored.
    pub fn scalar(&self, url: &PgUrl, sql: &str) -> String {
        let mut client = url
            .config
            .connect(postgres::NoTls)
            .expect("the test database answers");
        let row = client.query_one(&format!("SELECT ({sql})::text"), &[]);
        row.expect("the test query runs")
            .get::<_, Option<String>>(0)
            .unwrap_or_default()
    }

    /// Stops the server (a fast shutdown), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data after [`stop`](Self::stop).
    pub fn restart(&mut self) {
        if let Err(e) = self.try_start() {
            panic!("cannot restart PostgreSQL: {e}");
        }
    }

    /// The directory holding the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if !out.status.success() {
        let _ = std::io::stderr().write_all(&out.stderr);
        panic!(
            "{what} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
