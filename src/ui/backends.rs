//! The backend table: our health probe, each balancer's view of the server, sessions,
//! req/s, responses and latency. Filtered with `/`, sorted with `o`.

use std::time::Duration;

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{age, count, millis, pane, rate};
use crate::app::columns::{BackendColumn, Width, BACKEND_COLUMNS};
use crate::app::{App, Pane};
use crate::model::ServerState;
use crate::model::{Backend, Health};

/// Draws the table; `rows_idx` are the visible backends in display order.
pub fn render(frame: &mut Frame, area: Rect, app: &App, rows_idx: &[usize]) {
    let t = &app.theme;
    let columns = shown_columns(app, area.width);
    let (header, widths) = headings(app, &columns);
    let look = Look::new(app);

    let selected = app.ui.selected_backend.as_ref().and_then(|name| {
        rows_idx
            .iter()
            .position(|&i| app.cluster.backends[i].name == *name)
    });
    // Only the rows that fit are built: with 1,000 backends most are off screen. The
    // window keeps the selection in view.
    let height = area.height.saturating_sub(3) as usize;
    let offset = selected.map_or(0, |s| (s + 1).saturating_sub(height));
    let rows: Vec<Row> = rows_idx
        .iter()
        .skip(offset)
        .take(height)
        .map(|&i| Row::new(cells(&look, &columns, &app.cluster.backends[i])))
        .collect();

    let total = app.cluster.backends.len();
    let shown = rows_idx.len();
    // Where the window is, when not every row fits.
    let mut title = if shown > rows.len() && !rows.is_empty() {
        format!("Backends {}–{} of {shown}", offset + 1, offset + rows.len())
    } else {
        format!("Backends {shown}")
    };
    if shown != total {
        title.push_str(&format!("/{total}"));
    }
    title.push_str(&format!(" · {} healthy", app.cluster.healthy()));
    if let Some(n) = app.cluster.in_rotation() {
        title.push_str(&format!(" · {n} in rotation"));
    }
    title.push_str(&format!(
        " · sort {}{}",
        app.ui.sort.label(),
        if app.ui.descending { "↓" } else { "↑" }
    ));
    if !app.ui.filter.is_empty() {
        title.push_str(&format!(" · filter \"{}\"", app.ui.filter));
    }
    if !app.ui.marked.is_empty() {
        title.push_str(&format!(" · {} marked", app.ui.marked.len()));
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.header))
        .column_spacing(1)
        .flex(ratatui::layout::Flex::Start)
        .row_highlight_style(if app.ui.focus == Pane::Backends {
            t.highlight
        } else {
            t.text.add_modifier(ratatui::style::Modifier::UNDERLINED)
        })
        .block(pane(app, title, Some(Pane::Backends)));
    let mut state = TableState::default().with_selected(selected.map(|s| s.saturating_sub(offset)));
    frame.render_stateful_widget(table, area, &mut state);
    if shown == 0 {
        let msg = if total == 0 {
            "no backends yet: waiting for the balancers"
        } else {
            "no backend matches the filter (Esc clears it)"
        };
        super::empty_note(frame, area, Span::styled(msg, t.muted));
    }
}

/// The columns a table `width` cells wide shows, left to right.
fn shown_columns(app: &App, width: u16) -> Vec<BackendColumn> {
    // Percentiles are looked for only when there is room for them: with 1,000 backends
    // that is a walk over every one.
    let percentiles = BACKEND_COLUMNS
        .iter()
        .any(|c| c.needs_percentiles() && c.shown(width, true))
        && app
            .cluster
            .backends
            .iter()
            .any(|b| b.percentile_ms(50).is_some());
    BACKEND_COLUMNS
        .into_iter()
        .filter(|c| c.shown(width, percentiles))
        .collect()
}

/// The header row and the widths, one per drawn column.
fn headings(app: &App, columns: &[BackendColumn]) -> (Vec<String>, Vec<Constraint>) {
    let limit = app.cluster.stale_after();
    let mut header = Vec::new();
    let mut widths = Vec::new();
    for &col in columns {
        match col.header() {
            Some(text) => {
                let widest = match col.width() {
                    Width::Fit(..) => widest_value(app, col),
                    _ => 0,
                };
                header.push(text.to_string());
                widths.push(constraint(col.width(), widest));
            }
            None => {
                for (li, b) in app.cluster.balancers.iter().enumerate() {
                    // A balancer whose numbers are stale says so in its column header.
                    let label = if b.fresh.stale(app.now, limit) {
                        format!("{}?", b.name)
                    } else {
                        b.name.clone()
                    };
                    // Room for a weight or backup mark after the state, when one shows.
                    let marked = app
                        .cluster
                        .backends
                        .iter()
                        .filter_map(|k| k.views.get(li).and_then(|v| v.as_ref()))
                        .map(|v| 5 + v.marks().chars().count())
                        .max()
                        .unwrap_or(0);
                    widths.push(constraint(col.width(), label.chars().count().max(marked)));
                    header.push(label);
                }
            }
        }
    }
    (header, widths)
}

/// The widest value of a column that fits its values, in cells.
fn widest_value(app: &App, col: BackendColumn) -> usize {
    let names = app.cluster.backends.iter().map(|b| b.name.chars().count());
    match col {
        // An empty table keeps room for a short name.
        BackendColumn::Name => {
            names.max().unwrap_or(8) + if app.ui.marked.is_empty() { 0 } else { 2 }
        }
        _ => col.header().map_or(0, str::len),
    }
}

/// The layout constraint for a column whose widest value is `widest` cells.
pub(super) fn constraint(width: Width, widest: usize) -> Constraint {
    match width {
        Width::Fixed(n) => Constraint::Length(n),
        Width::Fill(n) => Constraint::Min(n),
        Width::Fit(lo, hi) => Constraint::Length(widest.clamp(lo.into(), hi.into()) as u16),
    }
}

/// What every row is drawn with.
struct Look<'a> {
    app: &'a App,
    limit: Duration,
    /// Numbers are stale when no balancer is current.
    numbers: Style,
}

impl<'a> Look<'a> {
    fn new(app: &'a App) -> Self {
        let limit = app.cluster.stale_after();
        let all_stale = app
            .cluster
            .balancers
            .iter()
            .all(|lb| lb.fresh.stale(app.now, limit));
        Look {
            app,
            limit,
            numbers: if all_stale {
                app.theme.stale
            } else {
                app.theme.text
            },
        }
    }

    fn number(&self, text: String) -> Cell<'static> {
        Cell::from(Span::styled(text, self.numbers))
    }
}

/// One row: a cell per drawn column.
fn cells(look: &Look, columns: &[BackendColumn], b: &Backend) -> Vec<Cell<'static>> {
    let (app, t) = (look.app, &look.app.theme);
    let mut out = Vec::with_capacity(columns.len() + app.cluster.balancers.len());
    for &col in columns {
        let cell = match col {
            BackendColumn::Name => {
                // Marks are a character, not only a style: they read without colour.
                let name = match (app.ui.marked.is_empty(), app.ui.marked.contains(&b.name)) {
                    (true, _) => b.name.clone(),
                    (false, true) => format!("* {}", b.name),
                    (false, false) => format!("  {}", b.name),
                };
                Cell::from(Span::styled(name, name_style(app, b)))
            }
            BackendColumn::Address => Cell::from(Span::styled(b.address.clone(), t.muted)),
            BackendColumn::Health => Cell::from(health_span(app, b, look.limit)),
            BackendColumn::State => {
                out.extend(app.cluster.balancers.iter().enumerate().map(|(li, lb)| {
                    let view = b.views.get(li).and_then(|v| v.as_ref());
                    let state = state_span(
                        app,
                        view.and_then(|v| v.shown_state()),
                        lb.fresh.stale(app.now, look.limit),
                        view.is_some(),
                    );
                    let marks = view.map(|v| v.marks()).unwrap_or_default();
                    if marks.is_empty() {
                        Cell::from(state)
                    } else {
                        Cell::from(ratatui::text::Line::from(vec![
                            state,
                            Span::styled(marks, t.degraded),
                        ]))
                    }
                }));
                continue;
            }
            BackendColumn::Check => check_cell(app, b),
            BackendColumn::Sessions => look.number(count(b.sessions())),
            BackendColumn::Rate => look.number(rate(b.req_rate())),
            BackendColumn::Ok => look.number(count(b.responses(0))),
            BackendColumn::ClientErrors => look.number(count(b.responses(1))),
            BackendColumn::Errors => {
                let fives = b.responses(2);
                let style = if fives.unwrap_or(0) > 0 {
                    t.degraded
                } else {
                    look.numbers
                };
                Cell::from(Span::styled(count(fives), style))
            }
            // The last good latency is not current once the probe fails.
            BackendColumn::ProbeLatency => look.number(millis(
                b.probe_latency_ms().filter(|_| b.fresh.failing().is_none()),
            )),
            BackendColumn::BalancerLatency => look.number(millis(b.balancer_latency_ms())),
            BackendColumn::P50 => look.number(millis(b.percentile_ms(50))),
            BackendColumn::P95 => look.number(millis(b.percentile_ms(95))),
            BackendColumn::P99 => look.number(millis(b.percentile_ms(99))),
        };
        out.push(cell);
    }
    out
}

/// The first balancer check that has something to say.
fn check_cell(app: &App, b: &Backend) -> Cell<'static> {
    let t = &app.theme;
    let check = b
        .views
        .iter()
        .flatten()
        .map(|v| v.check.clone())
        .find(|c| !c.is_empty())
        .unwrap_or_else(|| "—".into());
    let style = if check.starts_with("L7OK") || check == "passed" || check == "—" {
        t.muted
    } else {
        t.degraded
    };
    Cell::from(Span::styled(check, style))
}

fn name_style(app: &App, b: &Backend) -> Style {
    if b.configured {
        app.theme.text
    } else {
        app.theme.muted
    }
}

fn health_span(app: &App, b: &Backend, limit: Duration) -> Span<'static> {
    let t = &app.theme;
    if !b.probed {
        return Span::styled("—", t.muted);
    }
    if b.fresh.stale(app.now, limit) && b.fresh.failing().is_none() {
        return Span::styled(
            format!("stale {}", age(b.fresh.age(app.now).unwrap_or_default())),
            t.stale,
        );
    }
    match b.health {
        Health::Unknown => Span::styled("…", t.muted),
        Health::Healthy => Span::styled("OK", t.healthy),
        Health::Unhealthy => {
            Span::styled(format!("HTTP {}", b.probe.map_or(0, |p| p.status)), t.down)
        }
        Health::Down => Span::styled("DOWN", t.down),
    }
}

/// A server state in its theme style (the stale style when `stale`); `·` where a balancer
/// reports the server without a state, `—` where it does not report it.
pub(super) fn state_span(
    app: &App,
    state: Option<ServerState>,
    stale: bool,
    reported: bool,
) -> Span<'static> {
    let t = &app.theme;
    let Some(s) = state else {
        // Reported without a state: nginx open source only has traffic numbers.
        return Span::styled(if reported { "·" } else { "—" }, t.muted);
    };
    if stale {
        return Span::styled(s.label(), t.stale);
    }
    let style = match s {
        ServerState::Up => t.healthy,
        ServerState::Drain => t.draining,
        ServerState::Maint => t.maint,
        ServerState::Nolb => t.degraded,
        ServerState::Down => t.down,
    };
    Span::styled(s.label(), style)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::app::columns::SORT_KEYS;
    use crate::app::tests::{app, feed};
    use crate::app::SortKey;

    #[test]
    fn headers_widths_and_cells_come_from_one_column_list() {
        let mut a = app();
        feed(&mut a, Instant::now());
        let look = Look::new(&a);
        let balancers: Vec<String> = a.cluster.balancers.iter().map(|b| b.name.clone()).collect();
        for width in [40, 72, 80, 100, 120, 140, 200] {
            let columns = shown_columns(&a, width);
            let (header, widths) = headings(&a, &columns);
            assert_eq!(header.len(), widths.len(), "width {width}");
            for b in &a.cluster.backends {
                assert_eq!(
                    cells(&look, &columns, b).len(),
                    header.len(),
                    "width {width}: a cell under each header"
                );
            }
            // Every sort the `o` key offers is a column on screen.
            for key in SORT_KEYS {
                let SortKey::Column(col) = key else { continue };
                match col.header() {
                    Some(h) => assert!(header.iter().any(|x| x == h), "{h} at {width}"),
                    None => assert!(balancers.iter().all(|n| header.contains(n))),
                }
            }
        }
        let (wide, _) = headings(&a, &shown_columns(&a, 200));
        assert_eq!(
            wide,
            [
                "backend", "address", "health", "lb1", "lb2", "check", "sess", "req/s", "Σ2xx",
                "Σ4xx", "Σ5xx", "probe ms", "lb ms"
            ],
            "the table's order is the column list's"
        );
    }
}
