//! The agent's process and cgroup tables, read from this machine's `/proc`
//! and `/sys/fs/cgroup` with processes the tests start, from a Docker
//! host's cgroup tree kept as fixtures, and carried by a real agent's
//! reports at the cadence a viewer asks for.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use server::activity::{COMMAND_CHARS, CgroupKind, CgroupTable, NAME_CHARS, ProcessTable};
use server::agent::{self, AgentConfig, CgroupReader, ProcessReader, TOP_ROWS};
use server::proto::{self, Ack, AgentMessage, agent_message::Kind, ingest_server};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// Kills the process when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `/bin/sh` copied under `name`, so the process it runs is called that.
fn shell_named(dir: &Path, name: &std::ffi::OsStr) -> Option<PathBuf> {
    let sh = Path::new("/bin/sh");
    if !sh.exists() {
        return None;
    }
    let copy = dir.join(name);
    std::fs::copy(sh, &copy).ok()?;
    Some(copy)
}

fn is_clean(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

fn assert_showable(t: &ProcessTable) {
    assert!(t.total as usize >= t.processes.len());
    for p in &t.processes {
        for x in [
            p.cpu_percent,
            p.read_bytes_per_second,
            p.write_bytes_per_second,
        ] {
            assert!(x.is_finite() && x >= 0.0, "{p:?}");
        }
        assert!(
            is_clean(&p.name) && is_clean(&p.command) && is_clean(&p.user),
            "{p:?}"
        );
    }
}

#[test]
fn a_busy_process_tops_the_table_by_cpu_after_two_reads() {
    if !Path::new("/proc/self/stat").exists() {
        println!("SKIP: no /proc on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(sh) = shell_named(dir.path(), "mon-spin-test".as_ref()) else {
        println!("SKIP: no /bin/sh to run a busy loop with");
        return;
    };
    let spin = Reaped(
        Command::new(&sh)
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap(),
    );
    let pid = spin.0.id();
    let mut reader = ProcessReader::new(TOP_ROWS).unwrap();
    assert!(reader.read().is_none(), "the first read is a baseline");
    let before = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_millis(1500));
    let table = reader.read().expect("a table from the second read");
    // What the kernel says the loop had meanwhile: on a loaded machine (the
    // suite runs tests side by side) a busy loop gets less than a core.
    let kernel = (cpu_seconds(pid) - before.0) / before.1.elapsed().as_secs_f64() * 100.0;
    assert_showable(&table);
    let row = table
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in the table: {table:#?}"));
    assert_eq!(row.name, "mon-spin-test");
    assert!(row.command.contains("while :; do :; done"), "{row:?}");
    assert!(
        row.cpu_percent > 10.0 && (row.cpu_percent - kernel).abs() < 20.0,
        "a busy loop at {}% where the kernel counted {kernel:.1}%",
        row.cpu_percent
    );
    // The owner as `id` names it.
    if let Ok(out) = Command::new("id").arg("-un").output() {
        assert_eq!(
            row.user,
            String::from_utf8_lossy(&out.stdout).trim(),
            "{row:?}"
        );
    }
    // Ranked by CPU: nothing outside the table is busier than a process in it.
    let mut by_cpu: Vec<f64> = table.processes.iter().map(|p| p.cpu_percent).collect();
    by_cpu.sort_by(|a, b| b.total_cmp(a));
    assert!(
        by_cpu.iter().take(TOP_ROWS).any(|&c| c == row.cpu_percent),
        "{table:#?}"
    );
    assert!(table.processes.len() <= 2 * TOP_ROWS);
    assert!(table.total as usize > table.processes.len().min(2));
}

#[cfg(unix)]
#[test]
fn escape_sequences_invalid_utf8_and_a_100_kb_command_line_come_out_clean_and_cut() {
    use std::os::unix::ffi::OsStrExt;
    if !Path::new("/proc/self/stat").exists() {
        println!("SKIP: no /proc on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(sh) = shell_named(dir.path(), "mon\u{1b}[31mevil".as_ref()) else {
        println!("SKIP: no /bin/sh to start a process with");
        return;
    };
    let huge = format!("\u{1b}]0;pwned\u{7}{}", "y".repeat(100_000));
    // `read` waits on the pipe until the test ends.
    let idle = Reaped(
        Command::new(&sh)
            .args(["-c", "read line"])
            .arg(std::ffi::OsStr::from_bytes(b"bad\xff\xfeutf8"))
            .arg(&huge)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = idle.0.id();
    // Every process listed, so an idle one is found.
    let mut reader = ProcessReader::new(100_000).unwrap();
    let _ = reader.read();
    std::thread::sleep(Duration::from_millis(200));
    let table = reader.read().unwrap();
    assert_showable(&table);
    let row = table
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} not among {} processes", table.processes.len()));
    assert_eq!(
        row.name, "mon [31mevil",
        "the escape character became a space"
    );
    assert!(row.name.chars().count() <= NAME_CHARS);
    assert_eq!(
        row.command.chars().count(),
        COMMAND_CHARS,
        "{:?}",
        row.command
    );
    assert!(row.command.ends_with('…'), "a cut command line says so");
    assert!(row.command.contains(" ]0;pwned yyy"), "{:?}", row.command);
    assert!(
        row.command.contains("bad\u{fffd}\u{fffd}utf8"),
        "{:?}",
        row.command
    );
    assert!(is_clean(&row.command), "{:?}", row.command);
    drop(idle);
}

#[test]
fn this_machines_cgroups_read_without_negative_or_nan_figures() {
    let root = Path::new(agent::CGROUP_ROOT);
    let mut reader = CgroupReader::new(root, TOP_ROWS);
    if !root.join("cgroup.controllers").is_file() {
        let table = reader.read().expect("a table that says why at once");
        let why = table.unavailable.as_deref().unwrap_or("");
        assert!(why.contains(agent::CGROUP_ROOT), "{why:?}");
        assert_eq!((table.total, table.cgroups.len()), (0, 0));
        println!(
            "SKIP: {} is not a cgroup v2 hierarchy ({why}); checked that the table says so",
            root.display()
        );
        return;
    }
    assert!(reader.read().is_none(), "the first read is a baseline");
    std::thread::sleep(Duration::from_millis(500));
    let table = reader.read().unwrap();
    assert_eq!(table.unavailable, None);
    if table.total == 0 {
        println!(
            "SKIP: no services, containers or user slices below {} (a container's own cgroup?)",
            root.display()
        );
        return;
    }
    assert!(!table.cgroups.is_empty());
    for c in &table.cgroups {
        for x in [
            c.cpu_percent,
            c.read_bytes_per_second,
            c.write_bytes_per_second,
        ] {
            assert!(x.is_finite() && x >= 0.0, "{c:?}");
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Adds to the counters of the cgroup at `dir`, as the kernel would.
fn advance(dir: &Path, usec: u64, read: u64, written: u64) {
    let cpu = std::fs::read_to_string(dir.join("cpu.stat")).unwrap();
    let cpu: String = cpu
        .lines()
        .map(|l| match l.strip_prefix("usage_usec ") {
            Some(n) => format!("usage_usec {}\n", n.parse::<u64>().unwrap() + usec),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(dir.join("cpu.stat"), cpu).unwrap();
    let io = std::fs::read_to_string(dir.join("io.stat")).unwrap();
    let io: String = io
        .split_whitespace()
        .map(|f| match f.split_once('=') {
            Some(("rbytes", n)) => format!("rbytes={}", n.parse::<u64>().unwrap() + read),
            Some(("wbytes", n)) => format!("wbytes={}", n.parse::<u64>().unwrap() + written),
            _ => f.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(dir.join("io.stat"), io + "\n").unwrap();
}

const CONTAINER: &str = "3f4e8a9b2c1d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
const ROOTLESS: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

#[test]
fn a_docker_hosts_container_gets_its_cpu_and_io_rates_from_two_reads() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup-docker");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture, dir.path());
    let mut reader = CgroupReader::new(dir.path(), TOP_ROWS);
    let t0 = Instant::now();
    assert!(reader.read_at(t0).is_none(), "the first read is a baseline");

    // Two seconds: the container used 1.5 s of CPU (75 % of one core),
    // read 2 MiB and wrote 4 MiB; docker.service used 0.1 s.
    let container = dir
        .path()
        .join(format!("system.slice/docker-{CONTAINER}.scope"));
    advance(&container, 1_500_000, 2 << 20, 4 << 20);
    advance(
        &dir.path().join("system.slice/docker.service"),
        100_000,
        0,
        0,
    );
    let table = reader.read_at(t0 + Duration::from_secs(2)).unwrap();

    assert_eq!(table.unavailable, None);
    // Four services, two containers and a user; not init.scope, not
    // podman's monitor, not the user's own manager.
    assert_eq!(table.total, 7, "{table:#?}");
    let row = |path: &str| {
        table
            .cgroups
            .iter()
            .find(|c| c.path == path)
            .unwrap_or_else(|| panic!("no {path} in {table:#?}"))
    };
    let c = row(&format!("system.slice/docker-{CONTAINER}.scope"));
    assert_eq!(
        (c.kind, c.name.as_str()),
        (CgroupKind::Container, "3f4e8a9b2c1d")
    );
    assert!((c.cpu_percent - 75.0).abs() < 1e-9, "{c:?}");
    assert_eq!(c.read_bytes_per_second, (1 << 20) as f64);
    assert_eq!(c.write_bytes_per_second, (2 << 20) as f64);
    assert_eq!(c.memory_bytes, 268_435_456);
    assert_eq!(c.memory_peak_bytes, Some(314_572_800));
    assert_eq!(c.pids, 12);

    let docker = row("system.slice/docker.service");
    assert_eq!(
        (docker.kind, docker.name.as_str()),
        (CgroupKind::Service, "docker.service")
    );
    assert!((docker.cpu_percent - 5.0).abs() < 1e-9, "{docker:?}");
    assert_eq!(
        row("system.slice/ssh.service").cpu_percent,
        0.0,
        "no change, no CPU"
    );
    let getty = row("system.slice/system-getty.slice/getty@tty1.service");
    assert_eq!(
        getty.memory_peak_bytes, None,
        "no memory.peak on this kernel"
    );
    let user = row("user.slice/user-1000.slice");
    assert_eq!(
        (user.kind, user.name.as_str()),
        (CgroupKind::User, "user-1000.slice")
    );
    let rootless = row(&format!(
        "user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ROOTLESS}.scope"
    ));
    assert_eq!(
        (rootless.kind, rootless.name.as_str()),
        (CgroupKind::Container, "a1b2c3d4e5f6")
    );

    // A container gone between reads leaves the table; one made again
    // under the same name has counters that started at zero since.
    std::fs::remove_dir_all(&container).unwrap();
    let table = reader.read_at(t0 + Duration::from_secs(4)).unwrap();
    assert_eq!(table.total, 6);
    copy_tree(
        &fixture.join(format!("system.slice/docker-{CONTAINER}.scope")),
        &container,
    );
    std::fs::write(container.join("cpu.stat"), "usage_usec 500000\n").unwrap();
    let table = reader.read_at(t0 + Duration::from_secs(6)).unwrap();
    let again = table
        .cgroups
        .iter()
        .find(|c| c.name == "3f4e8a9b2c1d")
        .unwrap();
    assert!((again.cpu_percent - 25.0).abs() < 1e-9, "{again:?}");
}

#[test]
fn an_empty_dir_is_no_cgroup_hierarchy_and_the_table_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let table = CgroupReader::new(dir.path(), TOP_ROWS).read().unwrap();
    let why = table.unavailable.clone().expect("a reason, not zeros");
    assert!(why.contains(&dir.path().display().to_string()), "{why}");
    assert!(why.contains("cgroup.controllers"), "{why}");
    assert_eq!(
        table,
        CgroupTable {
            unavailable: Some(why),
            ..CgroupTable::default()
        }
    );
}

/// An aggregator that keeps every report and acks it at once, saying
/// `watched` as told.
struct Recorder {
    reports: mpsc::UnboundedSender<proto::Report>,
    watched: bool,
}

type AckStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Ack, Status>> + Send>>;

#[tonic::async_trait]
impl ingest_server::Ingest for Recorder {
    type StreamStream = AckStream;

    async fn stream(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<AckStream>, Status> {
        let mut inbound = request.into_inner();
        let (acks, rx) = mpsc::channel(64);
        let (reports, watched) = (self.reports.clone(), self.watched);
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                let Some(Kind::Report(report)) = message.kind else {
                    continue;
                };
                let ack = Ack {
                    seq: report.seq,
                    protocol: proto::PROTOCOL,
                    watched,
                    ..Ack::default()
                };
                let _ = reports.send(report);
                if acks.send(Ok(ack)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// The reports a real agent sends over `run_for` to an aggregator acking
/// with `watched`, in order.
async fn reports_sent(
    processes_interval: Duration,
    watched: bool,
    run_for: Duration,
) -> Vec<proto::Report> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_server, server_stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ingest_server::IngestServer::new(Recorder {
                reports: tx,
                watched,
            }))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = server_stopped.await;
            }),
    );
    let config = AgentConfig {
        aggregators: vec![format!("http://{addr}")],
        host: Some("activity-host".into()),
        interval: Duration::from_millis(200),
        processes_interval,
        drain_timeout: Duration::from_millis(500),
        ..AgentConfig::default()
    };
    let (stop_agent, agent_stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(agent::run(config, async {
        let _ = agent_stopped.await;
    }));
    tokio::time::sleep(run_for).await;
    stop_agent.send(()).unwrap();
    agent.await.unwrap().unwrap();
    let _ = stop_server.send(());
    let _ = server.await;
    let mut reports = Vec::new();
    while let Ok(r) = rx.try_recv() {
        reports.push(r);
    }
    // A replay after a reconnect would repeat reports: keep each seq once.
    reports.sort_by_key(|r| r.seq);
    reports.dedup_by_key(|r| r.seq);
    reports
}

fn with_tables(reports: &[proto::Report]) -> Vec<u64> {
    reports
        .iter()
        .filter(|r| r.processes.is_some())
        .map(|r| r.seq)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_carry_the_tables_every_processes_interval_while_nobody_watches() {
    let reports = reports_sent(Duration::from_secs(1), false, Duration::from_millis(2600)).await;
    assert!(reports.len() >= 8, "only {} reports", reports.len());
    let seqs = with_tables(&reports);
    assert!(!seqs.contains(&1), "the first read is a baseline: {seqs:?}");
    assert!(seqs.len() >= 2, "tables in reports {seqs:?}");
    // About one report in five (1 s at 200 ms), never two in a row.
    assert!(
        seqs.len() <= reports.len() / 3,
        "tables in reports {seqs:?}"
    );
    assert!(seqs.windows(2).all(|w| w[1] - w[0] >= 3), "{seqs:?}");
    // What a viewer gets: processes, and cgroups or why there are none.
    let report = reports.iter().find(|r| r.processes.is_some()).unwrap();
    let processes = ProcessTable::from(report.processes.clone().unwrap());
    assert!(
        processes.total > 0 && !processes.processes.is_empty(),
        "{processes:?}"
    );
    let cgroups = CgroupTable::from(report.cgroups.clone().expect("cgroups beside processes"));
    assert!(
        cgroups.unavailable.is_some() || cgroups.total > 0,
        "{cgroups:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_carry_the_tables_every_time_while_a_viewer_watches() {
    // A long interval: only the acks' `watched` can make them frequent.
    let reports = reports_sent(Duration::from_secs(60), true, Duration::from_millis(2000)).await;
    assert!(reports.len() >= 6, "only {} reports", reports.len());
    let seqs = with_tables(&reports);
    // The first report is the baseline, the second may be made before the
    // first ack came back; from the third on, every one.
    let late: Vec<u64> = reports.iter().map(|r| r.seq).filter(|&s| s >= 3).collect();
    assert!(
        late.iter().all(|s| seqs.contains(s)),
        "tables in {seqs:?} of {late:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processes_interval_of_zero_sends_no_tables_even_when_watched() {
    let reports = reports_sent(Duration::ZERO, true, Duration::from_millis(1000)).await;
    assert!(reports.len() >= 3);
    assert!(
        reports
            .iter()
            .all(|r| r.processes.is_none() && r.cgroups.is_none())
    );
}

/// The CPU time a process has had, user and system, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let per_second = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    ticks / per_second
}
