//! Serves the web dashboard from the `web` crate (embedded in a release
//! build, read from `web/static/` at each request in a debug build), with
//! the `Content-Security-Policy` it is written for.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub async fn index() -> Response {
    file("index.html")
}

pub async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
}

fn file(path: &str) -> Response {
    match web::asset(path) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    web::CONTENT_SECURITY_POLICY,
                ),
            ],
            asset.body,
        )
            .into_response(),
        None => super::ApiError::NotFound(format!(
            "the dashboard has no file {path:?}; it is served at /"
        ))
        .into_response(),
    }
}
