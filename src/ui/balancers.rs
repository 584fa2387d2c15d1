//! The balancer pane: one row per balancer — reachability, connections, req/s and the
//! daemon-specific breakdown.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{age, count, pane, rate};
use crate::app::{App, Pane};
use crate::config::profile::BalancerKind;
use crate::model::Balancer;

/// Draws the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let limit = app.cluster.stale_after();
    let wide = area.width >= 110;
    let rows: Vec<Row> = app
        .cluster
        .balancers
        .iter()
        .map(|b| {
            let stale = b.fresh.stale(app.now, limit);
            let value_style = if stale { t.stale } else { t.text };
            let status = match (b.fresh.failing(), b.fresh.never()) {
                (Some(_), _) => Span::styled("DOWN", t.down),
                (None, true) => Span::styled("…", t.muted),
                (None, false) if stale => Span::styled(
                    format!("stale {}", age(b.fresh.age(app.now).unwrap_or_default())),
                    t.stale,
                ),
                (None, false) => Span::styled("UP", t.healthy),
            };
            let mut cells = vec![
                Cell::from(Span::styled(
                    b.name.clone(),
                    t.text.add_modifier(ratatui::style::Modifier::BOLD),
                )),
                Cell::from(Span::styled(b.kind.to_string(), t.muted)),
                Cell::from(status),
            ];
            if let Some(why) = b.fresh.failing() {
                // The reason matters more than numbers that are no longer current.
                cells.push(Cell::from(Span::styled("—", t.stale)));
                cells.push(Cell::from(Span::styled("—", t.stale)));
                cells.push(Cell::from(Span::styled(why.to_string(), t.down)));
                return Row::new(cells);
            }
            cells.push(Cell::from(Span::styled(
                count(b.metrics.active),
                value_style,
            )));
            cells.push(Cell::from(Span::styled(
                rate(b.metrics.req_rate),
                value_style,
            )));
            cells.push(Cell::from(Span::styled(detail(b), value_style)));
            if wide {
                let age_text = b
                    .fresh
                    .age(app.now)
                    .map_or("never".into(), |a| format!("{} ago", age(a)));
                cells.push(Cell::from(Span::styled(age_text, t.muted)));
                cells.push(Cell::from(Span::styled(b.endpoint.clone(), t.muted)));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(if wide { 12 } else { 10 }),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Min(20),
    ];
    let mut header = vec!["balancer", "kind", "status", "conns", "req/s", "detail"];
    if wide {
        widths[5] = Constraint::Length(44);
        widths.push(Constraint::Length(9));
        widths.push(Constraint::Min(10));
        header.push("updated");
        header.push("source");
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.header))
        .row_highlight_style(if app.ui.focus == Pane::Balancers {
            t.highlight
        } else {
            ratatui::style::Style::default()
        })
        .block(pane(
            app,
            format!("Balancers ({})", app.cluster.balancers.len()),
            Some(Pane::Balancers),
        ));
    let mut state = TableState::default().with_selected(Some(app.ui.selected_balancer));
    frame.render_stateful_widget(table, area, &mut state);
}

fn detail(b: &Balancer) -> String {
    let m = &b.metrics;
    let restarts = if b.restarts > 0 {
        format!(" restarts {}", b.restarts)
    } else {
        String::new()
    };
    match b.kind {
        BalancerKind::Nginx => format!(
            "R {} W {} Wait {}{restarts}",
            count(m.reading),
            count(m.writing),
            count(m.waiting)
        ),
        BalancerKind::Haproxy => {
            let version = m
                .version
                .as_deref()
                .map(|v| format!(" v{}", v.split('-').next().unwrap_or(v)))
                .unwrap_or_default();
            format!(
                "sess {} queue {}{version}{restarts}",
                count(m.sessions),
                count(m.queue)
            )
        }
        BalancerKind::NginxPlus => format!("total {}{restarts}", count(m.requests_total)),
    }
}
