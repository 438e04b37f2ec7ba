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
