//! Tests of `mon top` without a terminal: stores fed with protocol updates,
//! keys pressed, frames rendered into ratatui's `TestBackend` and compared
//! with the snapshots in the repository's `snapshots/` folder.

mod fixtures;
mod keys;
mod net;
mod render;
