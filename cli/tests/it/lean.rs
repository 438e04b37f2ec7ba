//! The agent-only build (`cargo build -p cli --no-default-features`): a
//! host that runs only `mon agent` carries none of the server's crates.
//! Read from `cargo tree`, as an operator would check it.

use std::collections::BTreeSet;
use std::process::Command;

/// Crates only the other roles need: HTTP and WebSocket serving, Redis,
/// SQLite, PostgreSQL, the terminal UI, the embedded dashboard.
const ROLES_ONLY: &[&str] = &[
    "axum",
    "redis",
    "rusqlite",
    "ratatui",
    "postgres",
    "tungstenite",
    "tower-http",
];

/// The package names in `cli`'s tree of normal dependencies, with or
/// without its default features; `None` when cargo cannot be run here.
fn tree(default_features: bool) -> Option<BTreeSet<String>> {
    tree_with(default_features, &[])
}

/// [`tree`] with extra features on.
fn tree_with(default_features: bool, features: &[&str]) -> Option<BTreeSet<String>> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        eprintln!("skipped: CARGO is not set, so cargo tree cannot run (run through cargo test)");
        return None;
    };
    let mut cmd = Command::new(cargo);
    cmd.args(["tree", "-p", "cli", "-e", "normal", "--prefix", "none"])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    if !default_features {
        cmd.arg("--no-default-features");
    }
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("cargo tree prints UTF-8");
    Some(
        text.lines()
            .filter_map(|line| line.split_whitespace().next())
            .map(str::to_owned)
            .collect(),
    )
}

fn roles_only_in(names: &BTreeSet<String>) -> Vec<&String> {
    names
        .iter()
        .filter(|name| *name == "web" || ROLES_ONLY.iter().any(|r| name.contains(r)))
        .collect()
}

#[test]
fn the_agent_only_build_carries_no_server_side_crate() {
    let (Some(lean), Some(full)) = (tree(false), tree(true)) else {
        return;
    };
    assert!(
        lean.contains("sysinfo") && lean.contains("tonic"),
        "{lean:?}"
    );
    assert_eq!(roles_only_in(&lean), Vec::<&String>::new());
    // The same check finds them in the default build, so it reads what it
    // means to read.
    let found = roles_only_in(&full);
    for name in ["axum", "redis", "rusqlite", "ratatui", "web"] {
        assert!(
            found.iter().any(|f| f.contains(name)),
            "{name} in {found:?}"
        );
    }
    assert!(
        lean.len() * 2 < full.len(),
        "{} vs {}",
        lean.len(),
        full.len()
    );
}

/// `--no-default-features --features top`: the agent and `mon top` alone,
/// the dashboard's terminal and WebSocket client in, no server side.
#[test]
fn the_top_only_build_carries_the_terminal_ui_and_no_server_side_crate() {
    let Some(top) = tree_with(false, &["top"]) else {
        return;
    };
    assert!(
        top.contains("ratatui") && top.contains("tokio-tungstenite"),
        "{top:?}"
    );
    let server_side: Vec<&String> = top
        .iter()
        .filter(|name| {
            *name == "web"
                || ["axum", "redis", "rusqlite", "postgres", "tower-http"]
                    .iter()
                    .any(|r| name.contains(r))
        })
        .collect();
    assert_eq!(server_side, Vec::<&String>::new());
}
