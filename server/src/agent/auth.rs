//! The agent's half of the ingest token: a tonic interceptor that adds
//! `authorization: Bearer <token>` to the stream's metadata.
//!
//! The value is marked sensitive so tonic and hyper never print it.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Adds the bearer token, when there is one, to every request.
#[derive(Clone, Debug, Default)]
pub struct BearerToken {
    header: Option<MetadataValue<Ascii>>,
}

impl BearerToken {
    /// `None` or an empty token sends nothing. A token that cannot travel in
    /// an HTTP header (control characters, non-ASCII) is refused without
    /// being echoed.
    pub fn new(token: Option<&str>) -> Result<Self, String> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(Self::default());
        };
        let mut header: MetadataValue<Ascii> = format!("Bearer {token}").parse().map_err(|_| {
            "the token has characters an HTTP header cannot carry; expected printable ASCII"
                .to_owned()
        })?;
        header.set_sensitive(true);
        Ok(Self {
            header: Some(header),
        })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}
