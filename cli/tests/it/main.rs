//! Tests of the `mon` binary as a user runs it: real processes, real
//! signals, the `sqlite3` shell to read what landed on disk, `redis-cli` to
//! read what went through Redis, a headless Chromium to look at the dashboard.

mod alerts;
mod bench;
mod browser;
mod browser_activity;
mod disk;
mod flags;
mod fleet;
mod lean;
mod limits;
mod otlp;
mod peers;
mod postgres;
mod process;
mod query;
mod redis;
mod remote_write;
mod remote_write_out;
mod serve;
mod split;
mod tls;
mod token;
mod top;
mod topology;
mod webdriver;
