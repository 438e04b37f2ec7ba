//! Serving a router the way both the gateway and the edge do: plain or
//! TLS, no Nagle delay on client sockets, and a graceful stop that first
//! tells every WebSocket session to close.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::serve::{Listener, ListenerExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::tls::TlsListener;

/// Serves `router` until `shutdown` resolves, then sets `stop` (which the
/// WebSocket sessions watch) and waits for in-flight requests. With `tls`,
/// every connection is a TLS one.
pub async fn serve(
    role: &'static str,
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stop: watch::Sender<bool>,
) -> std::io::Result<()> {
    match tls {
        // The TLS listener sets TCP_NODELAY itself, before the handshake.
        Some(config) => {
            serve_on(
                role,
                TlsListener::new(listener, config),
                router,
                shutdown,
                stop,
            )
            .await
        }
        None => {
            // Frames are small and latency matters: no Nagle delay on client sockets.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            serve_on(role, listener, router, shutdown, stop).await
        }
    }
}

async fn serve_on<L>(
    role: &'static str,
    listener: L,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stop: watch::Sender<bool>,
) -> std::io::Result<()>
where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("{role} stopping: closing WebSocket clients");
            let _ = stop.send(true);
        })
        .await
}
