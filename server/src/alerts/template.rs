//! Annotation templates: the part of Prometheus' Go templates that alert
//! annotations actually use.
//!
//! `{{ $labels.<name> }}` is a label of the alert (`host` included),
//! `{{ $value }}` the value that made the latest transition, optionally piped
//! through `humanize`, `humanize1024`, `humanizePercentage` or
//! `printf "%.1f"`. Templates are compiled when the rule file is read, so a
//! typo is a `mon alerts check` error, never a broken notification.

use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Label(String),
    Value(Format),
}

#[derive(Clone, Debug, PartialEq)]
enum Format {
    Plain,
    Humanize,
    Humanize1024,
    Percentage,
    /// `printf`: the text around one `%d` / `%f` / `%.Nf` verb.
    Printf {
        before: String,
        precision: Option<usize>,
        integer: bool,
        after: String,
    },
}

/// What is wrong with a template, and the fix.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateError {
    pub message: String,
    pub hint: String,
}

/// Most decimals `printf "%.Nf"` may ask for: more than an f64's 17
/// significant digits already print noise.
const MAX_PRECISION: usize = 20;

const ACCEPTED: &str = "use {{ $value }}, {{ $labels.NAME }}, or pipe $value through humanize, humanize1024, humanizePercentage or printf \"%.1f\"";

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..].find("}}").ok_or_else(|| TemplateError {
                message: format!("unclosed {{{{ in {text:?}"),
                hint: "close the action with }}".into(),
            })? + open;
            parts.push(action(rest[open + 2..close].trim())?);
            rest = &rest[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    pub fn render(&self, labels: &BTreeMap<String, String>, value: f64) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Label(name) => out.push_str(labels.get(name).map_or("", String::as_str)),
                Part::Value(format) => format.write(&mut out, value),
            }
        }
        out
    }
}

fn action(inner: &str) -> Result<Part, TemplateError> {
    let mut pipes = inner.split('|').map(str::trim);
    let head = pipes.next().unwrap_or_default();
    if let Some(name) = head.strip_prefix("$labels.") {
        if pipes.next().is_some() {
            return Err(TemplateError {
                message: format!("{{{{ {inner} }}}}: label values take no pipe"),
                hint: "write {{ $labels.NAME }}".into(),
            });
        }
        return Ok(Part::Label(name.to_owned()));
    }
    if head != "$value" {
        let hint = if head.starts_with(".Labels") || head.starts_with("$label.") {
            "write {{ $labels.NAME }}".to_owned()
        } else if head.starts_with(".Value") || head == "$val" {
            "write {{ $value }}".to_owned()
        } else {
            ACCEPTED.to_owned()
        };
        return Err(TemplateError {
            message: format!("unknown template action {{{{ {inner} }}}}"),
            hint,
        });
    }
    let format = match pipes.next() {
        None => Format::Plain,
        Some("humanize") => Format::Humanize,
        Some("humanize1024") => Format::Humanize1024,
        Some("humanizePercentage") => Format::Percentage,
        Some(p) if p.starts_with("printf") => printf(p["printf".len()..].trim())?,
        Some(other) => {
            return Err(TemplateError {
                message: format!("unknown template function {other:?}"),
                hint: ACCEPTED.into(),
            });
        }
    };
    if let Some(extra) = pipes.next() {
        return Err(TemplateError {
            message: format!("only one function may follow $value, found {extra:?} too"),
            hint: ACCEPTED.into(),
        });
    }
    Ok(Part::Value(format))
}

fn printf(arg: &str) -> Result<Format, TemplateError> {
    let bad = || TemplateError {
        message: format!("printf {arg}: unsupported format"),
        hint: "write printf \"%.1f\", \"%.0f\" or \"%d\" with text around it".into(),
    };
    let pattern = arg
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .ok_or_else(bad)?
        .replace("%%", "\u{0}");
    let at = pattern.find('%').ok_or_else(bad)?;
    let spec = &pattern[at + 1..];
    let (precision, integer, len) = if let Some(rest) = spec.strip_prefix('.') {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let p: usize = rest[..digits].parse().map_err(|_| bad())?;
        // The formatter panics past u16::MAX decimals, and any number of
        // them past what an f64 holds is noise: refuse it here, when the
        // file is checked, rather than when the alert fires.
        if p > MAX_PRECISION {
            return Err(TemplateError {
                message: format!(
                    "printf {arg}: {p} decimals; at most {MAX_PRECISION} are accepted"
                ),
                hint: "write printf \"%.1f\" or another precision up to %.20f".into(),
            });
        }
        if rest[digits..].starts_with('f') {
            (Some(p), false, digits + 2)
        } else {
            return Err(bad());
        }
    } else if spec.starts_with('f') {
        (Some(6), false, 1)
    } else if spec.starts_with('d') {
        (None, true, 1)
    } else {
        return Err(bad());
    };
    let after = &spec[len..];
    if after.contains('%') {
        return Err(bad());
    }
    let unescape = |s: &str| s.replace('\u{0}', "%");
    Ok(Format::Printf {
        before: unescape(&pattern[..at]),
        precision,
        integer,
        after: unescape(after),
    })
}

impl Format {
    fn write(&self, out: &mut String, v: f64) {
        let _ = match self {
            Format::Plain => write!(out, "{v}"),
            Format::Humanize => write!(
                out,
                "{}",
                scaled(v, 1000.0, &["", "k", "M", "G", "T", "P", "E"])
            ),
            Format::Humanize1024 => write!(
                out,
                "{}",
                scaled(v, 1024.0, &["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])
            ),
            Format::Percentage => write!(out, "{}%", significant(v * 100.0)),
            Format::Printf {
                before,
                precision,
                integer,
                after,
            } => {
                if *integer {
                    write!(out, "{before}{}{after}", v.trunc() as i64)
                } else {
                    let p = precision.unwrap_or(6);
                    write!(out, "{before}{v:.p$}{after}")
                }
            }
        };
    }
}

/// `v` divided down by `base` until below it, with the unit's prefix.
fn scaled(v: f64, base: f64, prefixes: &[&str]) -> String {
    let mut x = v;
    let mut i = 0;
    while x.abs() >= base && i + 1 < prefixes.len() {
        x /= base;
        i += 1;
    }
    format!("{}{}", significant(x), prefixes[i])
}

/// At most four significant digits, without trailing zeros (Go's `%.4g`).
fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let decimals = (4 - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, value: f64) -> String {
        let labels = BTreeMap::from([
            ("host".to_owned(), "web-1".to_owned()),
            ("mount".to_owned(), "/".to_owned()),
        ]);
        Template::parse(text).unwrap().render(&labels, value)
    }

    #[test]
    fn labels_and_values_are_filled_in() {
        let cases = [
            (
                "{{ $labels.mount }} on {{$labels.host}} is {{ $value }}% full",
                91.5,
                "/ on web-1 is 91.5% full",
            ),
            ("{{ $value | printf \"%.1f\" }}%", 97.123, "97.1%"),
            ("{{ $value | printf \"%d%%\" }}", 97.9, "97%"),
            ("{{ $value | humanize }}B", 1_234_567.0, "1.235MB"),
            ("{{ $value | humanize1024 }}", 2048.0, "2Ki"),
            ("{{ $value | humanizePercentage }}", 0.251, "25.1%"),
            ("{{ $labels.missing }}!", 1.0, "!"),
            ("no actions", 1.0, "no actions"),
        ];
        for (text, value, want) in cases {
            assert_eq!(render(text, value), want, "{text}");
        }
    }

    #[test]
    fn mistakes_name_the_action_and_the_fix() {
        let cases = [
            ("{{ .Labels.host }}", "$labels.NAME"),
            ("{{ $value | humanise }}", "humanize"),
            ("{{ $value ", "close"),
            ("{{ $value | printf \"%s\" }}", "%.1f"),
        ];
        for (text, hint) in cases {
            let e = Template::parse(text).unwrap_err();
            assert!(e.hint.contains(hint), "{text}: {e:?}");
        }
    }
}
