//! Rule file checking: one table of mistakes, each with the line it must be
//! reported on and a word of the suggested fix.

use super::*;

#[test]
fn the_default_rules_are_valid() {
    let checked = check(DEFAULT_RULES);
    assert_eq!(checked.problems, vec![]);
    assert_eq!(checked.rules.rules.len(), 6);
    assert!(
        checked
            .rules
            .rules
            .iter()
            .any(|r| r.absent_for_ms == Some(120_000))
    );
}

/// A valid file with `{}` replaced by the rule body under test.
fn file(rule: &str) -> String {
    format!("groups:\n  - name: host\n    rules:\n      - alert: A\n{rule}")
}

#[test]
fn each_mistake_is_reported_on_its_line_with_a_fix() {
    let cases: &[(&str, usize, &str, &str)] = &[
        // (rule body, line, words of the message, words of the hint)
        (
            "        expr: cpu_usage_percnt > 90\n",
            5,
            "unknown metric `cpu_usage_percnt`",
            "cpu_usage_percent",
        ),
        (
            "        expr: cpu_usage_percent => 90\n",
            5,
            "unknown comparison",
            ">=",
        ),
        (
            "        expr: cpu_usage_percent > 90\n        for: 5 minutes please\n",
            6,
            "not a duration",
            "5m",
        ),
        (
            "        expr: cpu_usage_percent > 90\n        for: 5\n",
            6,
            "has no unit",
            "5s",
        ),
        ("        for: 5m\n", 4, "no `expr`", "expr:"),
        (
            "        expr: cpu_usage_percent > 90\n        fro: 5m\n",
            6,
            "unknown key `fro`",
            "`for`",
        ),
        (
            "        expr: filesystem_used_percent{mountpoint=\"/\"} > 90\n",
            5,
            "no label `mountpoint`",
            "`mount`",
        ),
        (
            "        expr: cpu_usage_percent > 90\n        recover: 95\n",
            6,
            "firing side",
            "at or below 90",
        ),
        (
            "        expr: cpu_usage_percent\n",
            5,
            "no comparison",
            "absent_for",
        ),
        (
            "        expr: cpu_usage_percent > 1\n        absent_for: 1m\n",
            6,
            "bare metric",
            "rule of its own",
        ),
        (
            "        expr: cpu_usage_percent > 90\n        labels:\n          host: x\n",
            7,
            "set by mon",
            "remove",
        ),
        (
            "        expr: cpu_usage_percent > 90\n        annotations:\n          summary: \"{{ $value | humanise }}\"\n",
            7,
            "humanise",
            "humanize",
        ),
        (
            "        record: x\n        expr: cpu_usage_percent > 90\n",
            5,
            "unknown key `record`",
            "recording rules",
        ),
    ];
    for (body, line, message, hint) in cases {
        let checked = check(&file(body));
        let errors: Vec<&Problem> = checked
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{body}: {errors:?}");
        let p = errors[0];
        assert_eq!(p.line, *line, "{body}: {p}");
        assert!(p.message.contains(message), "{body}: {p}");
        assert!(
            p.hint.as_deref().unwrap_or_default().contains(hint),
            "{body}: {p}"
        );
        assert!(checked.rules.rules.is_empty());
    }
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = "\
groups:
  - name: a
    rules:
      - alert: One
        expr: memory_used_percnt > 90
      - alert: Two
        expr: cpu_usage_percent > 90
        for: soon
  - name: a
    rules:
      - alert: Three
        expr: load1 > 4
";
    let checked = check(text);
    let lines: Vec<usize> = checked.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [5, 8, 9], "{:?}", checked.problems);
    // The valid rule is still compiled.
    assert_eq!(checked.rules.rules.len(), 1);
}

#[test]
fn broken_yaml_is_reported_with_its_line() {
    let checked = check("groups:\n  - name: a\n    rules: [\n");
    assert_eq!(checked.errors(), 1);
    assert!(checked.problems[0].message.contains("not valid YAML"));
    assert!(checked.problems[0].line >= 3, "{:?}", checked.problems);
}

#[test]
fn a_metric_far_from_the_catalog_is_only_a_warning() {
    let checked = check(&file("        expr: http_requests_in_flight > 100\n"));
    assert_eq!(checked.errors(), 0);
    assert_eq!(checked.problems[0].severity, Severity::Warning);
    assert_eq!(checked.rules.rules.len(), 1);
}

#[test]
fn rule_keys_change_with_the_rule() {
    let a = &check(&file("        expr: load1 > 4\n")).rules.rules[0];
    let b = &check(&file("        expr: load1 > 5\n")).rules.rules[0];
    let a2 = &check(&file("        expr: load1 > 4\n")).rules.rules[0];
    assert_ne!(a.key, b.key);
    assert_eq!(a.key, a2.key);
}
