//! The bearer token on the gRPC ingest stream: a tonic interceptor that
//! checks `authorization: Bearer <token>` metadata before the stream opens.
//!
//! A refusal is `Unauthenticated` with a message saying how to pass the
//! token; the token itself, given or expected, is never echoed or logged.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::trust::constant_time_eq;

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
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let refusal = match given {
            None => {
                "this aggregator requires a bearer token and none was given; \
                     start the agent with --token TOKEN (or MON_TOKEN), the aggregator's token"
            }
            Some(given) if !constant_time_eq(given.as_bytes(), expected.as_bytes()) => {
                "the bearer token does not match this aggregator's; \
                 start the agent with --token TOKEN (or MON_TOKEN), the aggregator's token"
            }
            Some(_) => return Ok(request),
        };
        tracing::debug!(peer = ?request.remote_addr(), "refused a gRPC stream without the right token");
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
