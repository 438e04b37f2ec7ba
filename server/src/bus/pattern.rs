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

    /// Whether some channel starting with `prefix` may match: false only
    /// when none can (`alerts.*` for `metrics.`), so a publisher that asks
    /// before encoding never skips a message a subscriber would get.
    pub fn may_match_prefix(&self, prefix: &str) -> bool {
        let pattern = self.0.as_bytes();
        for (i, &c) in prefix.as_bytes().iter().enumerate() {
            match pattern.get(i) {
                Some(b'*') => return true,
                Some(b'?') => {}
                Some(&p) if p == c => {}
                _ => return false,
            }
        }
        true
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

    #[test]
    fn a_pattern_may_match_a_prefix_only_where_some_channel_under_it_matches() {
        for (pattern, prefix, may) in [
            ("metrics.*", "metrics.", true),
            ("metrics.web-1", "metrics.", true),
            ("*", "metrics.", true),
            ("me?rics.*", "metrics.", true),
            ("m*", "metrics.", true),
            ("alerts.*", "metrics.", false),
            ("metrics", "metrics.", false),
            ("watch.*", "metrics.", false),
        ] {
            let p = Pattern::parse(pattern).unwrap();
            assert_eq!(p.may_match_prefix(prefix), may, "{pattern} under {prefix}");
            if !may {
                assert!(!p.matches(&format!("{prefix}web-1")), "{pattern}");
            }
        }
    }
}
