//! What a client trusts when it connects over TLS: a private CA from a PEM
//! file (`--ca`), or else the system's roots plus the webpki roots; and,
//! for `mon serve`'s own agent only, the one certificate its listener holds.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{TlsError, certificates, provider, read};

#[derive(Clone, Default)]
enum Trust {
    #[default]
    System,
    Ca {
        file: PathBuf,
        roots: RootCertStore,
    },
    Pinned(CertificateDer<'static>),
}

/// The authorities a TLS client trusts. The default is the system's roots
/// plus the webpki roots, enough for a certificate from a public CA.
#[derive(Clone, Default)]
pub struct ClientTls {
    trust: Trust,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.trust {
            Trust::System => f.write_str("ClientTls(system roots)"),
            Trust::Ca { file, .. } => write!(f, "ClientTls(CA {})", file.display()),
            Trust::Pinned(_) => f.write_str("ClientTls(own certificate)"),
        }
    }
}

impl ClientTls {
    /// Trusts the CA certificates in `file` (PEM, one or more) and nothing
    /// else: a private deployment should not also accept any public CA's
    /// certificate for its hosts.
    pub fn from_ca_file(file: &Path) -> Result<Self, TlsError> {
        let pem = read(file)?;
        let mut roots = RootCertStore::empty();
        for cert in certificates(file, &pem)? {
            roots.add(cert).map_err(|reason| TlsError::BadCa {
                file: file.to_owned(),
                reason,
            })?;
        }
        Ok(Self {
            trust: Trust::Ca {
                file: file.to_owned(),
                roots,
            },
        })
    }

    /// Accepts exactly `cert`, whatever its name and issuer: for a client in
    /// the same process as the listener, which knows the certificate but may
    /// not be able to verify it (a certificate for a public name, issued by
    /// a private CA the process was not given).
    // Called by the server's `ServerTls` alone (`loopback_client`).
    pub fn pinned(cert: CertificateDer<'static>) -> Self {
        Self {
            trust: Trust::Pinned(cert),
        }
    }

    /// The `--ca` file, if one was given.
    pub fn ca_file(&self) -> Option<&Path> {
        match &self.trust {
            Trust::Ca { file, .. } => Some(file),
            _ => None,
        }
    }

    /// A rustls client configuration offering `alpn` (e.g. `h2` for gRPC,
    /// `http/1.1` for HTTP and WebSocket).
    pub fn config(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions");
        let mut config = match &self.trust {
            Trust::Pinned(cert) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCert {
                    cert: cert.clone(),
                    provider,
                }))
                .with_no_client_auth(),
            Trust::Ca { roots, .. } => builder
                .with_root_certificates(roots.clone())
                .with_no_client_auth(),
            Trust::System => builder
                .with_root_certificates(SYSTEM_ROOTS.clone())
                .with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// Opens a TCP connection to `host:port` (no Nagle delay) and runs the
    /// TLS handshake, verifying the certificate for `host`.
    pub async fn connect(
        config: Arc<ClientConfig>,
        host: &str,
        port: u16,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let host = host.trim_matches(['[', ']']);
        let name = ServerName::try_from(host.to_owned()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{host:?} is not a host name or IP address a certificate can name: {e}"),
            )
        })?;
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        TlsConnector::from(config).connect(name, tcp).await
    }
}

/// The system's trusted roots plus the webpki roots: the system's alone can
/// be empty in a minimal container, the webpki ones alone miss a CA an
/// administrator installed. Read from disk once per process.
static SYSTEM_ROOTS: LazyLock<RootCertStore> = LazyLock::new(system_roots);

fn system_roots() -> RootCertStore {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "skipping unreadable system CA certificates");
    }
    store.add_parsable_certificates(native.certs);
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    store
}

/// Accepts one exact certificate; the handshake's signatures are still
/// checked, so only the holder of its key can complete it.
#[derive(Debug)]
struct PinnedCert {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
