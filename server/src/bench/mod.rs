//! `mon bench`: load generators and probes that measure the pipeline from
//! the outside, over the same sockets real agents and clients use.

pub mod agent;
pub mod deliver;
pub mod ingest;
mod latency;
mod process;
mod pty;
pub mod remote_write;
pub mod top;
mod workload;

pub use latency::Latencies;
pub use workload::Shape;
