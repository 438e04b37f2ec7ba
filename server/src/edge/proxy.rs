//! `/api/series` on the edge: history is not in the hub, so the request is
//! forwarded to the upstream gateway's HTTP API (same host and port as its
//! WebSocket), with the upstream token.

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::EdgeState;
use crate::http::ApiError;
pub use crate::http::client::HttpClient;

/// The upstream's HTTP base (`http://host:port`) from its WebSocket URL.
pub fn http_base(ws_url: &str) -> Result<String, String> {
    let uri: Uri = ws_url
        .parse()
        .map_err(|e| format!("bad upstream URL {ws_url:?}: {e}; expected ws://HOST:PORT/ws"))?;
    let scheme = match uri.scheme_str() {
        Some("ws") => "http",
        Some("wss") => "https",
        _ => {
            return Err(format!(
                "upstream URL {ws_url:?} must start with ws:// or wss://"
            ));
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("upstream URL {ws_url:?} has no host"))?;
    Ok(format!("{scheme}://{authority}"))
}

pub async fn series(State(state): State<EdgeState>, uri: Uri) -> Result<Response, ApiError> {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let target = format!("{}/api/series{query}", state.upstream_http);
    let mut request = Request::get(&target);
    if let Some(token) = &state.upstream_token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Body::empty())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // No timeout of its own: the request timeout around every route bounds
    // the wait and answers 504 naming it.
    let response = state.http.request(request).await.map_err(|e| {
        ApiError::Unavailable(match crate::tls::explain(&e, "--upstream-ca") {
            Some(advice) => format!("the upstream gateway is unreachable: {advice}"),
            None => format!("the upstream gateway is unreachable: {e}"),
        })
    })?;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| ApiError::Unavailable(format!("upstream answer cut short: {e}")))?
        .to_bytes();
    // The upstream's content type goes along, so an error that is not JSON
    // (an older or foreign server) is rewritten like any other.
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(header::HeaderValue::from_static("application/json"));
    Ok((parts.status, [(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_base_follows_the_websocket_url() {
        assert_eq!(
            http_base("ws://10.0.0.5:7071/ws").unwrap(),
            "http://10.0.0.5:7071"
        );
        assert_eq!(
            http_base("wss://gw.example/ws").unwrap(),
            "https://gw.example"
        );
        assert!(
            http_base("http://gw:7071/ws")
                .unwrap_err()
                .contains("ws://")
        );
    }
}
