//! History from the gateway's `GET /api/series`, and silences sent to its
//! `POST /api/silences`, over a plain HTTP/1.0
//! request (inside TLS for a `wss://` endpoint): the answers are small JSON
//! bodies, HTTP/1.0 makes the server close the connection after the body
//! (no chunking to undo), and a full HTTP client would be the largest
//! dependency of `mon top`.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use wire::api::{ApiError, NewSilence, SeriesAnswer, SilenceJson};
use wire::host::LiveHost;

use super::Endpoint;
use super::decode;
use crate::state::{Chart, Update};
use crate::view::SILENCE_FOR;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read: an hour of 1 s points is about 300 KiB, six hours
/// (the longest span the raw tier answers) about 2 MiB.
const MAX_BODY: u64 = 16 << 20;

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends `request` and reads the whole answer, until the server closes.
async fn exchange(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    request: &str,
) -> Result<Vec<u8>, String> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    match stream.take(MAX_BODY).read_to_end(&mut answer).await {
        Ok(_) => {}
        // A TLS server may close without a close_notify after the body; the
        // answer read up to there is whole (HTTP/1.0 ends with the body).
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    Ok(answer)
}

async fn get_json<T: DeserializeOwned>(endpoint: &Endpoint, path: &str) -> Result<T, String> {
    request_json(endpoint, "GET", path, None).await
}

/// Sends one request (with a JSON body, if any) and reads a 2xx answer's JSON.
async fn request_json<T: DeserializeOwned>(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<T, String> {
    let exchange = async {
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| e.to_string())?;
        let auth = endpoint
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let content = body
            .map(|b| {
                format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n",
                    b.len()
                )
            })
            .unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}:{}\r\nAccept: application/json\r\n{auth}{content}\r\n{}",
            endpoint.host,
            endpoint.port,
            body.unwrap_or_default()
        );
        if !endpoint.secure {
            return exchange(tcp, &request).await;
        }
        let config = endpoint
            .tls
            .clone()
            .ok_or("a wss:// endpoint needs a TLS configuration")?;
        let name = rustls_pki_types::ServerName::try_from(endpoint.host.clone()).map_err(|e| {
            format!(
                "{:?} cannot be checked against a certificate: {e}",
                endpoint.host
            )
        })?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| super::tls_advice(&e).unwrap_or_else(|| e.to_string()))?;
        exchange(tls, &request).await
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))??;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the server's answer has no HTTP header")?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let body = &answer[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("the server's answer has no HTTP status")?;
    if !(200..300).contains(&status) {
        let message = serde_json::from_slice::<ApiError>(body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).trim().to_owned());
        return Err(format!("HTTP {status}: {message}"));
    }
    serde_json::from_slice(body).map_err(|e| format!("unreadable answer: {e}"))
}

async fn series(
    endpoint: &Endpoint,
    host: &str,
    metric: &str,
    labels: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, f64)>, String> {
    let path = format!(
        "/api/series?host={}&metric={}&labels={}&from={from}&to={to}",
        encode(host),
        encode(metric),
        encode(labels)
    );
    let answer: SeriesAnswer = get_json(endpoint, &path).await?;
    Ok(answer.points.into_iter().map(|p| (p.ts, p.value)).collect())
}

/// The sum over interfaces of one network metric, by timestamp: a host's
/// interfaces share their report's timestamp.
async fn network(
    endpoint: &Endpoint,
    host: &str,
    metric: &str,
    ifaces: &[String],
    from: i64,
    to: i64,
) -> Result<Vec<(i64, f64)>, String> {
    let labels: Vec<String> = ifaces.iter().map(|i| format!("iface={i}")).collect();
    let answers = futures::future::join_all(
        labels
            .iter()
            .map(|l| series(endpoint, host, metric, l, from, to)),
    )
    .await;
    let mut sum = std::collections::BTreeMap::new();
    for points in answers {
        for (ts, v) in points? {
            *sum.entry(ts).or_insert(0.0) += v;
        }
    }
    Ok(sum.into_iter().collect())
}

/// Loads `range_ms` of the charts' history and the metadata of `host` and
/// sends them as updates; the first failure of a chart is reported once, as
/// `HistoryFailed`. The server picks the tier from the range (raw up to 6 h,
/// then minutes, then hours), and a chart plots each point's average.
pub async fn fetch_history<T: From<Update>>(
    endpoint: Arc<Endpoint>,
    host: String,
    ifaces: Vec<String>,
    now_ms: i64,
    range_ms: i64,
    updates: mpsc::Sender<T>,
) {
    let (from, to) = (now_ms - range_ms, now_ms + 1);
    let e = &*endpoint;
    let meta_path = format!("/api/hosts/{}", encode(&host));
    let (meta, cpu, memory, rx, tx) = futures::join!(
        get_json::<LiveHost>(e, &meta_path),
        series(e, &host, "cpu_usage_percent", "", from, to),
        series(e, &host, "memory_used_percent", "", from, to),
        network(
            e,
            &host,
            "network_receive_bytes_per_second",
            &ifaces,
            from,
            to
        ),
        network(
            e,
            &host,
            "network_transmit_bytes_per_second",
            &ifaces,
            from,
            to
        ),
    );
    if let Some(meta) = meta.ok().and_then(|h| h.meta).map(decode::meta) {
        let update = Update::Meta {
            host: host.clone(),
            meta,
        };
        if updates.send(update.into()).await.is_err() {
            return;
        }
    }
    let mut failure = None;
    for (chart, result) in [
        (Chart::Cpu, cpu),
        (Chart::Memory, memory),
        (Chart::Receive, rx),
        (Chart::Transmit, tx),
    ] {
        match result {
            Ok(points) => {
                let update = Update::History {
                    host: host.clone(),
                    chart,
                    range_ms,
                    points,
                };
                if updates.send(update.into()).await.is_err() {
                    return;
                }
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(reason) = failure {
        let _ = updates
            .send(Update::HistoryFailed { host, reason }.into())
            .await;
    }
}

/// Silences an alert for [`SILENCE_FOR`] through `POST /api/silences`
/// and tells the store what came of it.
pub async fn silence<T: From<Update>>(
    endpoint: Arc<Endpoint>,
    alert: String,
    matchers: Vec<String>,
    updates: mpsc::Sender<T>,
) {
    let body = serde_json::to_string(&NewSilence {
        matchers,
        duration: Some(SILENCE_FOR.to_owned()),
        comment: "silenced from mon top".to_owned(),
        created_by: std::env::var("USER").unwrap_or_default(),
        ..NewSilence::default()
    })
    .unwrap_or_default();
    let answer: Result<SilenceJson, String> =
        request_json(&endpoint, "POST", "/api/silences", Some(&body)).await;
    let outcome = answer.map(|s| format!("silenced {alert} for {SILENCE_FOR} (silence {})", s.id));
    let _ = updates.send(Update::Silenced(outcome).into()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("iface=eth0"), "iface%3Deth0");
        assert_eq!(encode("web-1.lan"), "web-1.lan");
    }
}
