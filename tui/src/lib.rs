//! `mon top`, the terminal dashboard: a live fleet table, a host view with
//! history charts, the active alerts and the link's state, fed by a
//! gateway's or edge's WebSocket exactly as the browser dashboard is.
//!
//! Data flows one way: `net` turns frames into [`state::Update`]s, the app
//! applies them to the [`state::Store`], `view::build` shapes store + [`view::Ui`]
//! into a plain [`view::View`], and `render` draws it. Rendering is a pure
//! function of that view — no clock, no sockets, no JSON — which is what
//! lets the tests snapshot it.

mod app;
pub mod format;
pub mod keys;
pub mod net;
pub mod render;
pub mod state;
mod terminal;
pub mod view;

pub use app::{App, TopConfig, TopError, run};
