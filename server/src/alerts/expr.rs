//! The expression language of alerting rules: a small, PromQL-shaped subset.
//!
//! ```text
//! expr     = selector [ cmp rhs ]          a bare selector is for `absent_for` rules
//! rhs      = number | selector [ ("*" | "/") number ]
//! selector = metric [ "{" matcher { "," matcher } [","] "}" ]
//! matcher  = label ( "=" | "!=" | "=~" | "!~" ) string
//! cmp      = ">" | ">=" | "<" | "<=" | "==" | "!="
//! ```
//!
//! Regular expressions are anchored at both ends, as in Prometheus, and a
//! missing label matches as the empty string. The label `host` matches the
//! reporting host. A selector on the right is read from the same host and
//! pairs with left-hand series that have the same labels, or with its one
//! unlabelled series.

use std::fmt;

use regex::Regex;

use crate::model::SeriesKey;

#[derive(Clone, Debug)]
pub enum Expr {
    /// A bare selector: what a no-data (`absent_for`) rule watches.
    Selector(Selector),
    Compare {
        left: Selector,
        op: Cmp,
        right: Rhs,
    },
}

#[derive(Clone, Debug)]
pub enum Rhs {
    Number(f64),
    Series { selector: Selector, factor: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Cmp {
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<Matcher>,
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
    /// Compiled for `=~` and `!~`.
    regex: Option<Regex>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl Selector {
    /// Whether a series of `host` is selected.
    pub fn matches(&self, host: &str, key: &SeriesKey) -> bool {
        key.name == self.metric
            && self.matchers.iter().all(|m| {
                let value = match key.label(&m.label) {
                    Some(v) => v,
                    None if m.label == "host" => host,
                    None => "",
                };
                m.matches(value)
            })
    }
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "=" => MatchOp::Eq,
            "!=" => MatchOp::Ne,
            "=~" => MatchOp::Re,
            "!~" => MatchOp::NotRe,
            _ => return None,
        })
    }
}

impl Matcher {
    /// A matcher as the parser makes it, the regex compiled and anchored;
    /// the error is the regex crate's last line, the part that says why.
    pub fn new(label: String, op: MatchOp, value: String) -> Result<Self, String> {
        let regex = match op {
            MatchOp::Re | MatchOp::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| e.to_string().lines().last().unwrap_or_default().to_owned())?,
            ),
            _ => None,
        };
        Ok(Matcher {
            label,
            op,
            value,
            regex,
        })
    }

    /// Whether a label's value (the empty string when it is missing) matches.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Ne => value != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRe => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

/// A parse error: what is wrong, where (0-based byte offset), and the fix.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
    pub hint: String,
}

/// Rule-file syntax: `label="value"`, or single quotes when the value
/// holds a double quote (the syntax has no escapes).
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = if self.value.contains('"') { '\'' } else { '"' };
        write!(f, "{}{}{q}{}{q}", self.label, self.op.as_str(), self.value)
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at column {}; {}",
            self.message,
            self.offset + 1,
            self.hint
        )
    }
}

impl std::error::Error for ExprError {}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Number(f64),
    Str(String),
    Op(String),
    Open,
    Close,
    Comma,
    Star,
    Slash,
}

const CMP_HINT: &str = "compare with one of >, >=, <, <=, ==, !=";

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ExprError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        let start = i;
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '{' | '}' | ',' | '*' | '/' => {
                let tok = match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    '*' => Tok::Star,
                    _ => Tok::Slash,
                };
                out.push((start, tok));
                i += 1;
            }
            '"' | '\'' => {
                let end = text[i + 1..].find(c).ok_or_else(|| ExprError {
                    offset: start,
                    message: "unterminated string".into(),
                    hint: format!("close it with {c}"),
                })? + i
                    + 1;
                out.push((start, Tok::Str(text[i + 1..end].to_owned())));
                i = end + 1;
            }
            '=' | '!' | '<' | '>' | '~' => {
                while i < bytes.len() && matches!(bytes[i], b'=' | b'!' | b'<' | b'>' | b'~') {
                    i += 1;
                }
                out.push((start, Tok::Op(text[start..i].to_owned())));
            }
            c if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' => {
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'.'
                        || ((bytes[i] == b'-' || bytes[i] == b'+')
                            && matches!(bytes[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                let word = &text[start..i];
                // Rust also reads "+inf" and "-nan"; neither makes a
                // threshold (nothing compares true against NaN).
                let n: f64 = word
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| ExprError {
                        offset: start,
                        message: format!("{word:?} is not a finite number"),
                        hint: "write a plain number such as 90, 0.5 or 1e9".into(),
                    })?;
                out.push((start, Tok::Number(n)));
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
                {
                    i += 1;
                }
                out.push((start, Tok::Ident(text[start..i].to_owned())));
            }
            other => {
                return Err(ExprError {
                    offset: start,
                    message: format!("unexpected character {other:?}"),
                    hint: "an expression is a metric with optional {label=\"value\"} matchers, a comparison and a number or a second metric".into(),
                });
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.toks
            .get(self.pos)
            .map(|(o, _)| *o)
            .unwrap_or(self.text.len())
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn err(&self, message: impl Into<String>, hint: impl Into<String>) -> ExprError {
        ExprError {
            offset: self.offset(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    fn selector(&mut self) -> Result<Selector, ExprError> {
        let metric = match self.next() {
            Some(Tok::Ident(name)) => name,
            _ => {
                self.pos -= 1;
                return Err(self.err(
                    "expected a metric name",
                    "start with a metric such as cpu_usage_percent",
                ));
            }
        };
        let mut matchers = Vec::new();
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            loop {
                if self.peek() == Some(&Tok::Close) {
                    self.pos += 1;
                    break;
                }
                matchers.push(self.matcher()?);
                match self.next() {
                    Some(Tok::Comma) => {}
                    Some(Tok::Close) => break,
                    _ => {
                        self.pos -= 1;
                        return Err(self.err(
                            "expected , or } after a label matcher",
                            "separate matchers with commas and close them with }",
                        ));
                    }
                }
            }
        }
        Ok(Selector { metric, matchers })
    }

    fn matcher(&mut self) -> Result<Matcher, ExprError> {
        let label = match self.next() {
            Some(Tok::Ident(l)) => l,
            _ => {
                self.pos -= 1;
                return Err(self.err("expected a label name", "write label=\"value\""));
            }
        };
        let op_at = self.offset();
        let op = match self.next() {
            Some(Tok::Op(op)) => match op.as_str() {
                "=" => MatchOp::Eq,
                "!=" => MatchOp::Ne,
                "=~" => MatchOp::Re,
                "!~" => MatchOp::NotRe,
                other => {
                    return Err(ExprError {
                        offset: op_at,
                        message: format!("unknown label matcher {other:?}"),
                        hint: "match labels with =, !=, =~ or !~".into(),
                    });
                }
            },
            _ => {
                self.pos -= 1;
                return Err(self.err(
                    format!("expected a matcher after label {label:?}"),
                    "match labels with =, !=, =~ or !~",
                ));
            }
        };
        let value_at = self.offset();
        let value = match self.next() {
            Some(Tok::Str(v)) => v,
            _ => {
                self.pos -= 1;
                return Err(self.err(
                    "expected a quoted label value",
                    format!("write {label}=\"value\""),
                ));
            }
        };
        Matcher::new(label, op, value.clone()).map_err(|hint| ExprError {
            offset: value_at,
            message: format!("bad regular expression {value:?}"),
            hint,
        })
    }

    fn cmp(&mut self) -> Result<Cmp, ExprError> {
        let at = self.offset();
        let op = match self.next() {
            Some(Tok::Op(op)) => op,
            _ => {
                self.pos -= 1;
                return Err(self.err("expected a comparison", CMP_HINT));
            }
        };
        Ok(match op.as_str() {
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            "==" => Cmp::Eq,
            "!=" => Cmp::Ne,
            other => {
                let hint = match other {
                    "=>" => "did you mean >=?".into(),
                    "=<" => "did you mean <=?".into(),
                    "=" => "did you mean ==?".into(),
                    _ => CMP_HINT.to_owned(),
                };
                return Err(ExprError {
                    offset: at,
                    message: format!("unknown comparison {other:?}"),
                    hint,
                });
            }
        })
    }

    fn rhs(&mut self) -> Result<Rhs, ExprError> {
        if let Some(Tok::Number(n)) = self.peek() {
            let n = *n;
            self.pos += 1;
            return Ok(Rhs::Number(n));
        }
        let selector = self.selector()?;
        let factor = match self.peek() {
            Some(Tok::Star | Tok::Slash) => {
                let divide = self.next() == Some(Tok::Slash);
                match self.next() {
                    Some(Tok::Number(n)) if divide && n == 0.0 => {
                        self.pos -= 1;
                        return Err(self.err("division by zero", "divide by a non-zero number"));
                    }
                    Some(Tok::Number(n)) => {
                        if divide {
                            1.0 / n
                        } else {
                            n
                        }
                    }
                    _ => {
                        self.pos -= 1;
                        return Err(self.err(
                            "expected a number to scale by",
                            "write e.g. memory_total_bytes * 0.9",
                        ));
                    }
                }
            }
            _ => 1.0,
        };
        Ok(Rhs::Series { selector, factor })
    }
}

/// Parses a rule's `expr`.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let mut p = Parser {
        toks: lex(text)?,
        pos: 0,
        text,
    };
    if p.toks.is_empty() {
        return Err(p.err("empty expression", "write e.g. cpu_usage_percent > 90"));
    }
    let left = p.selector()?;
    if p.peek().is_none() {
        return Ok(Expr::Selector(left));
    }
    let op = p.cmp()?;
    if p.peek().is_none() {
        return Err(p.err(
            format!("nothing to compare with after {}", op.as_str()),
            "add a number or a second metric",
        ));
    }
    let right = p.rhs()?;
    if p.peek().is_some() {
        return Err(p.err(
            "unexpected text after the expression",
            "an expression is one comparison; write other conditions as separate rules",
        ));
    }
    Ok(Expr::Compare { left, op, right })
}

impl Expr {
    /// Every selector, left to right.
    pub fn selectors(&self) -> Vec<&Selector> {
        match self {
            Expr::Selector(s) => vec![s],
            Expr::Compare { left, right, .. } => match right {
                Rhs::Number(_) => vec![left],
                Rhs::Series { selector, .. } => vec![left, selector],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
        SeriesKey::with_labels(name, labels.iter().copied())
    }

    #[test]
    fn infinite_and_nan_thresholds_are_refused_by_name() {
        for text in [
            "cpu_usage_percent > +inf",
            "cpu_usage_percent > -nan",
            "load1 < 1e999",
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                e.message.contains("is not a finite number"),
                "{text}: {}",
                e.message
            );
        }
    }

    #[test]
    fn a_threshold_with_matchers_selects_the_right_series() {
        let Expr::Compare { left, op, right } =
            parse(r#"filesystem_used_percent{mount="/", fstype!~"tmp.*"} > 90"#).unwrap()
        else {
            panic!("a comparison")
        };
        assert_eq!(op, Cmp::Gt);
        assert!(matches!(right, Rhs::Number(n) if n == 90.0));
        let root = key(
            "filesystem_used_percent",
            &[("mount", "/"), ("fstype", "ext4")],
        );
        let tmp = key(
            "filesystem_used_percent",
            &[("mount", "/"), ("fstype", "tmpfs")],
        );
        let data = key("filesystem_used_percent", &[("mount", "/data")]);
        assert!(left.matches("h", &root));
        assert!(!left.matches("h", &tmp));
        assert!(!left.matches("h", &data));
    }

    #[test]
    fn regexes_are_anchored_and_host_is_a_label() {
        let Expr::Selector(s) = parse(r#"cpu_usage_percent{host=~"web-.*"}"#).unwrap() else {
            panic!("a selector")
        };
        assert!(s.matches("web-1", &key("cpu_usage_percent", &[])));
        assert!(!s.matches("db-web-1", &key("cpu_usage_percent", &[])));
    }

    #[test]
    fn a_second_metric_may_be_scaled() {
        let Expr::Compare { right, .. } =
            parse("memory_used_bytes >= memory_total_bytes * 0.9").unwrap()
        else {
            panic!("a comparison")
        };
        assert!(matches!(right, Rhs::Series { factor, .. } if factor == 0.9));
    }

    #[test]
    fn mistakes_are_reported_with_a_column_and_a_fix() {
        let cases = [
            ("cpu_usage_percent => 90", 19, "did you mean >="),
            ("cpu_usage_percent > ", 21, "add a number"),
            (
                r#"cpu_usage_percent{core="0" > 90"#,
                28,
                "close them with }",
            ),
            (r#"cpu_usage_percent{core=~"("} > 1"#, 25, ""),
            ("cpu_usage_percent > 90 and load1 > 2", 24, "separate rules"),
            ("", 1, "cpu_usage_percent > 90"),
            ("load1 > 9x", 9, "plain number"),
        ];
        for (text, column, hint) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.offset + 1, column, "{text}: {e}");
            assert!(e.hint.contains(hint), "{text}: {e}");
        }
    }
}
