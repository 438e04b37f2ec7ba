//! Key handling: a key press changes the [`Ui`] and may ask the app for
//! something only it can do (quit, fetch a host's history).
//!
//! Moving the selection needs the fleet table's current order, so `handle`
//! reads the store; it never changes it.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::state::Store;
use crate::view::{ActivitySort, Column, RANGES, Screen, Ui, fleet_order};

/// What a key asks of the app beyond changing the `Ui`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    Quit,
    /// The host view opened, or its range changed: load its stored
    /// history for `Ui::range_ms`.
    FetchHistory(String),
    /// Silence an alert for [`crate::view::SILENCE_FOR`]: what it is (for
    /// the status bar) and the matchers that select it.
    Silence {
        alert: String,
        matchers: Vec<String>,
    },
}

/// Applies one key press at `now_ms`.
pub fn handle(ui: &mut Ui, store: &Store, key: KeyEvent, now_ms: i64) -> Effect {
    if key.kind == KeyEventKind::Release {
        return Effect::None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && matches!(key.code, KeyCode::Char('c' | 'C'))
    {
        ui.quit = true;
        return Effect::Quit;
    }
    if ui.help {
        ui.help = false;
        return Effect::None;
    }
    if ui.editing_filter {
        edit_filter(ui, key.code);
        return Effect::None;
    }
    match ui.screen.clone() {
        Screen::Fleet => fleet_key(ui, store, key.code, now_ms),
        Screen::Host(host) => host_key(ui, host, key.code),
        Screen::Alerts => alerts_key(ui, store, key.code),
    }
}

fn edit_filter(ui: &mut Ui, code: KeyCode) {
    match code {
        KeyCode::Enter => ui.editing_filter = false,
        KeyCode::Esc => {
            ui.editing_filter = false;
            ui.filter.clear();
        }
        KeyCode::Backspace => {
            ui.filter.pop();
        }
        KeyCode::Char(c) if !c.is_control() && ui.filter.len() < 64 => ui.filter.push(c),
        _ => {}
    }
}

fn fleet_key(ui: &mut Ui, store: &Store, code: KeyCode, now_ms: i64) -> Effect {
    match code {
        KeyCode::Char('q') => {
            ui.quit = true;
            return Effect::Quit;
        }
        KeyCode::Esc => ui.filter.clear(),
        KeyCode::Char('?') => ui.help = true,
        KeyCode::Char('/') => ui.editing_filter = true,
        KeyCode::Char('a') => {
            ui.screen = Screen::Alerts;
            ui.alert_selected = 0;
        }
        KeyCode::Char('r') => ui.descending = !ui.descending,
        KeyCode::Char('<') | KeyCode::Char('>') => {
            let i = Column::ALL.iter().position(|&c| c == ui.sort).unwrap_or(0);
            let n = Column::ALL.len();
            let next = if code == KeyCode::Char('>') {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            sort_by(ui, Column::ALL[next]);
        }
        KeyCode::Char(c @ '1'..='9') => {
            let i = c as usize - '1' as usize;
            if ui.sort == Column::ALL[i] {
                ui.descending = !ui.descending;
            } else {
                sort_by(ui, Column::ALL[i]);
            }
        }
        KeyCode::Enter => {
            let order = fleet_order(store, ui, now_ms);
            let current = current_index(ui, &order);
            if let Some(host) = current.and_then(|i| order.get(i)) {
                let name = host.name.clone();
                ui.selected = Some(name.clone());
                ui.screen = Screen::Host(name.clone());
                return Effect::FetchHistory(name);
            }
        }
        code => {
            let order = fleet_order(store, ui, now_ms);
            if order.is_empty() {
                return Effect::None;
            }
            let last = order.len() - 1;
            let i = current_index(ui, &order).unwrap_or(0);
            let page = ui.page.max(1);
            let target = match code {
                KeyCode::Down | KeyCode::Char('j') => (i + 1).min(last),
                KeyCode::Up | KeyCode::Char('k') => i.saturating_sub(1),
                KeyCode::PageDown => (i + page).min(last),
                KeyCode::PageUp => i.saturating_sub(page),
                KeyCode::Home | KeyCode::Char('g') => 0,
                KeyCode::End | KeyCode::Char('G') => last,
                _ => return Effect::None,
            };
            ui.selected = Some(order[target].name.clone());
        }
    }
    Effect::None
}

/// The selected host's row, or the first row when nothing (still) matches.
fn current_index(ui: &Ui, order: &[&crate::state::Host]) -> Option<usize> {
    let found = ui
        .selected
        .as_ref()
        .and_then(|s| order.iter().position(|h| &h.name == s));
    found.or((!order.is_empty()).then_some(0))
}

fn sort_by(ui: &mut Ui, column: Column) {
    ui.sort = column;
    ui.descending = column.natural_descending();
}

/// `+` and `-` step the history range (`=` and `_` too: the same keys
/// without or with shift); the charts then need that range's history.
/// `c` and `m` order the process and cgroup panes by CPU or by memory.
fn host_key(ui: &mut Ui, host: String, code: KeyCode) -> Effect {
    let range = match code {
        KeyCode::Char('c') => {
            ui.activity_sort = ActivitySort::Cpu;
            return Effect::None;
        }
        KeyCode::Char('m') => {
            ui.activity_sort = ActivitySort::Memory;
            return Effect::None;
        }
        KeyCode::Char('+' | '=') => (ui.range + 1).min(RANGES.len() - 1),
        KeyCode::Char('-' | '_') => ui.range.saturating_sub(1),
        other => return back_key(ui, other),
    };
    if range == ui.range {
        return Effect::None;
    }
    ui.range = range;
    Effect::FetchHistory(host)
}

fn back_key(ui: &mut Ui, code: KeyCode) -> Effect {
    match code {
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Backspace | KeyCode::Left => {
            ui.screen = Screen::Fleet
        }
        KeyCode::Char('?') => ui.help = true,
        KeyCode::Char('a') => ui.screen = Screen::Alerts,
        _ => {}
    }
    Effect::None
}

fn alerts_key(ui: &mut Ui, store: &Store, code: KeyCode) -> Effect {
    let last = store.alerts.len().saturating_sub(1);
    match code {
        KeyCode::Down | KeyCode::Char('j') => ui.alert_selected = (ui.alert_selected + 1).min(last),
        KeyCode::Up | KeyCode::Char('k') => ui.alert_selected = ui.alert_selected.saturating_sub(1),
        KeyCode::Home | KeyCode::Char('g') => ui.alert_selected = 0,
        KeyCode::End | KeyCode::Char('G') => ui.alert_selected = last,
        KeyCode::Char('a') => ui.screen = Screen::Fleet,
        KeyCode::Char('s') => {
            let order = crate::view::alert_order(store);
            if let Some(a) = order.get(ui.alert_selected.min(last)) {
                return Effect::Silence {
                    alert: format!("{} on {}", a.name, a.host),
                    matchers: crate::view::silence_matchers(a),
                };
            }
        }
        other => return back_key(ui, other),
    }
    Effect::None
}
