//! The bottom of the `mon` pipeline beside the `wire` crate: the domain
//! types every side speaks without a wire format (a series, a point, an
//! alert) and the mechanisms the agent, the store and the roles share (the
//! injected clock, "warn once" episodes, one-line error chains, the TLS
//! client).
//!
//! What a newcomer must know: nothing here needs a role. The agent-only
//! build carries this crate whole, so it holds no server, no database and
//! no HTTP framework; the `server` crate re-exports each module at its old
//! path (`server::model`, `server::time`, ...).

pub mod alert;
pub mod episode;
pub mod error_chain;
pub mod model;
pub mod time;
pub mod tls;
