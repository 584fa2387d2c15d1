//! Drawing: one file per pane, each a `render(frame, area, &App)`. No I/O here; styles
//! come from the theme's semantic slots, never raw colours.

mod audit;
mod backends;
mod balancers;
mod confirm;
mod events;
mod header;
mod help;
mod statusline;
mod traffic;

use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders};
use ratatui::Frame;

use crate::app::{App, Mode, Pane};
use crate::model::Level;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let alerts = app.cluster.alerts(app.now);
    let banner = alerts.iter().any(|a| a.level == Level::Error);
    let lb_height = (app.cluster.balancers.len() as u16 + 3)
        .min(area.height / 3)
        .max(4);
    // The backend table gets the rows it needs; the traffic and event panes take the rest.
    let fixed = 2 + u16::from(banner) + lb_height;
    let available = area.height.saturating_sub(fixed);
    let rows = app.visible_backends();
    let wanted = rows.len() as u16 + 3;
    let bottom = available
        .saturating_sub(wanted)
        .clamp((area.height / 4).max(5), (available / 2).max(5));
    let [head, alarm, lbs, bes, low, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(banner)),
        Constraint::Length(lb_height),
        Constraint::Min(4),
        Constraint::Length(bottom),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(frame, head, app);
    if banner {
        header::render_alarm(frame, alarm, app, &alerts);
    }
    balancers::render(frame, lbs, app);
    backends::render(frame, bes, app, &rows);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(low);
    traffic::render(frame, left, app);
    events::render(frame, right, app);
    statusline::render(frame, status, app, &alerts);
    if app.ui.mode == Mode::Help {
        help::render(frame, area, app);
    }
    if app.ui.mode == Mode::Audit {
        audit::render(frame, area, app);
    }
    if app.ui.mode == Mode::Confirm {
        confirm::render(frame, area, app);
    }
}

/// A pane's frame: themed border, focus highlighted, title on the left.
fn pane<'a>(app: &App, title: String, pane: Option<Pane>) -> Block<'a> {
    let focused = pane.is_some_and(|p| p == app.ui.focus);
    let t = &app.theme;
    // A production cluster paints every frame in the theme's production colour.
    let frame = match (
        app.environment,
        t.production_frame.bg.or(t.production_frame.fg),
    ) {
        (crate::config::profile::Environment::Production, Some(colour)) => {
            Style::default().fg(colour)
        }
        _ => t.border,
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(if focused { t.border_focus } else { frame })
        .title(Span::styled(format!(" {title} "), t.title))
}

/// "12s", "3m", "2h": the age of a value.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

/// A rate with sensible precision.
pub fn rate(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(r) if r >= 100.0 => format!("{r:.0}"),
        Some(r) => format!("{r:.1}"),
    }
}

/// A count, compact: 1234567 → 1.2M.
pub fn count(v: Option<u64>) -> String {
    match v {
        None => "—".into(),
        Some(n) if n >= 10_000_000 => format!("{:.0}M", n as f64 / 1e6),
        Some(n) if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        Some(n) if n >= 100_000 => format!("{:.0}k", n as f64 / 1e3),
        Some(n) => n.to_string(),
    }
}

/// Milliseconds with one decimal under 10.
pub fn millis(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(m) if m < 10.0 => format!("{m:.1}ms"),
        Some(m) => format!("{m:.0}ms"),
    }
}

/// Style of an event level.
fn level_style(app: &App, level: Level) -> Style {
    match level {
        Level::Ok => app.theme.healthy,
        Level::Info => app.theme.text,
        Level::Warn => app.theme.degraded,
        Level::Error => app.theme.down,
    }
}

/// A rectangle of `w`×`h` centred in `area`, clipped to it.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

#[cfg(test)]
mod tests;
