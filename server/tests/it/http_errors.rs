//! The HTTP contract under hostile or careless clients, over real sockets:
//! every error on every route of the gateway and the edge is JSON with a
//! message, a listener without a token refuses a rebinding `Host`, and the
//! bearer scheme is read in any case on HTTP and gRPC.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use server::bus::{EmbeddedBus, SharedBus};
use server::edge::EdgeConfig;
use server::gateway::GatewayConfig;
use server::http::Access;
use server::proto::ingest_client::IngestClient;
use server::proto::{AgentMessage, Hello, agent_message::Kind};
use server::testkit::{Edge, Gateway, Pipeline};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Sends `request` (a whole HTTP/1.1 request head) and reads the answer:
/// (status, head, body).
async fn raw_http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut response))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_owned()
    };
    (status, head.to_owned(), body)
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        text.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    raw_http(addr, &text).await
}

/// The `error` of a JSON error body, checked to be a sentence a person can
/// act on: not empty, not ending with a period.
fn error_message(what: &str, head: &str, body: &str) -> String {
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{what}: not JSON:\n{head}\n\n{body}"
    );
    let json: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {body:?}"));
    let message = json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no \"error\" string: {body}"))
        .to_owned();
    assert!(
        message.len() > 10 && !message.ends_with('.'),
        "{what}: {message:?}"
    );
    message
}

/// (method, path, headers, status, words the message must hold)
type Case<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    u16,
    &'a [&'a str],
);

/// An edge in front of the gateway at `upstream`.
async fn start_edge(upstream: SocketAddr, access: Access) -> Edge {
    Edge::start(EdgeConfig {
        access,
        ..EdgeConfig::new(format!("ws://{upstream}/ws"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_rejections_unknown_paths_and_wrong_methods_answer_json_errors_on_gateway_and_edge()
 {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(
        Arc::new(EmbeddedBus::default()) as SharedBus,
        GatewayConfig {
            data_dir: Some(dir.path().to_owned()),
            ..GatewayConfig::default()
        },
    )
    .await;
    let edge = start_edge(gw.addr, Access::default()).await;
    let ws_headers: &[(&str, &str)] = &[("Upgrade", "websocket"), ("Connection", "upgrade")];
    let cases: &[Case] = &[
        (
            "GET",
            "/api/series?host=web-1&metric=load1&from=yesterday",
            &[],
            400,
            &["from=yesterday", "Unix milliseconds"],
        ),
        (
            "GET",
            "/api/series?host=web-1&metric=load1&to=-9223372036854775808",
            &[],
            400,
            &["to=-9223372036854775808", "from 0 to"],
        ),
        (
            "GET",
            "/api/series?host=web-1&metric=load1&to=99999999999999999999",
            &[],
            400,
            &["to=99999999999999999999"],
        ),
        (
            "GET",
            "/api/series?host=a&host=b&metric=load1",
            &[],
            400,
            &["query string"],
        ),
        ("GET", "/api/series?metric=load1", &[], 400, &["host="]),
        ("GET", "/api/nope", &[], 404, &["/api/nope", "/api/hosts"]),
        ("GET", "/api", &[], 404, &["/api/series"]),
        ("GET", "/nope", &[], 404, &["/nope", "dashboard"]),
        ("GET", "/static/nope.js", &[], 404, &["nope.js"]),
        (
            "GET",
            "/api/hosts/nobody",
            &[],
            404,
            &["nobody", "/api/hosts"],
        ),
        ("POST", "/ws", &[], 405, &["POST", "/ws", "GET"]),
        ("DELETE", "/api/hosts", &[], 405, &["DELETE", "GET"]),
        ("PUT", "/metrics", &[], 405, &["PUT"]),
        (
            "GET",
            "/ws",
            &[],
            400,
            &["/ws takes WebSocket connections only"],
        ),
        (
            "GET",
            "/ws",
            ws_headers,
            400,
            &["/ws takes WebSocket", "ws://"],
        ),
    ];
    for (role, addr) in [("gateway", gw.addr), ("edge", edge.addr)] {
        for (method, path, headers, status, words) in cases {
            if role == "edge" && *path == "/metrics" {
                continue;
            }
            let what = format!("{role} {method} {path}");
            let (got, head, body) = request(addr, method, path, headers).await;
            assert_eq!(got, *status, "{what}: {body}");
            let message = error_message(&what, &head, &body);
            for word in *words {
                assert!(message.contains(word), "{what}: {message:?} lacks {word:?}");
            }
        }
    }
    edge.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebinding_host_is_refused_on_a_listener_without_a_token_and_served_once_allowed() {
    let gw = Gateway::start(
        Arc::new(EmbeddedBus::default()) as SharedBus,
        GatewayConfig::default(),
    )
    .await;
    let port = gw.addr.port();
    let edge = start_edge(gw.addr, Access::default()).await;
    for (role, addr) in [("gateway", gw.addr), ("edge", edge.addr)] {
        let port = addr.port();
        for path in ["/api/hosts", "/", "/ws"] {
            let (status, head, body) = request(
                addr,
                "GET",
                path,
                &[
                    ("Host", "evil.example"),
                    ("Origin", "http://evil.example"),
                    ("Upgrade", "websocket"),
                    ("Connection", "upgrade"),
                    ("Sec-WebSocket-Version", "13"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ],
            )
            .await;
            assert_eq!(status, 403, "{role} {path}: {body}");
            let message = error_message(&format!("{role} {path}"), &head, &body);
            assert!(
                message.contains("evil.example") && message.contains("--allow-host evil.example"),
                "{message}"
            );
        }
        // The names a user of the dashboard types all work.
        for host in [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
            format!("{addr}"),
        ] {
            let (status, _, body) = request(addr, "GET", "/api/hosts", &[("Host", &host)]).await;
            assert_eq!(status, 200, "{role} Host {host}: {body}");
            let (status, _, _) = request(addr, "GET", "/", &[("Host", &host)]).await;
            assert_eq!(status, 200, "{role} Host {host}: dashboard");
        }
    }
    // A WebSocket client on localhost still upgrades.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://localhost:{port}/ws"))
        .await
        .expect("ws://localhost upgrades");
    assert_eq!(crate::gateway::next_json(&mut ws).await["type"], "hello");
    drop(ws);
    edge.stop().await;
    gw.stop().await;

    // --allow-host admits the name; a token makes the check moot, so
    // http://server.internal:7071/?token=... goes on working.
    let allowed = Gateway::start(
        Arc::new(EmbeddedBus::default()) as SharedBus,
        GatewayConfig {
            access: Access {
                allowed_hosts: vec!["mon.lan".into()],
                ..Access::default()
            },
            ..GatewayConfig::default()
        },
    )
    .await;
    let (status, _, body) = request(
        allowed.addr,
        "GET",
        "/api/hosts",
        &[("Host", "Mon.Lan:7071")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    allowed.stop().await;
    let tokened = Gateway::start(
        Arc::new(EmbeddedBus::default()) as SharedBus,
        GatewayConfig {
            access: Access {
                token: Some("t0ken".into()),
                ..Access::default()
            },
            ..GatewayConfig::default()
        },
    )
    .await;
    let host = [("Host", "server.internal:7071")];
    let (status, _, body) = request(tokened.addr, "GET", "/?token=t0ken", &host).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = request(tokened.addr, "GET", "/api/hosts?token=t0ken", &host).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = request(tokened.addr, "GET", "/api/hosts", &host).await;
    assert_eq!(status, 401);
    tokened.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_case_bearer_scheme_is_accepted_on_http_and_websocket() {
    let gw = Gateway::start(
        Arc::new(EmbeddedBus::default()) as SharedBus,
        GatewayConfig {
            access: Access {
                token: Some("t0ken".into()),
                ..Access::default()
            },
            ..GatewayConfig::default()
        },
    )
    .await;
    for value in ["bearer t0ken", "BEARER t0ken", "Bearer  t0ken"] {
        let (status, _, body) =
            request(gw.addr, "GET", "/api/hosts", &[("Authorization", value)]).await;
        assert_eq!(status, 200, "{value}: {body}");
    }
    let (status, head, body) = request(
        gw.addr,
        "GET",
        "/api/hosts",
        &[("Authorization", "Basic t0ken")],
    )
    .await;
    assert_eq!(status, 401);
    error_message("Basic", &head, &body);
    let mut ws = gw.ws_url().into_client_request().unwrap();
    ws.headers_mut()
        .insert("Authorization", "bearer t0ken".parse().unwrap());
    tokio_tungstenite::connect_async(ws)
        .await
        .expect("a lower-case bearer upgrades /ws");
    gw.stop().await;
}

/// Opens an ingest stream whose `authorization` metadata is `value`.
async fn stream_with(url: &str, value: Option<&'static str>) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client =
        IngestClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            if let Some(v) = value {
                request
                    .metadata_mut()
                    .insert("authorization", v.parse().unwrap());
            }
            Ok(request)
        });
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(AgentMessage {
        kind: Some(Kind::Hello(Hello {
            host: "case-1".into(),
            ..Hello::default()
        })),
    })
    .await
    .unwrap();
    client
        .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_case_bearer_scheme_is_accepted_on_grpc_and_a_wrong_scheme_is_not_called_missing() {
    let pipeline = Pipeline::builder()
        .aggregator(|c| c.token = Some("t0ken".into()))
        .start()
        .await;
    let agg = pipeline.aggregator();
    for value in ["bearer t0ken", "BEARER t0ken", "Bearer t0ken"] {
        stream_with(&agg.url(), Some(value))
            .await
            .unwrap_or_else(|s| panic!("{value}: {s:?}"));
    }
    let missing = stream_with(&agg.url(), None).await.unwrap_err();
    assert!(missing.message().contains("none was given"), "{missing:?}");
    let basic = stream_with(&agg.url(), Some("Basic t0ken"))
        .await
        .unwrap_err();
    assert_eq!(basic.code(), tonic::Code::Unauthenticated);
    assert!(
        !basic.message().contains("none was given")
            && basic.message().contains("not a bearer token")
            && !basic.message().contains("t0ken"),
        "{basic:?}"
    );
    let wrong = stream_with(&agg.url(), Some("bearer nope"))
        .await
        .unwrap_err();
    assert!(wrong.message().contains("does not match"), "{wrong:?}");
    pipeline.stop().await;
}
