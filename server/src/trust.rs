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
