//! The host view's process and cgroup panes, drawn from the view-model's
//! [`ActivityView`]: side by side when the terminal is wide, one above the
//! other when it is not, and given only the rows the charts can spare.
//!
//! Columns come and go with the width (the command line first gets what
//! is left; the I/O rates only when the command still keeps a readable
//! stretch), and every cell is cut to its column with an ellipsis.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell as TableCell, Paragraph, Row, Table, Wrap};

use super::{style, title_style};
use crate::view::{ActivitySort, ActivityView, Cell, CgroupsPane, Level, ProcessesPane};

/// Rows the three history charts keep before the panes get any: six
/// each, enough for two rows of braille dots under their borders and axes.
const CHARTS_MIN: u16 = 18;
/// Narrower than this (inside the host view's border), the cgroup pane
/// goes below the process pane instead of beside it.
const SIDE_BY_SIDE: u16 = 100;
/// A pane's borders and header row.
const CHROME: u16 = 3;

/// How many rows the panes take out of `avail`, the height the charts and
/// the panes share: what they need, at most half, and nothing that would
/// leave the charts fewer than [`CHARTS_MIN`]. Zero when not even a note
/// fits.
pub(super) fn band_rows(view: &ActivityView, width: u16, avail: u16) -> u16 {
    let (p, c) = (
        pane_rows(&view.processes.note, view.processes.rows.len()),
        pane_rows(&view.cgroups.note, view.cgroups.rows.len()),
    );
    let want = if width >= SIDE_BY_SIDE {
        p.max(c)
    } else {
        p + c
    };
    let room = avail.saturating_sub(CHARTS_MIN).min(avail / 2);
    let rows = want.min(room);
    if rows < 3 { 0 } else { rows }
}

/// Rows a pane would like: its note in a border, or its rows under a header.
fn pane_rows(note: &Option<String>, rows: usize) -> u16 {
    if note.is_some() {
        3
    } else {
        rows.min(64) as u16 + CHROME
    }
}

pub(super) fn render_activity(frame: &mut Frame, area: Rect, view: &ActivityView) {
    if area.height == 0 {
        return;
    }
    if area.width >= SIDE_BY_SIDE {
        let cgroups_width = (area.width * 2 / 5).clamp(40, 60);
        let [p, c] = Layout::horizontal([Constraint::Min(40), Constraint::Length(cgroups_width)])
            .areas(area);
        render_processes(frame, p, &view.processes, view.sort);
        render_cgroups(frame, c, &view.cgroups, view.sort);
        return;
    }
    // Stacked: the cgroups take what they need up to half, the processes
    // the rest; too short for both, the processes alone.
    let c_want = pane_rows(&view.cgroups.note, view.cgroups.rows.len());
    let c_rows = if area.height >= 6 {
        c_want.min(area.height / 2)
    } else {
        0
    };
    let [p, c] = Layout::vertical([Constraint::Min(3), Constraint::Length(c_rows)]).areas(area);
    render_processes(frame, p, &view.processes, view.sort);
    if c.height > 0 {
        render_cgroups(frame, c, &view.cgroups, view.sort);
    }
}

/// `text` cut to `width` characters, its last one `…` when cut.
fn fit(text: &str, width: u16) -> String {
    let width = usize::from(width);
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn text_cell(text: &str, width: u16) -> TableCell<'static> {
    TableCell::from(fit(text, width))
}

fn figure(text: &str, width: u16) -> TableCell<'static> {
    TableCell::from(Text::from(
        Line::from(fit(text, width)).alignment(Alignment::Right),
    ))
}

fn level_figure(c: &Cell, width: u16) -> TableCell<'static> {
    figure(&c.text, width).style(style(c.level))
}

/// A pane's border: its title, the sort, and the table's age on the right.
fn pane_block(title: &str, sort: Option<ActivitySort>, age: Option<&Cell>) -> Block<'static> {
    let mut text = format!(" {title} ");
    if let Some(sort) = sort {
        text.push_str(&format!("· by {} ▼ ", sort.title()));
    }
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(Span::styled(text, title_style())));
    if let Some(age) = age {
        block = block.title(
            Line::from(Span::styled(format!(" {} ", age.text), style(age.level)))
                .alignment(Alignment::Right),
        );
    }
    block
}

fn render_note(frame: &mut Frame, area: Rect, block: Block<'static>, note: &str) {
    frame.render_widget(
        Paragraph::new(note.to_owned())
            .style(style(Level::Faint))
            .wrap(Wrap { trim: true })
            .block(block),
        area,
    );
}

/// A column of the process table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Pid,
    User,
    Name,
    Cpu,
    Memory,
    Read,
    Write,
    Command,
}

/// The process table's columns and widths for an inner width of `width`.
fn process_columns(width: u16) -> Vec<(Col, u16)> {
    // PID, NAME, CPU% and MEM always, with a gap after each but the last.
    let mut used = 7 + 15 + 6 + 6 + 3;
    let user = width >= used + 9;
    if user {
        used += 9;
    }
    // The rates only when the command keeps at least 20 characters.
    let io = width >= used + 16 + 21;
    if io {
        used += 16;
    }
    let command = width.saturating_sub(used + 1);
    let mut cols = vec![(Col::Pid, 7)];
    if user {
        cols.push((Col::User, 8));
    }
    cols.extend([(Col::Name, 15), (Col::Cpu, 6), (Col::Memory, 6)]);
    if io {
        cols.extend([(Col::Read, 7), (Col::Write, 7)]);
    }
    if command >= 8 {
        cols.push((Col::Command, command));
    }
    cols
}

fn render_processes(frame: &mut Frame, area: Rect, pane: &ProcessesPane, sort: ActivitySort) {
    let block = pane_block(
        &pane.title,
        pane.note.is_none().then_some(sort),
        pane.age.as_ref(),
    );
    if let Some(note) = &pane.note {
        return render_note(frame, area, block, note);
    }
    let cols = process_columns(block.inner(area).width);
    let header = cols.iter().map(|&(col, w)| {
        let (name, right) = match col {
            Col::Pid => ("PID", true),
            Col::User => ("USER", false),
            Col::Name => ("NAME", false),
            Col::Cpu => ("CPU%", true),
            Col::Memory => ("MEM", true),
            Col::Read => ("READ/s", true),
            Col::Write => ("WRIT/s", true),
            Col::Command => ("COMMAND", false),
        };
        let sorted = matches!(
            (col, sort),
            (Col::Cpu, ActivitySort::Cpu) | (Col::Memory, ActivitySort::Memory)
        );
        let name = if sorted {
            format!("{name}▼")
        } else {
            name.to_owned()
        };
        let cell = if right {
            figure(&name, w)
        } else {
            text_cell(&name, w)
        };
        cell.style(title_style())
    });
    let rows = pane.rows.iter().map(|r| {
        Row::new(cols.iter().map(|&(col, w)| match col {
            Col::Pid => figure(&r.pid, w),
            Col::User => text_cell(&r.user, w),
            Col::Name => text_cell(&r.name, w),
            Col::Cpu => level_figure(&r.cpu, w),
            Col::Memory => figure(&r.memory, w),
            Col::Read => figure(&r.read, w),
            Col::Write => figure(&r.write, w),
            Col::Command => text_cell(&r.command, w).style(style(Level::Faint)),
        }))
    });
    let widths: Vec<Constraint> = cols.iter().map(|&(_, w)| Constraint::Length(w)).collect();
    let table = Table::new(rows, widths)
        .header(Row::new(header))
        .block(block);
    frame.render_widget(table, area);
}

fn render_cgroups(frame: &mut Frame, area: Rect, pane: &CgroupsPane, sort: ActivitySort) {
    let block = pane_block(
        &pane.title,
        pane.note.is_none().then_some(sort),
        pane.age.as_ref(),
    );
    if let Some(note) = &pane.note {
        return render_note(frame, area, block, note);
    }
    // KIND, CPU%, MEM and PIDS, with their gaps; the name gets the rest.
    let name_width = block
        .inner(area)
        .width
        .saturating_sub(9 + 6 + 6 + 5 + 4)
        .max(6);
    let cpu_title = if sort == ActivitySort::Cpu {
        "CPU%▼"
    } else {
        "CPU%"
    };
    let mem_title = if sort == ActivitySort::Memory {
        "MEM▼"
    } else {
        "MEM"
    };
    let header = Row::new([
        text_cell("NAME", name_width),
        text_cell("KIND", 9),
        figure(cpu_title, 6),
        figure(mem_title, 6),
        figure("PIDS", 5),
    ])
    .style(title_style());
    let rows = pane.rows.iter().map(|r| {
        Row::new([
            text_cell(&r.name, name_width),
            text_cell(&r.kind, 9).style(style(Level::Faint)),
            level_figure(&r.cpu, 6),
            figure(&r.memory, 6),
            figure(&r.pids, 5),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(name_width),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(5),
        ],
    )
    .header(header)
    .block(block);
    frame.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_with_an_ellipsis() {
        assert_eq!(fit("postgres: writer", 8), "postgre…");
        assert_eq!(fit("sshd", 8), "sshd");
    }

    #[test]
    fn the_command_gets_the_room_before_the_rates_do() {
        let names = |w| -> Vec<bool> {
            let cols = process_columns(w);
            [Col::User, Col::Read, Col::Command]
                .map(|c| cols.iter().any(|&(k, _)| k == c))
                .to_vec()
        };
        assert_eq!(names(40), [false, false, false]);
        assert_eq!(names(70), [true, false, true]);
        assert_eq!(names(110), [true, true, true]);
    }
}
