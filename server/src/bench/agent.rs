//! `mon bench agent`: the agent's footprint as an operator would measure
//! it. A real `mon agent` process streams to an in-process aggregator; its
//! CPU time and resident memory are read from `/proc` (Linux only), after a
//! warm-up of two intervals so start-up costs are not counted.
//!
//! The process and cgroup tables are the agent's costliest read, and their
//! cadence changes when someone views the host, so a bench names the
//! cadence it measured (`--processes-interval` of the agent).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::process::{self, cpu_nanos};
use crate::agent::{Collector, SeriesIds};
use crate::aggregator::{self, AggregatorConfig, Limits, Stats};
use crate::bus::EmbeddedBus;
use crate::model::Point;
use crate::proto;

#[derive(Debug, Clone)]
pub struct AgentBench {
    /// The `mon` executable to run as the agent.
    pub exe: PathBuf,
    pub interval: Duration,
    pub duration: Duration,
    /// The agent's `--processes-interval`; `None` leaves its default.
    pub processes_interval: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct AgentFootprint {
    pub measured: Duration,
    /// CPU time used over `measured`, as a percentage of one core.
    pub cpu_percent: f64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    pub reports_stored: u64,
}

impl AgentFootprint {
    pub fn render(&self) -> String {
        format!(
            "measured {:.0}s\nagent CPU {:.4}% of one core\nagent RSS {:.1} MiB (peak {:.1} MiB)\nreports acknowledged {}",
            self.measured.as_secs_f64(),
            self.cpu_percent,
            self.rss_kib as f64 / 1024.0,
            self.peak_rss_kib as f64 / 1024.0,
            self.reports_stored
        )
    }
}

/// The bytes one report of this host takes on the wire, its process and
/// cgroup tables aside (they are the same in either form).
#[derive(Debug)]
pub struct WireSizes {
    pub samples: usize,
    /// Every sample with its name and labels (protocol 1, and the spool).
    pub plain: usize,
    /// The first report on a stream: each series defined, then its value.
    pub first: usize,
    /// Every later report on the stream: ids and values.
    pub steady: usize,
}

impl WireSizes {
    /// The sizes of two consecutive reports made of `first` and `next`,
    /// sent on one stream.
    pub fn of(first: Vec<Point>, next: Vec<Point>) -> Self {
        let first = proto::Report::from_points("bench-agent", 1, 0, first);
        let next = proto::Report::from_points("bench-agent", 2, 5_000, next);
        let mut ids = SeriesIds::new();
        let len = |r: &proto::Report| prost::Message::encoded_len(r);
        Self {
            samples: next.samples.len(),
            plain: len(&next),
            first: len(&ids.encode(&first)),
            steady: len(&ids.encode(&next)),
        }
    }

    /// Two reports of this host's own collector, as its agent makes them.
    /// The collector's first report has no rates yet (they need a previous
    /// reading), so it is left out: measured alone it would leave the rate
    /// series to be defined by the next.
    pub fn this_host() -> Result<Self, String> {
        let mut collector = Collector::new().map_err(|e| e.to_string())?;
        let mut next = || {
            std::thread::sleep(Duration::from_millis(250));
            collector.collect()
        };
        next();
        let first = next();
        Ok(Self::of(first, next()))
    }

    pub fn render(&self) -> String {
        format!(
            "wire, one report of this host ({} samples, tables aside): {} bytes plain; interned, {} bytes the first on a stream, then {} ({:.1} bytes a sample)",
            self.samples,
            self.plain,
            self.first,
            self.steady,
            self.steady as f64 / self.samples.max(1) as f64
        )
    }
}

/// Kills the agent if the bench ends early.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn run(config: AgentBench) -> Result<AgentFootprint, String> {
    if !process::available() {
        return Err("mon bench agent reads /proc and needs Linux".into());
    }
    let data_dir = std::env::temp_dir().join(format!("mon-bench-agent-{}", std::process::id()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let stats = Arc::new(Stats::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let aggregator = tokio::spawn(aggregator::run(
        AggregatorConfig {
            // Unlimited: the agent under measurement is the only client, and
            // a rate refusal would measure replays instead of the agent.
            limits: Limits {
                max_reports_per_second: 0,
                ..Limits::default()
            },
            ..AggregatorConfig::new(data_dir.clone())
        },
        listener,
        Arc::new(EmbeddedBus::default()),
        stats.clone(),
        async {
            let _ = stopped.await;
        },
    ));

    // The agent journals its spool in the data dir: give it the bench's own.
    let child = Command::new(&config.exe)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["agent", "--host", "bench-agent", "--aggregator"])
        .arg(format!("http://{addr}"))
        .arg("--interval")
        .arg(humantime::format_duration(config.interval).to_string())
        .args(config.processes_interval.iter().flat_map(|d| {
            [
                "--processes-interval".to_owned(),
                humantime::format_duration(*d).to_string(),
            ]
        }))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", config.exe.display()))?;
    let agent = Reaper(child);
    let pid = agent.0.id();

    tokio::time::sleep(config.interval * 2).await;
    let (cpu0, t0) = (cpu_nanos(pid)?, Instant::now());
    let mut rss = 0;
    let deadline = t0 + config.duration;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1).min(config.duration)).await;
        rss = process::status_kib(pid, "VmRSS:")?;
    }
    let (cpu1, measured) = (cpu_nanos(pid)?, t0.elapsed());
    let peak = process::status_kib(pid, "VmHWM:")?;
    drop(agent);
    let _ = stop.send(());
    let _ = aggregator.await;
    let _ = std::fs::remove_dir_all(&data_dir);

    let cpu_seconds = (cpu1 - cpu0) as f64 / 1e9;
    Ok(AgentFootprint {
        measured,
        cpu_percent: cpu_seconds / measured.as_secs_f64() * 100.0,
        rss_kib: rss,
        peak_rss_kib: peak,
        reports_stored: stats
            .reports_acked
            .load(std::sync::atomic::Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SeriesKey;

    fn report(value: f64) -> Vec<Point> {
        let mut points = vec![Point {
            key: SeriesKey::new("cpu_usage_percent"),
            value,
        }];
        for core in 0..4 {
            points.push(Point {
                key: SeriesKey::with_labels("cpu_core_usage_percent", [("core", core.to_string())]),
                value,
            });
        }
        points.push(Point {
            key: SeriesKey::with_labels(
                "filesystem_used_bytes",
                [("mount", "/"), ("device", "/dev/sda1")],
            ),
            value: 1e9,
        });
        points
    }

    #[test]
    fn a_later_report_on_a_stream_is_ids_and_values_a_fraction_of_the_plain_one() {
        let wire = WireSizes::of(report(1.5), report(2.5));
        assert_eq!(wire.samples, 6);
        // The first carries the definitions; each value is 8 bytes in
        // every form, and the names are what the later ones leave out.
        assert!(wire.first > wire.steady, "{wire:?}");
        assert!(wire.steady * 3 < wire.plain, "{wire:?}");
        assert!(wire.render().contains("6 samples"), "{}", wire.render());
    }

    #[test]
    fn this_hosts_own_reports_are_measured() {
        let wire = WireSizes::this_host().unwrap();
        assert!(wire.samples > 0, "{wire:?}");
        // No series is new in the later report: it is ids and values.
        assert!(wire.steady * 2 < wire.first, "{wire:?}");
        assert!(wire.steady * 2 < wire.plain, "{wire:?}");
    }
}
