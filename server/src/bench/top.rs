//! `mon bench top`: what a real `mon top` costs while it watches a fleet,
//! measured from outside like `mon bench agent` measures the agent.
//!
//! `mon top` runs in a pseudo-terminal of a fixed size ([`super::pty`])
//! against a simulated fleet: by default an in-process `mon serve` pipeline
//! (aggregator, gateway, alerts; no agent, no report rate) on loopback fed
//! by hosts that report in real time, the `agent` shape of `mon bench
//! deliver`; or a gateway it is pointed at. Each screen is measured after a
//! warm-up: CPU time summed over the process's threads, resident memory
//! sampled every second, and what it wrote to its terminal. Another
//! program (`btop`, say) can run beside it in a terminal of the same size
//! and is measured over the same windows, so both figures come from one run.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tonic::transport::Endpoint;

use super::deliver::send_real_time;
use super::process::{self, cpu_nanos, status_kib};
use super::pty::Pty;
use super::workload::{Shape, SimHost};
use crate::proto::ingest_client::IngestClient;

/// What crossterm writes when ratatui hides the cursor, which it does once
/// per drawn frame: counting it counts `mon top`'s redraws.
const FRAME_MARK: &[u8] = b"\x1b[?25l";

/// Text of the fleet table's title, written when the table first appears.
const FLEET_SHOWN: &str = "hosts · by";

/// A screen of `mon top` to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopScreen {
    /// The fleet table, sorted by CPU.
    Fleet,
    /// The first host's view (Enter on the fleet table): charts, cores, tables.
    Host,
}

impl std::str::FromStr for TopScreen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fleet" => Ok(Self::Fleet),
            "host" => Ok(Self::Host),
            other => Err(format!(
                "unknown screen {other:?}; accepted are fleet and host"
            )),
        }
    }
}

impl TopScreen {
    fn name(self) -> &'static str {
        match self {
            TopScreen::Fleet => "fleet view",
            TopScreen::Host => "host view",
        }
    }
}

#[derive(Clone, Debug)]
pub struct TopBench {
    /// The `mon` executable to run as `mon top`.
    pub exe: PathBuf,
    /// Watch this gateway or edge instead of starting a pipeline.
    pub ws: Option<String>,
    /// Send the simulated hosts to this aggregator (with `ws`); without
    /// it, a pointed-at fleet is assumed to be reporting already.
    pub ingest: Option<String>,
    /// Simulated hosts, each reporting once per `interval` in real time.
    pub hosts: usize,
    pub interval: Duration,
    /// Before each screen is measured.
    pub warm_up: Duration,
    /// How long each screen is measured.
    pub duration: Duration,
    pub screens: Vec<TopScreen>,
    pub cols: u16,
    pub rows: u16,
    /// A program (and its arguments) measured beside `mon top`, in a
    /// terminal of the same size, over the same windows.
    pub beside: Option<Vec<String>>,
}

/// One process over one window.
#[derive(Clone, Debug)]
pub struct Footprint {
    pub process: String,
    pub screen: &'static str,
    pub measured: Duration,
    /// CPU time over the window, as a percentage of one core.
    pub cpu_percent: f64,
    /// The largest `VmRSS` sampled during the window.
    pub rss_kib: u64,
    /// `VmHWM` at the end of the window: the process's peak so far.
    pub peak_rss_kib: u64,
    pub output_bytes_per_second: f64,
    /// Redraws per second (`mon top` only: see [`FRAME_MARK`]).
    pub frames_per_second: Option<f64>,
}

#[derive(Debug)]
pub struct TopSummary {
    pub hosts: usize,
    pub interval: Duration,
    pub cols: u16,
    pub rows: u16,
    pub rows_measured: Vec<Footprint>,
}

impl TopSummary {
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} hosts every {}, {}×{} terminal\n{:<11} {:<8} {:>8} {:>9} {:>9} {:>11} {:>9}\n",
            self.hosts,
            humantime::format_duration(self.interval),
            self.cols,
            self.rows,
            "screen",
            "process",
            "CPU %",
            "RSS MiB",
            "peak MiB",
            "output/s",
            "frames/s"
        );
        for f in &self.rows_measured {
            out.push_str(&format!(
                "{:<11} {:<8} {:>8.3} {:>9.1} {:>9.1} {:>9.1}Ki {:>9}\n",
                f.screen,
                f.process,
                f.cpu_percent,
                f.rss_kib as f64 / 1024.0,
                f.peak_rss_kib as f64 / 1024.0,
                f.output_bytes_per_second / 1024.0,
                f.frames_per_second
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
            ));
        }
        out.pop();
        out
    }
}

/// The measured programs of one run.
struct Measured {
    name: String,
    pty: Pty,
    count_frames: bool,
}

struct Window {
    cpu: u64,
    bytes: u64,
    marks: u64,
    rss_max: u64,
}

impl Measured {
    fn start(&self) -> Result<Window, String> {
        Ok(Window {
            cpu: cpu_nanos(self.pty.pid())?,
            bytes: self.pty.bytes(),
            marks: self.pty.marks(),
            rss_max: 0,
        })
    }

    fn sample(&mut self, w: &mut Window) -> Result<(), String> {
        if let Some(status) = self.pty.exited() {
            return Err(format!("{} exited during the run ({status})", self.name));
        }
        w.rss_max = w.rss_max.max(status_kib(self.pty.pid(), "VmRSS:")?);
        Ok(())
    }

    fn finish(
        &self,
        w: Window,
        screen: TopScreen,
        measured: Duration,
    ) -> Result<Footprint, String> {
        let secs = measured.as_secs_f64();
        let cpu = cpu_nanos(self.pty.pid())?.saturating_sub(w.cpu) as f64 / 1e9;
        Ok(Footprint {
            process: self.name.clone(),
            screen: screen.name(),
            measured,
            cpu_percent: cpu / secs * 100.0,
            rss_kib: w.rss_max,
            peak_rss_kib: status_kib(self.pty.pid(), "VmHWM:")?,
            output_bytes_per_second: (self.pty.bytes() - w.bytes) as f64 / secs,
            frames_per_second: self
                .count_frames
                .then(|| (self.pty.marks() - w.marks) as f64 / secs),
        })
    }
}

/// Runs every screen in turn; `shutdown` ends the run early with an error.
pub async fn run(
    config: TopBench,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<TopSummary, String> {
    if !process::available() {
        return Err("mon bench top reads /proc and needs Linux".into());
    }
    let fleet = Fleet::start(&config).await?;
    // Every host has reported once before mon top connects, so its first
    // snapshot holds the whole fleet.
    tokio::time::sleep(config.interval + Duration::from_millis(500)).await;

    let mut programs = vec![Measured {
        name: "mon top".into(),
        pty: Pty::spawn(
            &config.exe.to_string_lossy(),
            &["top".into(), "--url".into(), fleet.ws.clone()],
            config.cols,
            config.rows,
            FRAME_MARK,
        )?,
        count_frames: true,
    }];
    if let Some(beside) = &config.beside {
        let (program, args) = beside
            .split_first()
            .ok_or("--beside names no program; expected e.g. --beside btop")?;
        programs.push(Measured {
            name: program.rsplit('/').next().unwrap_or(program).to_owned(),
            pty: Pty::spawn(program, args, config.cols, config.rows, FRAME_MARK)?,
            count_frames: false,
        });
    }

    let measure = async {
        // The first screen is the fleet table; keys sent before it is up
        // would be lost.
        let drawn = Instant::now() + Duration::from_secs(10);
        while !programs[0].pty.shown(FLEET_SHOWN) {
            if Instant::now() > drawn {
                return Err("mon top has not drawn the fleet table within 10s".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut rows = Vec::new();
        for &screen in &config.screens {
            if screen == TopScreen::Host {
                // Enter opens the selected (first) host.
                programs[0].pty.forget();
                programs[0].pty.send(b"\r")?;
            }
            tokio::time::sleep(config.warm_up).await;
            let expected = match screen {
                TopScreen::Fleet => FLEET_SHOWN,
                TopScreen::Host => "Filesystems",
            };
            if !programs[0].pty.shown(expected) {
                eprintln!(
                    "bench top: mon top has not drawn {expected:?} yet; is the {} on screen?",
                    screen.name()
                );
            }
            let mut windows = programs
                .iter()
                .map(Measured::start)
                .collect::<Result<Vec<_>, _>>()?;
            let t0 = Instant::now();
            let deadline = t0 + config.duration;
            while Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(Duration::from_secs(1).min(left)).await;
                for (p, w) in programs.iter_mut().zip(&mut windows) {
                    p.sample(w)?;
                }
            }
            let measured = t0.elapsed();
            for (p, w) in programs.iter().zip(windows) {
                rows.push(p.finish(w, screen, measured)?);
            }
        }
        Ok::<_, String>(rows)
    };
    tokio::pin!(shutdown);
    let result = tokio::select! {
        r = measure => r,
        _ = &mut shutdown => Err("interrupted".into()),
    };
    drop(programs);
    fleet.stop().await;
    Ok(TopSummary {
        hosts: config.hosts,
        interval: config.interval,
        cols: config.cols,
        rows: config.rows,
        rows_measured: result?,
    })
}

/// The fleet `mon top` watches: the simulated hosts' senders and, unless
/// the bench was pointed at a gateway, the pipeline they report to.
struct Fleet {
    ws: String,
    cut: Arc<AtomicBool>,
    senders: Vec<tokio::task::JoinHandle<Result<(), String>>>,
    pipeline: Option<Pipeline>,
}

/// An in-process `mon serve` and its throw-away data dir.
struct Pipeline {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), crate::serve::ServeError>>,
    dir: PathBuf,
}

impl Fleet {
    async fn start(config: &TopBench) -> Result<Self, String> {
        let (ws, ingest, pipeline) = match &config.ws {
            Some(ws) => (ws.clone(), config.ingest.clone(), None),
            None => {
                let (ws, ingest, pipeline) = start_pipeline().await?;
                (ws, Some(ingest), Some(pipeline))
            }
        };
        let cut = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        if let Some(ingest) = ingest {
            let endpoint = Endpoint::from_shared(ingest.clone())
                .map_err(|e| format!("--ingest {ingest:?}: {e}"))?;
            let channel = tokio::time::timeout(Duration::from_secs(5), endpoint.connect())
                .await
                .map_err(|_| format!("cannot reach the aggregator at {ingest} within 5s"))?
                .map_err(|e| {
                    let why = crate::error_chain::one_line(&e);
                    format!("cannot reach the aggregator at {ingest}: {why}")
                })?;
            let streams = config.hosts.min(8);
            // The senders stop on `cut`; until then they run.
            let until = Instant::now() + Duration::from_secs(365 * 86_400);
            for s in 0..streams {
                let hosts: Vec<SimHost> = (s..config.hosts)
                    .step_by(streams)
                    .map(|h| SimHost::new(h, Shape::Agent, 0))
                    .collect();
                senders.push(tokio::spawn(send_real_time(
                    IngestClient::new(channel.clone()),
                    hosts,
                    config.interval,
                    until,
                    cut.clone(),
                )));
            }
        }
        Ok(Self {
            ws,
            cut,
            senders,
            pipeline,
        })
    }

    async fn stop(self) {
        self.cut.store(true, Ordering::Relaxed);
        for s in self.senders {
            let _ = s.await;
        }
        if let Some(p) = self.pipeline {
            let _ = p.stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), p.task).await;
            let _ = std::fs::remove_dir_all(p.dir);
        }
    }
}

/// `mon serve --no-agent --max-reports-per-second 0` on loopback, with a
/// throw-away data dir: its WebSocket URL, its ingest URL, and itself.
async fn start_pipeline() -> Result<(String, String, Pipeline), String> {
    use crate::aggregator::{AggregatorConfig, Limits, Stats};
    use crate::serve::{self, ServeConfig};

    let dir = std::env::temp_dir().join(format!("mon-bench-top-{}", std::process::id()));
    let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
    let grpc = bind().await.map_err(|e| e.to_string())?;
    let http = bind().await.map_err(|e| e.to_string())?;
    let grpc_addr = grpc.local_addr().map_err(|e| e.to_string())?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    let config = ServeConfig {
        aggregator: AggregatorConfig {
            // Simulated hosts may report faster than the default rate.
            limits: Limits {
                max_reports_per_second: 0,
                ..Limits::default()
            },
            ..AggregatorConfig::new(dir.clone())
        },
        agent: None,
        gateway: crate::gateway::GatewayConfig {
            data_dir: Some(dir.clone()),
            ..Default::default()
        },
        alerts: crate::alerts::AlertsConfig::new(dir.clone()),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve::run(
        config,
        grpc,
        http,
        Arc::new(crate::bus::EmbeddedBus::default()),
        Arc::new(Stats::default()),
        async {
            let _ = stopped.await;
        },
    ));
    Ok((
        format!("ws://{http_addr}/ws"),
        format!("http://{grpc_addr}"),
        Pipeline { stop, task, dir },
    ))
}
