//! The backend table: our health probe, each balancer's view of the server, sessions,
//! req/s, responses and latency. Filtered with `/`, sorted with `o`.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{age, count, millis, pane, rate};
use crate::app::{App, Pane};
use crate::model::{Backend, Health};
use crate::sources::haproxy::ServerState;

/// Draws the table; `rows_idx` are the visible backends in display order.
pub fn render(frame: &mut Frame, area: Rect, app: &App, rows_idx: &[usize]) {
    let t = &app.theme;
    let width = area.width;
    let show_addr = width >= 100;
    let show_classes = width >= 120;
    let show_check = width >= 72;
    let limit = app.cluster.stale_after();
    let balancers = &app.cluster.balancers;

    let mut header: Vec<String> = vec!["backend".into()];
    let name_w = app
        .cluster
        .backends
        .iter()
        .map(|b| b.name.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(7, 32) as u16;
    let mut widths = vec![Constraint::Length(name_w)];
    if show_addr {
        header.push("address".into());
        widths.push(Constraint::Length(21));
    }
    header.push("health".into());
    widths.push(Constraint::Length(9));
    for b in balancers {
        // A balancer whose numbers are stale says so in its column header.
        let label = if b.fresh.stale(app.now, limit) {
            format!("{}?", b.name)
        } else {
            b.name.clone()
        };
        widths.push(Constraint::Length(6.max(label.chars().count() as u16)));
        header.push(label);
    }
    if show_check {
        header.push("check".into());
        widths.push(Constraint::Length(7));
    }
    header.extend(["sess", "req/s"].map(String::from));
    widths.extend([Constraint::Length(5), Constraint::Length(6)]);
    if show_classes {
        header.extend(["2xx", "4xx"].map(String::from));
        widths.extend([Constraint::Length(7), Constraint::Length(6)]);
    }
    header.extend(["5xx", "latency"].map(String::from));
    widths.extend([Constraint::Length(5), Constraint::Length(8)]);
    // Access-log percentiles, when some balancer provides them and there is room.
    let show_pct = width >= 140
        && app
            .cluster
            .backends
            .iter()
            .any(|b| b.percentile_ms(50).is_some());
    if show_pct {
        header.extend(["p50", "p95", "p99"].map(String::from));
        widths.extend([
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
        ]);
    }

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
        .map(|&i| {
            let b = &app.cluster.backends[i];
            let mut cells = vec![Cell::from(Span::styled(b.name.clone(), name_style(app, b)))];
            if show_addr {
                cells.push(Cell::from(Span::styled(b.address.clone(), t.muted)));
            }
            cells.push(Cell::from(health_span(app, b, limit)));
            for (li, lb) in balancers.iter().enumerate() {
                let stale = lb.fresh.stale(app.now, limit);
                cells.push(Cell::from(state_span(
                    app,
                    b.views
                        .get(li)
                        .and_then(|v| v.as_ref())
                        .and_then(|v| v.state),
                    stale,
                    b.views.get(li).is_some_and(|v| v.is_some()),
                )));
            }
            let numbers = if balancers.iter().all(|lb| lb.fresh.stale(app.now, limit)) {
                t.stale
            } else {
                t.text
            };
            if show_check {
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
                cells.push(Cell::from(Span::styled(check, style)));
            }
            cells.push(Cell::from(Span::styled(count(b.sessions()), numbers)));
            cells.push(Cell::from(Span::styled(rate(b.req_rate()), numbers)));
            if show_classes {
                cells.push(Cell::from(Span::styled(count(b.responses(0)), numbers)));
                cells.push(Cell::from(Span::styled(count(b.responses(1)), numbers)));
            }
            let fives = b.responses(2);
            let fives_style = if fives.unwrap_or(0) > 0 {
                t.degraded
            } else {
                numbers
            };
            cells.push(Cell::from(Span::styled(count(fives), fives_style)));
            cells.push(Cell::from(Span::styled(millis(b.latency_ms()), numbers)));
            if show_pct {
                for p in [50, 95, 99] {
                    cells.push(Cell::from(Span::styled(
                        millis(b.percentile_ms(p)),
                        numbers,
                    )));
                }
            }
            Row::new(cells)
        })
        .collect();

    let total = app.cluster.backends.len();
    let shown = rows_idx.len();
    let healthy = app
        .cluster
        .backends
        .iter()
        .filter(|b| b.health == Health::Healthy)
        .count();
    let mut title = format!("Backends {shown}");
    if shown != total {
        title.push_str(&format!("/{total}"));
    }
    title.push_str(&format!(
        " · {healthy} healthy · sort {}{}",
        app.ui.sort.label(),
        if app.ui.descending { "↓" } else { "↑" }
    ));
    if !app.ui.filter.is_empty() {
        title.push_str(&format!(" · filter \"{}\"", app.ui.filter));
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
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1.min(area.height.saturating_sub(3)),
        };
        frame.render_widget(
            ratatui::widgets::Paragraph::new(Span::styled(msg, t.muted)),
            inner,
        );
    }
}

fn name_style(app: &App, b: &Backend) -> Style {
    if b.configured {
        app.theme.text
    } else {
        app.theme.muted
    }
}

fn health_span(app: &App, b: &Backend, limit: std::time::Duration) -> Span<'static> {
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

fn state_span(app: &App, state: Option<ServerState>, stale: bool, reported: bool) -> Span<'static> {
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
