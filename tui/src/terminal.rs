//! Owning the terminal: raw mode and the alternate screen on the way in,
//! and the way out restored on every path — normal return, `?` error, and
//! panic (ratatui's panic hook restores before the panic message prints).

use ratatui::DefaultTerminal;

/// Restores the terminal when dropped, so an early return cannot leave it in
/// raw mode.
pub struct Guard {
    pub terminal: DefaultTerminal,
}

impl Guard {
    /// Enters raw mode and the alternate screen and installs the panic hook.
    pub fn enter() -> std::io::Result<Self> {
        Ok(Self {
            terminal: ratatui::try_init()?,
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Nothing useful can be done if restoring fails on the way out.
        let _ = ratatui::try_restore();
    }
}
