//! Every role of the `mon` metrics pipeline as a library.
//!
//! Each role exposes `run(config, listener, shutdown)`: it serves until the
//! `shutdown` future resolves, then drains and returns. Only the `mon` binary
//! installs signal handlers, so tests start roles in-process on port 0 and stop
//! them by resolving a future.
//!
//! The modules are layered (ARCHITECTURE.md): domain and protocol at the
//! bottom (over the `wire` crate, the JSON contract every side shares, and
//! the `domain` crate, re-exported here at the same paths), then the bus
//! and the store (the `store` crate, re-exported as `server::store`), then
//! the roles, then `serve`. Every module above the agent is behind the
//! `roles` feature (on by default), so an agent-only build carries none of
//! axum, Redis, SQLite or PostgreSQL.

// Domain and protocol: what every side speaks, in both builds.
pub use domain::{alert, episode, error_chain, model, time};
pub mod activity;
pub mod backoff;
pub mod event;
pub mod host_name;
pub mod proto;
pub mod tls;
pub mod trust;

// The agent: built on the layer above alone.
pub mod agent;

#[cfg(feature = "roles")]
pub mod aggregator;
#[cfg(feature = "roles")]
pub mod alerts;
#[cfg(feature = "roles")]
pub mod bench;
#[cfg(feature = "roles")]
pub mod bus;
#[cfg(feature = "roles")]
pub mod conn;
#[cfg(feature = "roles")]
pub mod edge;
#[cfg(feature = "roles")]
pub mod fanout;
#[cfg(feature = "roles")]
pub mod forward;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "roles")]
pub mod gateway;
#[cfg(feature = "roles")]
pub mod http;
#[cfg(feature = "roles")]
pub mod interop;
#[cfg(feature = "roles")]
pub mod serve;
#[cfg(feature = "roles")]
pub mod stats;
#[cfg(feature = "roles")]
pub use ::store;
#[cfg(feature = "testkit")]
pub mod testkit;
