//! Serving a router the way both the gateway and the edge do: no Nagle
//! delay on client sockets, and a graceful stop that first tells every
//! WebSocket session to close.

use std::future::Future;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `router` until `shutdown` resolves, then sets `stop` (which the
/// WebSocket sessions watch) and waits for in-flight requests.
pub async fn serve(
    role: &'static str,
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stop: watch::Sender<bool>,
) -> std::io::Result<()> {
    // Frames are small and latency matters: no Nagle delay on client sockets.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("{role} stopping: closing WebSocket clients");
            let _ = stop.send(true);
        })
        .await
}
