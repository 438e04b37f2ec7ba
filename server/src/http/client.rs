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

/// One JSON request, for command-line clients of the HTTP API (`mon alerts
/// silence`): the status and the body, or why no answer came.
pub async fn json_request(
    client: &HttpClient,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Result<(u16, bytes::Bytes), String> {
    use http_body_util::BodyExt;
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .header("accept", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body)),
        None => request.body(Body::empty()),
    }
    .map_err(|e| format!("{url} cannot be requested: {e}"))?;
    let response =
        client
            .request(request)
            .await
            .map_err(|e| match crate::tls::explain(&e, "--ca") {
                Some(advice) => advice,
                None => {
                    // hyper's own message ("client error (Connect)") says little;
                    // its sources say what happened ("Connection refused").
                    let mut why = Vec::new();
                    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                    while let Some(cause) = next {
                        why.push(cause.to_string());
                        next = cause.source();
                    }
                    why.join(": ")
                }
            })?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("the answer was cut short: {e}"))?
        .to_bytes();
    Ok((status, bytes))
}
