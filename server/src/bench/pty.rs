//! A program in a pseudo-terminal of a chosen size, the way a terminal
//! emulator runs it, for the benches that measure a full-screen program.
//!
//! The pty becomes the program's controlling terminal (through util-linux's
//! `setsid --ctty`, which execs in place, so the child's pid is the
//! program's): a terminal library that asks `/dev/tty` for the window size
//! gets this pty's, never the terminal the bench itself runs in. A thread
//! reads everything the program writes, as a terminal would, counting the
//! bytes and keeping the latest output for [`Pty::shown`].

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};

/// Output kept for [`Pty::shown`]; older output is dropped.
const KEEP: usize = 1 << 20;

#[derive(Debug, Default)]
struct Output {
    bytes: AtomicU64,
    /// Occurrences of the counted sequence (see [`Pty::spawn`]).
    marks: AtomicU64,
    recent: Mutex<Vec<u8>>,
}

/// A running program and the master side of its terminal. Dropping it
/// kills the program.
pub struct Pty {
    child: Child,
    master: File,
    output: Arc<Output>,
}

impl std::fmt::Debug for Pty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pty").field("pid", &self.pid()).finish()
    }
}

impl Pty {
    /// Starts `program args…` in a `cols`×`rows` terminal with `TERM` set
    /// to xterm-256color and a UTF-8 locale. Every occurrence of `mark` in
    /// its output is counted (see [`Pty::marks`]).
    pub fn spawn(
        program: &str,
        args: &[String],
        cols: u16,
        rows: u16,
        mark: &'static [u8],
    ) -> Result<Self, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("pseudo-terminal: {what}: {e}");
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(|e| fail("cannot open /dev/ptmx", &e))?;
        grantpt(&master).map_err(|e| fail("grantpt", &e))?;
        unlockpt(&master).map_err(|e| fail("unlockpt", &e))?;
        let name = ptsname(&master, Vec::new()).map_err(|e| fail("ptsname", &e))?;
        let name = name.to_string_lossy().into_owned();
        tcsetwinsize(
            &master,
            Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .map_err(|e| fail("cannot set the window size", &e))?;
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
            .open(&name)
            .map_err(|e| fail(&format!("cannot open {name}"), &e))?;
        let stdio = |f: &File| f.try_clone().map(Stdio::from);
        let child = Command::new("setsid")
            .arg("--ctty")
            .arg(program)
            .args(args)
            .env("TERM", "xterm-256color")
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env("RUST_LOG", "warn")
            .stdin(stdio(&slave).map_err(|e| fail("dup", &e))?)
            .stdout(stdio(&slave).map_err(|e| fail("dup", &e))?)
            .stderr(Stdio::from(slave))
            .spawn()
            .map_err(|e| format!("cannot start {program} through setsid (util-linux): {e}"))?;
        let master = File::from(master);
        let output = Arc::new(Output::default());
        let mut reader = master.try_clone().map_err(|e| fail("dup", &e))?;
        let out = output.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            // The tail of the previous read, so a mark split across two
            // reads is still counted once.
            let mut carry: Vec<u8> = Vec::new();
            // EIO once the program has exited and the slave side is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let data = &buf[..n];
                out.bytes.fetch_add(n as u64, Ordering::Relaxed);
                carry.extend_from_slice(data);
                out.marks
                    .fetch_add(count(&carry, mark) as u64, Ordering::Relaxed);
                let keep = mark.len().saturating_sub(1).min(carry.len());
                carry.drain(..carry.len() - keep);
                let mut recent = out.recent.lock().unwrap_or_else(|p| p.into_inner());
                recent.extend_from_slice(data);
                if recent.len() > KEEP {
                    let cut = recent.len() - KEEP / 2;
                    recent.drain(..cut);
                }
            }
        });
        Ok(Self {
            child,
            master,
            output,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types `keys` into the terminal.
    pub fn send(&mut self, keys: &[u8]) -> Result<(), String> {
        self.master
            .write_all(keys)
            .map_err(|e| format!("cannot type into the pseudo-terminal: {e}"))
    }

    /// Bytes the program has written to its terminal so far.
    pub fn bytes(&self) -> u64 {
        self.output.bytes.load(Ordering::Relaxed)
    }

    /// Occurrences of the mark so far.
    pub fn marks(&self) -> u64 {
        self.output.marks.load(Ordering::Relaxed)
    }

    /// True when `text` is in the output since the last [`Pty::forget`].
    pub fn shown(&self, text: &str) -> bool {
        let recent = self.output.recent.lock().unwrap_or_else(|p| p.into_inner());
        !text.is_empty() && recent.windows(text.len()).any(|w| w == text.as_bytes())
    }

    /// Drops the output kept so far, so [`Pty::shown`] looks only at what
    /// comes next.
    pub fn forget(&self) {
        self.output
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// `Some(status)` once the program has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_are_counted_without_overlap_at_the_edges() {
        assert_eq!(super::count(b"ab\x1b[?25lcd\x1b[?25l", b"\x1b[?25l"), 2);
        assert_eq!(super::count(b"", b"x"), 0);
    }
}
