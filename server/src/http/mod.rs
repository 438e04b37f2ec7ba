//! HTTP pieces shared by the gateway and the edge: the route block both
//! serve, access control, JSON errors, request limits, the dashboard, the
//! WebSocket upgrade; and by the notifiers and the forwarders: the outgoing
//! client and the `Retry-After` they honour.

pub mod access;
pub mod assets;
pub mod client;
pub mod error;
pub mod limits;
pub mod live;
pub mod live_routes;
pub mod retry_after;
pub mod serve;
pub mod ws;

pub use access::Access;
pub use error::ApiError;
pub use limits::HttpLimits;
