//! `mon bench`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use server::bench::Shape;
use server::bench::ingest::{self, Counters, IngestBench};
use server::bench::top::{TopBench, TopScreen};

use super::{parse_positive, runtime};
use crate::shutdown;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Stream a simulated fleet to an aggregator and report samples/s and ack latency
    #[command(
        after_help = "The aggregator must run without its per-host report rate, which simulated hosts exceed:\n  mon aggregator --listen 127.0.0.1:7070 --max-reports-per-second 0 --data-dir /tmp/bench &\n\nExamples:\n  mon bench ingest --hosts 100 --series 50 --duration 10s\n  mon bench ingest --shape tsbs-cpu-only --hosts 4000 --duration 60s\n  mon bench ingest --shape tsbs-cpu-only --hosts 4000 --target http://127.0.0.1:7070,http://127.0.0.1:7080"
    )]
    Ingest(IngestArgs),
    /// Measure delivery latency from a report to WebSocket clients
    #[command(
        after_help = "Example:\n  mon serve --no-agent --max-reports-per-second 0 &\n  mon bench deliver --hosts 1000 --interval 1s --clients 10 --duration 30s"
    )]
    Deliver(DeliverArgs),
    /// Post pre-encoded Prometheus remote-write requests and report samples/s committed
    #[command(
        after_help = "The receiver must run without its per-host report rate:\n  mon serve --no-agent --max-reports-per-second 0 --data-dir /tmp/bench &\n\nExample:\n  mon bench remote-write --target http://127.0.0.1:7071/api/v1/write --hosts 100 --series 100 --duration 15s"
    )]
    RemoteWrite(RemoteWriteArgs),
    /// Measure a real `mon agent` process: CPU % of one core and RSS; then the bytes one of this
    /// host's reports takes on the wire, plain and interned
    #[command(
        after_help = "Examples:\n  mon bench agent --interval 5s --duration 60s\n  mon bench agent --agent-exe ./mon-agent-only --interval 5s --duration 60s"
    )]
    Agent(AgentArgs),
    /// Measure a real `mon top` watching a simulated fleet: CPU % of one core, RSS, terminal output
    #[command(
        after_help = "mon top runs in a pseudo-terminal (through util-linux's setsid) against an in-process\nmon serve --no-agent --max-reports-per-second 0 fed with agent-shaped hosts, or against --ws.\n\nExamples:\n  mon bench top --hosts 100 --interval 1s --duration 60s --beside btop\n  mon bench top --hosts 1000 --screen fleet\n  mon bench top --ws ws://127.0.0.1:7071/ws --ingest http://127.0.0.1:7070 --hosts 100"
    )]
    Top(TopArgs),
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Simulated hosts, each reporting once per interval in real time
    #[arg(long, default_value = "100", value_parser = parse_positive, value_name = "N")]
    pub hosts: usize,
    /// Each host's report interval
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,
    /// How long each screen is measured
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// How long each screen runs before it is measured
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub warm_up: Duration,
    /// Screens to measure, in order: fleet, host (the first host, opened with Enter)
    #[arg(
        long,
        default_value = "fleet,host",
        value_delimiter = ',',
        value_name = "SCREEN,..."
    )]
    pub screen: Vec<TopScreen>,
    /// The pseudo-terminal's size
    #[arg(long, default_value = "120x40", value_parser = parse_size, value_name = "COLSxROWS")]
    pub size: (u16, u16),
    /// Watch this gateway or edge instead of an in-process pipeline
    #[arg(long, value_name = "URL")]
    pub ws: Option<String>,
    /// With --ws: send the simulated hosts to this aggregator (without it, the fleet behind
    /// --ws is assumed to report already)
    #[arg(long, value_name = "URL", requires = "ws")]
    pub ingest: Option<String>,
    /// A program measured beside mon top over the same windows, in a terminal of the same
    /// size, e.g. btop
    #[arg(long, value_name = "COMMAND")]
    pub beside: Option<String>,
    /// The mon executable run as mon top [default: this one], e.g. another build to compare
    #[arg(long, value_name = "FILE")]
    pub exe: Option<std::path::PathBuf>,
}

fn parse_size(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{text:?} is not a terminal size; expected COLSxROWS, e.g. 120x40");
    let (cols, rows) = text.split_once('x').ok_or_else(bad)?;
    let cols: u16 = cols.parse().map_err(|_| bad())?;
    let rows: u16 = rows.parse().map_err(|_| bad())?;
    if !(20..=1000).contains(&cols) || !(8..=1000).contains(&rows) {
        return Err(format!(
            "{text:?}: a terminal from 20x8 to 1000x1000 is accepted"
        ));
    }
    Ok((cols, rows))
}

#[derive(Debug, Args)]
pub struct RemoteWriteArgs {
    /// Remote-write URL to post to
    #[arg(
        long,
        default_value = "http://127.0.0.1:7071/api/v1/write",
        value_name = "URL"
    )]
    pub target: String,
    /// Simulated hosts
    #[arg(long, default_value = "100", value_parser = parse_positive, value_name = "N")]
    pub hosts: usize,
    /// Series per host (generic shape)
    #[arg(long, default_value = "100", value_parser = parse_positive, value_name = "M")]
    pub series: usize,
    /// Workload: generic or tsbs-cpu-only
    #[arg(long, default_value = "generic", value_name = "SHAPE")]
    pub shape: Shape,
    /// Rounds of the whole fleet encoded before the clock starts
    #[arg(long, default_value = "360", value_parser = parse_positive, value_name = "N")]
    pub rounds: usize,
    /// Samples per request at most
    #[arg(long, default_value = "2000", value_parser = parse_positive, value_name = "N")]
    pub samples_per_request: usize,
    /// Concurrent connections
    #[arg(long, default_value = "8", value_parser = parse_positive, value_name = "N")]
    pub connections: usize,
    /// How long to run at most
    #[arg(long, default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
}

#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// Aggregator the reports go to
    #[arg(long, default_value = "http://127.0.0.1:7070", value_name = "URL")]
    pub ingest: String,
    /// Gateway or edge WebSocket the clients read
    #[arg(long, default_value = "ws://127.0.0.1:7071/ws", value_name = "URL")]
    pub ws: String,
    /// Simulated hosts, each reporting once per interval in real time
    #[arg(long, default_value = "100", value_parser = parse_positive, value_name = "N")]
    pub hosts: usize,
    /// Series per host (generic shape)
    #[arg(long, default_value = "20", value_parser = parse_positive, value_name = "M")]
    pub series: usize,
    /// Workload: generic, or agent (what mon agent sends for a 4-core host)
    #[arg(long, default_value = "generic", value_name = "SHAPE")]
    pub shape: Shape,
    /// WebSocket clients
    #[arg(long, default_value = "10", value_parser = parse_positive, value_name = "C")]
    pub clients: usize,
    /// Clients that record latencies (all count frames)
    #[arg(long, default_value = "100", value_parser = parse_positive, value_name = "N")]
    pub measured_clients: usize,
    /// Each host's report interval
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,
    /// How long to send
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The agent's collection interval
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,
    /// How long to measure each run (after a warm-up of two intervals)
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// The agent's --processes-interval, one run each, one after the other: the default 30s is
    /// the cadence while nobody views the host; an interval equal to --interval stands in for
    /// the cadence while someone does (a table with every report); 0 measures the agent without
    /// the tables
    #[arg(
        long,
        default_value = "30s,5s",
        value_delimiter = ',',
        value_parser = super::agent::parse_processes_interval,
        value_name = "DURATION[,DURATION...]"
    )]
    pub processes_interval: Vec<Duration>,
    /// The `mon` executable to run as the agent, e.g. an agent-only build
    /// (`cargo build -p cli --no-default-features`) [default: this one]
    #[arg(long, value_name = "FILE")]
    pub agent_exe: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Aggregator to load; several, comma-separated, share the streams
    #[arg(
        long,
        default_value = "http://127.0.0.1:7070",
        value_name = "URL[,URL...]"
    )]
    pub target: String,
    /// Simulated hosts
    #[arg(long, default_value = "100", value_parser = parse_positive, value_name = "N")]
    pub hosts: usize,
    /// Series per host (generic shape)
    #[arg(long, default_value = "50", value_parser = parse_positive, value_name = "M")]
    pub series: usize,
    /// Simulated interval between a host's reports (time is compressed)
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,
    /// How long to run
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// Workload: generic or tsbs-cpu-only (10 CPU fields per host with TSBS host tags)
    #[arg(long, default_value = "generic", value_name = "SHAPE")]
    pub shape: Shape,
    /// Concurrent gRPC streams the hosts are spread over
    #[arg(long, default_value = "8", value_parser = parse_positive, value_name = "N")]
    pub streams: usize,
    /// Reports in flight per stream
    #[arg(long, default_value = "32", value_parser = parse_positive, value_name = "N")]
    pub window: usize,
    /// Write 23 h in the past, as an agent replaying a long outage: every sample takes the
    /// late-data path. Default: near now, the steady state of a live fleet
    #[arg(long)]
    pub backfill: bool,
    /// Send every sample with its name and labels, as agents before protocol 2 do.
    /// Default: each series defined once per stream, then ids and values
    #[arg(long)]
    pub plain: bool,
    /// The aggregator's process id: its CPU over the run is reported (e.g.
    /// `--aggregator-pid $(pgrep -f 'mon aggregator')`)
    #[arg(long, value_name = "PID")]
    pub aggregator_pid: Option<u32>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    super::DurationFlag {
        what: "a duration",
        min: Duration::from_millis(1),
        max: None,
        examples: "10s or 1m",
    }
    .parse(text)
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Ingest(a) => run_ingest(a),
        BenchCommand::Agent(a) => run_agent(a),
        BenchCommand::Deliver(a) => run_deliver(a),
        BenchCommand::RemoteWrite(a) => run_remote_write(a),
        BenchCommand::Top(a) => run_top(a),
    }
}

fn run_remote_write(a: RemoteWriteArgs) -> anyhow::Result<()> {
    let config = server::bench::remote_write::RemoteWriteBench {
        target: a.target,
        hosts: a.hosts,
        series: a.series,
        shape: a.shape,
        rounds: a.rounds,
        samples_per_request: a.samples_per_request,
        connections: a.connections,
        duration: a.duration,
    };
    runtime(true)?.block_on(async move {
        let summary = server::bench::remote_write::run(config)
            .await
            .map_err(anyhow::Error::msg)?;
        println!("{}", summary.render());
        Ok(())
    })
}

fn run_top(a: TopArgs) -> anyhow::Result<()> {
    let exe = match a.exe {
        Some(exe) => exe,
        None => std::env::current_exe()?,
    };
    let config = TopBench {
        exe,
        ws: a.ws,
        ingest: a.ingest,
        hosts: a.hosts,
        interval: a.interval,
        warm_up: a.warm_up,
        duration: a.duration,
        screens: a.screen,
        cols: a.size.0,
        rows: a.size.1,
        beside: a
            .beside
            .map(|b| b.split_whitespace().map(str::to_owned).collect()),
    };
    eprintln!(
        "bench top: {} hosts every {}, a {}x{} terminal, each screen measured {} after a warm-up of {}",
        config.hosts,
        humantime::format_duration(config.interval),
        config.cols,
        config.rows,
        humantime::format_duration(config.duration),
        humantime::format_duration(config.warm_up)
    );
    runtime(true)?.block_on(async move {
        let summary = server::bench::top::run(config, shutdown::signal())
            .await
            .map_err(anyhow::Error::msg)?;
        println!("{}", summary.render());
        Ok(())
    })
}

fn run_deliver(a: DeliverArgs) -> anyhow::Result<()> {
    let config = server::bench::deliver::DeliverBench {
        ingest: a.ingest,
        ws: a.ws,
        hosts: a.hosts,
        series: a.series,
        shape: a.shape,
        clients: a.clients,
        interval: a.interval,
        duration: a.duration,
        measured_clients: a.measured_clients,
    };
    eprintln!(
        "bench deliver: {} hosts every {}, {} WebSocket clients, for {}",
        config.hosts,
        humantime::format_duration(config.interval),
        config.clients,
        humantime::format_duration(config.duration)
    );
    runtime(true)?.block_on(async move {
        let mut summary = server::bench::deliver::run(config, shutdown::signal())
            .await
            .map_err(anyhow::Error::msg)?;
        println!("{}", summary.render());
        Ok(())
    })
}

fn run_agent(a: AgentArgs) -> anyhow::Result<()> {
    let runs = a.processes_interval.len();
    let exe = match &a.agent_exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe()?,
    };
    for (n, cadence) in a.processes_interval.iter().enumerate() {
        let config = server::bench::agent::AgentBench {
            exe: exe.clone(),
            interval: a.interval,
            duration: a.duration,
            processes_interval: Some(*cadence),
        };
        let tables = match cadence {
            d if d.is_zero() => "no process or cgroup tables".to_owned(),
            d if *d <= a.interval => format!(
                "process and cgroup tables with every report (as while the host is watched), --processes-interval {}",
                humantime::format_duration(*d)
            ),
            d => format!(
                "process and cgroup tables every {}",
                humantime::format_duration(*d)
            ),
        };
        eprintln!(
            "bench agent, run {} of {runs}: interval {}, {tables}, measuring {} after a warm-up of two intervals",
            n + 1,
            humantime::format_duration(a.interval),
            humantime::format_duration(a.duration)
        );
        let footprint = runtime(true)?.block_on(server::bench::agent::run(config));
        let footprint = footprint.map_err(anyhow::Error::msg)?;
        if n > 0 {
            println!();
        }
        println!("{tables}\n{}", footprint.render());
    }
    match server::bench::agent::WireSizes::this_host() {
        Ok(wire) => println!("\n{}", wire.render()),
        Err(e) => eprintln!("the wire sizes were not measured: this host's collector failed: {e}"),
    }
    Ok(())
}

fn run_ingest(a: IngestArgs) -> anyhow::Result<()> {
    let config = IngestBench {
        target: a.target,
        hosts: a.hosts,
        series: a.series,
        interval: a.interval,
        duration: a.duration,
        shape: a.shape,
        streams: a.streams,
        window: a.window,
        backfill: a.backfill,
        plain: a.plain,
        aggregator_pid: a.aggregator_pid,
    };
    config.validate()?;
    runtime(true)?.block_on(async move {
        eprintln!(
            "bench ingest: {} hosts, {:?} shape, {} streams × {} in flight, for {}",
            config.hosts,
            config.shape,
            config.streams,
            config.window,
            humantime::format_duration(config.duration)
        );
        let counters = Arc::new(Counters::default());
        let progress = {
            let counters = counters.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let mut last = 0u64;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let now = counters.samples_accepted.load(Ordering::Relaxed);
                    eprintln!(
                        "  {:>4.0}s  {:>10} samples/s  {:>10} samples  {} rejected",
                        started.elapsed().as_secs_f64(),
                        now - last,
                        now,
                        counters.samples_rejected.load(Ordering::Relaxed)
                    );
                    last = now;
                }
            })
        };
        let result = ingest::run(config, counters, shutdown::signal()).await;
        progress.abort();
        let mut summary = result?;
        println!("{}", summary.render());
        Ok(())
    })
}
