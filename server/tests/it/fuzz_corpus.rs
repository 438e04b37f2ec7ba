//! Replays the fuzzers' seed corpora (`fuzz/corpus/TARGET/`) and every input
//! that once crashed a target (`fuzz/regressions/TARGET/`) through the
//! matching harness of `server::fuzzing`, so what cargo-fuzz found keeps
//! being checked by a plain `cargo test`, with no fuzzer installed.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use server::fuzzing::{self, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every file under `fuzz/<kind>/<target>/`, by target.
fn inputs(kind: &str) -> Vec<(String, PathBuf)> {
    let root = fuzz_dir().join(kind);
    let Ok(targets) = fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for target in targets {
        let target = target.unwrap().path();
        if !target.is_dir() {
            continue;
        }
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        for file in fs::read_dir(&target).unwrap() {
            let file = file.unwrap().path();
            if file.is_file() {
                out.push((name.clone(), file));
            }
        }
    }
    out.sort();
    out
}

/// Runs each input, and names every one that panicked or has no harness.
fn replay(inputs: &[(String, PathBuf)]) -> Vec<String> {
    let mut failures = Vec::new();
    let root = fuzz_dir();
    for (target, path) in inputs {
        let file = path.strip_prefix(&root).unwrap_or(path);
        let Some(harness) = fuzzing::harness(target) else {
            failures.push(format!(
                "fuzz/{}: no harness named {target:?}",
                file.display()
            ));
            continue;
        };
        let data = fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err() {
            failures.push(format!("fuzz/{} panicked in {target}", file.display()));
        }
    }
    failures
}

#[test]
fn every_seed_corpus_file_passes_its_harness() {
    let corpus = inputs("corpus");
    for (target, _) in TARGETS {
        assert!(
            corpus.iter().any(|(t, _)| t == target),
            "fuzz/corpus/{target}/ is empty or missing"
        );
    }
    let failures = replay(&corpus);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_input_that_once_crashed_a_fuzzer_now_passes() {
    let failures = replay(&inputs("regressions"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
