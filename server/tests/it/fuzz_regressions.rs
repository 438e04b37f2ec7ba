//! Regression tests for what fuzzing the untrusted-input parsers found, each
//! named after what broke and driven through the real entry point (a gRPC
//! stream, a rule file's text, a stored blob).

use std::collections::BTreeMap;

use server::alerts::{Severity, check};
use server::fuzzing;
use server::proto::{Report, Sample};
use server::store::decode_chunk;
use server::testkit::Pipeline;
use server::time::now_ms;

use crate::harness::RawAgent;

fn report(seq: u64, timestamp_ms: i64) -> Report {
    Report {
        host: "web-1".into(),
        seq,
        timestamp_ms,
        samples: vec![Sample {
            name: "load1".into(),
            labels: vec![],
            value: 0.5,
        }],
        ..Default::default()
    }
}

/// `now - timestamp` overflowed for a timestamp near `i64::MIN` (and its
/// negation for one near `i64::MAX`), which panicked the stream's task in a
/// debug build and misnamed the problem in a release one.
#[tokio::test]
async fn a_report_timestamped_at_the_ends_of_i64_is_rejected_not_a_panic() {
    let pipeline = Pipeline::builder().start().await;
    let agg = pipeline.aggregator();
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;

    for (seq, ts, expect) in [
        (1, i64::MIN, "older than"),
        (2, i64::MIN + 1, "older than"),
        (3, i64::MAX, "in the future"),
    ] {
        let ack = agent.send(report(seq, ts)).await;
        assert_eq!((ack.accepted, ack.rejected), (0, 1), "timestamp {ts}");
        assert_eq!(ack.reasons[0].index, -1);
        assert!(
            ack.reasons[0].reason.contains(expect),
            "timestamp {ts}: {}",
            ack.reasons[0].reason
        );
    }
    // The same stream still takes a good report.
    let ack = agent.send(report(4, now_ms())).await;
    assert_eq!((ack.accepted, ack.rejected), (1, 0));
    pipeline.stop().await;
}

const PRINTF_RULE: &str = r#"groups:
  - name: host
    rules:
      - alert: HostHighCpu
        expr: cpu_usage_percent > 90
        annotations:
          summary: 'CPU at {{ $value | printf "%.PRECISIONf" }}%'
"#;

/// `printf "%.70000f"` passed `mon alerts check` and then panicked the
/// alerts role when the alert fired: the formatter refuses more than
/// `u16::MAX` decimals.
#[test]
fn a_printf_precision_past_the_formatter_limit_is_a_check_error_not_a_panic_when_firing() {
    for precision in ["21", "70000", "99999999999999999999"] {
        let checked = check(&PRINTF_RULE.replace("PRECISION", precision));
        assert_eq!(
            checked.errors(),
            1,
            "%.{precision}f: {:?}",
            checked.problems
        );
        let p = &checked.problems[0];
        assert_eq!(p.line, 7, "{p}");
        assert!(p.message.contains(&format!("%.{precision}f")), "{p}");
        assert!(
            p.message.contains("at most 20") || p.hint.as_deref().unwrap_or("").contains("%.1f"),
            "the problem does not say what is accepted: {p}"
        );
    }
    let checked = check(&PRINTF_RULE.replace("PRECISION", "20"));
    assert_eq!(checked.errors(), 0, "{:?}", checked.problems);
    let summary = &checked.rules.rules[0].annotations["summary"];
    let labels = BTreeMap::new();
    assert_eq!(
        summary.render(&labels, 97.5),
        "CPU at 97.50000000000000000000%"
    );
    assert!(
        summary
            .render(&labels, f64::MAX)
            .starts_with("CPU at 1797693")
    );
}

/// The YAML reader places an error found at the end of the text on a line
/// past the last one, so `mon alerts check` pointed at a line the file does
/// not have.
#[test]
fn a_yaml_error_at_the_end_of_a_file_points_at_its_last_line() {
    let cut = "groups:\n  - name: host\n    rules:\n      - alert: HostDown\n        expr: cpu_usage_percent\n        absent";
    for text in [cut.to_owned(), format!("{cut}\n")] {
        let checked = check(&text);
        let errors: Vec<_> = checked
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{text:?}: {:?}", checked.problems);
        assert!(
            errors[0].message.contains("not valid YAML"),
            "{}",
            errors[0]
        );
        assert_eq!(errors[0].line, 6, "{text:?}: {}", errors[0]);
    }
}

/// A damaged count made a blob of a few bytes reserve room for a million
/// samples (a chunk) or a hundred thousand (a head row) before failing.
#[test]
fn a_blob_claiming_more_samples_than_its_bytes_hold_is_refused_before_allocating() {
    // Tag 1, then a varint count of 2^35.
    let chunk = [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    let err = decode_chunk(&chunk).unwrap_err().to_string();
    assert!(err.contains("more samples than bytes"), "{err}");
    let head = [
        0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let err = fuzzing::decode_report(&head).unwrap_err().to_string();
    assert!(err.contains("more samples than bytes"), "{err}");

    // The bound is exact: a chunk of one sample per two bits still decodes.
    let samples: Vec<(i64, f64)> = (0..1000).map(|i| (i * 5000, 1.0)).collect();
    let blob = server::store::encode_chunk(&samples);
    assert_eq!(decode_chunk(&blob).unwrap().len(), 1000);
}
