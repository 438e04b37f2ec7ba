//! Live delivery to WebSocket clients, shared by `mon gateway` and `mon edge`.
//!
//! A [`Hub`] keeps the fleet's latest state (fed by the bus in the gateway,
//! by the upstream WebSocket in the edge) and fans every event out to its
//! clients through one broadcast ring: each event is serialized once and
//! every client sends the same bytes. A client that falls behind the ring
//! does not slow anyone: it is sent a fresh snapshot instead of the events it
//! missed, and is dropped if that keeps happening.

mod fleet;
mod hub;
pub mod message;
mod session;

pub use fleet::{Fleet, HostEntry, Table};
pub use hub::{Event, EventKind, Hub, HubStats, WatchGuard};
pub use message::{ClientMessage, Filter};
pub use session::{SessionLimits, serve_session};
