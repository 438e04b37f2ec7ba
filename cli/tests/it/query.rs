//! `mon query` against a real data dir: the table, `--json`, the tier it
//! picks, and errors that say what is accepted.

use std::path::Path;

use server::activity::{ActivityKind, ProcessRow, ProcessTable};
use server::model::{Point, SeriesKey};
use server::store::{self, StoreConfig, WriteJob};

use crate::process::mon;

const MINUTE: i64 = 60_000;

/// A data dir holding 40 minutes of `web-1` samples, one every 10 s, ending
/// now: `cpu_usage_percent` cycling 0..6 and `filesystem_used_percent` of `/`.
fn data_dir() -> (tempfile::TempDir, i64) {
    let dir = tempfile::tempdir().unwrap();
    let now = server::time::now_ms();
    let start = now - 40 * MINUTE;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (writer, handle) = store::open(dir.path(), StoreConfig::default()).unwrap();
        for i in 0..240 {
            let points = vec![
                Point {
                    key: SeriesKey::new("cpu_usage_percent"),
                    value: (i % 6) as f64,
                },
                Point {
                    key: SeriesKey::with_labels("filesystem_used_percent", [("mount", "/")]),
                    value: 50.0,
                },
            ];
            writer
                .write(WriteJob {
                    host: "web-1".into(),
                    meta: None,
                    timestamp_ms: start + i * 10_000,
                    points,
                    // A process table every minute, its busiest process
                    // named for the minute.
                    activity: if i % 6 == 0 {
                        vec![store::ActivityRecord::new(
                            ActivityKind::Processes,
                            start + i * 10_000,
                            &ProcessTable {
                                total: 120,
                                processes: vec![
                                    process(1, "idle", 0.5, 2 << 30),
                                    process(2, &format!("busy-{}", i / 6), 88.0, 1 << 20),
                                ],
                            },
                        )]
                    } else {
                        Vec::new()
                    },
                })
                .await
                .unwrap();
        }
        writer.maintain().await.unwrap();
        drop(writer);
        handle.finish().await;
    });
    (dir, start)
}

fn process(pid: u32, name: &str, cpu: f64, memory: u64) -> ProcessRow {
    ProcessRow {
        pid,
        name: name.into(),
        command: format!("/usr/bin/{name} --work"),
        user: "app".into(),
        cpu_percent: cpu,
        memory_bytes: memory,
        read_bytes_per_second: 0.0,
        write_bytes_per_second: 0.0,
    }
}

#[test]
fn query_processes_prints_what_was_busiest_at_a_time() {
    let (dir, start) = data_dir();
    // 10 minutes and 30 s in: the table of minute 10.
    let at = (start + 10 * MINUTE + 30_000).to_string();
    let out = query(dir.path(), &["processes", "--host", "WEB-1", "--at", &at]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("web-1 at ") && lines[0].ends_with("2 of 120 processes"),
        "{text}"
    );
    assert!(
        lines[1].contains("PID") && lines[1].contains("COMMAND"),
        "{text}"
    );
    assert!(
        lines[2].contains("busy-10") && lines[2].contains("88.0"),
        "{text}"
    );
    // By memory, the idle process with 2 GiB comes first.
    let out = query(
        dir.path(),
        &[
            "processes",
            "--host",
            "web-1",
            "--at",
            &at,
            "--sort",
            "memory",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().nth(2).unwrap().contains("2.0G"), "{text}");
    // JSON has the rows and the time.
    let out = query(
        dir.path(),
        &["processes", "--host", "web-1", "--at", &at, "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["processes"][1]["name"], "busy-10");
    // Before the first table there is none, and the error says what is kept.
    let before = (start - 30 * MINUTE).to_string();
    let out = query(
        dir.path(),
        &["processes", "--host", "web-1", "--at", &before],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no processes table of web-1"), "{err}");
    let out = query(
        dir.path(),
        &["processes", "--host", "web-1", "--at", "noon"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"noon\" is not a time"), "{err}");
}

fn query(dir: &Path, args: &[&str]) -> std::process::Output {
    mon()
        .arg("query")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn query_prints_raw_samples_as_an_aligned_table_and_rollups_with_min_avg_max() {
    let (dir, _) = data_dir();
    let out = query(
        dir.path(),
        &[
            "--host",
            "web-1",
            "--metric",
            "cpu_usage_percent",
            "--since",
            "1h",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("web-1 cpu_usage_percent  tier raw")
            && lines[0].ends_with("240 points"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("TIME") && lines[1].ends_with("VALUE"),
        "{text}"
    );
    assert_eq!(lines.len(), 2 + 240);
    // Every row has the same width: the columns line up.
    assert!(
        lines[2..].iter().all(|l| l.len() == lines[2].len()),
        "{text}"
    );

    let out = query(
        dir.path(),
        &[
            "--host",
            "web-1",
            "--metric",
            "cpu_usage_percent",
            "--since",
            "1h",
            "--step",
            "1m",
        ],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("tier 1m  step 1m"), "{text}");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(header, ["TIME", "MIN", "AVG", "MAX", "LAST", "COUNT"]);
    // Six samples a minute cycling 0..6: min 0, avg 2.5, max 5.
    let full: Vec<Vec<&str>> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells[5] == "6")
        .collect();
    assert!(full.len() >= 35, "{text}");
    assert!(
        full.iter()
            .all(|c| c[1] == "0" && c[2] == "2.5" && c[3] == "5"),
        "{text}"
    );
}

#[test]
fn query_json_carries_the_tier_the_labels_and_every_point() {
    let (dir, start) = data_dir();
    // Rollup buckets are whole minutes: ask for whole minutes.
    let from = (start / MINUTE + 1) * MINUTE;
    let to = from + 30 * MINUTE;
    let out = query(
        dir.path(),
        &[
            "--host",
            "web-1",
            "--metric",
            "filesystem_used_percent",
            "--labels",
            "mount=/",
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--step",
            "10m",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["tier"], "1m");
    assert_eq!(json["step_ms"], 600_000);
    assert_eq!(json["labels"]["mount"], "/");
    let points = json["points"].as_array().unwrap();
    let total: u64 = points.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 180, "30 minutes of samples every 10 s: {json}");
    assert!(points.iter().all(|p| p["avg"] == 50.0 && p["min"] == 50.0));
}

#[test]
fn query_errors_name_the_bad_value_and_what_is_accepted() {
    let (dir, _) = data_dir();
    let d = dir.path();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--host", "db-9", "--metric", "load1", "--since", "1h"],
            "no host \"db-9\" in the store; known hosts: web-1",
        ),
        (
            &["--host", "web-1", "--metric", "load9", "--since", "1h"],
            "host web-1 has no metric \"load9\"; its metrics: cpu_usage_percent, filesystem_used_percent",
        ),
        (
            &[
                "--host",
                "web-1",
                "--metric",
                "filesystem_used_percent",
                "--labels",
                "mount=/home",
                "--since",
                "1h",
            ],
            "its filesystem_used_percent series: filesystem_used_percent{mount=\"/\"}",
        ),
        (
            &[
                "--host",
                "web-1",
                "--metric",
                "load1",
                "--from",
                "2026-01-02T00:00:00Z",
                "--to",
                "2026-01-01T00:00:00Z",
            ],
            "--from 2026-01-02T00:00:00Z is after --to 2026-01-01T00:00:00Z",
        ),
        (
            &[
                "--host",
                "web-1",
                "--metric",
                "cpu_usage_percent",
                "--since",
                "1d",
                "--step",
                "90s",
            ],
            "step 1m 30s does not fit the 1m tier this range reads; give a multiple of 1m",
        ),
    ];
    for (args, expect) in cases {
        let out = query(d, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let text = String::from_utf8(out.stderr).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("error: ") && text.contains(expect),
            "{args:?}: {text}"
        );
    }
    // Values clap refuses exit with 2 and a one-line reason.
    let usage: [(&[&str], &str); 3] = [
        (
            &[
                "--host", "web-1", "--metric", "x", "--labels", "mount", "--since", "1h",
            ],
            "name=value pairs",
        ),
        (
            &["--host", "web-1", "--metric", "x", "--since", "soon"],
            "such as 15m, 1h or 7d",
        ),
        (
            &[
                "--host",
                "web-1",
                "--metric",
                "x",
                "--from",
                "yesterday",
                "--to",
                "0",
            ],
            "RFC 3339",
        ),
    ];
    for (args, expect) in usage {
        let out = query(d, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let text = String::from_utf8(out.stderr).unwrap();
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(expect),
            "{args:?}: {text}"
        );
    }
    let out = mon()
        .args([
            "query",
            "--host",
            "a",
            "--metric",
            "b",
            "--since",
            "1h",
            "--data-dir",
        ])
        .arg(d.join("nowhere"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(
        text.contains("no store at") && text.contains("--data-dir"),
        "{text}"
    );
}
