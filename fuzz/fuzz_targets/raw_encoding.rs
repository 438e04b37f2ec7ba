//! cargo-fuzz target: `server::fuzzing::raw_encoding`, the harness the corpus
//! replay test runs too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::raw_encoding(data));
