//! cargo-fuzz target: `server::fuzzing::report_validation`, the harness the corpus
//! replay test runs too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::report_validation(data));
