//! An error and its causes on one line, for messages a person reads:
//! tonic's top-level transport error alone says only "transport error".

/// `error: cause: cause of the cause`, each from its `Display`.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
