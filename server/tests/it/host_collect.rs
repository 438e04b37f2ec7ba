//! The agent's collectors read on this machine and held against the tools an
//! operator would check them with (`df`), through the public `Collector`.

use std::process::Command;

use server::agent::Collector;
use server::model::Point;

/// One `df --output=source,size,used,avail,pcent,target -B1` line.
#[derive(Debug)]
struct DfLine {
    size: f64,
    used: f64,
    avail: f64,
    pcent: f64,
}

fn df(mount: &str) -> Option<DfLine> {
    let out = Command::new("df")
        .args([
            "--output=source,size,used,avail,pcent,target",
            "-B1",
            "--",
            mount,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.lines().nth(1)?;
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 6 || f[5..].join(" ") != mount {
        return None;
    }
    Some(DfLine {
        size: f[1].parse().ok()?,
        used: f[2].parse().ok()?,
        avail: f[3].parse().ok()?,
        pcent: f[4].trim_end_matches('%').parse().ok()?,
    })
}

fn value(points: &[Point], name: &str, mount: &str) -> f64 {
    points
        .iter()
        .find(|p| p.key.name == name && p.key.label("mount") == Some(mount))
        .unwrap_or_else(|| panic!("no {name} for {mount}"))
        .value
}

#[test]
fn filesystems_agree_with_df_on_size_used_available_and_percent() {
    if Command::new("df").arg("--version").output().is_err() {
        println!("SKIP: no df on this machine to compare with");
        return;
    }
    let points = Collector::new().unwrap().collect();
    let mounts: Vec<String> = points
        .iter()
        .filter(|p| p.key.name == "filesystem_size_bytes")
        .filter_map(|p| p.key.label("mount").map(str::to_owned))
        .collect();
    assert!(!mounts.is_empty(), "the agent reported no file system");
    let mut compared = 0;
    for mount in &mounts {
        let Some(d) = df(mount) else {
            println!("SKIP {mount}: df does not list it as its own mount");
            continue;
        };
        let size = value(&points, "filesystem_size_bytes", mount);
        let used = value(&points, "filesystem_used_bytes", mount);
        let avail = value(&points, "filesystem_available_bytes", mount);
        let free = value(&points, "filesystem_free_bytes", mount);
        let percent = value(&points, "filesystem_used_percent", mount);
        // Other processes write between the two readings: allow 64 MiB of drift.
        let slack = 64.0 * 1024.0 * 1024.0;
        assert_eq!(size, d.size, "{mount}: size");
        assert!(
            (used - d.used).abs() <= slack,
            "{mount}: used {used} vs df {d:?}"
        );
        assert!(
            (avail - d.avail).abs() <= slack,
            "{mount}: avail {avail} vs df {d:?}"
        );
        assert!(
            free >= avail,
            "{mount}: free {free} below available {avail}"
        );
        // df rounds its percent up to a whole number.
        assert!(
            (percent.ceil() - d.pcent).abs() <= 1.0,
            "{mount}: {percent}% vs df {d:?}"
        );
        compared += 1;
    }
    assert!(compared > 0, "df listed none of {mounts:?}");
}

/// Whether the kernel exposes any temperature sensor (hwmon `temp*_input`).
fn has_temperature_sensor() -> bool {
    let Ok(dirs) = std::fs::read_dir("/sys/class/hwmon") else {
        return false;
    };
    dirs.filter_map(Result::ok).any(|d| {
        std::fs::read_dir(d.path()).is_ok_and(|files| {
            files.filter_map(Result::ok).any(|f| {
                let name = f.file_name();
                let name = name.to_string_lossy();
                name.starts_with("temp") && name.ends_with("_input")
            })
        })
    })
}

#[test]
fn temperatures_are_sent_only_where_the_machine_has_sensors() {
    let points = Collector::new().unwrap().collect();
    let temps: Vec<&Point> = points
        .iter()
        .filter(|p| p.key.name.starts_with("temperature_"))
        .collect();
    if has_temperature_sensor() {
        assert!(!temps.is_empty(), "sensors exist but none was reported");
        for p in temps {
            assert!(
                p.key.label("sensor").is_some_and(|s| !s.is_empty()),
                "{}",
                p.key
            );
            assert!((-60.0..200.0).contains(&p.value), "{} = {}", p.key, p.value);
        }
    } else {
        // A machine without sensors: not available here, never 0 °C.
        assert!(temps.is_empty(), "no sensor, yet {temps:?}");
    }
}

#[test]
fn disk_latency_and_busy_time_come_with_every_device_that_has_byte_rates() {
    let mut collector = Collector::new().unwrap();
    let _ = collector.collect();
    // Real I/O between the readings, so there is something to time.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("io");
    std::fs::write(&file, vec![7u8; 1 << 20]).unwrap();
    std::fs::File::open(&file).unwrap().sync_all().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let points = collector.collect();
    let devices: Vec<&str> = points
        .iter()
        .filter(|p| p.key.name == "disk_written_bytes_per_second")
        .filter_map(|p| p.key.label("device"))
        .collect();
    if devices.is_empty() || !std::path::Path::new("/proc/diskstats").exists() {
        println!("SKIP: no block device with I/O counters on this machine");
        return;
    }
    for device in devices {
        let get = |name: &str| {
            points
                .iter()
                .find(|p| p.key.name == name && p.key.label("device") == Some(device))
                .unwrap_or_else(|| panic!("no {name} for {device}"))
                .value
        };
        let busy = get("disk_io_time_percent");
        assert!((0.0..=100.0).contains(&busy), "{device}: busy {busy}%");
        for name in [
            "disk_read_wait_milliseconds",
            "disk_write_wait_milliseconds",
        ] {
            let wait = get(name);
            assert!(wait.is_finite() && wait >= 0.0, "{device}: {name} = {wait}");
        }
    }
}
