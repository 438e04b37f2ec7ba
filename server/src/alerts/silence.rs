//! Silences: label matchers and a time window during which the alerts they
//! match still change state and reach the dashboards (marked silenced), but
//! no notifier sends them, as in Alertmanager.
//!
//! A silence's matchers use the rule files' label matchers (`=`, `!=`, `=~`,
//! `!~`, regexes anchored, a missing label matching as the empty string);
//! every matcher must match an alert's labels for the silence to hold. The
//! window is on the wall clock: pending before `starts_at_ms`, active until
//! `ends_at_ms`, expired after. Expiring a silence by hand moves its end to
//! now. The HTTP API's bodies for silences are the `wire` crate's
//! (re-exported here), shared by the gateway, `mon alerts silence` and
//! `mon top`.

use std::collections::{BTreeMap, BTreeSet};

use super::expr::{MatchOp, Matcher};
use super::rules::RuleSet;
use crate::model::AGENT_METRICS;
use crate::store::{MatcherRecord, SilenceRecord};

pub use wire::api::{NewSilence, SilenceJson, SilenceList, SilenceState};

/// The shortest silence accepted.
pub const MIN_DURATION_MS: i64 = 60_000;
/// The longest silence accepted: a maintenance window, not a way to turn a
/// rule off (edit the rule file for that).
pub const MAX_DURATION_MS: i64 = 365 * 86_400_000;
/// How far ahead a silence may start.
pub const MAX_START_AHEAD_MS: i64 = 365 * 86_400_000;
/// Expired silences are listed this long after their end, then forgotten
/// (Alertmanager's default `--data.retention`, five days).
pub const KEEP_EXPIRED_MS: i64 = 5 * 86_400_000;

#[derive(Clone, Debug)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub comment: String,
    /// When it was created or last expired (Unix ms).
    pub updated_ms: i64,
}

impl Silence {
    pub fn state(&self, now_ms: i64) -> SilenceState {
        if now_ms >= self.ends_at_ms {
            SilenceState::Expired
        } else if now_ms < self.starts_at_ms {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether every matcher matches these alert labels.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.label).map_or("", String::as_str)))
    }

    /// Whether it holds for these labels now.
    pub fn silences(&self, labels: &BTreeMap<String, String>, now_ms: i64) -> bool {
        self.state(now_ms) == SilenceState::Active && self.matches(labels)
    }

    /// The silence as the HTTP API answers it.
    pub fn json(&self, now_ms: i64) -> SilenceJson {
        SilenceJson {
            id: self.id.clone(),
            matchers: self.matchers.iter().map(|m| m.to_string()).collect(),
            starts_at_ms: self.starts_at_ms,
            ends_at_ms: self.ends_at_ms,
            state: self.state(now_ms),
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
            updated_ms: self.updated_ms,
        }
    }
}

impl Silence {
    /// A stored silence, its matchers compiled again. A row with no
    /// matcher or one that no longer compiles is refused: it would hold for
    /// more alerts than it said.
    pub fn from_record(r: SilenceRecord) -> Result<Self, String> {
        if r.matchers.is_empty() {
            return Err(format!("silence {} has no matcher", r.id));
        }
        let matchers = r
            .matchers
            .into_iter()
            .map(|m| {
                let op = MatchOp::parse(&m.op).ok_or_else(|| {
                    format!("silence {} has an unknown operator {:?}", r.id, m.op)
                })?;
                Matcher::new(m.label, op, m.value)
                    .map_err(|e| format!("silence {} has a bad regular expression: {e}", r.id))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            id: r.id,
            matchers,
            starts_at_ms: r.starts_at_ms,
            ends_at_ms: r.ends_at_ms,
            created_by: r.created_by,
            comment: r.comment,
            updated_ms: r.updated_ms,
        })
    }

    pub fn to_record(&self) -> SilenceRecord {
        SilenceRecord {
            id: self.id.clone(),
            matchers: self
                .matchers
                .iter()
                .map(|m| MatcherRecord {
                    label: m.label.clone(),
                    op: m.op.as_str().to_owned(),
                    value: m.value.clone(),
                })
                .collect(),
            starts_at_ms: self.starts_at_ms,
            ends_at_ms: self.ends_at_ms,
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
            updated_ms: self.updated_ms,
        }
    }
}

/// The ids of the silences holding for `labels` at `now_ms`, sorted.
pub fn silenced_by(
    silences: &[Silence],
    labels: &BTreeMap<String, String>,
    now_ms: i64,
) -> Vec<String> {
    let mut ids: Vec<String> = silences
        .iter()
        .filter(|s| s.silences(labels, now_ms))
        .map(|s| s.id.clone())
        .collect();
    ids.sort();
    ids
}

/// The matcher help every error ends with.
const MATCHER_HELP: &str = "write LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX or LABEL!~REGEX, e.g. host=web-1 or alertname=~\"Disk.*\"";

/// Parses one matcher as the rule files write them, the value quoted or not:
/// `host=web-1`, `host="web-1"`, `alertname=~Disk.*`.
pub fn parse_matcher(text: &str) -> Result<Matcher, String> {
    let trimmed = text.trim();
    let name_len = trimmed
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
        .unwrap_or(trimmed.len());
    let label = &trimmed[..name_len];
    if label.is_empty() || label.as_bytes()[0].is_ascii_digit() {
        return Err(format!(
            "matcher {text:?} does not start with a label name (letters, digits and _, not first a digit); {MATCHER_HELP}"
        ));
    }
    let rest = &trimmed[name_len..];
    let (op, value) = ["=~", "!~", "!=", "="]
        .iter()
        .find_map(|op| {
            rest.strip_prefix(op)
                .map(|v| (MatchOp::parse(op).expect("a known operator"), v))
        })
        .ok_or_else(|| {
            format!("matcher {text:?} has no operator after {label:?}; {MATCHER_HELP}")
        })?;
    let value = value.trim();
    let value = ['"', '\'']
        .iter()
        .find_map(|q| {
            value
                .strip_prefix(*q)
                .and_then(|v| v.strip_suffix(*q))
                .filter(|_| value.len() >= 2)
        })
        .unwrap_or(value);
    Matcher::new(label.to_owned(), op, value.to_owned())
        .map_err(|why| format!("matcher {text:?} has a bad regular expression: {why}"))
}

/// The label names alerts of these rules can carry, or `None` when a rule
/// watches a metric outside the agents' catalog (pushed series may carry
/// any label). A silence naming a label outside this set would silence
/// nothing, so it is refused.
pub fn alert_label_names(rules: &RuleSet) -> Option<BTreeSet<String>> {
    let mut names: BTreeSet<String> = ["alertname", "host", "severity"]
        .into_iter()
        .map(String::from)
        .collect();
    for rule in &rules.rules {
        names.extend(rule.labels.keys().cloned());
        if let super::expr::Expr::Compare { left, .. } = &rule.expr {
            let (_, labels) = AGENT_METRICS
                .iter()
                .find(|(name, _)| *name == left.metric)?;
            names.extend(labels.iter().map(|l| l.to_string()));
        }
    }
    Some(names)
}

/// Parses a silence's length: `2h`, `30m`, `1d 12h`, from 1m to 365d.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "duration {text:?} is not accepted: give a length from 1m to 365d, e.g. 2h, 30m or 1d"
        )
    };
    let d = humantime::parse_duration(text.trim()).map_err(|_| bad())?;
    let ms = i64::try_from(d.as_millis()).map_err(|_| bad())?;
    if !(MIN_DURATION_MS..=MAX_DURATION_MS).contains(&ms) {
        return Err(bad());
    }
    Ok(ms)
}

/// Checks a new silence and makes it, with a fresh id. `labels` are the
/// label names alerts can carry, when known.
pub fn validate(
    new: &NewSilence,
    now_ms: i64,
    labels: Option<&BTreeSet<String>>,
) -> Result<Silence, String> {
    if new.matchers.is_empty() {
        return Err(format!(
            "a silence needs at least one matcher; {MATCHER_HELP}"
        ));
    }
    let mut matchers = Vec::new();
    for text in &new.matchers {
        let m = parse_matcher(text)?;
        if let Some(known) = labels
            && !known.contains(&m.label)
        {
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(format!(
                "matcher {text:?} names label {:?}, which no alert carries; alerts carry {}",
                m.label,
                known.join(", ")
            ));
        }
        matchers.push(m);
    }
    if matchers.iter().all(|m| m.matches("")) {
        return Err(format!(
            "matchers {:?} all match alerts without those labels, so the silence would hold for nearly every alert; add one that needs a value, e.g. host=web-1",
            new.matchers
        ));
    }
    let starts = new.starts_at_ms.unwrap_or(now_ms);
    if !(0..=now_ms + MAX_START_AHEAD_MS).contains(&starts) {
        return Err(format!(
            "starts_at_ms={starts} is not accepted: give a time in Unix ms from 0 to a year from now ({})",
            now_ms + MAX_START_AHEAD_MS
        ));
    }
    // A start in the past counts from now for the length check.
    let from = starts.max(now_ms);
    let ends = match (&new.duration, new.ends_at_ms) {
        (Some(_), Some(_)) => {
            return Err("give duration or ends_at_ms, not both".into());
        }
        (Some(text), None) => from + parse_duration(text)?,
        (None, Some(ends)) => {
            if !(from + MIN_DURATION_MS..=from + MAX_DURATION_MS).contains(&ends) {
                return Err(format!(
                    "ends_at_ms={ends} is not accepted: a silence ends 1m to 365d after it starts (and after now), between {} and {}",
                    from + MIN_DURATION_MS,
                    from + MAX_DURATION_MS
                ));
            }
            ends
        }
        (None, None) => {
            return Err("a silence needs a duration (e.g. \"2h\") or ends_at_ms".into());
        }
    };
    for (what, text) in [("created_by", &new.created_by), ("comment", &new.comment)] {
        if text.len() > 1024 {
            return Err(format!(
                "{what} is {} bytes long; at most 1024 are accepted",
                text.len()
            ));
        }
    }
    Ok(Silence {
        id: new_id(),
        matchers,
        starts_at_ms: starts,
        ends_at_ms: ends,
        created_by: new.created_by.trim().to_owned(),
        comment: new.comment.trim().to_owned(),
        updated_ms: now_ms,
    })
}

/// A random id shaped like a version-4 UUID, as Alertmanager's silence ids
/// are. It names a silence, it grants nothing (writes need the token), so
/// fastrand's generator, seeded from the OS, is enough.
pub fn new_id() -> String {
    let n = fastrand::u128(..);
    let n = (n & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn new(matchers: &[&str], duration: &str) -> NewSilence {
        NewSilence {
            matchers: matchers.iter().map(|m| m.to_string()).collect(),
            duration: Some(duration.into()),
            ..NewSilence::default()
        }
    }

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn matchers_read_as_in_rule_files_quoted_or_not() {
        let s = validate(
            &new(
                &["host=web-1", "alertname=~\"Disk.*\"", "mount!='/boot'"],
                "2h",
            ),
            NOW,
            None,
        )
        .unwrap();
        assert_eq!(s.ends_at_ms - s.starts_at_ms, 7_200_000);
        let disk = labels(&[("host", "web-1"), ("alertname", "DiskFull"), ("mount", "/")]);
        assert!(s.silences(&disk, NOW));
        // Anchored: "XDiskFull" is not Disk.*.
        let other = labels(&[("host", "web-1"), ("alertname", "XDiskFull")]);
        assert!(!s.silences(&other, NOW));
        assert!(!s.silences(
            &labels(&[("host", "web-2"), ("alertname", "DiskFull")]),
            NOW
        ));
        assert!(!s.silences(&disk, NOW + 7_200_000), "expired on time");
        assert_eq!(
            s.matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            [
                "host=\"web-1\"",
                "alertname=~\"Disk.*\"",
                "mount!=\"/boot\""
            ]
        );
    }

    #[test]
    fn bad_matchers_and_durations_are_refused_naming_the_value() {
        let cases: &[(&[&str], &str, &str)] = &[
            (
                &["host:web-1"],
                "2h",
                "matcher \"host:web-1\" has no operator",
            ),
            (&["=web-1"], "2h", "does not start with a label name"),
            (&["alertname=~Disk("], "2h", "bad regular expression"),
            (&[], "2h", "at least one matcher"),
            (&["host!=web-1"], "2h", "nearly every alert"),
            (&["host=web-1"], "-1h", "duration \"-1h\" is not accepted"),
            (&["host=web-1"], "400d", "duration \"400d\" is not accepted"),
            (&["host=web-1"], "10s", "from 1m to 365d"),
            (&["host=web-1"], "soon", "e.g. 2h"),
        ];
        for (matchers, duration, says) in cases {
            let e = validate(&new(matchers, duration), NOW, None).unwrap_err();
            assert!(e.contains(says), "{matchers:?} {duration}: {e}");
            assert!(!e.ends_with('.'), "{e}");
        }
    }

    #[test]
    fn a_label_no_alert_carries_is_refused_with_the_ones_they_do() {
        let rules = RuleSet::defaults();
        let known = alert_label_names(&rules).expect("the default rules use catalog metrics");
        assert!(known.contains("mount") && known.contains("host"));
        let e = validate(&new(&["hots=web-1"], "1h"), NOW, Some(&known)).unwrap_err();
        assert!(e.contains("\"hots\"") && e.contains("alertname, "), "{e}");
        assert!(validate(&new(&["mount=/"], "1h"), NOW, Some(&known)).is_ok());
    }

    #[test]
    fn a_future_silence_is_pending_until_it_starts() {
        let mut n = new(&["host=web-1"], "1h");
        n.starts_at_ms = Some(NOW + 60_000);
        let s = validate(&n, NOW, None).unwrap();
        assert_eq!(s.state(NOW), SilenceState::Pending);
        assert!(!s.silences(&labels(&[("host", "web-1")]), NOW));
        assert_eq!(s.state(NOW + 60_000), SilenceState::Active);
        assert_eq!(s.state(NOW + 60_000 + 3_600_000), SilenceState::Expired);
    }

    #[test]
    fn ids_look_like_uuids_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
