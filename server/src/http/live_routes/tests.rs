//! The access matrix of the shared block, without sockets: every request is
//! handed to the router with `oneshot`. A WebSocket upgrade gets hyper's
//! upgrade handle (one that never upgrades), so an upgrade let through
//! answers 101.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::*;

const TOKEN: &str = "s3cret";
const HOST: &str = "127.0.0.1:7071";

fn router(token: Option<&str>) -> Router {
    let (_stop, shutdown) = watch::channel(false);
    let live = Live {
        hub: Hub::new("gateway", 16),
        access: Arc::new(Access {
            token: token.map(str::to_owned),
            ..Access::default()
        }),
        ws: Arc::new(WsLimits::default()),
        http: Arc::new(HttpLimits::default()),
        shutdown,
    };
    let own = Router::new().route("/api/own", get(|| async { "own" }));
    live_routes(live, get(live::host), own)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Route {
    /// A plain GET of the API.
    Api,
    /// A route the role added.
    Own,
    /// The WebSocket upgrade.
    Ws,
    /// A file of the dashboard.
    Static,
}

impl Route {
    const ALL: [Route; 4] = [Route::Api, Route::Own, Route::Ws, Route::Static];

    fn path(self) -> &'static str {
        match self {
            Route::Api => "/api/hosts",
            Route::Own => "/api/own",
            Route::Ws => "/ws",
            Route::Static => "/static/app.js",
        }
    }
}

/// How a client presents the token.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Given {
    Nothing,
    Header(&'static str),
    Query(&'static str),
    Cookie(&'static str),
}

impl Given {
    const ALL: [Given; 7] = [
        Given::Nothing,
        Given::Header("nope"),
        Given::Header(TOKEN),
        Given::Query("nope"),
        Given::Query(TOKEN),
        Given::Cookie("nope"),
        Given::Cookie(TOKEN),
    ];

    fn is_right(self) -> bool {
        matches!(self, Given::Header(t) | Given::Query(t) | Given::Cookie(t) if t == TOKEN)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Origin {
    Absent,
    Same,
    Foreign,
}

const FOREIGN: &str = "https://evil.example";

fn request(route: Route, given: Given, origin: Origin) -> Request<Body> {
    let uri = match given {
        Given::Query(t) => format!("{}?token={t}", route.path()),
        _ => route.path().to_owned(),
    };
    let mut builder = Request::get(uri).header(header::HOST, HOST);
    match given {
        Given::Header(t) => builder = builder.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Given::Cookie(t) => builder = builder.header(header::COOKIE, format!("a=b; mon_token={t}")),
        Given::Nothing | Given::Query(_) => {}
    }
    match origin {
        Origin::Absent => {}
        Origin::Same => builder = builder.header(header::ORIGIN, format!("http://{HOST}")),
        Origin::Foreign => builder = builder.header(header::ORIGIN, FOREIGN),
    }
    if route == Route::Ws {
        builder = builder
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==");
    }
    let mut request = builder.body(Body::empty()).unwrap();
    if route == Route::Ws {
        let on_upgrade = hyper::upgrade::on(&mut request);
        request.extensions_mut().insert(on_upgrade);
    }
    request
}

/// What the access rules say: the dashboard is open, the API needs the
/// token, `/ws` the token and then an origin of its own.
fn expected(token: Option<&str>, route: Route, given: Given, origin: Origin) -> StatusCode {
    let token_ok = token.is_none() || given.is_right();
    match route {
        Route::Static => StatusCode::OK,
        Route::Api | Route::Own if token_ok => StatusCode::OK,
        Route::Ws if token_ok && origin != Origin::Foreign => StatusCode::SWITCHING_PROTOCOLS,
        Route::Ws if token_ok => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    }
}

/// The `error` of a JSON error answer.
async fn error_of(what: &str, response: Response) -> String {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    assert!(json, "{what}: not JSON: {:?}", response.headers());
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {body:?}"));
    value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no \"error\" string: {value}"))
        .to_owned()
}

#[tokio::test]
async fn the_token_and_the_origin_decide_who_gets_the_api_the_stream_and_the_dashboard() {
    for token in [None, Some(TOKEN)] {
        let app = router(token);
        for route in Route::ALL {
            for given in Given::ALL {
                for origin in [Origin::Absent, Origin::Same, Origin::Foreign] {
                    let what = format!("token {token:?}, {route:?}, {given:?}, origin {origin:?}");
                    let response = app
                        .clone()
                        .oneshot(request(route, given, origin))
                        .await
                        .unwrap();
                    let status = expected(token, route, given, origin);
                    assert_eq!(response.status(), status, "{what}");
                    match status {
                        StatusCode::UNAUTHORIZED => {
                            let error = error_of(&what, response).await;
                            assert!(
                                error.contains("missing or wrong token")
                                    && error.contains("Authorization: Bearer TOKEN")
                                    && error.contains("?token=TOKEN")
                                    && !error.contains("nope"),
                                "{what}: {error}"
                            );
                        }
                        StatusCode::FORBIDDEN => {
                            let error = error_of(&what, response).await;
                            assert!(
                                error.contains(&format!("origin {FOREIGN} is not allowed on /ws"))
                                    && error.contains(&format!("--allow-origin {FOREIGN}")),
                                "{what}: {error}"
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn an_allowed_origin_is_let_onto_the_stream() {
    let (_stop, shutdown) = watch::channel(false);
    let live = Live {
        hub: Hub::new("edge", 16),
        access: Arc::new(Access {
            allowed_origins: vec![FOREIGN.into()],
            ..Access::default()
        }),
        ws: Arc::new(WsLimits::default()),
        http: Arc::new(HttpLimits::default()),
        shutdown,
    };
    let app = live_routes(live, get(live::host), Router::new());
    let response = app
        .oneshot(request(Route::Ws, Given::Nothing, Origin::Foreign))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
}

#[tokio::test]
async fn without_a_token_a_rebinding_host_is_refused_on_every_route() {
    let app = router(None);
    for route in Route::ALL {
        let mut request = request(route, Given::Nothing, Origin::Absent);
        request
            .headers_mut()
            .insert(header::HOST, "evil.example".parse().unwrap());
        let response = app.clone().oneshot(request).await.unwrap();
        let what = format!("{route:?}");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
        let error = error_of(&what, response).await;
        assert!(
            error.contains("Host evil.example") && error.contains("--allow-host evil.example"),
            "{what}: {error}"
        );
    }
    // With a token the name does not matter: the token does.
    let app = router(Some(TOKEN));
    let mut request = request(Route::Api, Given::Header(TOKEN), Origin::Absent);
    request
        .headers_mut()
        .insert(header::HOST, "server.internal:7071".parse().unwrap());
    assert_eq!(app.oneshot(request).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn what_no_route_serves_is_a_json_error_naming_the_path() {
    let app = router(None);
    for (method, path, status, words) in [
        (
            "GET",
            "/nope",
            StatusCode::NOT_FOUND,
            &["/nope", "dashboard"][..],
        ),
        (
            "GET",
            "/api/nope",
            StatusCode::NOT_FOUND,
            &["/api/nope", "/api/hosts"],
        ),
        (
            "GET",
            "/static/nope.js",
            StatusCode::NOT_FOUND,
            &["nope.js"],
        ),
        (
            "POST",
            "/api/own",
            StatusCode::METHOD_NOT_ALLOWED,
            &["POST", "GET"],
        ),
        (
            "GET",
            "/ws",
            StatusCode::BAD_REQUEST,
            &["/ws takes WebSocket connections only"],
        ),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, HOST)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let what = format!("{method} {path}");
        assert_eq!(response.status(), status, "{what}");
        let error = error_of(&what, response).await;
        for word in words {
            assert!(error.contains(word), "{what}: {error:?} lacks {word:?}");
        }
    }
}
