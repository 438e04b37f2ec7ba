//! Serving a router the way both the gateway and the edge do: through the
//! listener's [`Gate`] (a connection cap, a deadline for the first request,
//! backoff when descriptors run out), plain or TLS, and a graceful stop that
//! first tells every WebSocket session to close.
//!
//! This is our own accept loop rather than `axum::serve`, which has no way
//! to bound how long a connection may sit silent: here a connection gets
//! `first_request_timeout` (TLS handshake and HTTP/2 preface included) to
//! deliver a request head, and an HTTP/1 connection the same time for each
//! later head (a keep-alive connection idle that long is closed, and so is a
//! slow-loris header). HTTP/2 connections are pinged and closed when a ping
//! goes unanswered.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::conn::{ConnLimits, ConnTag, Gate, Guarded};
use crate::tls::HANDSHAKE_TIMEOUT;

/// HTTP/2 keep-alive: a ping this often, answered within the timeout.
const H2_PING_EVERY: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves `router` until `shutdown` resolves, then sets `stop` (which the
/// WebSocket sessions watch) and waits for in-flight requests. With `tls`,
/// every connection is a TLS one.
pub async fn serve(
    role: &'static str,
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stop: watch::Sender<bool>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.first_request_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        // WebSocket over HTTP/2 (RFC 8441), as axum::serve allows it.
        .enable_connect_protocol()
        .keep_alive_interval(H2_PING_EVERY)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let builder = Arc::new(builder);
    let acceptor = tls.map(TlsAcceptor::from);
    let mut gate = Gate::new(role, limits);
    // Connection tasks hold a receiver each; once the loop ends, the
    // sender's `closed()` tells them to finish gracefully, and the loop
    // waits for the last one to drop its `done` receiver.
    let (signal, _) = watch::channel(());
    let (done, _) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = gate.accept(&listener) => accepted,
        };
        let router = router.clone();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let signal = signal.subscribe();
        let done = done.subscribe();
        tokio::spawn(async move {
            serve_connection(io, acceptor, builder, router, signal).await;
            drop(done);
        });
    }
    tracing::info!("{role} stopping: closing WebSocket clients");
    let _ = stop.send(true);
    drop(listener);
    drop(signal);
    done.closed().await;
    Ok(())
}

async fn serve_connection(
    io: Guarded<TcpStream>,
    acceptor: Option<TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    signal: watch::Receiver<()>,
) {
    let tag = io.tag();
    match acceptor {
        None => serve_http(io, tag, &builder, router, signal).await,
        Some(acceptor) => {
            // The first-request deadline bounds the handshake too; this
            // timeout only keeps the log quiet about the reason.
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                Ok(Ok(tls)) => serve_http(tls, tag, &builder, router, signal).await,
                // A client that is not speaking TLS, or does not trust the
                // certificate, is the client's problem: not worth a warning.
                Ok(Err(e)) => {
                    tracing::debug!(peer = %tag.peer, error = %e, "TLS handshake failed")
                }
                Err(_) => {
                    tracing::debug!(peer = %tag.peer, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out")
                }
            }
        }
    }
}

async fn serve_http<IO>(
    io: IO,
    tag: ConnTag,
    builder: &auto::Builder<TokioExecutor>,
    router: Router,
    mut signal: watch::Receiver<()>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        // A request head arrived: the connection has earned its place.
        tag.mark_active();
        let router = router.clone();
        async move {
            Ok::<_, Infallible>(
                router
                    .oneshot(request.map(Body::new))
                    .await
                    .unwrap_or_else(|e| match e {}),
            )
        }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::trace!(error = %e, "HTTP connection ended with an error");
            }
            return;
        }
        _ = signal.changed() => {}
    }
    // The loop ended (the sender is gone): finish what is in flight.
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
