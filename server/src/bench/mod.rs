//! `mon bench`: load generators and probes that measure the pipeline from
//! the outside, over the same sockets real agents and clients use.

pub mod agent;
pub mod deliver;
pub mod ingest;
mod latency;
pub mod remote_write;
mod workload;

pub use latency::Latencies;
pub use workload::Shape;
