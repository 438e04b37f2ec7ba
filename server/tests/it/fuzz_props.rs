//! Property tests over the fuzzing harnesses (`server::fuzzing`), with
//! generators that reach deep where random bytes rarely go: valid-looking
//! reports carrying hostile strings, edge floats and edge timestamps; sample
//! walks that take every branch of the chunk layout; subscribe messages
//! around the glob limits; rule files mutated from valid ones.
//!
//! Case counts are bounded so the four together take a few seconds; the
//! cargo-fuzz targets in `fuzz/` run the same harnesses for as long as one
//! wants.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config;
use server::aggregator::{Limits, SeriesIndex};
use server::alerts::DEFAULT_RULES;
use server::fuzzing::{self, HOSTILE_STRINGS, NOW_MS};
use server::model::AGENT_METRICS;
use server::proto::{Label, Report, Sample};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A hostile string, an agent metric name, a string at a length limit, or
/// any string.
fn text(around_len: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(HOSTILE_STRINGS).prop_map(str::to_owned),
        2 => prop::sample::select(AGENT_METRICS).prop_map(|(m, _)| m.to_owned()),
        1 => (prop::sample::select(&["a", "é", "💥"][..]), 0..=1usize).prop_map(move |(c, extra)| {
            let len = around_len + extra;
            let mut s = c.repeat(len.div_ceil(c.len()));
            s.truncate(s.floor_char_boundary(len));
            s
        }),
        1 => "[a-z_][a-z0-9_]{0,12}",
        1 => any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            5e-324,
            -5e-324,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            -1.0,
            -1.000_000_001,
            101.0,
            101.000_000_001,
            100.0,
        ]),
        any::<u64>().prop_map(f64::from_bits),
        any::<i16>().prop_map(|n| f64::from(n) / 8.0),
    ]
}

fn timestamp() -> impl Strategy<Value = i64> {
    let day = 86_400_000;
    let five_min = 300_000;
    prop_oneof![
        prop::sample::select(vec![
            NOW_MS,
            NOW_MS - day,
            NOW_MS - day - 1,
            NOW_MS + five_min,
            NOW_MS + five_min + 1,
            0,
            -1,
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
        ]),
        (-2 * day..=2 * five_min).prop_map(|d| NOW_MS + d),
        any::<i64>(),
    ]
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        text(128),
        prop_oneof![
            4 => prop::collection::vec((text(128), text(256)), 0..4),
            1 => prop::collection::vec((text(128), text(256)), 15..19),
        ],
        value(),
    )
        .prop_map(|(name, labels, value)| Sample {
            name,
            labels: labels
                .into_iter()
                .map(|(name, value)| Label { name, value })
                .collect(),
            value,
        })
}

fn report() -> impl Strategy<Value = Report> {
    (
        text(253),
        any::<u64>(),
        timestamp(),
        prop::collection::vec(sample(), 0..12),
    )
        .prop_map(|(host, seq, timestamp_ms, samples)| Report {
            host,
            seq,
            timestamp_ms,
            samples,
            ..Default::default()
        })
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (0..6usize, 0..6usize, 0..4usize).prop_map(|(samples, series, labels)| Limits {
            max_samples_per_report: samples,
            max_series_per_host: series,
            max_labels: labels,
            max_age: Duration::from_secs(3600),
            ..Limits::default()
        }),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn validation_accounts_for_every_sample_of_hostile_reports(
        limits in limits(),
        reports in prop::collection::vec(report(), 1..4),
    ) {
        let index = SeriesIndex::default();
        for r in reports {
            fuzzing::report_invariants(r, &limits, NOW_MS, &index);
        }
    }
}

/// Sample sequences: regular walks with jitter and repeated values, jumps,
/// and arbitrary pairs.
fn samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
    let step = prop_oneof![
        Just((0i64, 0u64)),
        (-70i64..70, any::<u8>().prop_map(u64::from)),
        (-3000i64..3000, any::<u64>()),
        (any::<i64>(), any::<u64>()),
    ];
    prop_oneof![
        (
            any::<i64>(),
            any::<u64>(),
            prop::collection::vec(step, 0..200)
        )
            .prop_map(|(start, bits0, steps)| {
                let (mut ts, mut delta, mut bits) = (start, 5000i64, bits0);
                steps
                    .into_iter()
                    .map(|(jitter, flip)| {
                        delta = delta.wrapping_add(jitter);
                        ts = ts.wrapping_add(delta);
                        bits ^= flip;
                        (ts, f64::from_bits(bits))
                    })
                    .collect()
            }),
        prop::collection::vec((any::<i64>(), value()), 0..50),
    ]
}

/// A valid blob with some bytes changed, cut short or extended.
fn damaged_blob() -> impl Strategy<Value = Vec<u8>> {
    (
        samples(),
        any::<bool>(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 0..4),
    )
        .prop_map(|(samples, chunk, flips, cut, tail)| {
            let mut blob = if chunk {
                server::store::encode_chunk(&samples)
            } else {
                let mut rows = samples;
                rows.sort_by_key(|r| r.0);
                rows.dedup_by_key(|r| r.0);
                fuzzing::encode_report(&mut rows)
            };
            for (at, byte) in flips {
                let i = at.index(blob.len());
                blob[i] ^= byte;
            }
            blob.truncate(cut.index(blob.len() + 1));
            blob.extend(tail);
            blob
        })
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn any_samples_round_trip_bit_for_bit(samples in samples()) {
        fuzzing::chunk_round_trip(&samples);
        fuzzing::report_blob_round_trip(&samples);
    }

    #[test]
    fn damaged_blobs_decode_to_an_error_or_bounded_samples(
        blob in prop_oneof![damaged_blob(), prop::collection::vec(any::<u8>(), 0..64)]
    ) {
        fuzzing::decode_invariants(&blob);
    }
}

/// Subscribe messages: valid ones with hostile or too many globs, other
/// JSON shapes, and valid ones cut short or with text spliced in.
fn ws_text() -> impl Strategy<Value = String> {
    let globs = || prop::collection::vec(text(256), 0..70);
    let valid = (globs(), globs()).prop_map(|(hosts, metrics)| {
        serde_json::json!({"type": "subscribe", "hosts": hosts, "metrics": metrics}).to_string()
    });
    let shapes = prop::sample::select(vec![
        "",
        "null",
        "[]",
        "{}",
        r#"{"type":"subscribe"}"#,
        r#"{"type":"subscribe","hosts":null}"#,
        r#"{"type":"subscribe","hosts":[1]}"#,
        r#"{"type":"subscribe","hosts":["a"],"hosts":["b"]}"#,
        r#"{"type":"SUBSCRIBE"}"#,
        r#"{"type":"subscribe","metrics":["\ud800"]}"#,
        r#"{"type":"subscribe","extra":true}"#,
        "{\"type\":\"subscribe\",\"hosts\":[\"\\u0000\"]}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ])
    .prop_map(str::to_owned);
    let base = prop_oneof![valid, shapes];
    (
        base,
        any::<prop::sample::Index>(),
        prop_oneof![Just(String::new()), text(8)],
        any::<bool>(),
    )
        .prop_map(|(text, at, splice, cut)| {
            let i = text.floor_char_boundary(at.index(text.len() + 1));
            if cut {
                text[..i].to_owned()
            } else {
                format!("{}{splice}{}", &text[..i], &text[i..])
            }
        })
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn ws_client_messages_are_answered_or_explained(text in ws_text()) {
        fuzzing::ws_invariants(&text);
    }
}

/// Rule files to mutate: the built-in rules and a file with every key.
fn base_rules() -> impl Strategy<Value = String> {
    prop::sample::select(vec![DEFAULT_RULES.to_owned(), FULL_RULE.to_owned()])
}

const FULL_RULE: &str = r#"groups:
  - name: host
    rules:
      - alert: HostHighCpu
        expr: cpu_usage_percent{host=~"web-.*"} > 90
        for: 5m
        keep_firing_for: 1m
        recover: 80
        labels: {severity: warning}
        annotations:
          summary: "CPU on {{ $labels.host }} at {{ $value | printf \"%.1f\" }}%"
          detail: "{{ $value | humanize1024 }} {{ $value | humanizePercentage }}"
          plain: value {{ $value | humanize }} on {{ $labels.host }}
      - alert: MemoryNearlyFull
        expr: memory_used_bytes >= memory_total_bytes * 0.9
      - alert: HostDown
        expr: cpu_usage_percent
        absent_for: 2m
"#;

/// Snippets a typo or an attacker would splice into a rule file.
const RULE_SNIPPETS: &[&str] = &[
    "\n",
    "\r",
    "\t",
    "  ",
    "- ",
    ": ",
    "#",
    "'",
    "\"",
    "{",
    "[",
    "|",
    ">",
    "&a ",
    "*a",
    "!!binary ",
    "---\n",
    "...",
    "~",
    "\u{2028}",
    "\u{feff}",
    "{{ $value | printf \"%.70000f\" }}",
    "{{ $value | printf \\\"%.70000f\\\" }}",
    "{{ $value | printf \"%.99999999999999999999f\" }}",
    "{{ $value | printf \"%d%%\" }}",
    "{{ $labels.",
    "=~\"(\"",
    "=~\"a{1000}{1000}\"",
    "> +inf",
    "> nan",
    "/ 0",
    "* 1e309",
    "99999999999999999999999h",
    "1y",
    "-5m",
    "0",
    "record: x",
    "absent_for: 1m",
    "recover: -1",
    "for: 1h30m",
];

#[derive(Clone, Debug)]
enum Edit {
    Insert(prop::sample::Index, &'static str),
    Delete(prop::sample::Index, usize),
    DuplicateLine(prop::sample::Index),
    Indent(prop::sample::Index, bool),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), prop::sample::select(RULE_SNIPPETS)).prop_map(|(a, s)| Edit::Insert(a, s)),
        2 => (any::<prop::sample::Index>(), 1..40usize).prop_map(|(a, n)| Edit::Delete(a, n)),
        1 => any::<prop::sample::Index>().prop_map(Edit::DuplicateLine),
        1 => (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(a, deeper)| Edit::Indent(a, deeper)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let at = |i: &prop::sample::Index| text.floor_char_boundary(i.index(text.len() + 1));
    match edit {
        Edit::Insert(i, s) => {
            let i = at(i);
            format!("{}{s}{}", &text[..i], &text[i..])
        }
        Edit::Delete(i, n) => {
            let start = at(i);
            let end = text.floor_char_boundary((start + n).min(text.len()));
            format!("{}{}", &text[..start], &text[end..])
        }
        Edit::DuplicateLine(i) | Edit::Indent(i, _) => {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if lines.is_empty() {
                return text.to_owned();
            }
            let n = i.index(lines.len());
            match edit {
                Edit::DuplicateLine(_) => lines.insert(n, lines[n].clone()),
                Edit::Indent(_, true) => lines[n].insert_str(0, "  "),
                _ => lines[n] = lines[n].trim_start().to_owned(),
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(config(120))]

    #[test]
    fn rule_files_mutated_from_valid_ones_are_checked_without_a_panic(
        base in base_rules(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let text = edits.iter().fold(base, |text, e| apply(&text, e));
        fuzzing::rule_invariants(&text);
    }
}
