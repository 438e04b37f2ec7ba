//! Drawing: a pure function from a [`View`] to a ratatui frame.
//!
//! Nothing here decides what a number means: the view-model already says how
//! loud each cell is ([`Level`]); this module maps levels to styles and lays
//! out widgets. Styles pair a background with an explicit foreground and add
//! bold, so they read the same on light and dark terminals and survive a
//! terminal without colour.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Axis, Block, Borders, Cell as TableCell, Chart, Clear, Dataset, GraphType, Paragraph, Row,
    Table, TableState, Wrap,
};

mod activity;

use crate::view::{
    AlertsView, Body, Cell, ChartView, Column, CoreBar, FleetView, HostView, Level, Meter,
    StatusBar, Trend, View, visible_rows,
};

/// The style of a level. Warn and alarm set both colours so the text stays
/// readable whatever the terminal's background; alarm is also bold.
pub fn style(level: Level) -> Style {
    match level {
        Level::Normal => Style::new(),
        Level::Warn => Style::new().fg(Color::Black).bg(Color::Yellow),
        Level::Alarm => Style::new()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD),
        Level::Faint => Style::new().add_modifier(Modifier::DIM),
        Level::Good => Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
    }
}

/// A stale row: dimmed and in italics, so it reads as old news without colour.
pub fn stale_style() -> Style {
    Style::new().add_modifier(Modifier::DIM | Modifier::ITALIC)
}

/// The selected row.
pub fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

fn title_style() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, view: &View) {
    let [body, status] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(2)]).areas(frame.area());
    match &view.body {
        Body::Fleet(fleet) => render_fleet(frame, body, fleet),
        Body::Host(host) => render_host(frame, body, host),
        Body::Alerts(alerts) => render_alerts(frame, body, alerts),
    }
    render_status(frame, status, &view.status);
    if let Some(keys) = view.help {
        render_help(frame, keys);
    }
}

fn cell(c: &Cell, align: Alignment) -> TableCell<'static> {
    TableCell::from(Text::from(Line::from(c.text.clone()).alignment(align))).style(style(c.level))
}

/// Widths of the fleet table's fixed columns: AGE, LOAD, RX/s, TX/s, ALRT.
const AGE_W: u16 = 11;
const LOAD_W: u16 = 6;
const RATE_W: u16 = 8;
const ALERTS_W: u16 = 4;
/// Room for a meter's figure, `100.0`.
const FIGURE_W: u16 = 5;

/// The fleet table's column widths for an inner width of `width`: the host
/// column as wide as the names need, the fixed figures, then what is left
/// shared by the three meters and the CPU sparkline.
fn fleet_widths(width: u16, host_width: u16) -> [u16; 10] {
    // Ten columns, nine gaps of one.
    let fixed = AGE_W + LOAD_W + 2 * RATE_W + ALERTS_W + 9;
    let host = host_width
        .min(width.saturating_sub(fixed + 3 * FIGURE_W))
        .max(4);
    let spare = width.saturating_sub(fixed + host);
    let spark = (spare / 4).min(crate::state::SPARK_LEN as u16);
    let meter = ((spare - spark) / 3).max(FIGURE_W);
    [
        host, AGE_W, meter, LOAD_W, meter, meter, RATE_W, RATE_W, ALERTS_W, spark,
    ]
}

/// The bar's colour for a level: green, yellow, red; no colour when faint.
fn bar_style(level: Level) -> Style {
    match level {
        Level::Alarm => Style::new().fg(Color::Red),
        Level::Warn => Style::new().fg(Color::Yellow),
        Level::Faint => style(Level::Faint),
        Level::Normal | Level::Good => Style::new().fg(Color::Green),
    }
}

const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/// A meter `width` wide: a bar in eighths of a cell, then the figure in the
/// style of its level. Too narrow for a bar, the figure alone.
fn meter_cell(m: &Meter, width: u16) -> TableCell<'static> {
    let figure = Span::styled(
        format!("{:>w$}", m.value.text, w = usize::from(FIGURE_W)),
        style(m.value.level),
    );
    let bar_width = usize::from(width.saturating_sub(FIGURE_W + 1));
    if bar_width < 3 {
        return TableCell::from(Line::from(figure).alignment(Alignment::Right));
    }
    let eighths = (m.fill * (bar_width * 8) as f64).round() as usize;
    let (full, part) = (eighths / 8, EIGHTHS[eighths % 8]);
    let mut bar = "█".repeat(full);
    bar.push_str(part);
    let used = full + usize::from(!part.is_empty());
    let rest = "·".repeat(bar_width.saturating_sub(used));
    TableCell::from(Line::from(vec![
        Span::styled(bar, bar_style(m.value.level)),
        Span::styled(rest, style(Level::Faint)),
        Span::raw(" "),
        figure,
    ]))
}

const SPARK_GLYPHS: [&str; 8] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

/// The newest `width` values of a trend, one glyph each on a fixed 0–100
/// scale (so a quiet host reads low), coloured by level, right-aligned so
/// the newest value is at the right edge.
fn trend_cell(trend: &Trend, width: u16) -> TableCell<'static> {
    let points = trend.points();
    let shown = &points[points.len().saturating_sub(usize::from(width))..];
    let mut spans = Vec::with_capacity(shown.len() + 1);
    let pad = usize::from(width) - shown.len();
    if pad > 0 {
        spans.push(Span::raw(" ".repeat(pad)));
    }
    for &(percent, level) in shown {
        let glyph = SPARK_GLYPHS[(usize::from(percent) * 7 + 50) / 100];
        spans.push(Span::styled(glyph, bar_style(level)));
    }
    TableCell::from(Line::from(spans))
}

fn render_fleet(frame: &mut Frame, area: Rect, fleet: &FleetView) {
    let arrow = if fleet.descending { "▼" } else { "▲" };
    let mut title = vec![Span::styled(
        format!(
            " Fleet {}/{} hosts · by {} {arrow} ",
            fleet.matched,
            fleet.total,
            fleet.sort.title()
        ),
        title_style(),
    )];
    if let Some(filter) = &fleet.filter {
        let cursor = if fleet.editing_filter { "▏" } else { "" };
        title.push(Span::styled(
            format!(" /{filter}{cursor} "),
            Style::new().add_modifier(Modifier::UNDERLINED),
        ));
    }
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(title));
    if let Some(stale) = &fleet.stale {
        block = block.title(
            Line::from(Span::styled(format!(" {stale} "), style(Level::Warn)))
                .alignment(Alignment::Right),
        );
    }
    if let Some(empty) = &fleet.empty {
        let text = Paragraph::new(empty.clone())
            .style(style(Level::Faint))
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true })
            .block(block);
        frame.render_widget(text, area);
        return;
    }
    let inner = block.inner(area);
    let widths = fleet_widths(inner.width, fleet.host_width);
    let mut header: Vec<TableCell> = Column::ALL
        .iter()
        .map(|&c| {
            let mut text = c.title().to_owned();
            if c == fleet.sort {
                text.push_str(arrow);
            }
            let s = if c == fleet.sort {
                title_style().add_modifier(Modifier::UNDERLINED)
            } else {
                title_style()
            };
            let align = if c == Column::Host {
                Alignment::Left
            } else {
                Alignment::Right
            };
            TableCell::from(Text::from(Line::from(text).alignment(align))).style(s)
        })
        .collect();
    let trend = if widths[9] >= 9 { "CPU TREND" } else { "TREND" };
    header.push(TableCell::from(trend).style(title_style()));
    // The view-model holds only the rows that fit; should the terminal be
    // shorter than it was told, the selection still decides what shows.
    let (first, shown) = visible_rows(
        fleet.rows.len(),
        fleet.selected,
        usize::from(inner.height.saturating_sub(1)),
    );
    let rows = fleet.rows[first..first + shown].iter().map(|r| {
        let right = Alignment::Right;
        let row = Row::new([
            TableCell::from(r.host.clone()),
            cell(&r.age, right),
            meter_cell(&r.cpu, widths[2]),
            cell(&r.load, right),
            meter_cell(&r.memory, widths[4]),
            meter_cell(&r.disk, widths[5]),
            cell(&r.receive, right),
            cell(&r.transmit, right),
            cell(&r.alerts, right),
            trend_cell(&r.cpu_trend, widths[9]),
        ]);
        if r.stale {
            row.style(stale_style())
        } else {
            row
        }
    });
    let table = Table::new(rows, widths.map(Constraint::Length))
        .header(Row::new(header))
        .block(block)
        .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(fleet.selected.map(|i| i - first));
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_host(frame: &mut Frame, area: Rect, host: &HostView) {
    let mut title = vec![Span::styled(format!(" {} ", host.name), title_style())];
    if host.stale {
        title.push(Span::styled(" STALE ", style(Level::Alarm)));
    }
    let range = Line::from(vec![
        Span::styled(format!(" history {} ", host.range), title_style()),
        Span::styled("+/- ", style(Level::Faint)),
    ])
    .alignment(Alignment::Right);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(title))
        .title(range);
    let inner = block.inner(area);

    let table_rows = host
        .filesystems
        .len()
        .max(host.interfaces.len())
        .clamp(1, 6) as u16
        + 3;
    let alert_rows = host.alerts.len().min(3) as u16;
    // The charts and the process panes share what the rest leaves.
    let shared = inner.height.saturating_sub(2 + alert_rows + table_rows);
    let band_rows = activity::band_rows(&host.activity, inner.width, shared);
    let [summary, middle, alerts, band, tables] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(6),
        Constraint::Length(alert_rows),
        Constraint::Length(band_rows),
        Constraint::Length(table_rows),
    ])
    .areas(inner);
    // Too short for the panes: the border says where they went.
    let block = if band_rows == 0 {
        block.title_bottom(
            Line::from(Span::styled(
                " processes and cgroups need a taller terminal ",
                style(Level::Faint),
            ))
            .alignment(Alignment::Right),
        )
    } else {
        block
    };
    frame.render_widget(block, area);
    frame.render_widget(
        Paragraph::new(host.summary.clone()).wrap(Wrap { trim: true }),
        summary,
    );
    activity::render_activity(frame, band, &host.activity);

    let cores_width = if host.cores.is_empty() { 0 } else { 28 };
    let [cores, charts] =
        Layout::horizontal([Constraint::Length(cores_width), Constraint::Min(20)]).areas(middle);
    render_cores(frame, cores, &host.cores);
    let [cpu, memory, network] = Layout::vertical([Constraint::Ratio(1, 3); 3]).areas(charts);
    let note = host.history_note.as_deref();
    render_chart(frame, cpu, &host.cpu, host, note, [Color::Cyan]);
    render_chart(frame, memory, &host.memory, host, None, [Color::Magenta]);
    render_chart(
        frame,
        network,
        &host.network,
        host,
        None,
        [Color::Green, Color::Blue],
    );

    let lines: Vec<Line> = host
        .alerts
        .iter()
        .map(|a| Line::from(Span::styled(format!("alert: {}", a.text), style(a.level))))
        .collect();
    frame.render_widget(Paragraph::new(lines), alerts);

    let [fs, ifaces] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(tables);
    let right = Alignment::Right;
    let fs_table = Table::new(
        host.filesystems.iter().map(|r| {
            Row::new([
                cell(&r[0], Alignment::Left),
                cell(&r[1], Alignment::Left),
                cell(&r[2], right),
                cell(&r[3], right),
                cell(&r[4], right),
            ])
        }),
        [
            Constraint::Min(8),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(6),
        ],
    )
    .header(Row::new(["MOUNT", "FS", "   SIZE", "   USED", "  USE%"]).style(title_style()))
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(" Filesystems "),
    );
    frame.render_widget(fs_table, fs);
    let if_table = Table::new(
        host.interfaces.iter().map(|r| {
            Row::new([
                cell(&r[0], Alignment::Left),
                cell(&r[1], right),
                cell(&r[2], right),
            ])
        }),
        [
            Constraint::Min(6),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
    )
    .header(Row::new(["IFACE", "     RX/s", "     TX/s"]).style(title_style()))
    .block(Block::default().borders(Borders::ALL).title(" Interfaces "));
    frame.render_widget(if_table, ifaces);
}

fn render_cores(frame: &mut Frame, area: Rect, cores: &[CoreBar]) {
    if area.width == 0 {
        return;
    }
    let block = Block::default().borders(Borders::ALL).title(" Cores ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height.max(1));
    let columns = cores.len().div_ceil(rows).max(1);
    let col_width = usize::from(inner.width) / columns;
    // label (3) + space + bar + space + "100%" (4)
    let bar_width = col_width.saturating_sub(10).max(1);
    let mut lines: Vec<Line> = Vec::with_capacity(rows);
    for row in 0..rows.min(cores.len()) {
        let mut spans = Vec::new();
        for col in 0..columns {
            let Some(core) = cores.get(col * rows + row) else {
                continue;
            };
            let filled = ((core.percent / 100.0) * bar_width as f64).round() as usize;
            let filled = filled.min(bar_width);
            let colour = match core.level {
                Level::Alarm => Color::Red,
                Level::Warn => Color::Yellow,
                _ => Color::Green,
            };
            spans.push(Span::raw(format!("{:>3} ", core.label)));
            spans.push(Span::styled("█".repeat(filled), Style::new().fg(colour)));
            spans.push(Span::styled(
                "·".repeat(bar_width - filled),
                style(Level::Faint),
            ));
            spans.push(Span::styled(
                format!(" {:>3.0}%", core.percent),
                style(core.level),
            ));
            spans.push(Span::raw(" "));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn render_chart<const N: usize>(
    frame: &mut Frame,
    area: Rect,
    chart: &ChartView,
    host: &HostView,
    note: Option<&str>,
    colours: [Color; N],
) {
    let mut title = vec![Span::styled(format!(" {} ", chart.title), title_style())];
    if let Some(note) = note {
        title.push(Span::styled(format!(" {note} "), style(Level::Faint)));
    }
    let datasets = chart
        .series
        .iter()
        .zip(colours)
        .map(|((name, points), colour)| {
            Dataset::default()
                .name(name.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(colour))
                .data(points)
        })
        .collect();
    let window_s = host.window_s;
    let widget = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(Line::from(title)),
        )
        .x_axis(
            Axis::default()
                .bounds([-window_s, 0.0])
                .labels([format!("-{}", host.range), "now".into()]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, chart.y_max])
                .labels(chart.y_labels.clone()),
        )
        .hidden_legend_constraints((Constraint::Percentage(0), Constraint::Percentage(0)));
    let widget = if chart.series.len() > 1 {
        widget.hidden_legend_constraints((Constraint::Percentage(50), Constraint::Percentage(50)))
    } else {
        widget
    };
    frame.render_widget(widget, area);
}

fn render_alerts(frame: &mut Frame, area: Rect, alerts: &AlertsView) {
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" Alerts: {} active ", alerts.rows.len()),
        title_style(),
    ));
    if alerts.rows.is_empty() {
        frame.render_widget(
            Paragraph::new("no active alerts")
                .style(style(Level::Faint))
                .alignment(Alignment::Center)
                .block(block),
            area,
        );
        return;
    }
    let right = Alignment::Right;
    let rows = alerts.rows.iter().map(|r| {
        Row::new([
            cell(&r[0], Alignment::Left),
            cell(&r[1], Alignment::Left),
            cell(&r[2], Alignment::Left),
            cell(&r[3], Alignment::Left),
            cell(&r[4], right),
            cell(&r[5], right),
            cell(&r[6], Alignment::Left),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(9),
            // "firing·silenced"
            Constraint::Length(15),
            Constraint::Length(16),
            Constraint::Length(20),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "SEVERITY", "STATE", "HOST", "ALERT", "  VALUE", "    AGE", "SUMMARY",
        ])
        .style(title_style()),
    )
    .block(block)
    .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(Some(alerts.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_status(frame: &mut Frame, area: Rect, status: &StatusBar) {
    let [top, bottom] = Layout::vertical([Constraint::Length(1); 2]).areas(area);
    let link = format!(" {} ", status.link.text);
    let counts = format!(" {} ", status.counts);
    // The key hint goes to the right when it fits, else only "?:keys".
    let used = (link.chars().count() + counts.chars().count()) as u16;
    let hint = if used + (status.hint.chars().count() as u16) < top.width {
        status.hint.as_str()
    } else {
        "?:keys"
    };
    let [left, right] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(hint.chars().count() as u16 + 1),
    ])
    .areas(top);
    let line = Line::from(vec![
        Span::styled(link, style(status.link.level)),
        Span::raw(counts),
    ]);
    frame.render_widget(Paragraph::new(line), left);
    frame.render_widget(
        Paragraph::new(Span::styled(hint, style(Level::Faint))).alignment(Alignment::Right),
        right,
    );
    let mut spans = vec![Span::raw(format!(" {}", status.address))];
    if let Some(error) = &status.error {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(error.clone(), style(Level::Warn)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), bottom);
}

fn render_help(frame: &mut Frame, keys: &[(&str, &str)]) {
    let area = frame.area();
    let width = area.width.min(72);
    let height = (keys.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let rows = keys.iter().map(|(k, what)| {
        Row::new([
            TableCell::from(*k).style(title_style()),
            TableCell::from(*what),
        ])
    });
    let table = Table::new(rows, [Constraint::Length(14), Constraint::Min(10)]).block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(" Keys ", title_style())),
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(table, popup);
}
