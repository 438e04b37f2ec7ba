//! An error and its causes on one line, for messages a person reads:
//! tonic's top-level transport error alone says only "transport error".
//!
//! Errors keep their causes as `source()`; many also say their cause in
//! their own message ("cannot open mon.db: disk I/O error"), for the log
//! lines that show one error. So the line stops at the first cause whose
//! text it already holds: the error above it has told that cause, and as
//! much of the rest as it chose to. The `mon` binary prints its errors
//! with [`one_line`].

/// `error: cause: cause of the cause`, each from its `Display`. A cause
/// that says just what the error above it said is a wrapper, skipped (hyper
/// wraps its connect error in another); a cause the line already holds
/// otherwise was told by an error above, and ends the line.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut above = text.clone();
    let mut source = e.source();
    while let Some(s) = source {
        let said = s.to_string();
        if said != above {
            if text.contains(&said) {
                break;
            }
            text.push_str(": ");
            text.push_str(&said);
        }
        above = said;
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{what}")]
    struct Layer {
        what: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    fn chain(whats: &[&'static str]) -> Layer {
        whats
            .iter()
            .rev()
            .fold(None, |cause, what| {
                Some(Layer {
                    what,
                    cause: cause.map(Box::new),
                })
            })
            .unwrap()
    }

    #[test]
    fn every_cause_is_joined_on_one_line() {
        let e = chain(&["transport error", "tcp connect error", "Connection refused"]);
        assert_eq!(
            one_line(&e),
            "transport error: tcp connect error: Connection refused"
        );
    }

    #[test]
    fn a_wrapper_that_repeats_its_cause_is_skipped() {
        let e = chain(&[
            "transport error",
            "tcp connect error",
            "tcp connect error",
            "Connection refused",
        ]);
        assert_eq!(
            one_line(&e),
            "transport error: tcp connect error: Connection refused"
        );
    }

    #[test]
    fn a_cause_the_message_already_tells_ends_the_line() {
        let e = chain(&[
            "cannot open mon.db: disk I/O error (code 10)",
            "disk I/O error (code 10)",
            "I/O error 5",
        ]);
        assert_eq!(one_line(&e), "cannot open mon.db: disk I/O error (code 10)");
        let e = chain(&[
            "cannot start: cannot open mon.db",
            "cannot open mon.db",
            "x",
        ]);
        assert_eq!(one_line(&e), "cannot start: cannot open mon.db");
    }
}
