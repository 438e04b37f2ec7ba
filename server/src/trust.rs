//! What every listener shares about trust: bearer tokens compared in
//! constant time, and the rule that a listener reachable beyond this machine
//! needs a token.
//!
//! A newcomer must know that tokens are secrets: they are compared here,
//! never logged, and never echoed in an error message.

use std::net::SocketAddr;

/// Compares two byte strings in time that depends only on their lengths, so
/// a wrong token reveals nothing about the right one through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization` value, `Bearer TOKEN` with the scheme in
/// any case (RFC 9110, section 11.1) and one or more spaces after it.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let token = rest.trim_start();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks a token given on the command line: it must hold something and
/// travel in an HTTP header unchanged, so it has no surrounding whitespace
/// and only printable ASCII. Errors never echo the token.
pub fn check_token(token: &str) -> Result<(), String> {
    if token.trim().is_empty() {
        return Err(format!(
            "a blank token ({} whitespace characters) is not accepted: give at least one printable character, \
             e.g. a random one from `openssl rand -hex 32`, or leave the flag out for no token",
            token.chars().count()
        ));
    }
    if token.trim() != token {
        return Err(
            "a token with leading or trailing whitespace is not accepted: HTTP drops it \
             in transit, so the token could never match; remove the whitespace"
                .to_owned(),
        );
    }
    if !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err("the token has characters an HTTP header cannot carry; \
             printable ASCII is accepted"
            .to_owned());
    }
    Ok(())
}

/// How a role may listen on an address, decided before it binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposure {
    /// Loopback, or a token is required: nothing to say.
    Guarded,
    /// Beyond loopback with no token, waived by `--insecure`: warn once.
    Insecure,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "refusing to listen on {addr} without a token: it is not a loopback address (127.0.0.0/8, ::1), \
     so other machines could read and write metrics; pass --token TOKEN (or set MON_TOKEN), \
     or --insecure to listen without one"
)]
pub struct ExposureError {
    pub addr: SocketAddr,
}

/// Decides whether a role may listen on `addr`: any loopback address may be
/// used freely; any other needs a token unless `insecure` waives it.
pub fn check_listen(
    addr: SocketAddr,
    has_token: bool,
    insecure: bool,
) -> Result<Exposure, ExposureError> {
    // Loopback (`127.0.0.0/8`, `::1`): only this machine can reach it.
    if addr.ip().is_loopback() || has_token {
        Ok(Exposure::Guarded)
    } else if insecure {
        Ok(Exposure::Insecure)
    } else {
        Err(ExposureError { addr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_matches_only_equal_strings() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn bearer_schemes_are_case_insensitive_and_tokens_must_hold_something() {
        assert_eq!(bearer_token("Bearer t0k"), Some("t0k"));
        assert_eq!(bearer_token("bearer t0k"), Some("t0k"));
        assert_eq!(bearer_token("BeArEr   t0k"), Some("t0k"));
        assert_eq!(bearer_token("Basic t0k"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("t0k"), None);
        assert!(check_token("t0k").is_ok());
        for bad in ["", " ", "\t\n", " t0k", "t0k ", "t\u{e9}k"] {
            assert!(check_token(bad).is_err(), "{bad:?}");
        }
        assert!(check_token("   ").unwrap_err().contains("blank token"));
    }

    #[test]
    fn only_loopback_may_listen_without_a_token_unless_waived() {
        let cases = [
            ("127.0.0.1:7070", false, false, Ok(Exposure::Guarded)),
            ("127.3.2.1:7070", false, false, Ok(Exposure::Guarded)),
            ("[::1]:7070", false, false, Ok(Exposure::Guarded)),
            ("0.0.0.0:7070", true, false, Ok(Exposure::Guarded)),
            ("0.0.0.0:7070", false, true, Ok(Exposure::Insecure)),
            ("[::]:7070", false, true, Ok(Exposure::Insecure)),
            ("10.0.0.5:7070", false, false, Err(())),
            ("0.0.0.0:7070", false, false, Err(())),
            ("[::]:7070", false, false, Err(())),
        ];
        for (addr, token, insecure, want) in cases {
            let addr: SocketAddr = addr.parse().unwrap();
            let got = check_listen(addr, token, insecure).map_err(|e| {
                let text = e.to_string();
                assert!(
                    text.contains(&addr.to_string())
                        && text.contains("--token")
                        && text.contains("--insecure"),
                    "{text}"
                );
            });
            assert_eq!(got, want, "{addr} token={token} insecure={insecure}");
        }
    }
}
