//! Tests of the `mon` binary as a user runs it: real processes, real
//! signals, the `sqlite3` shell to read what landed on disk.

mod alerts;
mod bench;
mod flags;
mod process;
mod query;
mod serve;
