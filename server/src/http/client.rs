//! The outgoing HTTP client: hyper-util's pooled client over plain TCP,
//! shared by the edge (history forwarded upstream) and the alert notifiers.
//! It speaks `http://` only; put a TLS-terminating relay in front of an
//! `https://` endpoint.

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpConnector, Body>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}
