//! Integration tests of the server crate: roles started in-process on port 0
//! and driven over real gRPC, with a real SQLite file in a temp dir and, for
//! the Redis bus, a private `redis-server` per test.

mod activity;
mod agent_activity;
mod alerts;
mod alerts_leader;
mod bus_conformance;
mod connections;
mod edge;
mod failover;
mod fuzz_corpus;
mod fuzz_props;
mod fuzz_regressions;
mod gateway;
mod gateway_crowd;
mod harness;
mod host_collect;
mod http_errors;
mod ingest;
mod interned;
mod limits;
mod pipeline;
mod redis_bus;
mod redis_server;
mod remote_write_out;
mod rollup_props;
mod silences;
mod store_conformance;
mod tls;
mod token;
mod warm;
