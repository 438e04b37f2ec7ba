//! What the tests share besides the pipelines of `server::testkit`: a raw
//! ingest client, polling, and a plain HTTP GET.

use std::net::SocketAddr;
use std::time::Duration;

use server::agent::BearerToken;
use server::proto::{
    AgentMessage, Hello, Report, agent_message::Kind, ingest_client::IngestClient,
};
use tonic::transport::Channel;

/// A raw gRPC client speaking the ingest protocol by hand.
pub struct RawAgent {
    pub tx: tokio::sync::mpsc::Sender<AgentMessage>,
    pub acks: tonic::Streaming<server::proto::Ack>,
}

impl RawAgent {
    pub async fn connect(url: &str, host: &str) -> Self {
        Self::connect_with_token(url, host, None).await.unwrap()
    }

    /// Connects sending `token` as the agent does; the aggregator's refusal
    /// is the `Err`.
    pub async fn connect_with_token(
        url: &str,
        host: &str,
        token: Option<&str>,
    ) -> Result<Self, tonic::Status> {
        let channel = Channel::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = IngestClient::with_interceptor(channel, BearerToken::new(token).unwrap());
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tx.send(AgentMessage {
            kind: Some(Kind::Hello(Hello {
                host: host.into(),
                agent_version: "test".into(),
                ..Hello::default()
            })),
        })
        .await
        .unwrap();
        let acks = client
            .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?
            .into_inner();
        Ok(Self { tx, acks })
    }

    pub async fn send(&mut self, report: Report) -> server::proto::Ack {
        self.tx
            .send(AgentMessage {
                kind: Some(Kind::Report(report)),
            })
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.acks.message())
            .await
            .expect("ack within 10s")
            .expect("stream open")
            .expect("an ack")
    }
}

/// Polls `check` every 20 ms until it returns true or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// A plain HTTP/1.1 GET over a TCP socket: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = http_get_with_head(addr, path, headers).await;
    (status, body)
}

/// [`http_get`], with the response's head (lower-cased) too: (status,
/// head, body).
pub async fn http_get_with_head(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, head, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}
