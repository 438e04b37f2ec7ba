//! Owning the terminal: raw mode and the alternate screen on the way in,
//! and the way out restored on every path — normal return, `?` error, and
//! panic (the panic hook restores before the panic message prints).
//!
//! Frames go out through a buffer as large as a full screen, so each
//! redraw is one write to the terminal rather than one per kilobyte.

use std::io::{BufWriter, Stdout, stdout};

use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Bytes buffered before a write: a full repaint of a 120×40 terminal in
/// colour fits several times over.
const OUTPUT_BUFFER: usize = 64 * 1024;

/// Restores the terminal when dropped, so an early return cannot leave it in
/// raw mode.
pub struct Guard {
    pub terminal: Terminal<CrosstermBackend<BufWriter<Stdout>>>,
}

impl Guard {
    /// Enters raw mode and the alternate screen and installs the panic hook.
    pub fn enter() -> std::io::Result<Self> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = ratatui::try_restore();
            hook(info);
        }));
        enable_raw_mode()?;
        execute!(stdout(), EnterAlternateScreen)?;
        let backend = CrosstermBackend::new(BufWriter::with_capacity(OUTPUT_BUFFER, stdout()));
        Ok(Self {
            terminal: Terminal::new(backend)?,
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Nothing useful can be done if restoring fails on the way out.
        let _ = ratatui::try_restore();
    }
}
