//! The only place that installs signal handlers: the future returned here
//! resolves on the first SIGINT (Ctrl-C) or SIGTERM, and every role drains
//! when it does.
//!
//! The handlers are installed when `signal()` is called, not when its future
//! is first polled: a role that spends its first seconds connecting (a bench
//! opening its clients, an aggregator waiting for its store) would otherwise
//! die of a signal's default action instead of draining. Call it inside the
//! runtime, as early as the role starts.

use std::future::Future;

pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal as install};
        let interrupt = install(SignalKind::interrupt());
        let terminate = install(SignalKind::terminate());
        async move {
            let interrupt = async {
                match interrupt {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending().await,
                }
            };
            let terminate = async {
                match terminate {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupt => tracing::info!("received SIGINT"),
                _ = terminate => tracing::info!("received SIGTERM"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("received Ctrl-C");
        }
    }
}
