//! The outgoing HTTP client: hyper-util's pooled client, over plain TCP or
//! TLS (hyper-rustls) as the URL says, shared by the edge (history
//! forwarded upstream) and the alert notifiers.

use axum::body::Body;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::tls::ClientTls;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, Body>;

/// A client that trusts the system's and the webpki roots for `https://`.
pub fn client() -> HttpClient {
    client_with(&ClientTls::default())
}

/// A client that trusts what `tls` says for `https://`.
pub fn client_with(tls: &ClientTls) -> HttpClient {
    let mut http = HttpConnector::new();
    // The TLS layer needs the connector to accept `https://` URLs too.
    http.enforce_http(false);
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        // No ALPN here: hyper-rustls sets it from the enabled protocols.
        .with_tls_config(std::sync::Arc::unwrap_or_clone(tls.config(&[])))
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}
