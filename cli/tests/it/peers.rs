//! Real peers from other stacks (Prometheus, node_exporter, the
//! OpenTelemetry SDK), started on free loopback ports in a temp dir of
//! their own, and the HTTP and WebSocket helpers the interop tests share.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;

/// A peer process, killed when dropped.
pub struct Peer {
    pub child: Child,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `program` is installed, or `None` after printing why the test
/// cannot run.
pub fn installed(program: &str, package: &str) -> Option<String> {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let path = Path::new(dir).join(program);
        if path.exists() {
            return Some(path.display().to_string());
        }
    }
    println!("SKIP: {program} is not installed (Debian package {package}; .ci/run installs it)");
    None
}

/// Starts `program` with `args`, its output in `log`.
pub fn start(name: &'static str, program: &str, args: &[String], log: &Path) -> Peer {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(program)
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{name} starts: {e}"));
    Peer { child }
}

/// A plain HTTP/1.1 request: (status, headers, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let (status, head, body) = http_bytes(addr, method, path, headers, body);
    let body = String::from_utf8_lossy(&body).into_owned();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, head, body)
}

/// [`http`] keeping the body as bytes, for a binary (protobuf) answer sent
/// with a length: (status, headers, body).
pub fn http_bytes(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&raw[..at]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, raw[at..].to_vec())
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

/// The `snapshot` frame a new `/ws` client gets.
pub fn ws_snapshot(addr: &str) -> serde_json::Value {
    let url = format!("ws://{addr}/ws");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            loop {
                let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                    .await
                    .expect("a frame within 10 s")
                    .expect("the stream stays open")
                    .unwrap();
                if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                    if v["type"] == "snapshot" {
                        return v;
                    }
                }
            }
        })
}

/// Points of one series from `/api/series`.
pub fn series_points(addr: &str, host: &str, metric: &str, labels: &str) -> Vec<serde_json::Value> {
    let (status, _, body) = http(
        addr,
        "GET",
        &format!("/api/series?host={host}&metric={metric}&labels={labels}"),
        &[],
        b"",
    );
    if status != 200 {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["points"].as_array().cloned().unwrap_or_default()
}
