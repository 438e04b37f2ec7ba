//! `mon top`, the terminal dashboard. Rendering will be a pure function of a
//! view-model; this crate knows nothing of sockets or JSON.
