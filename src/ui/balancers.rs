//! The balancer pane: the pair side by side — keepalived role, priority and who holds the
//! VIP, then reachability, connections, req/s and the daemon-specific breakdown.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::backends::constraint;
use super::{age, count, pane, rate};
use crate::app::columns::{BalancerColumn, BALANCER_COLUMNS};
use crate::app::{App, Pane};
use crate::config::profile::BalancerKind;
use crate::model::vrrp::VrrpView;
use crate::model::Balancer;
use crate::model::Role;

/// Draws the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let has_vrrp = app.cluster.balancers.iter().any(|b| b.vrrp.is_some());
    let columns: Vec<BalancerColumn> = BALANCER_COLUMNS
        .into_iter()
        .filter(|c| c.shown(area.width, has_vrrp))
        .collect();
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|c| constraint(c.width(area.width), 0))
        .collect();
    // The columns' real widths, as the table lays them out, so cut text ends in `…`.
    let inner = Rect {
        width: area.width.saturating_sub(2),
        ..area
    };
    let room: Vec<usize> = Layout::horizontal(widths.clone())
        .flex(Flex::Start)
        .spacing(1)
        .split(inner)
        .iter()
        .map(|r| usize::from(r.width))
        .collect();
    // A header wider than its column takes a shorter word rather than being cut.
    let header: Vec<String> = columns
        .iter()
        .zip(&room)
        .map(|(&c, &w)| match c.header() {
            h if h.chars().count() <= w => h.to_string(),
            _ if c == BalancerColumn::Name => "lb".to_string(),
            h => crate::text::clip(h, w.max(1)),
        })
        .collect();
    let rows: Vec<Row> = app
        .cluster
        .balancers
        .iter()
        .map(|b| Row::new(columns.iter().zip(&room).map(|(&c, &w)| cell(app, b, c, w))))
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

/// One balancer's cell in a column `width` wide.
fn cell<'a>(app: &App, b: &Balancer, col: BalancerColumn, width: usize) -> Cell<'a> {
    let t = &app.theme;
    let stale = b.fresh.stale(app.now, app.cluster.stale_after());
    let value_style = if stale { t.stale } else { t.text };
    // When the balancer cannot be read, its reason matters more than numbers that are
    // no longer current.
    let failing = b.fresh.failing();
    let span = match col {
        BalancerColumn::Name => Span::styled(b.name.clone(), t.text.add_modifier(Modifier::BOLD)),
        BalancerColumn::Kind => Span::styled(b.kind.to_string(), t.muted),
        BalancerColumn::Role => return role_cell(app, b),
        BalancerColumn::Priority => return priority_cell(app, b),
        BalancerColumn::Vip => return vip_cell(app, b),
        BalancerColumn::Status => status(app, b, stale),
        BalancerColumn::Connections | BalancerColumn::Rate if failing.is_some() => {
            Span::styled("—", t.stale)
        }
        BalancerColumn::Connections => Span::styled(count(b.metrics.active), value_style),
        BalancerColumn::Rate => Span::styled(rate(b.metrics.req_rate), value_style),
        BalancerColumn::Detail => match failing {
            Some(why) => Span::styled(why.to_string(), t.down),
            None => Span::styled(detail(b), value_style),
        },
        BalancerColumn::Updated => {
            let age_text = b
                .fresh
                .age(app.now)
                .map_or("never".into(), |a| format!("{} ago", age(a)));
            Span::styled(age_text, t.muted)
        }
        BalancerColumn::VrrpVia => vrrp_via(app, b),
    };
    let text = crate::text::clip(&span.content, width.max(1));
    Cell::from(Span::styled(text, span.style))
}

/// UP, DOWN, stale with its age, or not read yet.
fn status<'a>(app: &App, b: &Balancer, stale: bool) -> Span<'a> {
    let t = &app.theme;
    match (b.fresh.failing(), b.fresh.never()) {
        (Some(_), _) => Span::styled("DOWN", t.down),
        (None, true) => Span::styled("…", t.muted),
        (None, false) if stale => Span::styled(
            format!("stale {}", age(b.fresh.age(app.now).unwrap_or_default())),
            t.stale,
        ),
        (None, false) => Span::styled("UP", t.healthy),
    }
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

/// keepalived's view is in doubt: it cannot be read, or has not been for a while.
fn vrrp_unsure(app: &App, v: &VrrpView) -> bool {
    v.fresh.failing().is_some() || v.fresh.stale(app.now, app.cluster.stale_after() * 10)
}

/// keepalived's role; a dash without keepalived.
fn role_cell<'a>(app: &App, b: &Balancer) -> Cell<'a> {
    let t = &app.theme;
    let Some(v) = &b.vrrp else {
        return Cell::from("—");
    };
    let unsure = vrrp_unsure(app, v);
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
            // Not current: say so in text too (colour alone is lost under NO_COLOR). A
            // role seen only from the VIP (no dump readable) is marked `~`.
            let mark = match (unsure, v.role_from_vip) {
                (true, _) => "?",
                (false, true) => "~",
                (false, false) => "",
            };
            Span::styled(format!("{}{mark}", r.label()), style)
        }
    };
    Cell::from(role)
}

/// keepalived's priority: effective/configured when they differ, "np" for nopreempt.
fn priority_cell<'a>(app: &App, b: &Balancer) -> Cell<'a> {
    let Some(v) = &b.vrrp else {
        return Cell::from("");
    };
    // A stopped keepalived has no priority: the last one read is not current.
    let prio = match (v.priority, v.base_priority) {
        _ if v.running == Some(false) => "—".into(),
        (Some(p), Some(base)) if p != base => format!("{p}/{base}"),
        (Some(p), _) => p.to_string(),
        _ => "—".into(),
    };
    let prio = format!(
        "{prio}{}",
        if v.nopreempt == Some(true) { " np" } else { "" }
    );
    Cell::from(Span::styled(prio, app.theme.text))
}

/// Whether the node holds the VIP.
fn vip_cell<'a>(app: &App, b: &Balancer) -> Cell<'a> {
    let t = &app.theme;
    let Some(v) = &b.vrrp else {
        return Cell::from("");
    };
    Cell::from(match v.holds_vip {
        Some(true) => Span::styled("●", t.master),
        Some(false) => Span::styled("·", t.muted),
        None => Span::styled("?", t.muted),
    })
}

/// How the runtime API is reached when it is not plain TCP at level admin (the usual
/// case, left unsaid): " api ssh-socket", " api sudo socat (user)".
fn api(b: &Balancer) -> String {
    use crate::wire::api::Level;
    let Some(a) = &b.api else {
        return String::new();
    };
    let reach = if a.reach == "tcp" {
        String::new()
    } else {
        format!(" api {}", a.reach)
    };
    match a.level {
        Some(l) if l != Level::Admin => format!("{reach} ({})", l.word()),
        _ => reach,
    }
}

fn detail(b: &Balancer) -> String {
    let m = &b.metrics;
    let restarts = if b.restarts > 0 {
        format!(" restarts {}", b.restarts)
    } else {
        String::new()
    };
    match b.kind {
        BalancerKind::Nginx => {
            // Whether the access log feeds the per-backend figures: lines read / looked at.
            let log = b.log_lines.map_or(String::new(), |l| {
                format!(" · log {}/{} {}", l.seen.matched, l.seen.lines, l.format)
            });
            format!(
                "R {} W {} Wait {}{log}{restarts}",
                count(m.reading),
                count(m.writing),
                count(m.waiting)
            )
        }
        BalancerKind::Haproxy => {
            let version = m
                .version
                .as_deref()
                .map(|v| format!(" v{}", v.split('-').next().unwrap_or(v)))
                .unwrap_or_default();
            format!(
                "sess {} queue {}{version}{restarts}{}",
                count(m.sessions),
                count(m.queue),
                api(b)
            )
        }
        BalancerKind::NginxPlus => format!("total {}{restarts}", count(m.requests_total)),
    }
}
