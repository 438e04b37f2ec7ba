//! `mon query processes` and `mon query cgroups`: what was running on a
//! host at a time, from the store's history (one table a minute, kept as
//! long as the 1m tier), printed as top prints it.

use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};
use server::activity::{ActivityKind, CgroupTable, ProcessTable};
use server::store::LOOK_BACK_MS;

use super::GlobalArgs;
use super::store::StoreArgs;

/// What `mon query` may print besides a series.
#[derive(Debug, clap::Subcommand)]
pub enum QueryTable {
    /// A host's top processes at a time (default: the latest kept)
    #[command(
        after_help = "Examples:\n  mon query processes --host web-1\n  mon query processes --host web-1 --at 2026-01-02T03:12:00Z\n  mon query processes --host web-1 --ago 2h --sort memory\n\nOne table is kept a minute while the host reports (the agent reads it every 30 s, every report while someone watches the host), for as long as the 1m tier."
    )]
    Processes(TableArgs),
    /// A host's cgroups (services, containers, user sessions) at a time
    #[command(
        after_help = "Examples:\n  mon query cgroups --host web-1\n  mon query cgroups --host web-1 --at 2026-01-02T03:12:00Z --json"
    )]
    Cgroups(TableArgs),
}

#[derive(Debug, Args)]
pub struct TableArgs {
    /// Host whose table to print
    #[arg(long, value_name = "HOST")]
    pub host: String,
    /// The time to look at: RFC 3339 (2026-01-02T15:04:05Z) or Unix
    /// milliseconds; the newest table taken at or before it is printed
    #[arg(long, value_parser = super::query::parse_time, value_name = "TIME", conflicts_with = "ago")]
    pub at: Option<i64>,
    /// The time to look at, as a time before now, e.g. 30m or 2h
    #[arg(long, value_parser = parse_ago, value_name = "DURATION")]
    pub ago: Option<Duration>,
    /// Order of the rows
    #[arg(long, value_enum, default_value_t = Sort::Cpu)]
    pub sort: Sort,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sort {
    Cpu,
    Memory,
}

fn parse_ago(text: &str) -> Result<Duration, String> {
    super::DurationFlag {
        what: "a time before now",
        min: Duration::ZERO,
        max: None,
        examples: "30m, 2h or 3d",
    }
    .parse(text)
}

pub fn run(global: &GlobalArgs, what: QueryTable) -> anyhow::Result<()> {
    let (kind, args) = match what {
        QueryTable::Processes(a) => (ActivityKind::Processes, a),
        QueryTable::Cgroups(a) => (ActivityKind::Cgroups, a),
    };
    let reader = super::query::history(global, &args.store)?;
    let now = server::time::now_ms();
    let at = match (args.at, args.ago) {
        (Some(at), _) => at,
        (None, Some(ago)) => now - ago.as_millis() as i64,
        (None, None) => now,
    };
    let host = args.host.to_lowercase();
    let Some(stored) = reader.activity_at(&host, kind, at)? else {
        bail!(
            "no {} table of {host} was kept in the {} minutes up to {}; one is kept a minute while the host reports, for as long as the 1m tier (`mon query --host {host} --metric cpu_usage_percent --since 1d` shows when it reported)",
            kind.as_str(),
            LOOK_BACK_MS / 60_000,
            super::query::format_time(at, false)
        );
    };
    if args.json {
        let mut value: serde_json::Value = serde_json::from_slice(&stored.json)?;
        if let Some(o) = value.as_object_mut() {
            o.insert("host".into(), host.clone().into());
            o.insert("ts".into(), stored.ts.into());
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let when = super::query::format_time(stored.ts, false);
    match kind {
        ActivityKind::Processes => {
            let table: ProcessTable = serde_json::from_slice(&stored.json)?;
            print!("{}", processes_table(&host, &when, table, args.sort));
        }
        ActivityKind::Cgroups => {
            let table: CgroupTable = serde_json::from_slice(&stored.json)?;
            print!("{}", cgroups_table(&host, &when, table, args.sort));
        }
    }
    Ok(())
}

/// A byte count or rate with a binary prefix, as `mon top` shows it.
fn bytes(v: f64) -> String {
    tui::format::bytes(v)
}

pub fn processes_table(host: &str, when: &str, mut t: ProcessTable, sort: Sort) -> String {
    match sort {
        Sort::Cpu => t
            .processes
            .sort_by(|a, b| b.cpu_percent.total_cmp(&a.cpu_percent)),
        Sort::Memory => t
            .processes
            .sort_by_key(|p| std::cmp::Reverse(p.memory_bytes)),
    }
    let mut out = format!(
        "{host} at {when}: {} of {} processes\n{:>8}  {:<12} {:>6} {:>7} {:>8} {:>8}  {:<16} COMMAND\n",
        t.processes.len(),
        t.total,
        "PID",
        "USER",
        "CPU%",
        "MEM",
        "READ/s",
        "WRITE/s",
        "NAME"
    );
    for p in &t.processes {
        out.push_str(&format!(
            "{:>8}  {:<12} {:>6.1} {:>7} {:>8} {:>8}  {:<16} {}\n",
            p.pid,
            cut(&p.user, 12),
            p.cpu_percent,
            bytes(p.memory_bytes as f64),
            bytes(p.read_bytes_per_second),
            bytes(p.write_bytes_per_second),
            cut(&p.name, 16),
            cut(&p.command, 100)
        ));
    }
    out
}

pub fn cgroups_table(host: &str, when: &str, mut t: CgroupTable, sort: Sort) -> String {
    if let Some(why) = &t.unavailable {
        return format!("{host} at {when}: cgroups not available here: {why}\n");
    }
    match sort {
        Sort::Cpu => t
            .cgroups
            .sort_by(|a, b| b.cpu_percent.total_cmp(&a.cpu_percent)),
        Sort::Memory => t.cgroups.sort_by_key(|c| std::cmp::Reverse(c.memory_bytes)),
    }
    let mut out = format!(
        "{host} at {when}: {} of {} cgroups\n{:<10} {:>6} {:>7} {:>7} {:>8} {:>8} {:>5}  NAME\n",
        t.cgroups.len(),
        t.total,
        "KIND",
        "CPU%",
        "MEM",
        "PEAK",
        "READ/s",
        "WRITE/s",
        "PIDS"
    );
    for c in &t.cgroups {
        out.push_str(&format!(
            "{:<10} {:>6.1} {:>7} {:>7} {:>8} {:>8} {:>5}  {}\n",
            c.kind.as_str(),
            c.cpu_percent,
            bytes(c.memory_bytes as f64),
            c.memory_peak_bytes.map_or("-".into(), |b| bytes(b as f64)),
            bytes(c.read_bytes_per_second),
            bytes(c.write_bytes_per_second),
            c.pids,
            cut(&c.name, 60)
        ));
    }
    out
}

/// At most `n` characters, the text already cleaned of control characters
/// by the aggregator (and again here: a store is not to be trusted either).
fn cut(s: &str, n: usize) -> String {
    server::activity::clean_text(s, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use server::activity::ProcessRow;

    fn row(pid: u32, name: &str, cpu: f64, mem: u64) -> ProcessRow {
        ProcessRow {
            pid,
            name: name.into(),
            command: format!("{name} -x"),
            user: "root".into(),
            cpu_percent: cpu,
            memory_bytes: mem,
            read_bytes_per_second: 0.0,
            write_bytes_per_second: 2048.0,
        }
    }

    #[test]
    fn processes_print_sorted_with_readable_units() {
        let t = ProcessTable {
            total: 200,
            processes: vec![
                row(1, "small", 1.0, 900 << 20),
                row(2, "busy", 97.5, 1 << 20),
            ],
        };
        let by_cpu = processes_table("web-1", "T", t.clone(), Sort::Cpu);
        let lines: Vec<&str> = by_cpu.lines().collect();
        assert_eq!(lines[0], "web-1 at T: 2 of 200 processes");
        assert!(
            lines[2].contains("busy") && lines[2].contains("97.5"),
            "{by_cpu}"
        );
        assert!(lines[3].contains("900M"), "{by_cpu}");
        let by_mem = processes_table("web-1", "T", t, Sort::Memory);
        assert!(by_mem.lines().nth(2).unwrap().contains("small"), "{by_mem}");
    }

    #[test]
    fn a_host_without_cgroups_says_why() {
        let t = CgroupTable {
            unavailable: Some("cgroup v1 host".into()),
            ..CgroupTable::default()
        };
        assert_eq!(
            cgroups_table("h", "T", t, Sort::Cpu),
            "h at T: cgroups not available here: cgroup v1 host\n"
        );
    }
}
