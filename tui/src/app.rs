//! The app: the store and the `Ui` together, and the one task that owns
//! the terminal.
//!
//! The loop waits on three things — keys, updates from the network task, a
//! 1 s tick that keeps ages current — and redraws only when one of them
//! changed something. Keys redraw at once; updates are applied as they
//! come and drawn, like the ages, at most once per [`FRAME`], so a large
//! fleet costs one frame a second, not one per event. A frame is first
//! built as a view-model and drawn only if that differs from the last one.
//!
//! What each wake-up costs matters more than it seems: a fleet of 100 hosts
//! reporting every second wakes the loop 100 times a second, so nothing in
//! it may be expensive per wake-up (see BENCHMARKS.md, `mon top`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEvent};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::keys::{self, Effect};
use crate::net::{self, BadUrl, Endpoint, Incoming, decode};
use crate::render;
use crate::state::{Store, Update};
use crate::terminal::Guard;
use crate::view::{self, Ui, View};

/// Shortest time between two redraws that no key asked for: data and the
/// age tick share it, so a busy fleet is drawn once a second, in step with
/// the ages.
const FRAME: Duration = Duration::from_secs(1);

/// Updates that may wait for the app: a burst of a large fleet's frames.
const UPDATES: usize = 1024;

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

    /// Applies what the network task received at `now_ms`.
    pub fn receive(&mut self, incoming: Incoming, now_ms: i64) {
        let frame = match incoming {
            Incoming::Update(update) => return self.apply(update, now_ms),
            Incoming::Metrics(frame) => frame,
        };
        match decode::read_metrics(frame.text()) {
            Ok(m) => self
                .store
                .apply_metrics(m.host, m.ts_ms, m.values(), now_ms),
            // A string with escapes, or something wrong with the frame: the
            // full reader takes it, or says what is wrong.
            Err(_) => match decode::parse(frame.text()) {
                Ok(Some(update)) => self.apply(update, now_ms),
                Ok(None) => {}
                Err(e) => self.apply(Update::ServerError(e), now_ms),
            },
        }
    }

    pub fn key(&mut self, key: KeyEvent, now_ms: i64) -> Effect {
        let effect = keys::handle(&mut self.ui, &self.store, key, now_ms);
        if let Effect::FetchHistory(host) = &effect {
            self.store.history_requested(host, self.ui.range_ms());
        }
        self.store.activity.watch(self.ui.watched_host());
        effect
    }

    /// The host whose tables the connection should watch: the host view's.
    pub fn watched(&self) -> Option<&str> {
        self.store.activity.watched()
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
    // The fleet's frames need carry only what the fleet table shows; the
    // host being viewed is watched, and its frames come whole.
    let endpoint = Arc::new(net::Endpoint {
        metrics: crate::view::FLEET_METRICS
            .iter()
            .map(|m| (*m).to_owned())
            .collect(),
        ..config.endpoint
    });
    let mut app = App::new(&endpoint.url, config.local);
    let (updates_tx, mut updates) = mpsc::channel::<Incoming>(UPDATES);
    // The host view's host, which the connection watches; the fleet view
    // watches nothing, so it is never sent a table.
    let (watch_tx, watch_rx) = tokio::sync::watch::channel(None::<String>);
    let network = tokio::spawn(net::stream(endpoint.clone(), updates_tx.clone(), watch_rx));
    // Keys arrive through a task of their own: polling crossterm's stream
    // tries a lock (and often yields the thread) every time, and the loop
    // below wakes for every update.
    let (keys_tx, mut keys) = mpsc::channel::<std::io::Result<Event>>(64);
    let keyboard = tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(event) = events.next().await {
            if keys_tx.send(event).await.is_err() {
                break;
            }
        }
    });
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);

    let mut drawn = Drawn::default();
    let mut draw_at = Some(Instant::now());
    let mut last_draw = Instant::now();
    let wake = tokio::time::sleep_until(Instant::now());
    tokio::pin!(wake);
    let result = loop {
        if draw_at.is_some_and(|at| at <= Instant::now()) {
            drawn.draw(&mut guard, &mut app)?;
            last_draw = Instant::now();
            draw_at = None;
        }
        if let Some(at) = draw_at {
            wake.as_mut().reset(at);
        }
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            event = keys.recv() => match event {
                Some(Ok(Event::Key(key))) => {
                    let effect = app.key(key, net::now_ms());
                    let want = app.watched();
                    watch_tx.send_if_modified(|watched| {
                        let changed = watched.as_deref() != want;
                        if changed {
                            *watched = want.map(str::to_owned);
                        }
                        changed
                    });
                    match effect {
                        Effect::Quit => break Ok(()),
                        Effect::FetchHistory(host) => {
                            let ifaces = app.interfaces(&host);
                            tokio::spawn(net::fetch_history(
                                endpoint.clone(), host, ifaces, net::now_ms(), app.ui.range_ms(),
                                updates_tx.clone(),
                            ));
                        }
                        Effect::Silence { alert, matchers } => {
                            tokio::spawn(net::silence(
                                endpoint.clone(), alert, matchers, updates_tx.clone(),
                            ));
                        }
                        Effect::None => {}
                    }
                    draw_at = Some(Instant::now());
                }
                Some(Ok(Event::Resize(..))) => {
                    drawn.forget();
                    draw_at = Some(Instant::now());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(e.into()),
                // The terminal is gone: nobody is watching.
                None => break Ok(()),
            },
            Some(incoming) = updates.recv() => {
                let now = net::now_ms();
                app.receive(incoming, now);
                // Take the whole burst before drawing once.
                while let Ok(incoming) = updates.try_recv() {
                    app.receive(incoming, now);
                }
                draw_at = Some(draw_at.unwrap_or(last_draw + FRAME));
            }
            _ = tick.tick() => draw_at = Some(draw_at.unwrap_or(last_draw + FRAME)),
            _ = &mut wake, if draw_at.is_some() => {}
        }
    };
    network.abort();
    keyboard.abort();
    drop(guard);
    result
}

/// What was last drawn, so a frame whose view-model has not changed is not
/// rendered again: with the 1 s tick and a quiet fleet, most are not.
#[derive(Default)]
struct Drawn {
    last: Option<(View, ratatui::layout::Size)>,
}

impl Drawn {
    fn draw(&mut self, guard: &mut Guard, app: &mut App) -> std::io::Result<()> {
        let now = net::now_ms();
        let size = guard.terminal.size()?;
        // Header, borders and the status bar take six rows.
        app.ui.page = usize::from(size.height.saturating_sub(6)).max(1);
        // The fleet table's rows: all but the status bar (2), the borders
        // (2) and the header (1).
        app.ui.table_rows = usize::from(size.height.saturating_sub(5));
        let frame = app.view(now);
        if self
            .last
            .as_ref()
            .is_some_and(|(view, at)| *view == frame && *at == size)
        {
            return Ok(());
        }
        guard.terminal.draw(|f| render::render(f, &frame))?;
        self.last = Some((frame, size));
        Ok(())
    }

    /// The terminal's contents are no longer known (it was resized).
    fn forget(&mut self) {
        self.last = None;
    }
}
