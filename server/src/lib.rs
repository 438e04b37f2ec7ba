//! Every role of the `mon` metrics pipeline as a library.
//!
//! Each role exposes `run(config, listener, shutdown)`: it serves until the
//! `shutdown` future resolves, then drains and returns. Only the `mon` binary
//! installs signal handlers, so tests start roles in-process on port 0 and stop
//! them by resolving a future.

pub mod activity;
pub mod agent;
pub mod aggregator;
pub mod alert;
pub mod alerts;
pub mod backoff;
pub mod bench;
pub mod bus;
pub mod conn;
pub mod edge;
mod error_chain;
pub mod event;
pub mod fanout;
pub mod forward;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod gateway;
pub mod host_name;
pub mod http;
pub mod interop;
pub mod model;
pub mod proto;
pub mod serve;
pub mod store;
pub mod time;
pub mod tls;
pub mod trust;
