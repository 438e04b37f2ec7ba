//! What a host name may be: the rule the agent applies to its own name
//! before it connects and the aggregator applies to every report, so an
//! agent refuses at start-up a name the aggregator would refuse later.

/// Longest host name accepted by default (DNS allows 253); the aggregator's
/// `--max-host-len` moves it.
pub const MAX_LEN: usize = 253;

/// Checks a host name against `max_len` and the accepted characters and
/// returns it lower-cased.
pub fn normalize(host: &str, max_len: usize) -> Result<String, String> {
    if host.is_empty() {
        return Err("host name is empty; send the machine's host name".into());
    }
    if host.len() > max_len {
        return Err(format!(
            "host name is {} bytes long; at most {max_len} are accepted",
            host.len()
        ));
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(format!(
            "host name {host:?} contains {c:?}; accepted are letters, digits, '-', '.' and '_'"
        ));
    }
    Ok(host.to_ascii_lowercase())
}
