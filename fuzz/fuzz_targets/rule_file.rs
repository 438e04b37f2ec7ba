//! cargo-fuzz target: `server::fuzzing::rule_file`, the harness the corpus
//! replay test runs too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::rule_file(data));
