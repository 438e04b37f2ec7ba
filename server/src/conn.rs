//! What every listener (gRPC, HTTP, WebSocket) does with a TCP connection
//! before it has earned its keep: a cap on open connections, a deadline for
//! the first request, and an accept loop that backs off, and says so once,
//! when the process runs out of file descriptors instead of spinning.
//!
//! The one thing to know: a connection is *pending* from its accept until
//! the role marks it active ([`ConnTag::mark_active`]: an HTTP request head
//! was read, or a gRPC stream passed the token check). Only pending
//! connections are shed: any of them once `first_request_timeout` has
//! passed, and the oldest one first when the listener is at its cap or out
//! of descriptors. So a flood of idle sockets costs an attacker sockets,
//! not the agents that talk: a new connection that sends a request in time
//! always finds room.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use crate::episode::Episode;

/// Connections one listener holds open at most, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a new connection may take to deliver its first request (TLS
/// handshake and HTTP/2 preface included), by default.
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A failure that has not repeated for this long counts as over, so its
/// next occurrence is logged again.
const QUIET: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections the listener holds at most (`--max-connections`).
    pub max_connections: usize,
    /// From accept to the first request; a connection still silent then is
    /// closed.
    pub first_request_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            first_request_timeout: FIRST_REQUEST_TIMEOUT,
        }
    }
}

/// One connection's state, shared by its I/O wrapper and the gate.
#[derive(Debug, Default)]
struct Slot {
    active: AtomicBool,
    shed: AtomicBool,
    /// The task reading the connection, woken when the gate sheds it.
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn shed(&self) {
        self.shed.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
}

/// A handle on one connection for the role serving it: tonic finds it in
/// a request's extensions, the HTTP server keeps it per connection.
#[derive(Debug, Clone)]
pub struct ConnTag {
    slot: Arc<Slot>,
    pub peer: SocketAddr,
}

impl ConnTag {
    /// The connection carried a real request: it is no longer shed for
    /// silence or to make room.
    pub fn mark_active(&self) {
        self.slot.active.store(true, Ordering::Release);
    }
}

#[derive(Debug, Default)]
struct Shared {
    open: AtomicUsize,
    /// Connections in accept order; dead and active ones are skipped (and
    /// pruned) when the oldest pending one is looked for.
    pending: Mutex<VecDeque<Weak<Slot>>>,
}

/// The accept side of one listener.
#[derive(Debug)]
pub struct Gate {
    role: &'static str,
    limits: ConnLimits,
    shared: Arc<Shared>,
    descriptors: Episode,
    cap: Episode,
}

impl Gate {
    pub fn new(role: &'static str, limits: ConnLimits) -> Self {
        Self {
            role,
            limits,
            shared: Arc::default(),
            descriptors: Episode::new().settling(QUIET),
            cap: Episode::new().settling(QUIET),
        }
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// The next connection to serve. Never returns an error and never
    /// spins: out of descriptors, it sheds the oldest pending connection and
    /// waits (10 ms, doubling to 1 s) before it tries again. Cancel-safe.
    pub async fn accept(&mut self, listener: &TcpListener) -> (Guarded<TcpStream>, SocketAddr) {
        let mut backoff = Duration::from_millis(10);
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    if let Some(ended) = self.descriptors.recover() {
                        tracing::info!(
                            role = self.role,
                            failures = ended.failures,
                            "accepting connections again"
                        );
                    }
                    if self.open() >= self.limits.max_connections && !self.shed_oldest() {
                        if self.cap.fail() {
                            tracing::warn!(
                                role = self.role,
                                max = self.limits.max_connections,
                                "refusing connections: this listener holds its limit of {} (--max-connections) and none of them is idle",
                                self.limits.max_connections
                            );
                        }
                        drop(tcp);
                        continue;
                    }
                    if let Some(ended) = self.cap.recover() {
                        tracing::info!(
                            role = self.role,
                            refused = ended.failures,
                            "under the connection limit again"
                        );
                    }
                    // Acks and frames are small: no Nagle delay.
                    let _ = tcp.set_nodelay(true);
                    return (self.guard(tcp, peer), peer);
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    if self.descriptors.fail() {
                        tracing::warn!(
                            role = self.role,
                            error = %e,
                            open = self.open(),
                            "cannot accept connections (out of file descriptors?): shedding idle ones and retrying with backoff; raise `ulimit -n` or lower --max-connections"
                        );
                    }
                    self.shed_oldest();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    fn guard(&self, io: TcpStream, peer: SocketAddr) -> Guarded<TcpStream> {
        let slot = Arc::new(Slot::default());
        let mut pending = self.shared.pending.lock().unwrap();
        if pending.len() >= 2 * self.limits.max_connections.max(16) {
            pending.retain(|w| {
                w.upgrade()
                    .is_some_and(|s| !s.active.load(Ordering::Acquire))
            });
        }
        pending.push_back(Arc::downgrade(&slot));
        drop(pending);
        self.shared.open.fetch_add(1, Ordering::Relaxed);
        Guarded {
            io,
            tag: ConnTag { slot, peer },
            deadline: Some(Box::pin(tokio::time::sleep(
                self.limits.first_request_timeout,
            ))),
            _open: OpenCount(self.shared.clone()),
        }
    }

    /// Sheds the oldest connection still waiting for its first request;
    /// false when there is none.
    fn shed_oldest(&self) -> bool {
        let mut pending = self.shared.pending.lock().unwrap();
        while let Some(weak) = pending.pop_front() {
            if let Some(slot) = weak.upgrade()
                && !slot.active.load(Ordering::Acquire)
            {
                slot.shed();
                tracing::debug!(role = self.role, "shed an idle connection to make room");
                return true;
            }
        }
        false
    }
}

/// Decrements the open count when its connection is dropped.
#[derive(Debug)]
struct OpenCount(Arc<Shared>);

impl Drop for OpenCount {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection under its gate: reads fail (and so the connection closes)
/// once it is shed, or once its first request is overdue.
#[derive(Debug)]
pub struct Guarded<IO> {
    io: IO,
    tag: ConnTag,
    /// Until the first request; `None` once the connection is active.
    deadline: Option<Pin<Box<Sleep>>>,
    _open: OpenCount,
}

impl<IO> Guarded<IO> {
    pub fn tag(&self) -> ConnTag {
        self.tag.clone()
    }

    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The error that ends this connection now, if any. Registers the
    /// task's waker so a shed or an elapsed deadline wakes it.
    fn check(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let slot = &self.tag.slot;
        if let Some(deadline) = &mut self.deadline {
            if slot.active.load(Ordering::Acquire) {
                self.deadline = None;
                slot.waker.lock().unwrap().take();
            } else {
                // Store the waker before looking at the flag, so a shed
                // between the two still wakes this task.
                let mut waker = slot.waker.lock().unwrap();
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                drop(waker);
                if deadline.as_mut().poll(cx).is_ready() {
                    return Some(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request within the first-request timeout",
                    ));
                }
            }
        }
        if slot.shed.load(Ordering::Acquire) {
            return Some(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "shed to make room for other connections",
            ));
        }
        None
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.tag.slot.shed.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// tonic puts the tag in every request's extensions (inside TLS too).
impl tonic::transport::server::Connected for Guarded<TcpStream> {
    type ConnectInfo = ConnTag;

    fn connect_info(&self) -> ConnTag {
        self.tag()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The connections of `gate` on `listener` as a stream, for tonic: it
/// accepts only as fast as tonic takes connections.
pub fn incoming(
    gate: Gate,
    listener: TcpListener,
) -> impl futures::Stream<Item = io::Result<Guarded<TcpStream>>> {
    futures::stream::unfold((gate, listener), |(mut gate, listener)| async move {
        let (io, _) = gate.accept(&listener).await;
        Some((Ok(io), (gate, listener)))
    })
}
