//! The bearer token on the gRPC ingest stream: a tonic interceptor that
//! checks `authorization: Bearer <token>` metadata before the stream opens.
//!
//! A refusal is `Unauthenticated` with a message saying how to pass the
//! token; the token itself, given or expected, is never echoed or logged.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::conn::ConnTag;
use crate::trust::{bearer_token, constant_time_eq};

/// Checks every request against the aggregator's token; lets everything
/// through when there is none.
#[derive(Clone, Debug, Default)]
pub struct TokenCheck {
    expected: Option<Arc<str>>,
}

impl TokenCheck {
    pub fn new(token: Option<&str>) -> Self {
        Self {
            expected: token.filter(|t| !t.is_empty()).map(Arc::from),
        }
    }
}

impl Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let connection = request.extensions().get::<ConnTag>().cloned();
        let Some(expected) = &self.expected else {
            if let Some(c) = &connection {
                c.mark_active();
            }
            return Ok(request);
        };
        let header = request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().ok().and_then(bearer_token));
        let refusal = match header {
            None => {
                "this aggregator requires a bearer token and none was given; \
                 start the agent with --token TOKEN (or MON_TOKEN), the aggregator's token"
            }
            Some(None) => {
                "the authorization metadata is not a bearer token; send `authorization: Bearer TOKEN` \
                 (mon agent does with --token TOKEN or MON_TOKEN)"
            }
            Some(Some(given)) if !constant_time_eq(given.as_bytes(), expected.as_bytes()) => {
                "the bearer token does not match this aggregator's; \
                 start the agent with --token TOKEN (or MON_TOKEN), the aggregator's token"
            }
            Some(Some(_)) => {
                // Only a stream past the token check keeps its connection
                // beyond the first-request timeout.
                if let Some(c) = &connection {
                    c.mark_active();
                }
                return Ok(request);
            }
        };
        tracing::debug!(peer = ?connection.map(|c| c.peer), "refused a gRPC stream without the right token");
        Err(Status::unauthenticated(refusal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(v) = value {
            request
                .metadata_mut()
                .insert("authorization", v.parse().unwrap());
        }
        request
    }

    #[test]
    fn only_the_right_bearer_token_passes_and_refusals_do_not_echo_it() {
        let mut check = TokenCheck::new(Some("s3cret"));
        assert!(check.call(with_header(Some("Bearer s3cret"))).is_ok());
        // The scheme is case-insensitive (RFC 9110, section 11.1).
        assert!(check.call(with_header(Some("bearer s3cret"))).is_ok());
        assert!(check.call(with_header(Some("BEARER  s3cret"))).is_ok());
        for given in [
            None,
            Some("Bearer nope"),
            Some("s3cret"),
            Some("Basic s3cret"),
        ] {
            let status = check.call(with_header(given)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{given:?}");
            assert!(status.message().contains("--token"), "{}", status.message());
            assert!(!status.message().contains("s3cret"), "{}", status.message());
            assert!(!status.message().contains("nope"), "{}", status.message());
        }
        assert!(TokenCheck::new(None).call(with_header(None)).is_ok());
        assert!(TokenCheck::new(Some("")).call(with_header(None)).is_ok());
    }
}
