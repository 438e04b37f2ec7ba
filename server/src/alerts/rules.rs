//! Rule files: Prometheus' alerting-rule YAML (`groups[].rules[]`) with two
//! extensions, `recover` (hysteresis) and `absent_for` (per-host no-data).
//!
//! Reading a file checks all of it and collects every problem with its line
//! and a suggested fix, rather than stopping at the first: `mon alerts check`
//! prints them, and a role refuses to start on any error. Warnings (a metric
//! the agent does not send, a key Prometheus has but mon ignores) never
//! stop anything.

mod check;

use std::collections::BTreeMap;
use std::fmt;

pub use check::check;

use super::expr::Expr;
use super::template::Template;

/// The rules `mon serve` and `mon alerts` run when given no `--rules`.
pub const DEFAULT_RULES: &str = include_str!("default_rules.yaml");

#[derive(Clone, Debug)]
pub struct Rule {
    pub group: String,
    pub name: String,
    pub expr: Expr,
    pub expr_text: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    /// Once firing, the alert holds until the value crosses this threshold.
    pub recover: Option<f64>,
    /// A no-data rule: fires for a host silent on the selector this long.
    pub absent_for_ms: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, Template>,
    /// Stable identity of the rule (group, name, expr and labels hashed), so
    /// a restored alert finds its rule again, and an edited rule's alerts
    /// are resolved rather than misattributed.
    pub key: String,
}

#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub groups: usize,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a rule file.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "line {}: {kind}: {}", self.line, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rule file {path}: {message}")]
    Read { path: String, message: String },
    #[error("rule file {path} has {} error(s):\n{}", errors.len(), list(errors))]
    Invalid { path: String, errors: Vec<Problem> },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The outcome of checking a file: the rules that are valid, and every problem.
#[derive(Debug, Default)]
pub struct Checked {
    pub rules: RuleSet,
    pub problems: Vec<Problem>,
}

impl Checked {
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }
}

impl RuleSet {
    /// Reads a rule file's text; `path` only names it in errors. Returns the
    /// rules and the warnings, or every error.
    pub fn parse(path: &str, text: &str) -> Result<(RuleSet, Vec<Problem>), RulesError> {
        let checked = check(text);
        if checked.errors() > 0 {
            return Err(RulesError::Invalid {
                path: path.to_owned(),
                errors: checked
                    .problems
                    .into_iter()
                    .filter(|p| p.severity == Severity::Error)
                    .collect(),
            });
        }
        Ok((checked.rules, checked.problems))
    }

    /// The embedded default rules.
    pub fn defaults() -> RuleSet {
        check(DEFAULT_RULES).rules
    }
}

#[cfg(test)]
mod tests;
