//! Checking a rule file: a walk over the YAML values that records every
//! problem, each on the line [`Outline`] finds for it, and compiles the
//! rules that have none.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_norway::{Mapping, Value};

use super::{Checked, Problem, Rule, Severity};
use crate::alert::Fnv;
use crate::alerts::expr::{self, Cmp, Expr, Rhs};
use crate::alerts::outline::{Outline, Seg, at};
use crate::alerts::template::Template;
use crate::model::AGENT_METRICS;

const RULE_KEYS: &[&str] = &[
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
    "recover",
    "absent_for",
];
const GROUP_KEYS: &[&str] = &[
    "name",
    "rules",
    "interval",
    "limit",
    "query_offset",
    "labels",
];

/// Checks a rule file and compiles its valid rules.
pub fn check(text: &str) -> Checked {
    let mut c = Checker {
        outline: Outline::scan(text),
        out: Checked::default(),
    };
    let doc: Value = match serde_norway::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            // The YAML reader puts an error it finds at the end of the text
            // on a line past the last one; point at the last line instead.
            let last = text.lines().count().max(1);
            let line = e.location().map_or(1, |l| l.line()).clamp(1, last);
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            c.problem(
                line,
                Severity::Error,
                format!("not valid YAML: {message}"),
                Some("check the indentation and quoting around this line".into()),
            );
            return c.out;
        }
    };
    c.file(&doc);
    c.out.problems.sort_by_key(|p| p.line);
    c.out
}

struct Checker {
    outline: Outline,
    out: Checked,
}

impl Checker {
    fn problem(&mut self, line: usize, severity: Severity, message: String, hint: Option<String>) {
        self.out.problems.push(Problem {
            line,
            severity,
            message,
            hint,
        });
    }

    fn error(&mut self, at: &[Seg], message: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        let line = self.outline.line(at);
        self.problem(
            line,
            Severity::Error,
            message.into(),
            (!hint.is_empty()).then_some(hint),
        );
    }

    fn warning(&mut self, at: &[Seg], message: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        let line = self.outline.line(at);
        self.problem(
            line,
            Severity::Warning,
            message.into(),
            (!hint.is_empty()).then_some(hint),
        );
    }

    fn file(&mut self, doc: &Value) {
        let Some(top) = doc.as_mapping() else {
            self.error(
                &[],
                "a rule file is a mapping with a `groups` list",
                "start the file with `groups:`",
            );
            return;
        };
        self.unknown_keys(top, &[], &["groups"]);
        let Some(groups) = top.get("groups").and_then(Value::as_sequence) else {
            self.error(
                &[],
                "the file has no `groups` list",
                "start the file with `groups:` and a list of `- name: ...` entries",
            );
            return;
        };
        let mut names = HashSet::new();
        for (g, group) in groups.iter().enumerate() {
            let at = at!["groups", g];
            let Some(group) = group.as_mapping() else {
                self.error(
                    &at,
                    "a group is a mapping with `name` and `rules`",
                    "write `- name: host` and a `rules:` list",
                );
                continue;
            };
            self.out.rules.groups += 1;
            self.unknown_keys(group, &at, GROUP_KEYS);
            for ignored in ["interval", "limit", "query_offset", "labels"] {
                if group.contains_key(ignored) {
                    let mut p = at.clone();
                    p.push(ignored.into());
                    self.warning(
                        &p,
                        format!("group key `{ignored}` is ignored"),
                        "mon evaluates rules as samples arrive, with timers on a one-second tick",
                    );
                }
            }
            let name = match group.get("name").and_then(Value::as_str) {
                Some(n) if !n.is_empty() => n.to_owned(),
                _ => {
                    self.error(
                        &at,
                        "a group needs a `name`",
                        "add `name: host` (any unique text)",
                    );
                    format!("group{g}")
                }
            };
            if !names.insert(name.clone()) {
                self.error(
                    &[at.as_slice(), &at!["name"]].concat(),
                    format!("group name {name:?} is used twice"),
                    "give every group its own name",
                );
            }
            let Some(rules) = group.get("rules").and_then(Value::as_sequence) else {
                self.error(
                    &at,
                    format!("group {name:?} has no `rules` list"),
                    "add `rules:` with `- alert: ...` entries",
                );
                continue;
            };
            for (r, rule) in rules.iter().enumerate() {
                let at = at!["groups", g, "rules", r];
                if let Some(rule) = self.rule(&name, rule, &at) {
                    self.out.rules.rules.push(rule);
                }
            }
        }
    }

    fn unknown_keys(&mut self, map: &Mapping, at: &[Seg], known: &[&str]) {
        for key in map.keys() {
            let Some(key) = key.as_str() else { continue };
            if known.contains(&key) {
                continue;
            }
            let mut p = at.to_vec();
            p.push(key.into());
            let hint = match key {
                "record" => {
                    "mon runs alerting rules only; drop recording rules from this file".to_owned()
                }
                _ => match closest(key, known.iter().copied()) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("accepted here: {}", known.join(", ")),
                },
            };
            self.error(&p, format!("unknown key `{key}`"), hint);
        }
    }

    fn rule(&mut self, group: &str, value: &Value, at: &[Seg]) -> Option<Rule> {
        let Some(map) = value.as_mapping() else {
            self.error(
                at,
                "a rule is a mapping with `alert` and `expr`",
                "write `- alert: Name` and `expr: metric > 90`",
            );
            return None;
        };
        let errors_before = self.out.errors();
        self.unknown_keys(map, at, RULE_KEYS);
        let field = |k: &str| [at, &[Seg::from(k)]].concat();

        let name = match map.get("alert") {
            Some(Value::String(n)) if valid_name(n) => n.clone(),
            Some(other) => {
                self.error(
                    &field("alert"),
                    format!("alert name {} is not valid", show(other)),
                    "use letters, digits and _, not starting with a digit, e.g. HostHighCpu",
                );
                String::new()
            }
            None => {
                self.error(
                    at,
                    "a rule needs an `alert` name",
                    "add `alert: HostHighCpu`",
                );
                String::new()
            }
        };
        let expr_text = match map.get("expr") {
            Some(Value::String(e)) => Some(e.clone()),
            Some(other) => {
                self.error(
                    &field("expr"),
                    format!("expr {} is not text", show(other)),
                    "write e.g. `expr: cpu_usage_percent > 90`",
                );
                None
            }
            None => {
                self.error(
                    at,
                    format!("rule {name:?} has no `expr`"),
                    "add e.g. `expr: cpu_usage_percent > 90`",
                );
                None
            }
        };
        let expr = expr_text
            .as_deref()
            .and_then(|text| match expr::parse(text) {
                Ok(e) => Some(e),
                Err(e) => {
                    self.error(
                        &field("expr"),
                        format!("expr {text:?}: {} at column {}", e.message, e.offset + 1),
                        e.hint,
                    );
                    None
                }
            });
        if let Some(e) = &expr {
            self.metrics(e, &field("expr"));
        }
        let for_ms = self.duration(map, "for", at).unwrap_or(0);
        let keep_firing_for_ms = self.duration(map, "keep_firing_for", at).unwrap_or(0);
        let absent_for_ms = self.duration(map, "absent_for", at);
        let recover = match map.get("recover") {
            None => None,
            Some(v) => {
                match v.as_f64().filter(|n| n.is_finite()) {
                    Some(n) => Some(n),
                    None => {
                        self.error(&field("recover"), format!("recover {} is not a finite number", show(v)), "write the threshold that ends the alert, e.g. `recover: 80` for `> 90`");
                        None
                    }
                }
            }
        };
        match (&expr, absent_for_ms) {
            (Some(Expr::Selector(_)), None) => self.error(&field("expr"), format!("expr {:?} has no comparison", expr_text.as_deref().unwrap_or_default()), "add one such as `> 90`, or `absent_for: 1m` to alert when the metric stops arriving"),
            (Some(Expr::Compare { .. }), Some(_)) => self.error(&field("absent_for"), "a no-data rule watches a bare metric, not a comparison", "write `expr: cpu_usage_percent` here and put the threshold in a rule of its own"),
            _ => {}
        }
        if let (Some(r), Some(e)) = (recover, &expr) {
            self.recover(r, e, &field("recover"));
        }
        let labels = self.strings(map, "labels", at, true);
        let annotations = self.strings(map, "annotations", at, false);
        let mut templates = BTreeMap::new();
        for (k, text) in &annotations {
            match Template::parse(text) {
                Ok(t) => {
                    templates.insert(k.clone(), t);
                }
                Err(e) => self.error(
                    &[field("annotations"), at![k.as_str()]].concat(),
                    format!("annotation `{k}`: {}", e.message),
                    e.hint,
                ),
            }
        }
        if self.out.errors() > errors_before {
            return None;
        }
        let (expr, expr_text) = (expr?, expr_text?);
        let mut hash = Fnv::default();
        for part in [group, &name, &expr_text] {
            hash.write(part.as_bytes());
            hash.write(&[0]);
        }
        for (k, v) in &labels {
            hash.write(format!("{k}={v}\0").as_bytes());
        }
        Some(Rule {
            group: group.to_owned(),
            name,
            expr,
            expr_text,
            for_ms,
            keep_firing_for_ms,
            recover,
            absent_for_ms,
            labels,
            annotations: templates,
            key: format!("{:016x}", hash.0),
        })
    }

    fn duration(&mut self, map: &Mapping, key: &str, at: &[Seg]) -> Option<i64> {
        let v = map.get(key)?;
        let p = [at, &[Seg::from(key)]].concat();
        let hint = "write a duration such as 30s, 5m, 1h or 1h30m";
        match v {
            Value::String(s) => match humantime::parse_duration(s) {
                Ok(d) if d <= Duration::from_secs(365 * 86_400) => Some(d.as_millis() as i64),
                Ok(_) => {
                    self.error(&p, format!("{key}: {s:?} is longer than a year"), hint);
                    None
                }
                Err(_) => {
                    self.error(&p, format!("{key}: {s:?} is not a duration"), hint);
                    None
                }
            },
            Value::Number(n) if n.as_f64() == Some(0.0) => Some(0),
            Value::Number(n) => {
                self.error(
                    &p,
                    format!("{key}: {n} has no unit"),
                    format!("write {n}s or {n}m"),
                );
                None
            }
            other => {
                self.error(
                    &p,
                    format!("{key}: {} is not a duration", show(other)),
                    hint,
                );
                None
            }
        }
    }

    fn strings(
        &mut self,
        map: &Mapping,
        key: &str,
        at: &[Seg],
        are_labels: bool,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(v) = map.get(key) else { return out };
        let p = [at, &[Seg::from(key)]].concat();
        let Some(m) = v.as_mapping() else {
            self.error(
                &p,
                format!("`{key}` must be a mapping of names to text"),
                format!("write `{key}:` and indented `name: value` lines"),
            );
            return out;
        };
        for (k, v) in m {
            let Some(k) = k.as_str() else { continue };
            let kp = [p.as_slice(), &[Seg::from(k)]].concat();
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    self.error(
                        &kp,
                        format!("{key}.{k}: {} is not text", show(other)),
                        "quote the value",
                    );
                    continue;
                }
            };
            if are_labels {
                if !valid_name(k) || k.starts_with("__") {
                    self.error(
                        &kp,
                        format!("label name {k:?} is not valid"),
                        "use letters, digits and _, not starting with a digit or __",
                    );
                    continue;
                }
                if k == "alertname" || k == "host" {
                    self.error(
                        &kp,
                        format!("label `{k}` is set by mon"),
                        "remove it; mon adds alertname and host to every alert",
                    );
                    continue;
                }
            }
            out.insert(k.to_owned(), text);
        }
        out
    }

    fn metrics(&mut self, expr: &Expr, at: &[Seg]) {
        for s in expr.selectors() {
            let Some((_, labels)) = AGENT_METRICS.iter().find(|(m, _)| *m == s.metric) else {
                match closest(&s.metric, AGENT_METRICS.iter().map(|(m, _)| *m)) {
                    Some(near) => self.error(at, format!("unknown metric `{}`", s.metric), format!("did you mean `{near}`?")),
                    None => self.warning(at, format!("`{}` is not a metric the mon agent sends", s.metric), "fine if another source reports it; the agent's metrics are listed in ARCHITECTURE.md"),
                }
                continue;
            };
            for m in &s.matchers {
                if m.label == "host" || labels.contains(&m.label.as_str()) {
                    continue;
                }
                let known = if labels.is_empty() {
                    "none besides host".to_owned()
                } else {
                    format!("{} and host", labels.join(", "))
                };
                let hint = match closest(&m.label, labels.iter().copied().chain(["host"])) {
                    Some(near) => format!("did you mean `{near}`? its labels are {known}"),
                    None => format!("its labels are {known}"),
                };
                self.error(
                    at,
                    format!("`{}` has no label `{}`", s.metric, m.label),
                    hint,
                );
            }
        }
    }

    fn recover(&mut self, recover: f64, expr: &Expr, at: &[Seg]) {
        let Expr::Compare {
            op,
            right: Rhs::Number(threshold),
            ..
        } = expr
        else {
            self.error(
                at,
                "recover needs a threshold: a comparison with a number",
                "use it with e.g. `expr: cpu_usage_percent > 90`",
            );
            return;
        };
        let ok = match op {
            Cmp::Gt | Cmp::Ge => recover <= *threshold,
            Cmp::Lt | Cmp::Le => recover >= *threshold,
            Cmp::Eq | Cmp::Ne => {
                self.error(
                    at,
                    format!(
                        "recover needs a <, <=, > or >= comparison, not {}",
                        op.as_str()
                    ),
                    "drop `recover` or compare with > or <",
                );
                return;
            }
        };
        if !ok {
            let side = if matches!(op, Cmp::Gt | Cmp::Ge) {
                "at or below"
            } else {
                "at or above"
            };
            self.error(
                at,
                format!(
                    "recover {recover} is on the firing side of {} {threshold}",
                    op.as_str()
                ),
                format!("the recovery threshold must be {side} {threshold}"),
            );
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(empty)".into(),
        Value::String(s) => format!("{s:?}"),
        other => serde_norway::to_string(other)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".into()),
    }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The candidate nearest to `word`, if it is near enough to be a typo.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).clamp(1, 4);
    // A prefix counts as near: `mountpoint` for `mount`, `cpu_usage` for `cpu_usage_percent`.
    let prefix =
        |c: &str| c.len().min(word.len()) >= 3 && (word.starts_with(c) || c.starts_with(word));
    candidates
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|&(d, c)| d <= limit || prefix(c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
