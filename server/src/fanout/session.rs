//! One WebSocket client: `hello`, a `snapshot`, then the live events its
//! filter lets through, until it leaves, stops answering pings, or keeps
//! falling behind.
//!
//! The client never slows the hub: events wait in the shared broadcast ring,
//! and a client that falls more than a ring behind gets a fresh snapshot (the
//! coalesced state) instead of the events it missed. A client that needs
//! that too often, or whose socket does not take a frame for `send_timeout`,
//! is closed with code 1008 and a reason.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures::{SinkExt, StreamExt};
use tokio::sync::{broadcast, watch};

use super::hub::{Event, EventKind, Hub, WatchGuard};
use super::message::{self, ClientMessage, Filter};

#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// Interval of server pings.
    pub ping_every: Duration,
    /// A client silent this long (no pong, no message) is closed.
    pub idle_timeout: Duration,
    /// Longest wait for the socket to take one frame.
    pub send_timeout: Duration,
    /// Resyncs allowed per minute before a slow client is dropped.
    pub max_resyncs_per_minute: usize,
    /// Unreadable frames allowed before the client is closed.
    pub max_bad_frames: usize,
    /// Largest message (and frame) a client may send; a bigger one closes
    /// the connection with 1009.
    pub max_message_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(10),
            max_resyncs_per_minute: 5,
            max_bad_frames: 20,
            max_message_bytes: 64 * 1024,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    ClientLeft,
    Shutdown,
    Close(u16, Cow<'static, str>),
}

/// The sending half with the per-frame timeout.
struct Outbox {
    sink: futures::stream::SplitSink<WebSocket, Message>,
    send_timeout: Duration,
    hub: Arc<Hub>,
}

impl Outbox {
    async fn send(&mut self, frame: Utf8Bytes) -> Result<(), End> {
        match tokio::time::timeout(self.send_timeout, self.sink.send(Message::Text(frame))).await {
            Ok(Ok(())) => {
                self.hub.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(_)) => Err(End::ClientLeft),
            Err(_) => {
                self.hub
                    .stats
                    .clients_dropped_slow
                    .fetch_add(1, Ordering::Relaxed);
                Err(End::Close(
                    close_code::POLICY,
                    "too slow: a frame waited longer than the send timeout".into(),
                ))
            }
        }
    }

    /// A ping, under the same timeout as a frame: a client whose socket
    /// takes nothing must not hold its session (and its slot) forever.
    async fn ping(&mut self) -> Result<(), End> {
        match tokio::time::timeout(
            self.send_timeout,
            self.sink.send(Message::Ping(Default::default())),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::ClientLeft),
            Err(_) => {
                self.hub
                    .stats
                    .clients_dropped_slow
                    .fetch_add(1, Ordering::Relaxed);
                Err(End::Close(
                    close_code::POLICY,
                    "too slow: a ping waited longer than the send timeout".into(),
                ))
            }
        }
    }

    async fn close(&mut self, code: u16, reason: Cow<'static, str>) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.into_owned()),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

macro_rules! send {
    ($out:expr, $frame:expr) => {
        if let Err(end) = $out.send($frame).await {
            return end;
        }
    };
}

pub async fn serve_session(
    socket: WebSocket,
    hub: Arc<Hub>,
    limits: SessionLimits,
    shutdown: watch::Receiver<bool>,
) {
    hub.stats.clients.fetch_add(1, Ordering::Relaxed);
    hub.stats.clients_total.fetch_add(1, Ordering::Relaxed);
    let (sink, stream) = socket.split();
    let mut out = Outbox {
        sink,
        send_timeout: limits.send_timeout,
        hub: hub.clone(),
    };
    match converse(&mut out, stream, &hub, &limits, shutdown).await {
        End::ClientLeft => {}
        End::Shutdown => {
            out.close(close_code::AWAY, "server shutting down".into())
                .await
        }
        End::Close(code, reason) => {
            tracing::debug!(code, %reason, "closing WebSocket client");
            out.close(code, reason).await;
        }
    }
    hub.stats.clients.fetch_sub(1, Ordering::Relaxed);
}

async fn converse(
    out: &mut Outbox,
    mut stream: futures::stream::SplitStream<WebSocket>,
    hub: &Arc<Hub>,
    limits: &SessionLimits,
    mut shutdown: watch::Receiver<bool>,
) -> End {
    // Subscribe before the snapshot so no event falls between the two.
    let mut events = hub.subscribe();
    let mut filter = Filter::default();
    // The host whose tables this client receives, if any.
    let mut watching: Vec<WatchGuard> = Vec::new();
    let mut resyncs: VecDeque<Instant> = VecDeque::new();
    let mut bad_frames = 0usize;
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval(limits.ping_every);
    ping.tick().await;

    send!(out, Utf8Bytes::from(message::hello(hub.role())));
    send!(out, hub.snapshot(&filter));
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => return End::Shutdown,
            event = events.recv() => match event {
                Ok(event) => {
                    if let Some(frame) = render(&event, &filter, &watching, hub) {
                        send!(out, frame);
                    }
                    // A resync replaced the state: the watched hosts'
                    // tables may be new too.
                    if event.kind == EventKind::Resync {
                        for guard in &watching {
                            for frame in hub.tables(guard.host()) {
                                send!(out, frame);
                            }
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    hub.stats.lag_resyncs.fetch_add(1, Ordering::Relaxed);
                    let now = Instant::now();
                    resyncs.push_back(now);
                    while resyncs.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60)) {
                        resyncs.pop_front();
                    }
                    if resyncs.len() > limits.max_resyncs_per_minute {
                        hub.stats.clients_dropped_slow.fetch_add(1, Ordering::Relaxed);
                        return End::Close(close_code::POLICY, "too slow: fell behind the live stream repeatedly".into());
                    }
                    send!(out, hub.snapshot(&filter));
                }
                Err(broadcast::error::RecvError::Closed) => return End::Shutdown,
            },
            incoming = stream.next() => {
                last_heard = Instant::now();
                let problem = match incoming {
                    Some(Ok(Message::Text(text))) => match ClientMessage::parse(text.as_str()) {
                        Ok(ClientMessage::Subscribe { hosts, metrics }) => {
                            match Filter::new(&hosts, &metrics) {
                                Ok(new_filter) => {
                                    filter = new_filter;
                                    send!(out, Utf8Bytes::from(message::subscribed(&filter)));
                                    send!(out, hub.snapshot(&filter));
                                    None
                                }
                                Err(reason) => Some(reason),
                            }
                        }
                        Ok(ClientMessage::Watch { host, hosts }) => {
                            match message::watch_hosts(host.as_deref(), &hosts) {
                                Ok(hosts) => {
                                    // The new guards first: re-watching a host
                                    // never drops its count to zero.
                                    let guards: Vec<WatchGuard> =
                                        hosts.iter().map(|h| hub.watch(h)).collect();
                                    let known: Vec<String> =
                                        watching.iter().map(|g| g.host().to_owned()).collect();
                                    watching = guards;
                                    // Tables at once for the hosts newly watched.
                                    for host in hosts.iter().filter(|h| !known.contains(h)) {
                                        for frame in hub.tables(host) {
                                            send!(out, frame);
                                        }
                                    }
                                    None
                                }
                                Err(reason) => Some(reason),
                            }
                        }
                        Err(reason) => Some(reason),
                    },
                    Some(Ok(Message::Binary(_))) => {
                        Some("binary frames are not accepted; send JSON text frames".to_owned())
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    Some(Ok(Message::Close(_))) | None => return End::ClientLeft,
                    Some(Err(e)) => {
                        if is_too_big(&e) {
                            hub.stats.bad_client_frames.fetch_add(1, Ordering::Relaxed);
                            // Close reasons are capped at 123 bytes; this fits.
                            return End::Close(close_code::SIZE, format!(
                                "message over the limit of {} bytes (--max-ws-frame-bytes)",
                                limits.max_message_bytes
                            ).into());
                        }
                        return End::ClientLeft;
                    }
                };
                if let Some(reason) = problem {
                    hub.stats.bad_client_frames.fetch_add(1, Ordering::Relaxed);
                    bad_frames += 1;
                    if bad_frames > limits.max_bad_frames {
                        return End::Close(close_code::POLICY, "too many unreadable messages".into());
                    }
                    send!(out, Utf8Bytes::from(message::error(wire::frame::BAD_MESSAGE, &reason)));
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > limits.idle_timeout {
                    return End::Close(close_code::AWAY, "no pong within the idle timeout".into());
                }
                if let Err(end) = out.ping().await {
                    return end;
                }
            }
        }
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Whether a read error is the frame or message size limit.
fn is_too_big(e: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            return matches!(t, tokio_tungstenite::tungstenite::Error::Capacity(_));
        }
        source = s.source();
    }
    false
}

/// The frame this client should get for an event, if any.
fn render(event: &Event, filter: &Filter, watching: &[WatchGuard], hub: &Hub) -> Option<Utf8Bytes> {
    let watched = || watching.iter().any(|g| g.host() == event.host);
    match event.kind {
        EventKind::Activity => watched().then(|| event.frame.clone()),
        EventKind::Resync => Some(hub.snapshot(filter)),
        EventKind::Status => Some(event.frame.clone()),
        EventKind::Alert | EventKind::Host => filter.host(&event.host).then(|| event.frame.clone()),
        EventKind::Metrics => {
            if !filter.host(&event.host) {
                return None;
            }
            // The watched host's frames come whole: a client showing one
            // host needs all its series, while its fleet view subscribes to
            // the few it draws.
            if filter.all_metrics() || watched() {
                return Some(event.frame.clone());
            }
            event
                .metrics
                .as_ref()
                .map(|m| Utf8Bytes::from(m.filtered(|v| filter.metric(&v.name))))
        }
    }
}
