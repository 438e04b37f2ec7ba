//! The TLS client of every connection `mon` opens, with rustls and its
//! `ring` provider: the authorities a client trusts (`--ca`, else the
//! system's and the webpki roots), and plain-words advice when a handshake
//! fails. The listeners' side (`ServerTls`) is the `server` crate's, built
//! on the PEM reading here.
//!
//! A newcomer must know that files are read and checked once, when a role
//! starts: a missing file or a file with no PEM block stops the role with an
//! error naming the file, never at the first connection.

mod client;
mod explain;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{self, PemObject};

pub use client::ClientTls;
pub use explain::explain;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {reason}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        reason: std::io::Error,
    },
    #[error(
        "no PEM certificate found in {}: expected a -----BEGIN CERTIFICATE----- block",
        file.display()
    )]
    NoCertificate { file: PathBuf },
    #[error(
        "no PEM private key found in {}: expected a -----BEGIN PRIVATE KEY-----, \
         -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY----- block",
        file.display()
    )]
    NoKey { file: PathBuf },
    #[error("{} is not readable PEM: {reason}", file.display())]
    Pem {
        file: PathBuf,
        #[source]
        reason: pem::Error,
    },
    #[error(
        "the key in {} does not match the certificate in {}: give the key the certificate was issued for",
        key.display(),
        cert.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate in {} or the key in {} cannot be used: {reason}", cert.display(), key.display())]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        reason: rustls::Error,
    },
    #[error("the CA certificates in {} cannot be used: {reason}", file.display())]
    BadCa {
        file: PathBuf,
        #[source]
        reason: rustls::Error,
    },
}

/// Reads a PEM file, naming it in the error.
pub fn read(file: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file).map_err(|reason| TlsError::Read {
        file: file.to_owned(),
        reason,
    })
}

/// A PEM parse error, naming the file.
pub fn pem_error(file: &Path, e: pem::Error) -> TlsError {
    TlsError::Pem {
        file: file.to_owned(),
        reason: e,
    }
}

/// Every certificate in a PEM file, in order; refuses a file with none.
pub fn certificates(file: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(file, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            file: file.to_owned(),
        });
    }
    Ok(certs)
}

/// The crypto provider of every TLS configuration: rustls with `ring`.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
