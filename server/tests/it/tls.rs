//! TLS on every listener and client, over real sockets with certificates
//! made in the test: a CA and a leaf for `localhost` + `127.0.0.1`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use server::agent::{self, AgentConfig, AgentSummary};
use server::bus::{EmbeddedBus, SharedBus};
use server::edge::EdgeConfig;
use server::gateway::GatewayConfig;
use server::http::Access;
use server::store::Reader;
use server::testkit::{Edge, Gateway, Pipeline};
use server::time::now_ms;
use server::tls::{ClientTls, ServerTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::edge::{publish, report};
use crate::harness::eventually;

/// A CA and a leaf it signed for `localhost` and `127.0.0.1`, as PEM files.
pub struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = server::tls::test_pki::write(dir.path());
        Self {
            _dir: dir,
            ca,
            cert,
            key,
        }
    }

    pub fn server(&self) -> ServerTls {
        ServerTls::load(&self.cert, &self.key).unwrap()
    }

    pub fn client(&self) -> ClientTls {
        ClientTls::from_ca_file(&self.ca).unwrap()
    }
}

/// Log lines written while the guard lives, on this thread's runtime.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the real agent against `url` until `until` holds (or 5 s pass),
/// then stops it.
async fn run_agent(url: String, tls: ClientTls, until: impl FnMut() -> bool) -> AgentSummary {
    let config = AgentConfig {
        aggregators: vec![url],
        tls,
        host: Some("tls-host".into()),
        interval: Duration::from_millis(100),
        drain_timeout: Duration::from_secs(2),
        ..AgentConfig::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(agent::run(config, async {
        let _ = stopped.await;
    }));
    eventually(Duration::from_secs(20), until).await;
    let _ = stop.send(());
    task.await.unwrap().unwrap()
}

fn stored(dir: &Path) -> u64 {
    Reader::open(dir).and_then(|r| r.raw_count()).unwrap_or(0)
}

#[tokio::test]
async fn an_agent_trusting_the_ca_streams_over_tls_and_one_trusting_another_ca_is_told_why() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder()
        .data_dir(dir.path())
        .aggregator(|c| c.tls = Some(pki.server()))
        .start()
        .await;
    let port = pipeline.aggregator().addr.port();

    let summary = run_agent(format!("https://localhost:{port}"), pki.client(), || {
        stored(dir.path()) > 0
    })
    .await;
    assert!(summary.acknowledged > 0, "{summary:?}");
    assert_eq!(summary.unacknowledged, 0, "{summary:?}");
    let kept = stored(dir.path());
    assert!(kept > 0);

    // Another CA signed nothing here: refused, nothing stored, and the log
    // says what to do, once however often the agent retries.
    let logs = Logs::default();
    let guard = logs.capture();
    let other = Pki::new();
    const PASS_CA: &str = "pass --ca with the CA that signed the server's certificate";
    // Some retries (every 100 ms at first), and the line logged, however
    // slow the agent's start.
    let started = std::time::Instant::now();
    let summary = run_agent(format!("https://127.0.0.1:{port}"), other.client(), || {
        started.elapsed() > Duration::from_millis(1500) && logs.text().contains(PASS_CA)
    })
    .await;
    drop(guard);
    assert_eq!(summary.acknowledged, 0, "{summary:?}");
    assert_eq!(stored(dir.path()), kept, "nothing more was stored");
    let text = logs.text();
    assert_eq!(text.matches(PASS_CA).count(), 1, "{text}");

    // A plain-text client to the TLS port fails, is told why, and the port
    // keeps serving.
    let logs = Logs::default();
    let guard = logs.capture();
    let started = std::time::Instant::now();
    let summary = run_agent(
        format!("http://127.0.0.1:{port}"),
        ClientTls::default(),
        || {
            started.elapsed() > Duration::from_millis(800)
                && logs.text().contains("use https:// in --aggregator")
        },
    )
    .await;
    drop(guard);
    assert_eq!(summary.acknowledged, 0, "{summary:?}");
    assert_eq!(stored(dir.path()), kept);
    let text = logs.text();
    assert!(text.contains("use https:// in --aggregator"), "{text}");
    let summary = run_agent(format!("https://localhost:{port}"), pki.client(), || {
        stored(dir.path()) > kept
    })
    .await;
    assert!(summary.acknowledged > 0, "{summary:?}");

    pipeline.stop().await;
}

/// GET over HTTPS trusting `tls`: (status, body).
async fn https_get(
    tls: &ClientTls,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut stream = ClientTls::connect(tls.config(&[b"http/1.1"]), "localhost", port)
        .await
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

type Wss =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn wss_connect(
    url: &str,
    tls: &ClientTls,
) -> Result<Wss, tokio_tungstenite::tungstenite::Error> {
    let connector = tokio_tungstenite::Connector::Rustls(tls.config(&[b"http/1.1"]));
    let request = url.into_client_request().unwrap();
    tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(connector))
        .await
        .map(|(ws, _)| ws)
}

async fn next_type(ws: &mut Wss) -> String {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5s")
            .expect("the socket is open")
            .expect("a readable frame");
        if let Message::Text(t) = frame {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            return v["type"].as_str().unwrap_or_default().to_owned();
        }
    }
}

fn tls_gateway_config(pki: &Pki, token: Option<&str>) -> GatewayConfig {
    GatewayConfig {
        access: Access {
            token: token.map(str::to_owned),
            allowed_origins: vec![],
            ..Default::default()
        },
        tls: Some(pki.server()),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_gateway_over_tls_serves_the_api_with_the_token_and_wss_to_a_client_with_the_ca() {
    let pki = Pki::new();
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(bus as SharedBus, tls_gateway_config(&pki, Some("t0ken"))).await;
    let port = gw.addr.port();
    let client = pki.client();

    let (status, body) = https_get(
        &client,
        port,
        "/api/hosts",
        &[("Authorization", "Bearer t0ken")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(https_get(&client, port, "/api/hosts", &[]).await.0, 401);
    assert_eq!(https_get(&client, port, "/metrics", &[]).await.0, 401);

    let mut ws = wss_connect(&format!("wss://localhost:{port}/ws?token=t0ken"), &client)
        .await
        .unwrap();
    assert_eq!(next_type(&mut ws).await, "hello");
    assert_eq!(next_type(&mut ws).await, "snapshot");

    // A client trusting another CA gets no page, and is told what to do.
    let err = wss_connect(
        &format!("wss://localhost:{port}/ws?token=t0ken"),
        &Pki::new().client(),
    )
    .await
    .unwrap_err();
    let advice = server::tls::explain(&err, "--ca").expect("a TLS failure");
    assert!(advice.contains("pass --ca"), "{advice}");
    drop(ws);
    gw.stop().await;
}

#[tokio::test]
async fn plain_and_silent_clients_on_a_tls_port_fail_alone_and_the_server_keeps_serving() {
    let pki = Pki::new();
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(bus as SharedBus, tls_gateway_config(&pki, None)).await;
    let port = gw.addr.port();

    // A client that connects and never says a word must not hold up others.
    let _silent = tokio::net::TcpStream::connect(gw.addr).await.unwrap();

    let mut plain = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer))
        .await
        .expect("the plain client is answered or dropped within 5s");
    assert!(
        read.is_err() || !answer.starts_with(b"HTTP/"),
        "no plain HTTP answer on a TLS port"
    );
    // A ws:// client to it fails too.
    assert!(
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
            .await
            .is_err()
    );

    let started = std::time::Instant::now();
    assert_eq!(https_get(&pki.client(), port, "/healthz", &[]).await.0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served while a silent client sits in its handshake"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_relays_from_a_tls_gateway_trusting_its_upstream_ca() {
    let pki = Pki::new();
    let bus = Arc::new(EmbeddedBus::default());
    let gw = Gateway::start(
        bus.clone() as SharedBus,
        tls_gateway_config(&pki, Some("gw-token")),
    )
    .await;
    let gw_port = gw.addr.port();

    let start_edge = |upstream_tls: ClientTls| {
        Edge::start(EdgeConfig {
            upstream_token: Some("gw-token".into()),
            upstream_tls,
            tls: Some(pki.server()),
            ..EdgeConfig::new(format!("wss://localhost:{gw_port}/ws"))
        })
    };

    let edge = start_edge(pki.client()).await;
    let port = edge.addr.port();
    let client = pki.client();
    let mut ws = wss_connect(&format!("wss://localhost:{port}/ws"), &client)
        .await
        .unwrap();
    assert_eq!(next_type(&mut ws).await, "hello");
    let ts = now_ms();
    let mut seen = false;
    for _ in 0..50 {
        publish(&bus, &report("web-1", ts, 42.0)).await;
        let got = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                if next_type(&mut ws).await == "metrics" {
                    return;
                }
            }
        })
        .await;
        if got.is_ok() {
            seen = true;
            break;
        }
    }
    assert!(
        seen,
        "a report published at the gateway reaches the edge's client"
    );
    // History goes upstream over HTTPS too: the gateway (which has no
    // store here) answers, not the edge's "unreachable".
    let (status, body) = https_get(
        &client,
        port,
        "/api/series?host=web-1&metric=cpu_usage_percent",
        &[],
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("--data-dir"), "{body}");
    drop(ws);
    edge.stop().await;

    // An edge that does not trust the gateway's CA says which flag fixes it.
    let edge = start_edge(ClientTls::default()).await;
    let port = edge.addr.port();
    let (status, body) = https_get(
        &client,
        port,
        "/api/series?host=web-1&metric=cpu_usage_percent",
        &[],
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("--upstream-ca"), "{body}");
    edge.stop().await;
    gw.stop().await;
}
