//! Channel glob patterns as Redis `PSUBSCRIBE` understands them, restricted to
//! `*` (any run of characters) and `?` (one character), so both bus
//! implementations match the same channels.

use super::BusError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    pub fn parse(pattern: &str) -> Result<Self, BusError> {
        let bad = |reason: &str| BusError::BadPattern {
            pattern: pattern.to_owned(),
            reason: reason.to_owned(),
        };
        if pattern.is_empty() {
            return Err(bad("a pattern needs at least one character"));
        }
        if pattern.len() > 256 {
            return Err(bad("at most 256 characters are accepted"));
        }
        if let Some(c) = pattern.chars().find(|c| matches!(c, '[' | ']' | '\\')) {
            return Err(bad(&format!(
                "{c:?} is not supported; only `*` and `?` wildcards are"
            )));
        }
        Ok(Self(pattern.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, channel: &str) -> bool {
        glob(self.0.as_bytes(), channel.as_bytes())
    }
}

/// Iterative glob match with backtracking to the last `*`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_redis_psubscribe() {
        let cases = [
            ("metrics.*", "metrics.web-1", true),
            ("metrics.*", "alerts.web-1", false),
            ("metrics.web-?", "metrics.web-1", true),
            ("metrics.web-?", "metrics.web-10", false),
            ("*", "anything", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("metrics.db", "metrics.db", true),
        ];
        for (pattern, channel, want) in cases {
            assert_eq!(
                Pattern::parse(pattern).unwrap().matches(channel),
                want,
                "{pattern} vs {channel}"
            );
        }
    }

    #[test]
    fn unsupported_glob_syntax_is_refused_with_the_reason() {
        let err = Pattern::parse("metrics.[ab]").unwrap_err().to_string();
        assert!(
            err.contains("metrics.[ab]") && err.contains("only `*` and `?`"),
            "{err}"
        );
        assert!(Pattern::parse("").is_err());
    }
}
