//! The network side of `mon top`: one WebSocket to a gateway or edge, kept
//! open with reconnects and backoff, and `GET /api/series` for history —
//! exactly what the browser dashboard uses, nothing else.
//!
//! Everything received becomes a store [`Update`] on a channel; the network
//! never touches the screen. When the channel's receiver is gone the tasks
//! end, so dropping the app stops them. The one thing the app tells the
//! connection is which host it watches ([`Watch`]): sent as a `watch` frame
//! when it changes and again on every new connection, since a session the
//! server starts afresh watches nothing.

pub mod decode;
mod http;

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};
use wire::client::ClientMessage;

pub use http::{fetch_history, silence};

use crate::state::Update;

/// Longest silence before the link counts as dead; the server pings every 20 s.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 16 * 1024;
/// How long the reader rests once it has read everything the socket held:
/// a fleet's frames arrive one by one (the gateway sends each as soon as it
/// has it), and waking for each was the biggest part of what `mon top` cost.
/// Resting lets them gather in the kernel's buffer and be read in a few
/// bursts a second; the screen is drawn at most twice a second anyway.
const READ_PACE: Duration = Duration::from_millis(250);

/// Where the gateway or edge is, parsed from `--url`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `ws://HOST:PORT/PATH` or `wss://HOST:PORT/PATH`
    pub url: String,
    pub host: String,
    pub port: u16,
    pub token: Option<String>,
    /// `wss://`: the WebSocket and the history requests go over TLS.
    pub secure: bool,
    /// Whom to trust over TLS (the caller builds it from `--ca`); needed
    /// for a `wss://` URL, ignored otherwise.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The metrics to subscribe to, as globs (empty: all of them). The
    /// watched host's `metrics` frames come whole either way, so a view of
    /// one host sees every series while the fleet's frames carry only
    /// what the fleet table shows.
    pub metrics: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "--url {url:?}: {reason}; expected e.g. ws://127.0.0.1:7071/ws or wss://mon.example:7071/ws"
)]
pub struct BadUrl {
    pub url: String,
    pub reason: String,
}

impl Endpoint {
    /// Accepts `ws://HOST[:PORT][/PATH]` and `wss://...`; the path defaults
    /// to `/ws`, the port to 80 (443 for `wss://`).
    pub fn parse(url: &str, token: Option<String>) -> Result<Self, BadUrl> {
        let bad = |reason: &str| BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (secure, rest) = match url.split_once("://") {
            Some(("ws", rest)) => (false, rest),
            Some(("wss", rest)) => (true, rest),
            Some(("http" | "https", _)) => {
                return Err(bad(
                    "the WebSocket URL starts with ws:// (or wss://), not http://",
                ));
            }
            Some((scheme, _)) => return Err(bad(&format!("unknown scheme {scheme}://"))),
            None => return Err(bad("no scheme")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/ws"),
        };
        let path = if path == "/" { "/ws" } else { path };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| bad(&format!("port {p:?} is not a number from 1 to 65535")))?;
                (h, port)
            }
            _ => (authority, if secure { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if port == 0 {
            return Err(bad("port 0 cannot be connected to"));
        }
        let scheme = if secure { "wss" } else { "ws" };
        Ok(Self {
            url: format!("{scheme}://{host}:{port}{path}"),
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
            token,
            secure,
            tls: None,
            metrics: Vec::new(),
        })
    }
}

/// Milliseconds since the Unix epoch; only the network edge and the app
/// loop read the clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Exponential backoff with jitter: 0.5 s doubling to 15 s, each wait drawn
/// from the upper half of the step so a countdown is never near zero.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let step = (500u64 << self.failures.min(5)).min(15_000);
        self.failures += 1;
        Duration::from_millis(step / 2 + fastrand::u64(0..=step / 2))
    }
}

/// What the network task hands the app: an update, or a `metrics` frame
/// still as its text, read in place where the store is
/// ([`decode::read_metrics`]) so that a known series costs no allocation.
#[derive(Debug)]
pub enum Incoming {
    Update(Update),
    Metrics(MetricsFrame),
}

/// The text of a `metrics` frame.
#[derive(Debug)]
pub struct MetricsFrame(Utf8Bytes);

impl MetricsFrame {
    pub fn text(&self) -> &str {
        self.0.as_str()
    }
}

impl From<Update> for Incoming {
    fn from(update: Update) -> Self {
        Incoming::Update(update)
    }
}

/// The host whose process and cgroup tables the app wants (the host view's
/// host), or `None` (the fleet and alerts views, which cost nothing more).
pub type Watch = watch::Receiver<Option<String>>;

/// A `Watch` that never names a host, for a connection that only streams.
pub fn watch_nothing() -> Watch {
    watch::channel(None).1
}

/// `{"type":"subscribe","metrics":[..]}`: every host, only these metrics.
pub fn subscribe_frame(metrics: &[String]) -> String {
    ClientMessage::subscribe_metrics(metrics).to_text()
}

/// The client's `watch` frame: `{"type":"watch","host":"web-1"}`, or
/// `"host":null` to stop.
pub fn watch_frame(host: Option<&str>) -> String {
    ClientMessage::watch(host).to_text()
}

/// What [`stream`] sends: [`Update`]s, or [`Incoming`] for the app.
pub trait Received: From<Update> + Send + 'static {
    /// Reads a text frame; `Ok(None)` for frames `mon top` has no use for.
    fn read(text: Utf8Bytes) -> Result<Option<Self>, String>;
    /// The server's `hello`, after which a reconnect starts a fresh backoff.
    fn is_hello(&self) -> bool;
}

impl Received for Update {
    fn read(text: Utf8Bytes) -> Result<Option<Self>, String> {
        decode::parse(&text)
    }

    fn is_hello(&self) -> bool {
        matches!(self, Update::Connected { .. })
    }
}

impl Received for Incoming {
    fn read(text: Utf8Bytes) -> Result<Option<Self>, String> {
        if decode::is_metrics(&text) {
            return Ok(Some(Incoming::Metrics(MetricsFrame(text))));
        }
        Ok(decode::parse(&text)?.map(Incoming::Update))
    }

    fn is_hello(&self) -> bool {
        matches!(self, Incoming::Update(u) if u.is_hello())
    }
}

/// Keeps a WebSocket open until `updates` is closed, reconnecting with
/// backoff; the data already received stays with the store meanwhile.
/// Each connection watches what `watch` says, and follows its changes.
pub async fn stream<T: Received>(
    endpoint: Arc<Endpoint>,
    updates: mpsc::Sender<T>,
    mut watch: Watch,
) {
    let mut backoff = Backoff::default();
    let mut attempt = 1;
    loop {
        if updates
            .send(Update::Connecting { attempt }.into())
            .await
            .is_err()
        {
            return;
        }
        let reason = match connect_and_read(&endpoint, &updates, &mut watch).await {
            Ended::ReceiverGone => return,
            Ended::AfterHello(reason) => {
                backoff = Backoff::default();
                attempt = 1;
                reason
            }
            Ended::BeforeHello(reason) => reason,
        };
        let delay = backoff.next();
        let gone = updates
            .send(
                Update::Disconnected {
                    reason,
                    retry_at_ms: now_ms() + delay.as_millis() as i64,
                    attempt,
                }
                .into(),
            )
            .await
            .is_err();
        if gone {
            return;
        }
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

enum Ended {
    ReceiverGone,
    /// The server said hello, so the next attempt starts a fresh backoff.
    AfterHello(String),
    BeforeHello(String),
}

async fn connect_and_read<T: Received>(
    endpoint: &Endpoint,
    updates: &mpsc::Sender<T>,
    watch: &mut Watch,
) -> Ended {
    let mut request = match endpoint.url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return Ended::BeforeHello(e.to_string()),
    };
    if let Some(token) = &endpoint.token
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        request.headers_mut().insert("authorization", value);
    }
    // Used only for wss://; tungstenite keeps ws:// plain.
    let connector = endpoint
        .tls
        .clone()
        .map(tokio_tungstenite::Connector::Rustls);
    // tungstenite zero-fills its whole read buffer before every read (the
    // ones that find nothing too); frames are a few KiB, so 128 KiB of
    // zeroes per read was most of what reading cost.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let connect =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(config), false, connector);
    let mut socket = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Err(_) => return Ended::BeforeHello("no answer within 5s".into()),
        Ok(Err(e)) => return Ended::BeforeHello(describe(&e)),
        Ok(Ok((socket, _))) => socket,
    };
    let mut greeted = false;
    let end = |greeted: bool, reason: String| {
        if greeted {
            Ended::AfterHello(reason)
        } else {
            Ended::BeforeHello(reason)
        }
    };
    // Each session starts unfiltered: subscribe first, so the frames after
    // the first snapshot are the small ones.
    if !endpoint.metrics.is_empty()
        && let Err(e) = socket
            .send(Message::text(subscribe_frame(&endpoint.metrics)))
            .await
    {
        return end(greeted, describe(&e));
    }
    // A new session watches nothing: say again what the app watches. The
    // server reads it after its hello and snapshot, then sends the tables.
    let mut watched = watch.borrow_and_update().clone();
    if let Some(host) = &watched
        && let Err(e) = socket.send(Message::text(watch_frame(Some(host)))).await
    {
        return end(greeted, describe(&e));
    }
    // A sender dropped (or never kept) cannot change the watch again.
    let mut watch_open = true;
    let idle = tokio::time::sleep(IDLE_LIMIT);
    tokio::pin!(idle);
    let pace = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(pace);
    let mut resting = false;
    // A message already taken off the socket, not yet handled.
    let mut ready = None;
    loop {
        // The socket first: while frames keep coming (a large fleet), the
        // watch is not even polled, so the fleet view pays nothing for it;
        // a change waits at most for the burst to end.
        let next = if let Some(next) = ready.take() {
            next
        } else {
            tokio::select! {
            biased;
            () = &mut pace, if resting => {
                resting = false;
                continue;
            }
            next = socket.next(), if !resting => next,
            changed = watch.changed(), if watch_open => {
                if changed.is_err() {
                    watch_open = false;
                    continue;
                }
                let want = watch.borrow_and_update().clone();
                if want != watched {
                    let frame = Message::text(watch_frame(want.as_deref()));
                    if let Err(e) = socket.send(frame).await {
                        return end(greeted, describe(&e));
                    }
                    watched = want;
                }
                continue;
            }
            () = &mut idle => return end(greeted, "nothing received for 60s".into()),
            }
        };
        let now = tokio::time::Instant::now();
        idle.as_mut().reset(now + IDLE_LIMIT);
        // What the socket holds already is taken now; once it holds
        // nothing, the reader rests (see READ_PACE).
        match socket.next().now_or_never() {
            Some(more) => ready = Some(more),
            None => {
                pace.as_mut().reset(now + READ_PACE);
                resting = true;
            }
        }
        let message = match next {
            None => return end(greeted, "the server closed the connection".into()),
            Some(Err(e)) => return end(greeted, describe(&e)),
            Some(Ok(m)) => m,
        };
        match message {
            Message::Text(text) => match T::read(text) {
                Ok(Some(update)) => {
                    greeted |= update.is_hello();
                    if updates.send(update).await.is_err() {
                        let _ = socket.close(None).await;
                        return Ended::ReceiverGone;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    if updates.send(Update::ServerError(e).into()).await.is_err() {
                        return Ended::ReceiverGone;
                    }
                }
            },
            Message::Close(frame) => {
                let why = frame
                    .map(|f| format!("closed by the server ({} {})", u16::from(f.code), f.reason))
                    .unwrap_or_else(|| "closed by the server".into());
                return end(greeted, why);
            }
            // Pings are answered by tungstenite on the next read.
            _ => {}
        }
    }
}

fn describe(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    if let Some(advice) = tls_advice(e) {
        return advice;
    }
    match e {
        Error::Io(io) => io.to_string(),
        Error::Http(response) => format!(
            "the server refused the WebSocket with HTTP {}{}",
            response.status(),
            if response.status().as_u16() == 401 {
                " (give --token)"
            } else {
                ""
            }
        ),
        other => other.to_string(),
    }
}

/// A failed TLS handshake, in words that say what to change; `None` when
/// the failure was not about TLS.
pub(crate) fn tls_advice(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(e) = next {
        // tokio-rustls wraps rustls' errors in an io::Error, whose `source`
        // skips the error it wraps: look inside.
        let mut inner = Some(e);
        while let Some(i) = inner
            && !i.is::<rustls::Error>()
        {
            inner = i
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|e| e as &(dyn std::error::Error + 'static));
        }
        if let Some(tls) = inner.and_then(|i| i.downcast_ref::<rustls::Error>()) {
            use rustls::CertificateError as Cert;
            return Some(match tls {
                rustls::Error::InvalidCertificate(
                    Cert::NotValidForName | Cert::NotValidForNameContext { .. },
                ) => format!(
                    "TLS: {tls}; use a host name in --url that the server's certificate lists"
                ),
                rustls::Error::InvalidCertificate(_) => format!(
                    "TLS: {tls}; pass --ca with the CA that signed the server's certificate"
                ),
                rustls::Error::InvalidMessage(_) => format!(
                    "TLS: {tls}; the server does not speak TLS here: use ws:// instead of wss://"
                ),
                _ => format!("TLS: {tls}"),
            });
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_or_refused_with_a_reason() {
        let e = Endpoint::parse("ws://127.0.0.1:7071/ws", None).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 7071));
        assert_eq!(
            Endpoint::parse("ws://mon.internal:7072", None).unwrap().url,
            "ws://mon.internal:7072/ws"
        );
        assert_eq!(Endpoint::parse("ws://gw", None).unwrap().port, 80);
        let secure = Endpoint::parse("wss://gw.example/ws", None).unwrap();
        assert_eq!((secure.secure, secure.port), (true, 443));
        assert_eq!(secure.url, "wss://gw.example:443/ws");
        for (bad, why) in [
            ("http://127.0.0.1:7071/ws", "not http://"),
            ("127.0.0.1:7071", "no scheme"),
            ("ws://host:port/ws", "\"port\""),
            ("ws://:7071/ws", "no host"),
        ] {
            let err = Endpoint::parse(bad, None).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn backoff_grows_to_a_cap_and_never_waits_zero() {
        let mut b = Backoff::default();
        let waits: Vec<_> = (0..10).map(|_| b.next()).collect();
        assert!(waits[0] >= Duration::from_millis(250));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(15)));
        assert!(waits[9] >= Duration::from_millis(7_500));
    }
}
