//! HTTP pieces shared by the gateway and the edge: the route block both
//! serve, access control, JSON errors, request limits, the embedded
//! dashboard, the WebSocket upgrade and the outgoing client.

pub mod access;
pub mod assets;
pub mod client;
pub mod error;
pub mod limits;
pub mod live;
pub mod live_routes;
pub mod serve;
pub mod ws;

pub use access::Access;
pub use error::ApiError;
pub use limits::HttpLimits;
