//! cargo-fuzz target: `server::fuzzing::ws_client_message`, the harness the corpus
//! replay test runs too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::ws_client_message(data));
