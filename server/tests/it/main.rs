//! Integration tests of the server crate: roles started in-process on port 0
//! and driven over real gRPC, with a real SQLite file in a temp dir.

mod alerts;
mod edge;
mod gateway;
mod harness;
mod ingest;
mod pipeline;
mod rollup_props;
mod warm;
