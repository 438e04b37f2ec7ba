//! Validation and normalization of one report, sample by sample.
//!
//! A bad sample is rejected with a reason and never takes the good samples of
//! its report down with it. Only what concerns the whole report (its host
//! name, its timestamp) rejects every sample at once. Normalization
//! lower-cases host names, sorts labels and clamps tiny percent overshoot.

use std::sync::Mutex;

// foldhash, not SipHash: a series key carries its hash, and these sets look
// it up for every sample (seeded per process).
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::Limits;
use super::intern::{Resolved, StreamTable};
use crate::model::{AcceptedReport, Point, SeriesKey};
use crate::proto;

/// Why one sample, or the whole report (`index == -1`), was not stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub index: i32,
    pub series: String,
    pub reason: String,
}

/// The outcome of validating one report.
#[derive(Clone, Debug)]
pub struct Checked {
    pub accepted: AcceptedReport,
    /// Number of samples not stored.
    pub rejected: usize,
    pub rejections: Vec<Rejection>,
}

/// Series known per host, for the cardinality cap. Seeded from the store at
/// start-up. A std mutex: each check is a hash lookup, never held across an
/// `.await`.
#[derive(Default)]
pub struct SeriesIndex {
    hosts: Mutex<HashMap<String, HashSet<SeriesKey>>>,
}

impl SeriesIndex {
    pub fn new(known: impl IntoIterator<Item = (String, SeriesKey)>) -> Self {
        let mut hosts: HashMap<String, HashSet<SeriesKey>> = HashMap::new();
        for (host, key) in known {
            hosts.entry(host).or_default().insert(key);
        }
        Self {
            hosts: Mutex::new(hosts),
        }
    }

    /// Admits the series if it is known or the host is under its cap.
    /// Admits each series if it is known or the host is under its cap;
    /// one lock per report, not per sample.
    fn admit_all(&self, host: &str, keys: &[&SeriesKey], cap: usize) -> Vec<bool> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if !hosts.contains_key(host) {
            hosts.insert(host.to_owned(), HashSet::new());
        }
        let series = hosts.get_mut(host).expect("inserted above");
        keys.iter()
            .map(|key| {
                if series.contains(*key) {
                    true
                } else if series.len() >= cap {
                    false
                } else {
                    series.insert((*key).clone());
                    true
                }
            })
            .collect()
    }
}

/// Checks a host name against the limits and returns it lower-cased.
pub fn normalize_host(host: &str, limits: &Limits) -> Result<String, String> {
    crate::host_name::normalize(host, limits.max_host_len)
}

/// Checks a metric or label name against `[a-z_][a-z0-9_]*`.
fn check_name(kind: &str, name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{kind} name is empty"));
    }
    if name.len() > max {
        return Err(format!(
            "{kind} name {:?}… is {} bytes long; at most {max} are accepted",
            &name[..name.floor_char_boundary(32)],
            name.len()
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!(
            "{kind} name {name:?} is not accepted; names match [a-z_][a-z0-9_]*"
        ));
    }
    Ok(())
}

/// The largest magnitude a value may have. A series holds at most one
/// sample per millisecond, so any range up to the year 9999 holds fewer than
/// 2^48 samples, and 2^48 values of 1e290 sum to about 2.8e304: every rollup
/// sum and every average over any step stays a finite number.
pub const MAX_ABS_VALUE: f64 = 1e290;

/// What a metric's name says about its values' range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// `_percent`: 0..100, tiny overshoot clamped.
    Percent,
    /// `_bytes` (also `_bytes_per_second`…): never negative.
    Bytes,
    /// Any finite value in range.
    Plain,
}

impl Unit {
    pub fn of(name: &str) -> Self {
        if name.ends_with("_percent") {
            Unit::Percent
        } else if name.ends_with("_bytes") || name.contains("_bytes_") {
            Unit::Bytes
        } else {
            Unit::Plain
        }
    }
}

/// Checks a value against what its name's unit allows, clamping tiny
/// overshoot of percentages.
pub(super) fn check_value(unit: Unit, value: f64, limits: &Limits) -> Result<f64, String> {
    if !value.is_finite() {
        return Err(format!("value {value} is not a finite number"));
    }
    if value.abs() > MAX_ABS_VALUE {
        return Err(format!(
            "value {value:e} is out of range: values from -1e290 to 1e290 are accepted, so that rollup sums stay finite"
        ));
    }
    match unit {
        Unit::Percent => {
            let tol = limits.percent_tolerance;
            if value < -tol || value > 100.0 + tol {
                return Err(format!(
                    "value {value} is outside 0..100 for a _percent metric"
                ));
            }
            Ok(value.clamp(0.0, 100.0))
        }
        Unit::Bytes if value < 0.0 => Err(format!("value {value} is negative for a _bytes metric")),
        _ => Ok(value),
    }
}

/// Checks a series' name and labels (once per sample in the plain form,
/// once per definition in the interned one) and makes its key. On failure:
/// the series as text, and why.
pub(super) fn check_series(
    name: String,
    labels: Vec<proto::Label>,
    limits: &Limits,
) -> Result<(SeriesKey, Unit), (String, String)> {
    let series_text = || {
        let shown: Vec<String> = labels
            .iter()
            .map(|l| format!("{}={:?}", truncate(&l.name), truncate(&l.value)))
            .collect();
        if shown.is_empty() {
            truncate(&name).to_owned()
        } else {
            format!("{}{{{}}}", truncate(&name), shown.join(","))
        }
    };
    let fail = |reason: String| (series_text(), reason);
    check_name("metric", &name, limits.max_name_len).map_err(fail)?;
    if labels.len() > limits.max_labels {
        return Err(fail(format!(
            "{} labels; at most {} are accepted",
            labels.len(),
            limits.max_labels
        )));
    }
    for label in &labels {
        check_name("label", &label.name, limits.max_name_len).map_err(fail)?;
        if label.value.len() > limits.max_label_value_len {
            return Err(fail(format!(
                "label {} value is {} bytes long; at most {} are accepted",
                label.name,
                label.value.len(),
                limits.max_label_value_len
            )));
        }
    }
    let mut names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(fail("a label name appears twice".into()));
    }
    let unit = Unit::of(&name);
    // Every check passed: move the strings into the key instead of copying.
    let key = SeriesKey::with_labels(name, labels.into_iter().map(|l| (l.name, l.value)));
    Ok((key, unit))
}

fn check_sample(sample: proto::Sample, limits: &Limits) -> Result<Point, (String, String)> {
    let value = sample.value;
    let (key, unit) = check_series(sample.name, sample.labels, limits)?;
    let value = check_value(unit, value, limits).map_err(|reason| (key.to_string(), reason))?;
    Ok(Point { key, value })
}

fn truncate(s: &str) -> &str {
    &s[..s.floor_char_boundary(64)]
}

/// Validates and normalizes one report at wall-clock time `now_ms`, outside
/// any stream: a pushed report, or a test's. Interned samples in it refer to
/// an empty table, so they are rejected as undefined.
pub fn check_report(
    report: proto::Report,
    limits: &Limits,
    now_ms: i64,
    known: &SeriesIndex,
) -> Checked {
    let mut table = StreamTable::new(limits.max_series_per_stream);
    check_stream_report(report, limits, now_ms, known, &mut table)
}

/// Validates and normalizes one report of a stream whose interned series
/// are in `table`; the report's own definitions are added to it first, even
/// when the report is refused as a whole, as its sender counts them sent.
pub fn check_stream_report(
    mut report: proto::Report,
    limits: &Limits,
    now_ms: i64,
    known: &SeriesIndex,
    table: &mut StreamTable,
) -> Checked {
    table.define(std::mem::take(&mut report.defs), limits);
    let plain = report.samples.len();
    let total = plain + report.ids.len();
    let whole = |host: String, reason: String| Checked {
        accepted: AcceptedReport {
            host,
            seq: report.seq,
            timestamp_ms: report.timestamp_ms,
            points: Vec::new(),
        },
        rejected: total,
        rejections: vec![Rejection {
            index: -1,
            series: String::new(),
            reason,
        }],
    };
    let host = match normalize_host(&report.host, limits) {
        Ok(h) => h,
        Err(reason) => return whole(String::new(), reason),
    };
    // Saturating: the timestamp is the agent's word, and i64::MIN or MAX
    // must be refused as too old or too new, not overflow.
    let age_ms = now_ms.saturating_sub(report.timestamp_ms);
    if age_ms > limits.max_age.as_millis() as i64 {
        return whole(
            host,
            format!(
                "timestamp {} is {} old; reports older than {} are not accepted",
                report.timestamp_ms,
                humantime::format_duration(std::time::Duration::from_secs((age_ms / 1000) as u64)),
                humantime::format_duration(limits.max_age)
            ),
        );
    }
    if age_ms.saturating_neg() > limits.max_future.as_millis() as i64 {
        return whole(
            host,
            format!(
                "timestamp {} is {} in the future; at most {} of clock skew is accepted",
                report.timestamp_ms,
                humantime::format_duration(std::time::Duration::from_secs(
                    (age_ms.saturating_neg() / 1000) as u64
                )),
                humantime::format_duration(limits.max_future)
            ),
        );
    }

    let mut candidates: Vec<(i32, Point)> =
        Vec::with_capacity(total.min(limits.max_samples_per_report));
    let mut rejections = Vec::new();
    let mut rejected = 0;
    let over = |i: usize| Rejection {
        index: i as i32,
        series: String::new(),
        reason: format!(
            "report has {total} samples; at most {} per report are accepted (--max-samples-per-report), samples from index {i} on were dropped",
            limits.max_samples_per_report
        ),
    };
    let mut cut = false;
    for (i, sample) in std::mem::take(&mut report.samples).into_iter().enumerate() {
        if i >= limits.max_samples_per_report {
            rejected += total - i;
            rejections.push(over(i));
            cut = true;
            break;
        }
        match check_sample(sample, limits) {
            Ok(point) => candidates.push((i as i32, point)),
            Err((series, reason)) => {
                rejected += 1;
                rejections.push(Rejection {
                    index: i as i32,
                    series,
                    reason,
                });
            }
        }
    }
    if !cut && report.ids.len() != report.values.len() {
        rejected += report.ids.len();
        rejections.push(Rejection {
            index: -1,
            series: String::new(),
            reason: format!(
                "report has {} series ids and {} values; each id needs exactly one value, so no interned sample of it was stored",
                report.ids.len(),
                report.values.len()
            ),
        });
        cut = true;
    }
    if !cut {
        for (k, (&id, &value)) in report.ids.iter().zip(&report.values).enumerate() {
            let i = plain + k;
            if i >= limits.max_samples_per_report {
                rejected += total - i;
                rejections.push(over(i));
                break;
            }
            let index = i as i32;
            let bad = match table.resolve(id) {
                Resolved::Series(key, unit) => match check_value(unit, value, limits) {
                    Ok(value) => {
                        let point = Point {
                            key: key.clone(),
                            value,
                        };
                        candidates.push((index, point));
                        continue;
                    }
                    Err(reason) => (key.to_string(), reason),
                },
                Resolved::Bad(reason) => (format!("#{id}"), reason),
            };
            rejected += 1;
            rejections.push(Rejection {
                index,
                series: bad.0,
                reason: bad.1,
            });
        }
    }
    // The same series twice in one report: the first is kept. Checked by
    // reference, so no key is cloned for it.
    let first: Vec<bool> = {
        let mut seen: HashSet<&SeriesKey> = HashSet::with_capacity(candidates.len());
        candidates
            .iter()
            .map(|(_, p)| seen.insert(&p.key))
            .collect()
    };
    let keys: Vec<&SeriesKey> = candidates
        .iter()
        .zip(&first)
        .filter(|(_, first)| **first)
        .map(|((_, p), _)| &p.key)
        .collect();
    let mut admitted = known
        .admit_all(&host, &keys, limits.max_series_per_host)
        .into_iter();
    let mut points = Vec::with_capacity(candidates.len());
    for ((index, point), first) in candidates.into_iter().zip(first) {
        let reason = if !first {
            "the same series appears twice in one report".to_owned()
        } else if admitted.next() == Some(true) {
            points.push(point);
            continue;
        } else {
            format!(
                "host {host} already has {} series; new series are not accepted (cardinality cap, --max-series-per-host)",
                limits.max_series_per_host
            )
        };
        rejected += 1;
        rejections.push(Rejection {
            index,
            series: point.key.to_string(),
            reason,
        });
    }
    rejections.sort_by_key(|r| r.index);
    Checked {
        accepted: AcceptedReport {
            host,
            seq: report.seq,
            timestamp_ms: report.timestamp_ms,
            points,
        },
        rejected,
        rejections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Label, Report, Sample};

    const NOW: i64 = 1_800_000_000_000;

    fn sample(name: &str, value: f64) -> Sample {
        Sample {
            name: name.into(),
            labels: vec![],
            value,
        }
    }

    fn report(host: &str, samples: Vec<Sample>) -> Report {
        Report {
            host: host.into(),
            seq: 1,
            timestamp_ms: NOW,
            samples,
            ..Default::default()
        }
    }

    fn check(r: Report) -> Checked {
        check_report(r, &Limits::default(), NOW, &SeriesIndex::default())
    }

    /// One bad sample beside one good one: the good one is stored, the bad
    /// one is rejected with a reason containing `expect`.
    #[test]
    fn each_bad_sample_is_rejected_with_its_reason_and_the_good_one_kept() {
        let many_labels: Vec<Label> = (0..100)
            .map(|i| Label {
                name: format!("l{i}"),
                value: "x".into(),
            })
            .collect();
        let cases: Vec<(&str, Sample, &str)> = vec![
            ("NaN", sample("load1", f64::NAN), "not a finite number"),
            (
                "huge",
                sample("load1", 1.7e308),
                "value 1.7e308 is out of range",
            ),
            (
                "huge negative",
                sample("load1", -1e291),
                "from -1e290 to 1e290",
            ),
            (
                "infinity",
                sample("load1", f64::INFINITY),
                "not a finite number",
            ),
            (
                "negative bytes",
                sample("memory_used_bytes", -1.0),
                "negative for a _bytes metric",
            ),
            (
                "negative rate",
                sample("disk_read_bytes_per_second", -5.0),
                "negative for a _bytes metric",
            ),
            (
                "percent 250",
                sample("cpu_usage_percent", 250.0),
                "outside 0..100",
            ),
            (
                "bad metric name",
                sample("CPU-usage", 1.0),
                "names match [a-z_][a-z0-9_]*",
            ),
            ("empty metric name", sample("", 1.0), "metric name is empty"),
            ("digit first", sample("1load", 1.0), "names match"),
            (
                "100 labels",
                Sample {
                    name: "x".into(),
                    labels: many_labels,
                    value: 1.0,
                },
                "100 labels; at most 16",
            ),
            (
                "bad label name",
                Sample {
                    name: "x".into(),
                    labels: vec![Label {
                        name: "Mount".into(),
                        value: "/".into(),
                    }],
                    value: 1.0,
                },
                "label name \"Mount\"",
            ),
            (
                "long label value",
                Sample {
                    name: "x".into(),
                    labels: vec![Label {
                        name: "mount".into(),
                        value: "a".repeat(300),
                    }],
                    value: 1.0,
                },
                "at most 256",
            ),
            (
                "duplicate label",
                Sample {
                    name: "x".into(),
                    labels: vec![
                        Label {
                            name: "a".into(),
                            value: "1".into(),
                        },
                        Label {
                            name: "a".into(),
                            value: "2".into(),
                        },
                    ],
                    value: 1.0,
                },
                "appears twice",
            ),
        ];
        for (what, bad, expect) in cases {
            let c = check(report("web-1", vec![sample("load1", 0.5), bad]));
            assert_eq!(c.accepted.points.len(), 1, "{what}: good sample kept");
            assert_eq!(c.accepted.points[0].key.name, "load1");
            assert_eq!(c.rejected, 1, "{what}");
            assert_eq!(c.rejections[0].index, 1, "{what}");
            assert!(
                c.rejections[0].reason.contains(expect),
                "{what}: {:?} lacks {expect:?}",
                c.rejections[0].reason
            );
        }
    }

    #[test]
    fn whole_report_problems_reject_every_sample_with_one_reason() {
        let cases: Vec<(&str, Report, &str)> = vec![
            (
                "empty host",
                report("", vec![sample("load1", 1.0)]),
                "host name is empty",
            ),
            (
                "10 KB host",
                report(&"h".repeat(10_000), vec![sample("load1", 1.0)]),
                "at most 253",
            ),
            (
                "host with a space",
                report("web 1", vec![sample("load1", 1.0)]),
                "contains ' '",
            ),
            (
                "a day in the future",
                Report {
                    timestamp_ms: NOW + 24 * 3600 * 1000,
                    ..report("web-1", vec![sample("load1", 1.0)])
                },
                "in the future",
            ),
            (
                "two days old",
                Report {
                    timestamp_ms: NOW - 48 * 3600 * 1000,
                    ..report("web-1", vec![sample("load1", 1.0)])
                },
                "older than 1day",
            ),
        ];
        for (what, r, expect) in cases {
            let c = check(r);
            assert!(c.accepted.points.is_empty(), "{what}");
            assert_eq!(c.rejected, 1, "{what}");
            assert_eq!(c.rejections[0].index, -1, "{what}");
            assert!(
                c.rejections[0].reason.contains(expect),
                "{what}: {:?}",
                c.rejections[0].reason
            );
        }
    }

    #[test]
    fn normalization_lowercases_hosts_sorts_labels_and_clamps_tiny_overshoot() {
        let c = check(report(
            "Web-1.Example",
            vec![
                sample("cpu_usage_percent", 100.4),
                sample("memory_used_percent", -0.2),
                Sample {
                    name: "filesystem_used_bytes".into(),
                    labels: vec![
                        Label {
                            name: "mount".into(),
                            value: "/".into(),
                        },
                        Label {
                            name: "fstype".into(),
                            value: "ext4".into(),
                        },
                    ],
                    value: 10.0,
                },
            ],
        ));
        assert_eq!(c.accepted.host, "web-1.example");
        assert_eq!(c.accepted.points[0].value, 100.0);
        assert_eq!(c.accepted.points[1].value, 0.0);
        assert_eq!(
            c.accepted.points[2].key.to_string(),
            r#"filesystem_used_bytes{fstype="ext4",mount="/"}"#
        );
        assert_eq!(c.rejected, 0);
    }

    #[test]
    fn an_oversized_report_keeps_the_first_samples_and_explains_the_rest() {
        let limits = Limits {
            max_samples_per_report: 3,
            ..Limits::default()
        };
        let samples = (0..5).map(|i| sample(&format!("m{i}"), 1.0)).collect();
        let c = check_report(report("h", samples), &limits, NOW, &SeriesIndex::default());
        assert_eq!(c.accepted.points.len(), 3);
        assert_eq!(c.rejected, 2);
        assert!(
            c.rejections[0]
                .reason
                .contains("report has 5 samples; at most 3")
        );
    }

    #[test]
    fn the_cardinality_cap_refuses_only_new_series() {
        let limits = Limits {
            max_series_per_host: 2,
            ..Limits::default()
        };
        let index = SeriesIndex::default();
        let first = check_report(
            report("h", vec![sample("a", 1.0), sample("b", 1.0)]),
            &limits,
            NOW,
            &index,
        );
        assert_eq!(first.rejected, 0);
        let second = check_report(
            report("h", vec![sample("a", 2.0), sample("c", 1.0)]),
            &limits,
            NOW,
            &index,
        );
        assert_eq!(second.accepted.points.len(), 1);
        assert!(second.rejections[0].reason.contains("cardinality cap"));
        // Another host has its own budget.
        let other = check_report(report("g", vec![sample("c", 1.0)]), &limits, NOW, &index);
        assert_eq!(other.rejected, 0);
    }

    #[test]
    fn a_series_repeated_in_one_report_is_stored_once() {
        let c = check(report(
            "h",
            vec![sample("load1", 1.0), sample("load1", 2.0)],
        ));
        assert_eq!(c.accepted.points.len(), 1);
        assert!(c.rejections[0].reason.contains("twice"));
    }
}
