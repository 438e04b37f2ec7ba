//! TLS for every listener, with rustls and its `ring` provider: the
//! server's certificate and key (`--tls-cert`, `--tls-key`). The client side
//! (`ClientTls`, `explain`, `TlsError`) is the `domain` crate's, re-exported
//! here at its old path.
//!
//! A newcomer must know that files are read and checked once, when a role
//! starts: a missing file, a file with no PEM block or a key that does not
//! match the certificate stops the role with an error naming the file,
//! never at the first connection.

// The listeners' side; the agent-only build is a client alone.
#[cfg(feature = "roles")]
mod listener;
#[cfg(any(test, feature = "test-pki"))]
pub mod test_pki;

#[cfg(feature = "roles")]
use std::fmt;
#[cfg(feature = "roles")]
use std::path::{Path, PathBuf};
#[cfg(feature = "roles")]
use std::sync::Arc;
#[cfg(feature = "roles")]
use std::time::Duration;

#[cfg(feature = "roles")]
use domain::tls::{certificates, pem_error, provider, read};
#[cfg(feature = "roles")]
use rustls::ServerConfig;
#[cfg(feature = "roles")]
use rustls_pki_types::CertificateDer;
#[cfg(feature = "roles")]
use rustls_pki_types::PrivateKeyDer;
#[cfg(feature = "roles")]
use rustls_pki_types::pem::{self, PemObject};

pub use domain::tls::{ClientTls, TlsError, explain};
#[cfg(feature = "roles")]
pub use listener::TlsListener;

/// Longest a client may take to finish its TLS handshake; a silent or slow
/// client then loses its connection and nobody else waits for it.
#[cfg(feature = "roles")]
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener's certificate chain and key, read and checked at start-up.
#[cfg(feature = "roles")]
#[derive(Clone)]
pub struct ServerTls {
    cert_file: PathBuf,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    /// For HTTP and WebSocket listeners (ALPN `http/1.1`).
    http: Arc<ServerConfig>,
}

#[cfg(feature = "roles")]
impl fmt::Debug for ServerTls {
    // The key is a secret: only the certificate's file is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert_file", &self.cert_file)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "roles")]
impl ServerTls {
    /// Reads the PEM certificate chain (leaf first) and its private key, and
    /// checks that they belong together.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        let cert_pem = read(cert_file)?;
        let key_pem = read(key_file)?;
        let chain = certificates(cert_file, &cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            pem::Error::NoItemsFound => TlsError::NoKey {
                file: key_file.to_owned(),
            },
            e => pem_error(key_file, e),
        })?;
        let unusable = |e: rustls::Error| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
                cert: cert_file.to_owned(),
                key: key_file.to_owned(),
            },
            reason => TlsError::Unusable {
                cert: cert_file.to_owned(),
                key: key_file.to_owned(),
                reason,
            },
        };
        let mut http = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(unusable)?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key)
            .map_err(unusable)?;
        // axum serves HTTP/1.1; WebSocket upgrades need it too.
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            cert_file: cert_file.to_owned(),
            cert_pem,
            key_pem,
            chain,
            http: Arc::new(http),
        })
    }

    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The rustls configuration of an HTTP/WebSocket listener.
    pub fn http_config(&self) -> Arc<ServerConfig> {
        self.http.clone()
    }

    /// The gRPC listener's configuration: tonic runs the handshakes itself
    /// (concurrently, ALPN `h2`), bounded by the same timeout.
    pub fn grpc_config(&self) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(
                &self.cert_pem,
                &self.key_pem,
            ))
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// The trust a client in this same process needs to reach this
    /// listener on loopback (`mon serve`'s own agent): the certificate
    /// itself, whatever name or authority it has.
    pub fn loopback_client(&self) -> ClientTls {
        ClientTls::pinned(self.chain[0].clone())
    }
}

#[cfg(all(test, feature = "roles"))]
mod tests;
