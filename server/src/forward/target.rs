//! One `--remote-write` destination: its URL, how it authenticates
//! (a bearer token, or basic auth from the URL's user info) and which
//! authorities its certificate may come from. Credentials never appear in
//! what is shown (logs, `/metrics`, the cursor's name in the store).

use std::fmt;
use std::path::Path;

use axum::http::{HeaderValue, Uri};
use base64::Engine as _;

use crate::tls::ClientTls;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    #[error(
        "--remote-write {0:?} is not accepted; give http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH, e.g. http://victoria:8428/api/v1/write"
    )]
    BadUrl(String),
    #[error(
        "--remote-write {0} has both a bearer token (--remote-write-token) and a user in the URL; choose one"
    )]
    TwoAuths(String),
    #[error(
        "--remote-write {0}: a credential with a line break or other control character cannot be sent in a header"
    )]
    BadCredential(String),
}

#[derive(Clone)]
pub struct RemoteWriteTarget {
    uri: Uri,
    /// The URL without user info: what is shown, and the cursor's name.
    destination: String,
    authorization: Option<HeaderValue>,
    auth_kind: &'static str,
    tls: ClientTls,
}

impl fmt::Debug for RemoteWriteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RemoteWriteTarget({}, auth {})",
            self.destination, self.auth_kind
        )
    }
}

impl RemoteWriteTarget {
    /// Reads a destination URL. `token` is sent as `Authorization: Bearer`;
    /// a user in the URL (`https://USER:PASSWORD@HOST/...`) as basic auth,
    /// its password from the URL or else from `password` (a file's content,
    /// so it stays out of `ps`).
    pub fn parse(
        url: &str,
        token: Option<&str>,
        password: Option<&str>,
        tls: ClientTls,
    ) -> Result<Self, TargetError> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| *s == "http" || *s == "https")
            .ok_or_else(|| TargetError::BadUrl(shown(url)))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(TargetError::BadUrl(shown(url)));
        }
        let destination = format!("{scheme}://{host}{path}");
        let uri: Uri = destination
            .parse()
            .map_err(|_| TargetError::BadUrl(shown(url)))?;
        if uri.host().is_none_or(str::is_empty) {
            return Err(TargetError::BadUrl(shown(url)));
        }
        let header = |text: String| {
            HeaderValue::from_str(&text)
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
                .map_err(|_| TargetError::BadCredential(destination.clone()))
        };
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let (authorization, auth_kind) = match (userinfo, token) {
            (Some(_), Some(_)) => return Err(TargetError::TwoAuths(destination)),
            (None, Some(t)) => (Some(header(format!("Bearer {t}"))?), "bearer token"),
            (Some(info), None) => {
                let (user, pass) = match info.split_once(':') {
                    Some((u, p)) => (u, p.to_owned()),
                    None => (
                        info,
                        password
                            .unwrap_or("")
                            .trim_end_matches(['\r', '\n'])
                            .to_owned(),
                    ),
                };
                let basic =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                (Some(header(format!("Basic {basic}"))?), "basic")
            }
            (None, None) => (None, "none"),
        };
        Ok(Self {
            uri,
            destination,
            authorization,
            auth_kind,
            tls,
        })
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The URL without credentials.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    pub(crate) fn authorization(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }

    /// `none`, `bearer token` or `basic`, for the start-up log.
    pub fn auth_kind(&self) -> &'static str {
        self.auth_kind
    }

    pub fn tls(&self) -> &ClientTls {
        &self.tls
    }

    pub fn ca_file(&self) -> Option<&Path> {
        self.tls.ca_file()
    }
}

/// A URL as it may be shown: without whatever precedes an `@` in it.
fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(header: &HeaderValue) -> String {
        let text = header.to_str().unwrap();
        let b64 = text.strip_prefix("Basic ").unwrap();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn credentials_become_headers_and_never_part_of_the_shown_url() {
        let t = RemoteWriteTarget::parse(
            "https://alice:s3cret@mimir.internal/api/v1/push",
            None,
            None,
            ClientTls::default(),
        )
        .unwrap();
        assert_eq!(t.destination(), "https://mimir.internal/api/v1/push");
        assert_eq!(t.uri().to_string(), "https://mimir.internal/api/v1/push");
        assert_eq!(basic(t.authorization().unwrap()), "alice:s3cret");
        assert!(!format!("{t:?}").contains("s3cret"));

        let t = RemoteWriteTarget::parse(
            "http://bob@vm:8428/api/v1/write",
            None,
            Some("from-file\n"),
            ClientTls::default(),
        )
        .unwrap();
        assert_eq!(basic(t.authorization().unwrap()), "bob:from-file");

        let t = RemoteWriteTarget::parse(
            "http://vm:8428/api/v1/write",
            Some("tok"),
            None,
            ClientTls::default(),
        )
        .unwrap();
        assert_eq!(t.authorization().unwrap().to_str().unwrap(), "Bearer tok");
        assert_eq!(t.auth_kind(), "bearer token");
    }

    #[test]
    fn a_bad_url_is_named_without_its_password_and_with_what_is_accepted() {
        for bad in [
            "vm:8428/api/v1/write",
            "ftp://vm/x",
            "http:///api/v1/write",
            "http://u:pw@/x",
        ] {
            let err = RemoteWriteTarget::parse(bad, None, None, ClientTls::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("http://HOST[:PORT]/PATH"), "{err}");
            assert!(!err.contains("pw"), "{err}");
        }
        let err =
            RemoteWriteTarget::parse("http://u:p@vm/x", Some("t"), None, ClientTls::default())
                .unwrap_err()
                .to_string();
        assert!(err.contains("choose one") && !err.contains("u:p"), "{err}");
    }
}
