//! Fuzzing harnesses for the four parsers that read untrusted input: report
//! validation (what any agent sends), the raw tier's byte layouts (what a
//! damaged file holds), the WebSocket client messages (what any browser
//! sends) and rule files (what `mon alerts check` is handed).
//!
//! Each `fn(&[u8])` here is the one entry point shared by the cargo-fuzz
//! targets in `fuzz/` and by the tests that replay their corpora on every
//! `cargo test`; the structured `*_invariants` functions beside them are what
//! the proptest properties call. The one thing to know: a harness panics only
//! on a real bug (a parser that panics, loses data, or accepts what it must
//! refuse), so every panic a fuzzer finds deserves a fix and a regression
//! test named after what broke.
//!
//! Structured inputs (reports, sample sequences) are decoded from the bytes
//! with the `arbitrary` crate, which cargo-fuzz's own tooling is built on, so
//! a fuzzer's mutations of a few bytes become a different host name, value or
//! timestamp rather than noise.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::aggregator::{
    Checked, Limits, SeriesIndex, StreamTable, check_stream_report, normalize_host,
};
use crate::alerts::{RuleSet, Severity, check};
use crate::fanout::message::{self, ClientMessage, Filter};
use crate::model::{AGENT_METRICS, Point, SeriesKey};
use crate::proto;
use crate::store::encoding::{self, Sample};

/// The head-blob codec, which the store keeps to itself: the properties in
/// the test suite damage real blobs with it.
pub use crate::store::encoding::{decode_report, encode_report, report_value};

/// A harness: takes any bytes, panics only on a bug.
pub type Harness = fn(&[u8]);

/// Every harness, by the name of its cargo-fuzz target and corpus folder.
pub const TARGETS: &[(&str, Harness)] = &[
    ("report_validation", report_validation),
    ("raw_encoding", raw_encoding),
    ("ws_client_message", ws_client_message),
    ("rule_file", rule_file),
];

/// The harness for a target name, as the corpus folders are named.
pub fn harness(target: &str) -> Option<Harness> {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, h)| *h)
}

/// The wall clock the validation harness runs at (2027-01-15): fixed, so a
/// corpus file means the same report on every run.
pub const NOW_MS: i64 = 1_800_000_000_000;

// ---------------------------------------------------------------------------
// Report validation
// ---------------------------------------------------------------------------

/// Decodes a few reports (and sometimes tight limits) from the bytes and
/// validates them through one series index, as one aggregator would.
pub fn report_validation(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(limits) = limits(&mut u) else { return };
    let index = SeriesIndex::default();
    let Ok(reports) = u.int_in_range(1..=3u8) else {
        return;
    };
    for _ in 0..reports {
        let Ok(report) = report(&mut u, &limits) else {
            return;
        };
        report_invariants(report, &limits, NOW_MS, &index);
    }
}

/// Validates one report and asserts what ingest relies on: every sample is
/// either accepted or rejected, every rejection says why, every accepted
/// point is within the documented bounds, and a replay through the same
/// index is judged the same way.
pub fn report_invariants(
    report: proto::Report,
    limits: &Limits,
    now_ms: i64,
    index: &SeriesIndex,
) -> Checked {
    let sent = report.samples.len() + report.ids.len();
    let replay = report.clone();
    // Interned samples refer to the report's own definitions: a table of a
    // stream that starts here.
    let mut table = StreamTable::new(limits.max_series_per_stream);
    let checked = check_stream_report(report, limits, now_ms, index, &mut table);
    let points = &checked.accepted.points;
    assert_eq!(
        points.len() + checked.rejected,
        sent,
        "accepted + rejected must equal the samples sent: {checked:?}"
    );
    if checked.rejected > 0 {
        assert!(!checked.rejections.is_empty(), "rejected without a reason");
    }
    for r in &checked.rejections {
        assert!(
            !r.reason.trim().is_empty(),
            "a rejection without a reason: {r:?}"
        );
        assert!(
            r.index == -1 || (0..sent as i64).contains(&i64::from(r.index)),
            "rejection index {} of a report of {sent} samples",
            r.index
        );
    }
    assert!(
        points.len() <= limits.max_samples_per_report,
        "{} points accepted, at most {} per report",
        points.len(),
        limits.max_samples_per_report
    );
    if !points.is_empty() {
        let host = &checked.accepted.host;
        assert_eq!(
            normalize_host(host, limits).as_ref(),
            Ok(host),
            "accepted host {host:?} is not normalized"
        );
        let ts = i128::from(checked.accepted.timestamp_ms);
        let now = i128::from(now_ms);
        assert!(
            ts >= now - limits.max_age.as_millis() as i128
                && ts <= now + limits.max_future.as_millis() as i128,
            "timestamp {ts} accepted at {now} outside the age limits"
        );
    }
    let mut keys = HashSet::new();
    for p in points {
        point_invariants(p, limits);
        assert!(keys.insert(&p.key), "series {} accepted twice", p.key);
    }
    let mut table = StreamTable::new(limits.max_series_per_stream);
    let again = check_stream_report(replay, limits, now_ms, index, &mut table);
    assert_eq!(
        summary(&again),
        summary(&checked),
        "a replayed report was judged differently"
    );
    checked
}

fn summary(c: &Checked) -> (Vec<(SeriesKey, u64)>, usize) {
    let points = c.accepted.points.iter();
    (
        points.map(|p| (p.key.clone(), p.value.to_bits())).collect(),
        c.rejected,
    )
}

/// The bounds of ARCHITECTURE.md's validation table, checked on one point.
fn point_invariants(p: &Point, limits: &Limits) {
    let (name, v) = (&p.key.name, p.value);
    assert!(v.is_finite(), "{} accepted with value {v}", p.key);
    assert!(
        is_name(name) && name.len() <= limits.max_name_len,
        "metric name {name:?} accepted"
    );
    if name.ends_with("_percent") {
        assert!((0.0..=100.0).contains(&v), "{name} accepted at {v}");
    }
    if name.ends_with("_bytes") || name.contains("_bytes_") {
        assert!(v >= 0.0, "{name} accepted at {v}");
    }
    let labels = &p.key.labels;
    assert!(labels.len() <= limits.max_labels, "{} labels", labels.len());
    assert!(
        labels.windows(2).all(|w| w[0].0 < w[1].0),
        "labels of {} are not sorted and unique",
        p.key
    );
    for (k, val) in labels {
        assert!(
            is_name(k) && k.len() <= limits.max_name_len,
            "label name {k:?}"
        );
        assert!(
            val.len() <= limits.max_label_value_len,
            "label value {val:?}"
        );
    }
    // The labels go to SQLite as JSON and must come back as the same series.
    let stored = SeriesKey::from_parts(name, &p.key.labels_json()).expect("labels JSON reads back");
    assert_eq!(&stored, &p.key, "labels changed through their JSON form");
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Strings a parser is likely to get wrong: empty, blank, upper case,
/// control characters, multi-byte characters around truncation points,
/// bidirectional overrides, injection attempts, globs and templates.
pub const HOSTILE_STRINGS: &[&str] = &[
    "",
    " ",
    "web-1",
    "WEB-1.Example.COM",
    "web 1",
    "wéb-1",
    "web\u{0}1",
    "web\n1",
    "\u{202e}1-bew",
    "a\u{301}",
    "💥",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "\"quoted\\\"",
    "%s%n%x",
    "{{ $value }}",
    "metrics.*",
    "*",
    "?",
    "_",
    "__name__",
    "1load",
    "load1",
    "cpu_usage_percent",
    "memory_used_bytes",
    "disk_read_bytes_per_second",
    "mount",
    "x_percent",
    "x_bytes",
    "ÿ",
    "\u{feff}",
    "\u{ffff}",
];

fn string(u: &mut Unstructured, around_len: usize) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 | 1 => (*u.choose(HOSTILE_STRINGS)?).to_owned(),
        2 => AGENT_METRICS[u.choose_index(AGENT_METRICS.len())?]
            .0
            .to_owned(),
        // Right at a length limit, or one past it.
        3 => {
            let c = *u.choose(&["a", "é", "_", "💥"])?;
            let len = around_len + u.int_in_range(0..=1)?;
            let mut s = c.repeat(len.div_ceil(c.len()));
            s.truncate(s.floor_char_boundary(len));
            s
        }
        _ => String::arbitrary(u)?,
    })
}

fn value(u: &mut Unstructured, limits: &Limits) -> arbitrary::Result<f64> {
    let tol = limits.percent_tolerance;
    let edges = [
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
        -tol,
        -tol - 1e-9,
        100.0 + tol,
        100.0 + tol + 1e-9,
        100.0,
    ];
    Ok(match u.int_in_range(0..=2u8)? {
        0 => *u.choose(&edges)?,
        1 => f64::from_bits(u.arbitrary()?),
        _ => f64::from(u.arbitrary::<i16>()?) / 8.0,
    })
}

fn timestamp(u: &mut Unstructured, limits: &Limits) -> arbitrary::Result<i64> {
    let age = limits.max_age.as_millis() as i64;
    let future = limits.max_future.as_millis() as i64;
    let edges = [
        NOW_MS,
        NOW_MS - age,
        NOW_MS - age - 1,
        NOW_MS + future,
        NOW_MS + future + 1,
        0,
        -1,
        i64::MIN,
        i64::MIN + 1,
        i64::MAX,
    ];
    Ok(match u.int_in_range(0..=3u8)? {
        0 | 1 => *u.choose(&edges)?,
        2 => NOW_MS + i64::from(u.arbitrary::<i32>()?),
        _ => u.arbitrary()?,
    })
}

fn limits(u: &mut Unstructured) -> arbitrary::Result<Limits> {
    if u.ratio(2, 3)? {
        return Ok(Limits::default());
    }
    // Tight limits reach the cap and truncation paths with few samples.
    Ok(Limits {
        max_host_len: u.int_in_range(1..=300)?,
        max_name_len: u.int_in_range(1..=130)?,
        max_labels: u.int_in_range(0..=17)?,
        max_label_value_len: u.int_in_range(0..=300)?,
        max_samples_per_report: u.int_in_range(0..=20)?,
        max_series_per_host: u.int_in_range(0..=20)?,
        max_age: Duration::from_secs(u.int_in_range(1..=3 * 86_400)?),
        max_future: Duration::from_secs(u.int_in_range(0..=3_600)?),
        percent_tolerance: f64::from(u.int_in_range(0..=8u8)?) / 4.0,
        ..Limits::default()
    })
}

fn report(u: &mut Unstructured, limits: &Limits) -> arbitrary::Result<proto::Report> {
    let host = string(u, limits.max_host_len)?;
    let timestamp_ms = timestamp(u, limits)?;
    let n = u.int_in_range(0..=32u8)?;
    let mut samples = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let name = string(u, limits.max_name_len)?;
        let count = u.int_in_range(0..=limits.max_labels.min(20) + 1)?;
        let mut labels = Vec::with_capacity(count);
        for _ in 0..count {
            labels.push(proto::Label {
                name: string(u, limits.max_name_len)?,
                value: string(u, limits.max_label_value_len)?,
            });
        }
        samples.push(proto::Sample {
            name,
            labels,
            value: value(u, limits)?,
        });
    }
    // Interned samples, drawn after the plain ones so that older corpora
    // decode as before: a few definitions (ids may repeat or be out of the
    // table), then references that may name undefined ids, and sometimes
    // fewer values than ids.
    let mut defs = Vec::new();
    for _ in 0..u.int_in_range(0..=4u8)? {
        defs.push(proto::SeriesDef {
            id: u.int_in_range(0..=8u32)?,
            name: string(u, limits.max_name_len)?,
            labels: Vec::new(),
        });
    }
    let refs = u.int_in_range(0..=8u8)?;
    let mut ids = Vec::with_capacity(usize::from(refs));
    let mut values = Vec::with_capacity(usize::from(refs));
    for _ in 0..refs {
        ids.push(u.int_in_range(0..=9u32)?);
        values.push(value(u, limits)?);
    }
    if u.ratio(1, 8)? {
        values.pop();
    }
    Ok(proto::Report {
        host,
        seq: u.arbitrary()?,
        timestamp_ms,
        samples,
        defs,
        ids,
        values,
        ..proto::Report::default()
    })
}

// ---------------------------------------------------------------------------
// Raw encoding
// ---------------------------------------------------------------------------

/// Decodes the bytes as a stored blob (chunk and head row), then reads them
/// as a sequence of samples and round-trips it through both layouts.
pub fn raw_encoding(data: &[u8]) {
    decode_invariants(data);
    let mut u = Unstructured::new(data);
    if let Ok(samples) = samples(&mut u) {
        chunk_round_trip(&samples);
        report_blob_round_trip(&samples);
    }
}

/// Decoding any bytes returns samples or an error, never a panic, and never
/// makes room for more samples than the bytes could hold.
pub fn decode_invariants(data: &[u8]) {
    match encoding::decode_chunk(data) {
        Ok(samples) => {
            // After the first sample, each costs at least two bits.
            let most = 1 + data.len() * 4;
            assert!(
                samples.capacity() <= most,
                "a {}-byte chunk made room for {} samples",
                data.len(),
                samples.capacity()
            );
            chunk_round_trip(&samples);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    match encoding::decode_report(data) {
        Ok(samples) => {
            // Each sample costs at least a one-byte id delta and 8 bytes.
            let most = data.len() / 9;
            assert!(
                samples.capacity() <= most,
                "a {}-byte head blob made room for {} samples",
                data.len(),
                samples.capacity()
            );
            // When the ids come out sorted, as the writer stores them, each
            // one is found by the lookup that skips the rest.
            if samples.windows(2).all(|w| w[0].0 < w[1].0) {
                for &(id, v) in &samples {
                    let found = encoding::report_value(data, id).expect("decoded once already");
                    assert_eq!(found.map(f64::to_bits), Some(v.to_bits()), "series {id}");
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    for id in [0, 1, -1, i64::MAX, i64::MIN] {
        let _ = encoding::report_value(data, id);
    }
}

/// Any sequence of (timestamp, value bits), in any order, comes back from a
/// chunk bit for bit: negative zero, subnormals and NaN payloads included.
pub fn chunk_round_trip(samples: &[Sample]) {
    let blob = encoding::encode_chunk(samples);
    let back = encoding::decode_chunk(&blob).expect("an encoded chunk decodes");
    assert_eq!(bits(&back), bits(samples), "chunk round trip");
}

/// Samples keyed by distinct series ids come back from a head blob bit for
/// bit, sorted by id, and each is found by `report_value`.
pub fn report_blob_round_trip(samples: &[Sample]) {
    let by_id: BTreeMap<i64, f64> = samples.iter().rev().copied().collect();
    let mut rows: Vec<(i64, f64)> = by_id.into_iter().collect();
    let blob = encoding::encode_report(&mut rows);
    let back = encoding::decode_report(&blob).expect("an encoded blob decodes");
    assert_eq!(bits(&back), bits(&rows), "head blob round trip");
    for &(id, v) in &rows {
        let found = encoding::report_value(&blob, id).expect("an encoded blob decodes");
        assert_eq!(found.map(f64::to_bits), Some(v.to_bits()), "series {id}");
    }
}

fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

/// A walk through time and values: mostly regular steps with jitter and
/// repeated or slightly changed values (what the agent sends), with jumps
/// to arbitrary timestamps and bit patterns, so every bucket and window
/// branch of the chunk layout is taken.
fn samples(u: &mut Unstructured) -> arbitrary::Result<Vec<Sample>> {
    let n = u.arbitrary_len::<[u8; 2]>()?.min(4096);
    let mut ts: i64 = u.arbitrary()?;
    let mut delta: i64 = 0;
    let mut bits: u64 = u.arbitrary()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match u.int_in_range(0..=4u8)? {
            0 => {}
            1 => delta = delta.wrapping_add(i64::from(u.arbitrary::<i8>()?)),
            2 => delta = delta.wrapping_add(i64::from(u.arbitrary::<i16>()?)),
            3 => delta = u.arbitrary()?,
            _ => ts = u.arbitrary()?,
        }
        ts = ts.wrapping_add(delta);
        match u.int_in_range(0..=3u8)? {
            0 => {}
            1 => bits ^= u64::from(u.arbitrary::<u8>()?) << u.int_in_range(0..=56)?,
            2 => bits = u.arbitrary()?,
            _ => {
                bits = u
                    .choose(&[0.0f64, -0.0, 5e-324, f64::NAN, f64::INFINITY, 1.0])?
                    .to_bits()
            }
        }
        out.push((ts, f64::from_bits(bits)));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// WebSocket client messages
// ---------------------------------------------------------------------------

/// Feeds the bytes to the WebSocket client-message parser as one text frame
/// (a WebSocket text frame is UTF-8, so invalid sequences are replaced).
pub fn ws_client_message(data: &[u8]) {
    ws_invariants(&String::from_utf8_lossy(data));
}

/// What a session does with a text frame, minus the socket: parse, build a
/// filter, answer `subscribed` or `error`. Errors say what is accepted and
/// travel in a readable `error` frame; accepted messages round-trip.
pub fn ws_invariants(text: &str) {
    let _ = wire::frame_type(text);
    let (hosts, metrics) = match ClientMessage::parse(text) {
        Ok(ClientMessage::Subscribe { hosts, metrics }) => (hosts, metrics),
        Ok(ClientMessage::Watch { host, hosts }) => {
            match message::watch_hosts(host.as_deref(), &hosts) {
                Ok(names) => {
                    assert!(names.len() <= hosts.len() + 1);
                    assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
                }
                Err(reason) => {
                    assert!(
                        reason.contains("characters") || reason.contains("at most"),
                        "{reason}"
                    );
                    error_frame_round_trip(&reason);
                }
            }
            return;
        }
        Err(reason) => {
            assert!(
                reason.contains(r#"expected {"type":"subscribe""#),
                "the error does not show what is accepted: {reason}"
            );
            error_frame_round_trip(&reason);
            return;
        }
    };
    let again = serde_json::json!({"type": "subscribe", "hosts": hosts, "metrics": metrics});
    assert_eq!(
        ClientMessage::parse(&again.to_string()),
        Ok(ClientMessage::Subscribe {
            hosts: hosts.clone(),
            metrics: metrics.clone()
        }),
        "a subscribe message did not round-trip"
    );
    let filter = match Filter::new(&hosts, &metrics) {
        Ok(f) => f,
        Err(reason) => {
            assert!(
                ["at most", "only `*` and `?`", "at least one character"]
                    .iter()
                    .any(|accepted| reason.contains(accepted)),
                "the error does not say what is accepted: {reason}"
            );
            error_frame_round_trip(&reason);
            return;
        }
    };
    let frame: serde_json::Value =
        serde_json::from_str(&message::subscribed(&filter)).expect("subscribed is JSON");
    assert_eq!(frame["type"], "subscribed");
    assert_eq!(frame["hosts"], serde_json::json!(hosts));
    assert_eq!(frame["metrics"], serde_json::json!(metrics));
    // A glob without wildcards matches itself; one with them matches its own
    // text too, since `*` and `?` each match themselves.
    for h in &hosts {
        assert!(filter.host(h), "host glob {h:?} does not match itself");
    }
    for m in &metrics {
        assert!(filter.metric(m), "metric glob {m:?} does not match itself");
    }
}

fn error_frame_round_trip(reason: &str) {
    let frame: serde_json::Value =
        serde_json::from_str(&message::error("bad_message", reason)).expect("error is JSON");
    assert_eq!(frame["type"], "error");
    assert_eq!(
        frame["message"], reason,
        "the error frame changed the reason"
    );
}

// ---------------------------------------------------------------------------
// Rule files
// ---------------------------------------------------------------------------

/// Feeds the bytes to the rule-file checker as the text of a file.
pub fn rule_file(data: &[u8]) {
    rule_invariants(&String::from_utf8_lossy(data));
}

/// Checks a rule file: never a panic, every problem on a line of the file
/// with a message, `RuleSet::parse` agreeing with `mon alerts check`, and
/// every compiled annotation rendering any value without a panic.
pub fn rule_invariants(text: &str) {
    let checked = check(text);
    let last_line = yaml_lines(text);
    for p in &checked.problems {
        assert!(
            (1..=last_line).contains(&p.line),
            "problem on line {} of a {last_line}-line file: {p}",
            p.line
        );
        assert!(!p.message.trim().is_empty(), "a problem without a message");
    }
    let errors = checked
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    assert_eq!(
        RuleSet::parse("fuzz.yaml", text).is_ok(),
        errors == 0,
        "RuleSet::parse and check disagree"
    );
    let labels = BTreeMap::from([
        ("host".to_owned(), "web-1".to_owned()),
        ("mount".to_owned(), "/".to_owned()),
    ]);
    for rule in &checked.rules.rules {
        assert!(!rule.expr.selectors().is_empty());
        assert!(rule.for_ms >= 0 && rule.keep_firing_for_ms >= 0);
        for template in rule.annotations.values() {
            for v in [
                0.0,
                -0.0,
                97.123,
                -1.5e-300,
                5e-324,
                f64::MAX,
                f64::MIN,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ] {
                let _ = template.render(&labels, v);
            }
        }
    }
}

/// Lines as the YAML reader counts them (`\n`, `\r\n`, a lone `\r`, and
/// the Unicode breaks); a break at the very end opens no new line.
fn yaml_lines(text: &str) -> usize {
    let mut lines = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let brk = match c {
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => true,
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                true
            }
            _ => false,
        };
        if brk && chars.peek().is_some() {
            lines += 1;
        }
    }
    lines
}
