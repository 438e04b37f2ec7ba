//! Host metrics from `sysinfo`, refreshing only what is sent: CPU usage,
//! memory, filesystems, disk I/O, network counters and temperatures. Never
//! the process table (that is `processes.rs`, at its own slower cadence),
//! never CPU frequency, never `refresh_all`.
//!
//! Disk latency comes from `/proc/diskstats` (`diskstats.rs`) for the
//! devices sysinfo names as diskstats does (a device-mapper volume,
//! `mapper/NAME` to sysinfo and `dm-N` there, gets none yet), temperatures
//! from sysinfo's components (`sensors.rs`).
//!
//! File systems are measured with `statvfs` as `df` does (see `statfs.rs`).
//!
//! Rates (disk and network bytes per second) are computed from the counters'
//! change since the previous tick, so the first tick sends none of them.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use sysinfo::{
    CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, RefreshKind, System,
};

use super::diskstats::{self, DiskCounters};
use super::sensors::Sensors;
use super::statfs::{self, FsUsage};
use crate::model::{HostMeta, Point, SeriesKey};

/// File systems that hold no user data: never reported.
const PSEUDO_FS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

pub struct Collector {
    system: System,
    disks: Disks,
    networks: Networks,
    last: Option<Instant>,
    /// Disk byte counters of the previous tick, per device.
    disk_counters: HashMap<String, (u64, u64)>,
    /// `/proc/diskstats` of the previous tick, for latency and busy time.
    disk_stats: HashMap<String, DiskCounters>,
    sensors: Sensors,
}

impl Collector {
    /// Opens the system handles; fails only where `sysinfo` cannot read this
    /// platform at all.
    pub fn new() -> Result<Self, sysinfo::Error> {
        let mut system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::everything()),
        )?;
        // CPU usage is a difference between two readings: take the first now.
        system.refresh_cpu_usage();
        let disks = Disks::new_with_refreshed_list_specifics(
            DiskRefreshKind::nothing().with_storage().with_io_usage(),
        )?;
        let networks = Networks::new_with_refreshed_list()?;
        Ok(Self {
            system,
            disks,
            networks,
            last: None,
            disk_counters: HashMap::new(),
            disk_stats: HashMap::new(),
            sensors: Sensors::new(),
        })
    }

    /// What the agent tells the aggregator about this machine in `Hello`.
    pub fn meta(&self, interval_ms: u64) -> HostMeta {
        HostMeta {
            os: System::long_os_version().unwrap_or_default(),
            kernel: System::kernel_version().unwrap_or_default(),
            cores: self.system.cpus().len() as u32,
            memory_bytes: self.system.total_memory(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            interval_ms,
        }
    }

    /// Reads every metric of the catalog once.
    pub fn collect(&mut self) -> Vec<Point> {
        let now = Instant::now();
        let elapsed = self.last.map(|l| now.duration_since(l).as_secs_f64());
        self.last = Some(now);

        let mut out = Vec::with_capacity(64);
        let mut push = |key: SeriesKey, value: f64| out.push(Point { key, value });

        self.system.refresh_cpu_usage();
        push(
            SeriesKey::new("cpu_usage_percent"),
            self.system.global_cpu_usage() as f64,
        );
        for (i, cpu) in self.system.cpus().iter().enumerate() {
            push(
                SeriesKey::with_labels("cpu_core_usage_percent", [("core", i.to_string())]),
                cpu.usage() as f64,
            );
        }
        if let Ok(load) = System::load_average() {
            push(SeriesKey::new("load1"), load.one);
            push(SeriesKey::new("load5"), load.five);
            push(SeriesKey::new("load15"), load.fifteen);
        }

        self.system.refresh_memory();
        let total = self.system.total_memory() as f64;
        let available = self.system.available_memory() as f64;
        let used = self.system.used_memory() as f64;
        push(SeriesKey::new("memory_total_bytes"), total);
        push(SeriesKey::new("memory_used_bytes"), used);
        push(SeriesKey::new("memory_available_bytes"), available);
        if total > 0.0 {
            push(SeriesKey::new("memory_used_percent"), used / total * 100.0);
        }
        push(
            SeriesKey::new("swap_total_bytes"),
            self.system.total_swap() as f64,
        );
        push(
            SeriesKey::new("swap_used_bytes"),
            self.system.used_swap() as f64,
        );

        self.collect_disks(elapsed, &mut out);
        self.collect_networks(elapsed, &mut out);
        self.sensors.collect(&mut out);

        if let Ok(uptime) = System::uptime() {
            out.push(Point {
                key: SeriesKey::new("uptime_seconds"),
                value: uptime as f64,
            });
        }
        if let Some(n) = count_processes() {
            out.push(Point {
                key: SeriesKey::new("processes"),
                value: n as f64,
            });
        }
        out
    }

    fn collect_disks(&mut self, elapsed: Option<f64>, out: &mut Vec<Point>) {
        self.disks.refresh_specifics(
            true,
            DiskRefreshKind::nothing().with_storage().with_io_usage(),
        );
        let mut mounts = HashSet::new();
        let mut counters = HashMap::new();
        for disk in self.disks.iter() {
            let fstype = disk.file_system().to_string_lossy().into_owned();
            if PSEUDO_FS.contains(&fstype.as_str()) {
                continue;
            }
            let mount = disk.mount_point().to_string_lossy().into_owned();
            // Bind mounts and overlays report the same file system twice.
            if disk.total_space() > 0
                && mounts.insert(mount.clone())
                && let Some(fs) = fs_usage(disk)
            {
                let labels = [("mount", mount.clone()), ("fstype", fstype.clone())];
                let mut push = |name: &str, value: f64| {
                    out.push(Point {
                        key: SeriesKey::with_labels(name, labels.clone()),
                        value,
                    })
                };
                push("filesystem_size_bytes", fs.size_bytes as f64);
                push("filesystem_used_bytes", fs.used_bytes() as f64);
                push("filesystem_free_bytes", fs.free_bytes as f64);
                push("filesystem_available_bytes", fs.available_bytes as f64);
                push("filesystem_used_percent", fs.used_percent());
                if let Some(inodes) = fs.inodes_used_percent {
                    push("filesystem_inodes_used_percent", inodes);
                }
            }
            let device = disk
                .name()
                .to_string_lossy()
                .trim_start_matches("/dev/")
                .to_owned();
            let usage = disk.usage();
            counters
                .entry(device)
                .or_insert((usage.total_read_bytes, usage.total_written_bytes));
        }
        if let Some(dt) = elapsed.filter(|dt| *dt > 0.0) {
            let mut devices: Vec<_> = counters.iter().collect();
            devices.sort();
            for (device, (read, written)) in devices {
                if let Some((prev_read, prev_written)) = self.disk_counters.get(device) {
                    let labels = [("device", device.clone())];
                    out.push(Point {
                        key: SeriesKey::with_labels("disk_read_bytes_per_second", labels.clone()),
                        value: read.saturating_sub(*prev_read) as f64 / dt,
                    });
                    out.push(Point {
                        key: SeriesKey::with_labels("disk_written_bytes_per_second", labels),
                        value: written.saturating_sub(*prev_written) as f64 / dt,
                    });
                }
            }
        }
        let stats = diskstats::read();
        if let Some(dt) = elapsed.filter(|dt| *dt > 0.0) {
            let mut devices: Vec<&String> = counters.keys().collect();
            devices.sort();
            for device in devices {
                let (Some(prev), Some(now)) = (self.disk_stats.get(device), stats.get(device))
                else {
                    continue;
                };
                let l = diskstats::latency(prev, now, dt * 1000.0);
                let labels = [("device", device.clone())];
                let mut push = |name: &str, value: f64| {
                    out.push(Point {
                        key: SeriesKey::with_labels(name, labels.clone()),
                        value,
                    })
                };
                push("disk_io_time_percent", l.io_time_percent);
                push("disk_read_wait_milliseconds", l.read_wait_ms);
                push("disk_write_wait_milliseconds", l.write_wait_ms);
            }
        }
        self.disk_stats = stats;
        self.disk_counters = counters;
    }

    fn collect_networks(&mut self, elapsed: Option<f64>, out: &mut Vec<Point>) {
        self.networks.refresh(true);
        let Some(dt) = elapsed.filter(|dt| *dt > 0.0) else {
            return;
        };
        let mut ifaces: Vec<_> = self.networks.iter().collect();
        ifaces.sort_by(|a, b| a.0.cmp(b.0));
        for (name, data) in ifaces {
            let iface = name.to_string_lossy().into_owned();
            if iface == "lo" {
                continue;
            }
            let labels = [("iface", iface)];
            out.push(Point {
                key: SeriesKey::with_labels("network_receive_bytes_per_second", labels.clone()),
                value: data.received() as f64 / dt,
            });
            out.push(Point {
                key: SeriesKey::with_labels("network_transmit_bytes_per_second", labels),
                value: data.transmitted() as f64 / dt,
            });
        }
    }
}

/// One disk's figures the way `df` counts them; where `statvfs` does not
/// exist, sysinfo's (which know no reserved blocks).
fn fs_usage(disk: &sysinfo::Disk) -> Option<FsUsage> {
    if cfg!(unix) {
        return statfs::read(disk.mount_point());
    }
    Some(FsUsage {
        size_bytes: disk.total_space(),
        free_bytes: disk.available_space(),
        available_bytes: disk.available_space(),
        inodes_used_percent: None,
    })
}

/// Number of processes, counted from the numeric entries of `/proc` without
/// reading any of them (far cheaper than loading the process table).
#[cfg(target_os = "linux")]
fn count_processes() -> Option<usize> {
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .as_encoded_bytes()
                    .iter()
                    .all(u8::is_ascii_digit)
            })
            .count(),
    )
}

#[cfg(not(target_os = "linux"))]
fn count_processes() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_tick_has_the_whole_catalog_for_this_machine() {
        let mut c = Collector::new().unwrap();
        let _ = c.collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let points = c.collect();
        let names: HashSet<&str> = points.iter().map(|p| p.key.name.as_str()).collect();
        for want in [
            "cpu_usage_percent",
            "cpu_core_usage_percent",
            "load1",
            "memory_total_bytes",
            "memory_used_percent",
            "swap_total_bytes",
            "filesystem_used_percent",
            "uptime_seconds",
            "processes",
        ] {
            assert!(names.contains(want), "missing {want} in {names:?}");
        }
        for p in &points {
            assert!(
                p.value.is_finite() && p.value >= 0.0,
                "{} = {}",
                p.key,
                p.value
            );
        }
    }
}
