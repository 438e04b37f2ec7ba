//! Line numbers for the nodes of a rule file, so `mon alerts check` can say
//! where each problem is.
//!
//! serde's data model has no source positions, so the YAML crate that reads
//! the values cannot tell where they were. This module reads the block
//! structure (indentation, `- ` items, `key:`) of the same text and maps each
//! path such as `groups.0.rules.2.expr` to its 1-based line. It understands
//! the block style rule files are written in; inside flow collections
//! (`{a: 1}`, `[x]`) and multi-line scalars it stops, and [`Outline::line`]
//! falls back to the nearest enclosing node it did see.

use std::collections::HashMap;

/// One step of a path: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

#[derive(Debug, Default)]
pub struct Outline {
    lines: HashMap<Vec<Seg>, usize>,
}

/// A node open at some column while the scanner walks down the file.
struct Open {
    column: usize,
    item: bool,
    path: Vec<Seg>,
    /// How many `- ` items this node has as children so far.
    items: usize,
}

impl Outline {
    pub fn scan(text: &str) -> Self {
        let mut outline = Outline::default();
        let mut stack: Vec<Open> = Vec::new();
        // While inside a block scalar (`key: |`), lines indented deeper than
        // this column are its text, not structure.
        let mut scalar_above: Option<usize> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            let rest = &raw[indent..];
            if rest.is_empty() || rest.starts_with('#') {
                continue;
            }
            if let Some(col) = scalar_above {
                if indent > col {
                    continue;
                }
                scalar_above = None;
            }
            if rest.starts_with("---") || rest.starts_with("...") {
                stack.clear();
                continue;
            }
            let mut column = indent;
            let mut rest = rest;
            // `- - x` and `- key: v` open an item, then maybe a key on the same line.
            while rest == "-" || rest.starts_with("- ") {
                while stack
                    .last()
                    .is_some_and(|o| o.column > column || (o.column == column && o.item))
                {
                    stack.pop();
                }
                let parent = stack.last_mut();
                let (mut path, index) = match parent {
                    Some(p) => {
                        p.items += 1;
                        (p.path.clone(), p.items - 1)
                    }
                    None => (Vec::new(), 0),
                };
                path.push(Seg::Index(index));
                outline.lines.entry(path.clone()).or_insert(line);
                stack.push(Open {
                    column,
                    item: true,
                    path,
                    items: 0,
                });
                let after = rest[1..].trim_start_matches(' ');
                column += rest.len() - after.len();
                rest = after;
            }
            let Some((key, value)) = split_key(rest) else {
                continue;
            };
            while stack.last().is_some_and(|o| o.column >= column) {
                stack.pop();
            }
            let mut path = stack.last().map(|o| o.path.clone()).unwrap_or_default();
            path.push(Seg::Key(key));
            outline.lines.entry(path.clone()).or_insert(line);
            stack.push(Open {
                column,
                item: false,
                path,
                items: 0,
            });
            if value.starts_with('|') || value.starts_with('>') {
                scalar_above = Some(column);
            }
        }
        outline
    }

    /// The line of the node at `path`, or of its nearest ancestor the scan
    /// found, or 1.
    pub fn line(&self, path: &[Seg]) -> usize {
        (0..=path.len())
            .rev()
            .find_map(|len| self.lines.get(&path[..len]).copied())
            .unwrap_or(1)
    }
}

/// `key: value` or `key:` → the key and the trimmed value text.
fn split_key(rest: &str) -> Option<(String, &str)> {
    let (key, after) = if let Some(quote @ ('"' | '\'')) = rest.chars().next() {
        let end = rest[1..].find(quote)? + 1;
        (rest[1..end].to_owned(), &rest[end + 1..])
    } else {
        let colon = rest
            .char_indices()
            .find(|&(i, c)| c == ':' && rest[i + 1..].chars().next().is_none_or(|n| n == ' '))?
            .0;
        (rest[..colon].trim_end().to_owned(), &rest[colon..])
    };
    let value = after.strip_prefix(':')?;
    if key.is_empty() || key.starts_with(['{', '[']) {
        return None;
    }
    Some((key, value.trim()))
}

/// Builds a path from mixed keys and indices: `at!["groups", 0, "rules"]`.
macro_rules! at {
    ($($seg:expr),* $(,)?) => { Vec::from([$($crate::alerts::outline::Seg::from($seg)),*]) };
}
pub(crate) use at;

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# rules
groups:
  - name: host
    rules:
      - alert: HighCpu
        expr: cpu_usage_percent > 90
        annotations:
          summary: |
            expr: this is text
            for: not a key
        for: 5m
      - alert: Down
        labels: {severity: page}
        absent_for: 1m
  - name: zero-indented
    rules:
    - alert: A
      expr: x > 1
    - 'alert': B
";

    #[test]
    fn paths_map_to_their_lines() {
        let o = Outline::scan(FILE);
        let cases: &[(Vec<Seg>, usize)] = &[
            (at!["groups"], 2),
            (at!["groups", 0], 3),
            (at!["groups", 0, "name"], 3),
            (at!["groups", 0, "rules", 0, "alert"], 5),
            (at!["groups", 0, "rules", 0, "expr"], 6),
            (at!["groups", 0, "rules", 0, "annotations", "summary"], 8),
            (at!["groups", 0, "rules", 0, "for"], 11),
            (at!["groups", 0, "rules", 1], 12),
            (at!["groups", 0, "rules", 1, "absent_for"], 14),
            (at!["groups", 1, "rules", 0, "expr"], 18),
            (at!["groups", 1, "rules", 1, "alert"], 19),
        ];
        for (path, line) in cases {
            assert_eq!(o.line(path), *line, "{path:?}");
        }
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let o = Outline::scan(FILE);
        // Inside a flow mapping: the scan saw `labels` but not its keys.
        assert_eq!(
            o.line(&at!["groups", 0, "rules", 1, "labels", "severity"]),
            13
        );
        assert_eq!(o.line(&at!["groups", 0, "rules", 0, "keep_firing_for"]), 5);
        assert_eq!(o.line(&at!["nothing"]), 1);
    }
}
