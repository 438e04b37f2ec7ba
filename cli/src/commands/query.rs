//! `mon query`: one series' stored history, read straight from the data
//! dir's SQLite file or the fleet's PostgreSQL store (safe beside a running
//! aggregator: readers never block the writer). The store picks the tier from the range; this module only
//! parses the question and prints the answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use server::store::{Clock, Location, RangeQuery, Reader, SeriesRange, Tier};

use super::GlobalArgs;
use super::query_activity::QueryTable;
use super::store::StoreArgs;
use crate::config;

/// Prints the history of one series as a table (or JSON with --json).
///
/// Short ranges come from raw samples, longer ones from the 1-minute and
/// 1-hour rollups (min, avg, max, last and count per bucket): up to 6h raw,
/// up to 8d 1m, beyond that 1h.
#[derive(Debug, Args)]
#[command(
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  mon query --host web-1 --metric cpu_usage_percent --since 1h\n  mon query --host web-1 --metric filesystem_used_percent --labels mount=/ --since 7d --step 1h\n  mon query --host web-1 --metric load1 --from 2026-01-02T00:00:00Z --to 2026-01-03T00:00:00Z --json\n  mon query processes --host web-1 --at 2026-01-02T03:12:00Z"
)]
pub struct QueryArgs {
    /// What was running on a host instead of a series
    #[command(subcommand)]
    pub table: Option<QueryTable>,
    /// Host whose series to print
    #[arg(long, value_name = "HOST", required = true)]
    pub host: Option<String>,
    /// Metric name, e.g. cpu_usage_percent
    #[arg(long, value_name = "NAME", required = true)]
    pub metric: Option<String>,
    /// The series' labels, e.g. mount=/,fstype=ext4 (all of them, as stored)
    #[arg(long, value_parser = parse_labels, value_name = "K=V,...")]
    pub labels: Option<LabelSet>,
    /// How far back from now, e.g. 15m, 1h, 7d
    #[arg(long, value_parser = parse_since, value_name = "DURATION",
          conflicts_with_all = ["from", "to"], required_unless_present = "from")]
    pub since: Option<Duration>,
    /// Start of the range: RFC 3339 (2026-01-02T15:04:05Z) or Unix milliseconds
    #[arg(long, value_parser = parse_time, value_name = "TIME", requires = "to")]
    pub from: Option<i64>,
    /// End of the range, excluded: RFC 3339 or Unix milliseconds
    #[arg(long, value_parser = parse_time, value_name = "TIME", requires = "from")]
    pub to: Option<i64>,
    /// Width of each printed point, e.g. 10s, 1m, 1h [default: the tier's own]
    #[arg(long, value_parser = parse_step, value_name = "DURATION")]
    pub step: Option<Duration>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Label pairs from `--labels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet(pub Vec<(String, String)>);

pub fn run(global: &GlobalArgs, args: QueryArgs) -> anyhow::Result<()> {
    if let Some(table) = args.table {
        return super::query_activity::run(global, table);
    }
    let (Some(host), Some(metric)) = (args.host, args.metric) else {
        bail!("give --host HOST and --metric NAME, or `mon query processes --host HOST`");
    };
    let reader = history(global, &args.store)?;
    let now = server::time::now_ms();
    let (from, to) = match (args.since, args.from, args.to) {
        (Some(since), _, _) => (now - since.as_millis() as i64, now),
        (None, Some(from), Some(to)) => (from, to),
        _ => bail!("give --since DURATION, or --from TIME and --to TIME"),
    };
    if from > to {
        bail!(
            "--from {} is after --to {}; give --from before --to",
            format_time(from, true),
            format_time(to, true)
        );
    }
    let range = reader.range(&RangeQuery {
        host: host.to_lowercase(),
        metric,
        labels: args.labels.map(|l| l.0).unwrap_or_default(),
        from,
        to,
        step: args.step,
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&range)?);
    } else {
        print!("{}", table(&range));
    }
    Ok(())
}

/// A reader of the store the config, `--data-dir` and `--store` name, with
/// the configured retention; an error saying where to point them when there
/// is no store there.
pub(super) fn history(global: &GlobalArgs, store: &StoreArgs) -> anyhow::Result<Reader> {
    let file = config::load(global.config.as_deref())?;
    let store_url = store.resolve(&file)?;
    let data_dir = config::data_dir(global.data_dir.as_deref(), &file)?;
    let db = server::store::db_path(&data_dir);
    if store_url.is_none() && !db.exists() {
        bail!(
            "no store at {}; point --data-dir at the directory `mon serve` or `mon aggregator` writes to, or --store at their PostgreSQL database",
            db.display()
        );
    }
    let location = Location::new(store_url.as_ref(), &data_dir);
    Ok(open_reader(&location)?.with_config(file.retention.to_retention(), Clock::system()))
}

fn open_reader(location: &Location) -> anyhow::Result<Reader> {
    location
        .readers()
        .and_then(|r| r.reader())
        .with_context(|| format!("cannot read the store {}", location.describe()))
}

/// The aligned table `mon query` prints.
pub fn table(range: &SeriesRange) -> String {
    let raw = range.tier == Tier::Raw && range.step_ms == 0;
    let key = server::model::SeriesKey::with_labels(range.metric.clone(), range.labels.clone());
    let mut out = format!(
        "{} {}  tier {}{}  {} .. {}  {} points\n",
        range.host,
        key,
        range.tier.name(),
        if range.step_ms > 0 {
            format!(
                "  step {}",
                humantime::format_duration(Duration::from_millis(range.step_ms as u64))
            )
        } else {
            String::new()
        },
        format_time(range.from, false),
        format_time(range.to, false),
        range.points.len(),
    );
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(range.points.len() + 1);
    if raw {
        rows.push(vec!["TIME".into(), "VALUE".into()]);
        for p in &range.points {
            rows.push(vec![format_time(p.ts, true), format_value(p.last)]);
        }
    } else {
        rows.push(
            ["TIME", "MIN", "AVG", "MAX", "LAST", "COUNT"]
                .map(String::from)
                .to_vec(),
        );
        for p in &range.points {
            rows.push(vec![
                format_time(p.ts, false),
                format_value(p.min),
                format_value(p.avg),
                format_value(p.max),
                format_value(p.last),
                p.count.to_string(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            // The time column reads left to right, numbers line up on the right.
            .map(|(i, (cell, w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if range.points.is_empty() {
        out.push_str("(no samples in this range)\n");
    }
    out
}

/// A value as a person reads it in a table: whole numbers whole (byte
/// counts stay exact), one decimal from 10 up (`54.1`, not
/// `54.10595703125`), two from 1, three significant digits below. `--json`
/// prints every value exactly.
fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    let decimals = if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        (2 - a.log10().floor() as i32).clamp(0, 12) as usize
    };
    let text = format!("{v:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.to_owned()
    }
}

pub(super) fn format_time(ms: i64, millis: bool) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    if millis && ms % 1000 != 0 {
        humantime::format_rfc3339_millis(t).to_string()
    } else {
        humantime::format_rfc3339_seconds(t).to_string()
    }
}

fn parse_labels(text: &str) -> Result<LabelSet, String> {
    let mut pairs = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "{part:?} is not a label; write name=value pairs separated by commas, e.g. mount=/,fstype=ext4"
            ));
        };
        let name_ok = k.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(format!(
                "{k:?} is not a label name; names match [a-z_][a-z0-9_]*, e.g. mount=/"
            ));
        }
        pairs.push((k.to_owned(), v.to_owned()));
    }
    Ok(LabelSet(pairs))
}

fn parse_since(text: &str) -> Result<Duration, String> {
    super::DurationFlag {
        what: "a duration",
        min: Duration::from_millis(1),
        max: None,
        examples: "15m, 1h or 7d",
    }
    .parse(text)
}

fn parse_step(text: &str) -> Result<Duration, String> {
    super::DurationFlag {
        what: "a step",
        min: Duration::from_millis(1),
        max: None,
        examples: "10s, 1m or 1h",
    }
    .parse(text)
}

pub(super) fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| {
            format!("{text:?} is not a time; give RFC 3339 such as 2026-01-02T15:04:05Z or Unix milliseconds")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_values_have_the_precision_a_person_reads() {
        for (v, shown) in [
            (54.10595703125, "54.1"),
            (4.56789, "4.57"),
            (0.0012345, "0.00123"),
            (25_276_502_016.0, "25276502016"),
            (99.96, "100"),
            (-0.00001, "-0.00001"),
            (0.0, "0"),
        ] {
            assert_eq!(format_value(v), shown, "{v}");
        }
    }

    #[test]
    fn labels_parse_as_pairs_and_bad_ones_say_the_accepted_form() {
        assert_eq!(
            parse_labels("mount=/,fstype=ext4").unwrap().0,
            [
                ("mount".into(), "/".into()),
                ("fstype".into(), "ext4".into())
            ]
        );
        assert!(parse_labels("mount").unwrap_err().contains("name=value"));
        assert!(parse_labels("Mount=/").unwrap_err().contains("[a-z_]"));
    }

    #[test]
    fn times_accept_rfc3339_and_unix_milliseconds() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(parse_time("1500"), Ok(1500));
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
