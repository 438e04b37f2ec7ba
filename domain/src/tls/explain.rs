//! Turns a failed TLS handshake, found anywhere in an error's chain, into
//! one line that says what failed and what to do about it.

use std::error::Error;

use rustls::CertificateError as Cert;

/// The advice for the first TLS error in `error`'s chain, or `None` when
/// the failure was not about TLS. `ca_flag` is the flag this client takes
/// for a private CA (`--ca`, `--upstream-ca`).
pub fn explain(error: &(dyn Error + 'static), ca_flag: &str) -> Option<String> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = as_rustls(e) {
            return Some(advice(tls, ca_flag));
        }
        next = e.source();
    }
    None
}

/// `std::io::Error::source` skips the error it wraps, and tokio-rustls
/// wraps rustls' errors in one (which hyper-rustls wraps in another), so
/// look inside each.
fn as_rustls<'a>(mut e: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        e = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

fn advice(e: &rustls::Error, ca_flag: &str) -> String {
    match e {
        rustls::Error::InvalidCertificate(Cert::UnknownIssuer | Cert::BadSignature) => format!(
            "TLS: the server's certificate is not signed by a CA this client trusts ({e}); \
             pass {ca_flag} with the CA that signed the server's certificate"
        ),
        rustls::Error::InvalidCertificate(
            Cert::NotValidForName | Cert::NotValidForNameContext { .. },
        ) => format!(
            "TLS: the server's certificate does not name the host in the URL ({e}); connect \
             with a name the certificate lists, or reissue the certificate for this name"
        ),
        rustls::Error::InvalidCertificate(
            Cert::Expired
            | Cert::ExpiredContext { .. }
            | Cert::NotValidYet
            | Cert::NotValidYetContext { .. },
        ) => format!(
            "TLS: the server's certificate is expired or not yet valid ({e}); renew it, and \
             check both machines' clocks"
        ),
        rustls::Error::InvalidMessage(_) => format!(
            "TLS: the server did not answer in TLS ({e}); if it was started without --tls-cert, \
             use http:// or ws:// instead of https:// or wss://"
        ),
        rustls::Error::InvalidCertificate(_) => format!(
            "TLS: the server's certificate was refused ({e}); it must be a server certificate \
             (not a CA's) signed by a CA this client trusts: pass {ca_flag} with that CA"
        ),
        rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol) => format!(
            "TLS: the server does not speak this client's protocol ({e}); check the port: \
             gRPC (agents) and HTTP (browsers, edges, mon top) listen on different ones"
        ),
        rustls::Error::AlertReceived(alert) => format!(
            "TLS: the server refused the handshake (alert {alert:?}); check that this client \
             and the server share a TLS version and that the server's certificate loads"
        ),
        _ => format!("TLS handshake failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_is_found_inside_an_io_error_and_names_the_flag() {
        let io = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(Cert::UnknownIssuer),
        ));
        let text = explain(&io, "--upstream-ca").unwrap();
        assert!(text.contains("pass --upstream-ca"), "{text}");
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(explain(&plain, "--ca"), None);
    }
}
