//! `mon top` in a real terminal: tmux runs it at 120×40 against a
//! `mon serve` started here, the screen is read back with `capture-pane`,
//! and `q` must leave the terminal as it found it.

use std::process::Command;
use std::time::Duration;

use crate::process::{Running, eventually, mon};

/// A private tmux server, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Self {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "tmux is required for the terminal test and was not found on PATH (.ci/run installs it)"
        );
        Self {
            socket: format!("mon-top-test-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn host_name() -> String {
    let out = Command::new("hostname").output().expect("hostname runs");
    String::from_utf8_lossy(&out.stdout).trim().to_lowercase()
}

/// The CPU figure of `host`'s row: the first number after the host, its
/// age and the CPU meter's bar.
fn cpu_of(screen: &str, host: &str) -> Option<f64> {
    screen.lines().find_map(|line| {
        let mut fields = line
            .trim_matches(|c| c == '│' || c == ' ')
            .split_whitespace();
        (fields.next()? == host).then_some(())?;
        let _age = fields.next()?;
        fields.find_map(|f| f.parse().ok())
    })
}

/// Waits up to 10 s for the screen to contain every one of `texts`.
fn wait_for_screen(tmux: &Tmux, texts: &[&str]) -> String {
    eventually(Duration::from_secs(10), || {
        let screen = tmux.screen();
        texts.iter().all(|t| screen.contains(t))
    });
    let screen = tmux.screen();
    assert!(
        texts.iter().all(|t| screen.contains(t)),
        "waited 10 s for {texts:?}:\n{screen}"
    );
    screen
}

#[test]
fn top_in_tmux_shows_this_machine_and_q_restores_the_terminal() {
    let tmux = Tmux::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = mon();
    cmd.args([
        "serve",
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--interval",
        "1s",
        "--data-dir",
    ])
    .arg(dir.path());
    let serve = Running::spawn(cmd);
    let mut url = None;
    eventually(Duration::from_secs(10), || {
        url = serve.stdout_text().lines().find_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("ws://"))
                .map(str::to_owned)
        });
        url.is_some()
    });
    let url = url.unwrap_or_else(|| panic!("serve printed no ws:// URL: {}", serve.stderr_text()));

    // After mon top exits the shell prints its status and the terminal's
    // line discipline: `icanon` (not `-icanon`) means raw mode was left.
    let script = format!(
        "'{}' top --url {url}; echo top-exited-$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo; echo modes-end; sleep 600",
        env!("CARGO_BIN_EXE_mon")
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "120",
        "-y",
        "40",
        "sh",
        "-c",
        &script,
    ]);

    let host = host_name();
    let shown = eventually(Duration::from_secs(15), || {
        cpu_of(&tmux.screen(), &host).is_some_and(|cpu| (0.0..=100.0).contains(&cpu))
    });
    let screen = tmux.screen();
    assert!(
        shown,
        "no row for {host} with a CPU figure within 15 s:\n{screen}\nserve: {}",
        serve.stderr_text()
    );
    assert!(screen.contains("● live"), "{screen}");
    assert!(
        screen.contains("CPU TREND"),
        "the sparkline column: {screen}"
    );
    let row = screen.lines().find(|l| l.contains(&host)).unwrap();
    assert!(
        row.contains('·') || row.contains('█'),
        "a meter in the row: {row}"
    );
    assert!(
        screen.contains(&url),
        "the status bar names the server: {screen}"
    );
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "top", "#{alternate_on}"])
            .trim(),
        "1"
    );

    // The host view, and its history range stepped with + and -.
    tmux.run(&["send-keys", "-t", "top", "Enter"]);
    wait_for_screen(&tmux, &["history 15m", "-15m"]);
    tmux.run(&["send-keys", "-t", "top", "+"]);
    wait_for_screen(&tmux, &["history 1h", "-1h"]);
    tmux.run(&["send-keys", "-t", "top", "-", "-"]);
    let screen = wait_for_screen(&tmux, &["history 5m", "-5m"]);
    assert!(!screen.contains("no stored history"), "{screen}");
    tmux.run(&["send-keys", "-t", "top", "Escape"]);
    wait_for_screen(&tmux, &["CPU TREND"]);

    tmux.run(&["send-keys", "-t", "top", "q"]);
    let exited = eventually(Duration::from_secs(5), || {
        tmux.screen().contains("modes-end")
    });
    let screen = tmux.screen();
    assert!(
        exited && screen.contains("top-exited-0"),
        "mon top did not exit 0 after q:\n{screen}"
    );
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "top", "#{alternate_on}"])
            .trim(),
        "0",
        "the alternate screen was left"
    );
    let modes: Vec<&str> = screen.lines().map(str::trim).collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "cooked mode restored:\n{screen}"
    );
    assert!(
        !screen.contains("CPU%"),
        "the dashboard is gone from the screen:\n{screen}"
    );
}
