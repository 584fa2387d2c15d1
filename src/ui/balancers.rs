//! The balancer pane: the pair side by side — keepalived role, priority and who holds the
//! VIP, then reachability, connections, req/s and the daemon-specific breakdown.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{age, count, pane, rate};
use crate::app::{App, Pane};
use crate::config::profile::BalancerKind;
use crate::model::Balancer;
use crate::sources::keepalived::Role;

/// Draws the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let limit = app.cluster.stale_after();
    let wide = area.width >= 110;
    let has_vrrp = app.cluster.balancers.iter().any(|b| b.vrrp.is_some());
    let mut header: Vec<&str> = vec!["balancer"];
    let mut widths = vec![Constraint::Length(8)];
    if wide {
        header.push("kind");
        widths.push(Constraint::Length(10));
    }
    if has_vrrp {
        header.extend(["role", "prio", "VIP"]);
        widths.extend([
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(3),
        ]);
    }
    header.extend(["status", "conns", "req/s", "detail"]);
    widths.extend([
        Constraint::Length(if wide { 12 } else { 9 }),
        Constraint::Length(6),
        Constraint::Length(7),
        if wide {
            Constraint::Length(40)
        } else {
            Constraint::Min(10)
        },
    ]);
    if wide {
        header.extend(["updated", "vrrp via"]);
        widths.extend([Constraint::Length(9), Constraint::Min(10)]);
    }
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
            let mut cells = vec![Cell::from(Span::styled(
                b.name.clone(),
                t.text.add_modifier(Modifier::BOLD),
            ))];
            if wide {
                cells.push(Cell::from(Span::styled(b.kind.to_string(), t.muted)));
            }
            if has_vrrp {
                cells.extend(vrrp_cells(app, b));
            }
            cells.push(Cell::from(status));
            if let Some(why) = b.fresh.failing() {
                // The reason matters more than numbers that are no longer current.
                cells.push(Cell::from(Span::styled("—", t.stale)));
                cells.push(Cell::from(Span::styled("—", t.stale)));
                cells.push(Cell::from(Span::styled(why.to_string(), t.down)));
            } else {
                cells.push(Cell::from(Span::styled(
                    count(b.metrics.active),
                    value_style,
                )));
                cells.push(Cell::from(Span::styled(
                    rate(b.metrics.req_rate),
                    value_style,
                )));
                cells.push(Cell::from(Span::styled(detail(b), value_style)));
            }
            if wide {
                let age_text = b
                    .fresh
                    .age(app.now)
                    .map_or("never".into(), |a| format!("{} ago", age(a)));
                cells.push(Cell::from(Span::styled(age_text, t.muted)));
                cells.push(Cell::from(vrrp_via(app, b)));
            }
            Row::new(cells)
        })
        .collect();
    let title = if has_vrrp {
        format!("Balancers · VRRP ({})", app.cluster.balancers.len())
    } else {
        format!("Balancers ({})", app.cluster.balancers.len())
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.header))
        .row_highlight_style(if app.ui.focus == Pane::Balancers {
            t.highlight
        } else {
            Style::default()
        })
        .block(pane(app, title, Some(Pane::Balancers)));
    let mut state = TableState::default().with_selected(Some(app.ui.selected_balancer));
    frame.render_stateful_widget(table, area, &mut state);
}

/// How keepalived is followed, or, when that fails, what failed and since when.
fn vrrp_via<'a>(app: &App, b: &Balancer) -> Span<'a> {
    let t = &app.theme;
    let Some(v) = &b.vrrp else {
        return Span::styled("—", t.muted);
    };
    match v.fresh.failing() {
        Some(why) => {
            let since = v.fresh.last_ok.map_or("never read".into(), |ok| {
                format!("stale {}", age(app.now.saturating_duration_since(ok)))
            });
            Span::styled(format!("{since}: {why}"), t.stale)
        }
        None => Span::styled(v.method.clone().unwrap_or_else(|| "—".into()), t.muted),
    }
}

/// role, priority, VIP.
fn vrrp_cells<'a>(app: &App, b: &Balancer) -> [Cell<'a>; 3] {
    let t = &app.theme;
    let Some(v) = &b.vrrp else {
        return [Cell::from("—"), Cell::from(""), Cell::from("")];
    };
    let unsure =
        v.fresh.failing().is_some() || v.fresh.stale(app.now, app.cluster.stale_after() * 10);
    let role = match (v.running, v.role) {
        (Some(false), _) => Span::styled("down", t.down),
        (_, None) => Span::styled("?", t.muted),
        (_, Some(r)) => {
            let style = if unsure {
                t.stale
            } else {
                match r {
                    Role::Master => t.master,
                    Role::Backup => t.backup,
                    Role::Fault => t.fault,
                    Role::Stop | Role::Deleted => t.down,
                    Role::Init => t.muted,
                }
            };
            // Not current: say so in text too (colour alone is lost under NO_COLOR).
            let mark = if unsure { "?" } else { "" };
            Span::styled(format!("{}{mark}", r.label()), style)
        }
    };
    let prio = match (v.priority, v.base_priority) {
        (Some(p), Some(base)) if p != base => format!("{p}/{base}"),
        (Some(p), _) => p.to_string(),
        _ => "—".into(),
    };
    let prio = format!(
        "{prio}{}",
        if v.nopreempt == Some(true) { " np" } else { "" }
    );
    let vip = match v.holds_vip {
        Some(true) => Span::styled("●", t.master),
        Some(false) => Span::styled("·", t.muted),
        None => Span::styled("?", t.muted),
    };
    [
        Cell::from(role),
        Cell::from(Span::styled(prio, t.text)),
        Cell::from(vip),
    ]
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
