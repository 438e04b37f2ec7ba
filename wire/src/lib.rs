//! The JSON contract between mon's parts, declared once: the events on the
//! bus, the WebSocket frames of `/ws`, the messages a client sends, and the
//! HTTP API bodies. The server's roles, `mon top` and the tests all use
//! these types, so a renamed field is a compile error on every side rather
//! than a failed integration test. `PROTOCOL.md` beside this crate is the
//! contract in prose; the gRPC ingest half is `server/proto/mon.proto`.
//!
//! Writers and readers are separate on purpose. What the server produces
//! it serializes once from borrowed types (`…Event<'a>`, `…Frame<'a>`);
//! what anyone parses goes into owned types that default missing fields
//! and ignore unknown ones, so an older reader keeps working against a
//! newer server. Each writer has its reader beside it, and the tests here
//! round-trip one through the other.

pub mod channel;

/// Version of the event format, carried as `"v"` in every bus event.
pub const EVENT_VERSION: u32 = 1;

/// Version of the WebSocket protocol, carried as `"v"` in every frame the
/// server writes itself (`hello`, `snapshot`, `subscribed`, `status`,
/// `error`); the events it relays carry their own [`EVENT_VERSION`].
pub const PROTOCOL_VERSION: u32 = 1;
