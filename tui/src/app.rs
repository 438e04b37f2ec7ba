//! The app: the store and the `Ui` together, and the one task that owns
//! the terminal.
//!
//! The loop waits on three things — keys, updates from the network task, a
//! 1 s tick that keeps ages current — and redraws only when one of them
//! changed something. Keys redraw at once; a burst of updates is applied in
//! one go and drawn at most every [`DATA_FRAME`], so a large fleet costs a
//! few frames per second, not one per event.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEvent};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::keys::{self, Effect};
use crate::net::{self, BadUrl, Endpoint};
use crate::render;
use crate::state::{Store, Update};
use crate::terminal::Guard;
use crate::view::{self, Ui, View};

/// Shortest time between two redraws caused by data.
const DATA_FRAME: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct TopConfig {
    pub endpoint: Endpoint,
    /// True when the server is one `mon top` started to watch this machine.
    pub local: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TopError {
    #[error(transparent)]
    BadUrl(#[from] BadUrl),
    #[error("cannot use the terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Store and interaction state: everything a frame is built from.
#[derive(Debug, Clone)]
pub struct App {
    pub store: Store,
    pub ui: Ui,
}

impl App {
    pub fn new(url: &str, local: bool) -> Self {
        Self {
            store: Store::new(url, local),
            ui: Ui::default(),
        }
    }

    pub fn apply(&mut self, update: Update, now_ms: i64) {
        self.store.apply(update, now_ms);
    }

    pub fn key(&mut self, key: KeyEvent, now_ms: i64) -> Effect {
        let effect = keys::handle(&mut self.ui, &self.store, key, now_ms);
        if let Effect::FetchHistory(host) = &effect {
            self.store.history_requested(host);
        }
        effect
    }

    pub fn view(&self, now_ms: i64) -> View {
        view::build(&self.store, &self.ui, now_ms)
    }

    /// The interfaces of a host, for its network history.
    fn interfaces(&self, host: &str) -> Vec<String> {
        let Some(h) = self.store.hosts.get(host) else {
            return Vec::new();
        };
        h.values_of("network_receive_bytes_per_second")
            .filter_map(|(labels, _)| {
                labels
                    .iter()
                    .find(|(k, _)| k == "iface")
                    .map(|(_, v)| v.clone())
            })
            .collect()
    }
}

/// Runs `mon top` until the user quits or `shutdown` resolves; the terminal
/// is restored on every way out.
pub async fn run(config: TopConfig, shutdown: impl Future<Output = ()>) -> Result<(), TopError> {
    let mut guard = Guard::enter()?;
    let endpoint = Arc::new(config.endpoint);
    let mut app = App::new(&endpoint.url, config.local);
    let (updates_tx, mut updates) = mpsc::channel::<Update>(1024);
    let network = tokio::spawn(net::stream(endpoint.clone(), updates_tx.clone()));
    let mut keys_in = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);

    let mut draw_at = Some(Instant::now());
    let mut last_draw = Instant::now();
    let result = loop {
        if draw_at.is_some_and(|at| at <= Instant::now()) {
            let now = net::now_ms();
            let size = guard.terminal.size()?;
            // Header, borders and the status bar take six rows.
            app.ui.page = usize::from(size.height.saturating_sub(6)).max(1);
            let frame = app.view(now);
            guard.terminal.draw(|f| render::render(f, &frame))?;
            last_draw = Instant::now();
            draw_at = None;
        }
        let wake = draw_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            event = keys_in.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    match app.key(key, net::now_ms()) {
                        Effect::Quit => break Ok(()),
                        Effect::FetchHistory(host) => {
                            let ifaces = app.interfaces(&host);
                            tokio::spawn(net::fetch_history(
                                endpoint.clone(), host, ifaces, net::now_ms(), updates_tx.clone(),
                            ));
                        }
                        Effect::None => {}
                    }
                    draw_at = Some(Instant::now());
                }
                Some(Ok(Event::Resize(..))) => draw_at = Some(Instant::now()),
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(e.into()),
                // The terminal is gone: nobody is watching.
                None => break Ok(()),
            },
            Some(update) = updates.recv() => {
                let now = net::now_ms();
                app.apply(update, now);
                // Take the whole burst before drawing once.
                while let Ok(update) = updates.try_recv() {
                    app.apply(update, now);
                }
                let earliest = last_draw + DATA_FRAME;
                draw_at = Some(draw_at.map_or(earliest, |at| at.min(earliest)));
            }
            _ = tick.tick() => draw_at = Some(Instant::now()),
            _ = tokio::time::sleep_until(wake), if draw_at.is_some() => {}
        }
    };
    network.abort();
    drop(guard);
    result
}
