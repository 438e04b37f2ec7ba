//! The simulated fleet's reports. `Generic` sends `--series` values per host;
//! `TsbsCpuOnly` follows the TSBS cpu-only use case (10 CPU fields per host
//! with the host tags TSBS generates) so figures compare with published
//! time-series database results. `Agent` sends what `mon agent` sends for a
//! 4-core host, so `mon top` and the dashboard show a plausible fleet.

use crate::proto::{Label, Report, Sample, SeriesDef};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `--series` values per host named `bench_value{series="N"}`
    Generic,
    /// 10 CPU fields per host with TSBS host tags (ignores --series)
    TsbsCpuOnly,
    /// The series `mon agent` sends for a 4-core host (ignores --series)
    Agent,
}

impl std::str::FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "generic" => Ok(Self::Generic),
            "tsbs-cpu-only" => Ok(Self::TsbsCpuOnly),
            "agent" => Ok(Self::Agent),
            other => Err(format!(
                "unknown shape {other:?}; accepted are generic, tsbs-cpu-only and agent"
            )),
        }
    }
}

const TSBS_FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-1"];

/// One simulated host: fixed labels and a random walk per series.
pub struct SimHost {
    pub name: String,
    samples: Vec<Sample>,
}

impl SimHost {
    pub fn new(index: usize, shape: Shape, series: usize) -> Self {
        let name = format!("host-{index}");
        let samples = match shape {
            Shape::Generic => (0..series)
                .map(|i| Sample {
                    name: "bench_value".into(),
                    labels: vec![Label {
                        name: "series".into(),
                        value: i.to_string(),
                    }],
                    value: fastrand::f64() * 100.0,
                })
                .collect(),
            Shape::Agent => agent_samples(),
            Shape::TsbsCpuOnly => {
                let tags = tsbs_tags(index);
                TSBS_FIELDS
                    .iter()
                    .map(|field| Sample {
                        name: format!("cpu_{field}_percent"),
                        labels: tags.clone(),
                        value: fastrand::f64() * 100.0,
                    })
                    .collect()
            }
        };
        Self { name, samples }
    }

    /// The next report: every value takes a small random step within 0..100.
    pub fn report(&mut self, seq: u64, timestamp_ms: i64) -> Report {
        for s in &mut self.samples {
            s.value = (s.value + fastrand::f64() * 2.0 - 1.0).clamp(0.0, 100.0);
        }
        Report {
            host: self.name.clone(),
            seq,
            timestamp_ms,
            samples: self.samples.clone(),
            ..Report::default()
        }
    }

    /// The next report in the interned form (protocol 2), its series under
    /// the stream-local ids `first_id..`: defined in the first report of the
    /// stream, then only ids and values. Nothing is copied but two vectors
    /// of numbers, so the generator costs little of the machine it shares.
    pub fn interned_report(
        &mut self,
        seq: u64,
        timestamp_ms: i64,
        first_id: u32,
        define: bool,
    ) -> Report {
        let mut values = Vec::with_capacity(self.samples.len());
        for s in &mut self.samples {
            s.value = (s.value + fastrand::f64() * 2.0 - 1.0).clamp(0.0, 100.0);
            values.push(s.value);
        }
        let ids = (first_id..first_id + self.samples.len() as u32).collect();
        let defs = if define {
            self.samples
                .iter()
                .zip(first_id..)
                .map(|(s, id)| SeriesDef {
                    id,
                    name: s.name.clone(),
                    labels: s.labels.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Report {
            host: self.name.clone(),
            seq,
            timestamp_ms,
            defs,
            ids,
            values,
            ..Report::default()
        }
    }

    /// Number of series the host sends.
    pub fn series(&self) -> usize {
        self.samples.len()
    }
}

/// A 4-core host's agent series; every value walks within 0..100, which is
/// plausible for percents and load and merely small for bytes.
fn agent_samples() -> Vec<Sample> {
    let sample = |name: &str, labels: &[(&str, String)]| Sample {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| Label {
                name: (*k).into(),
                value: v.clone(),
            })
            .collect(),
        value: fastrand::f64() * 100.0,
    };
    let mut samples = vec![
        sample("cpu_usage_percent", &[]),
        sample("load1", &[]),
        sample("load5", &[]),
        sample("load15", &[]),
        sample("memory_used_percent", &[]),
        sample("memory_used_bytes", &[]),
        sample("uptime_seconds", &[]),
        sample("processes", &[]),
    ];
    for core in 0..4 {
        samples.push(sample(
            "cpu_core_usage_percent",
            &[("core", core.to_string())],
        ));
    }
    let fs = [("fstype", "ext4".to_owned()), ("mount", "/".to_owned())];
    for name in [
        "filesystem_used_percent",
        "filesystem_used_bytes",
        "filesystem_size_bytes",
    ] {
        samples.push(sample(name, &fs));
    }
    for name in [
        "network_receive_bytes_per_second",
        "network_transmit_bytes_per_second",
    ] {
        samples.push(sample(name, &[("iface", "eth0".to_owned())]));
    }
    samples
}

fn tsbs_tags(index: usize) -> Vec<Label> {
    let tag = |name: &str, value: String| Label {
        name: name.into(),
        value,
    };
    let region = REGIONS[index % REGIONS.len()];
    vec![
        tag("arch", ["x64", "x86"][index % 2].into()),
        tag(
            "datacenter",
            format!("{region}{}", ["a", "b", "c"][index % 3]),
        ),
        tag(
            "os",
            ["ubuntu16.04lts", "ubuntu16.10", "ubuntu15.10"][index % 3].into(),
        ),
        tag("rack", (index % 100).to_string()),
        tag("region", region.into()),
        tag("service", (index % 20).to_string()),
        tag(
            "service_environment",
            ["production", "staging", "test"][index % 3].into(),
        ),
        tag("service_version", (index % 2).to_string()),
        tag("team", ["sf", "nyc", "lon", "chi"][index % 4].into()),
    ]
}
