//! Drawing: one file per pane, each a `render(frame, area, &App)`. No I/O here; styles
//! come from the theme's semantic slots, never raw colours.

mod alerts;
mod audit;
mod backends;
mod balancers;
mod confirm;
mod detail;
mod events;
pub mod fleet;
mod header;
mod help;
mod runtime;
mod statusline;
mod traffic;

use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::app::{App, Mode, Pane};
use crate::model::Level;

/// Below this width the tables cannot show a backend's state next to its name.
const MIN_WIDTH: u16 = 60;
/// Below this height the balancer pair and a few backends no longer fit: the header,
/// the banner, a pair's pane (5), a backend table with two rows (5) and the status line.
const MIN_HEIGHT: u16 = 13;
/// Under this many rows for the backends the traffic and event panes give theirs up.
const BOTTOM_PANES_FROM: u16 = 11;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let alerts = app.cluster.alerts(app.now);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, app, &alerts);
    } else {
        panes(frame, area, app, &alerts);
    }
    match app.ui.mode {
        Mode::Help => help::render(frame, area, app),
        Mode::Alerts => alerts::render(frame, area, app, &alerts),
        Mode::Audit => audit::render(frame, area, app),
        Mode::Confirm => confirm::render(frame, area, app),
        Mode::Detail => detail::render(frame, area, app),
        Mode::RuntimeAnswer => runtime::render(frame, area, app),
        Mode::Normal | Mode::Filter | Mode::Runtime => {}
    }
}

/// Every pane, laid out for the terminal's size.
fn panes(frame: &mut Frame, area: Rect, app: &App, alerts: &[crate::model::Alert]) {
    let banner = alerts.iter().any(|a| a.level == Level::Error);
    // The whole pair shows before anything else gets rows.
    let lb_height = (app.cluster.balancers.len() as u16 + 3)
        .min(area.height / 2)
        .max(4);
    // The backend table gets the rows it needs; the traffic and event panes take the rest.
    let fixed = 2 + u16::from(banner) + lb_height;
    let available = area.height.saturating_sub(fixed);
    let rows = app.visible_backends();
    let wanted = rows.len() as u16 + 3;
    let bottom = if available < BOTTOM_PANES_FROM {
        0
    } else {
        // A short table leaves no blank rows: what it does not need goes below.
        available
            .saturating_sub(wanted)
            .max((area.height / 4).max(5))
            .min(available.saturating_sub(4))
    };
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
        header::render_alarm(frame, alarm, app, alerts);
    }
    balancers::render(frame, lbs, app);
    backends::render(frame, bes, app, &rows);
    if bottom > 0 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(low);
        traffic::render(frame, left, app);
        events::render(frame, right, app);
    }
    statusline::render(frame, status, app, alerts);
}

/// A terminal too small for the panes: what must never disappear (the VIP, the worst
/// alert) and the size that is needed, one line each.
fn too_small(frame: &mut Frame, area: Rect, app: &App, alerts: &[crate::model::Alert]) {
    let t = &app.theme;
    let w = usize::from(area.width);
    let vip = &app.cluster.vip;
    let holders = app.cluster.vip_holders().join(",");
    let on = if holders.is_empty() {
        String::new()
    } else {
        format!(" on {holders}")
    };
    let (state, style) = match vip.serving() {
        Some(true) => (format!("● serving{on}"), t.healthy),
        Some(false) => (format!("✖ NOT SERVING{on}"), t.down),
        None => (format!("not probed{on}"), t.muted),
    };
    let vip_line = Line::from(vec![
        Span::styled("VIP ", t.muted),
        Span::styled(vip.address.clone().unwrap_or_default(), t.text),
        Span::raw(" "),
        Span::styled(state, style),
    ]);
    let alarm = match alerts.first() {
        None => Line::from(Span::styled("all clear", t.healthy)),
        Some(a) => {
            let more = if alerts.len() > 1 {
                format!(
                    " (+{} more, {})",
                    alerts.len() - 1,
                    alerts::hint(app, alerts.len())
                )
            } else {
                String::new()
            };
            let style = if a.level == Level::Error {
                t.alarm
            } else {
                t.degraded
            };
            Line::from(Span::styled(
                crate::text::clip(
                    &format!("{} {}{more}", alerts::severity(a.level), a.text),
                    w,
                ),
                style,
            ))
        }
    };
    let need = Line::from(Span::styled(
        crate::text::clip(
            &format!("terminal too small (need {MIN_WIDTH}×{MIN_HEIGHT})"),
            w,
        ),
        t.degraded,
    ));
    let bold = t.text.add_modifier(ratatui::style::Modifier::BOLD);
    let name: Vec<Span> = [
        app.demo.then(|| Span::styled("DEMO ", t.demo_badge)),
        Some(Span::styled(app.profile_name.clone(), bold)),
        app.read_only
            .then(|| Span::styled(" READ-ONLY", t.highlight)),
    ]
    .into_iter()
    .flatten()
    .collect();
    // What the last key did, or a drain's progress: keys still work here.
    let said = app
        .flash
        .as_ref()
        .map(|(_, msg)| msg.clone())
        .or_else(|| app.drain_progress())
        .map(|msg| Line::from(Span::styled(crate::text::clip(&msg, w), t.text)));
    let lines: Vec<Line> = [
        Some(Line::from(name)),
        Some(vip_line),
        Some(alarm),
        Some(selection(app, w)),
        said,
        Some(need),
    ]
    .into_iter()
    .flatten()
    .take(usize::from(area.height))
    .collect();
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        area,
    );
}

/// The focused pane and what is selected in it: keys act on it even when the panes
/// do not fit.
fn selection(app: &App, w: usize) -> Line<'static> {
    let t = &app.theme;
    let text = match app.ui.focus {
        Pane::Backends => format!(
            "▶ backend {}",
            app.ui.selected_backend.as_deref().unwrap_or("—")
        ),
        Pane::Balancers => format!(
            "▶ balancer {}",
            app.cluster
                .balancers
                .get(app.ui.selected_balancer)
                .map_or("—", |b| b.name.as_str())
        ),
        Pane::Events => "▶ events".to_string(),
    };
    Line::from(Span::styled(crate::text::clip(&text, w), t.text))
}

/// An overlay in the middle of the screen called `name`, with `lines`, scrolled by the
/// keys when they do not all fit; its title says where the view is, how to scroll and
/// how to close, in that order (what is cut on a narrow screen is the last).
fn overlay(frame: &mut Frame, area: Rect, app: &App, name: &str, lines: Vec<Line>, width: u16) {
    let total = lines.len();
    let popup = centered(area, width, total as u16 + 2);
    let inner = usize::from(popup.height.saturating_sub(2));
    let scroll = app.ui.overlay_scroll.min(total.saturating_sub(inner));
    let title = if total > inner {
        format!(
            "{name} · lines {}-{} of {total} · ↑↓ PgUp PgDn scroll · other keys close",
            scroll + 1,
            (scroll + inner).min(total)
        )
    } else {
        format!("{name} · any key closes")
    };
    let title = crate::text::clip(&title, usize::from(popup.width.saturating_sub(4)));
    let room = usize::from(popup.width.saturating_sub(2));
    let lines: Vec<Line> = lines.into_iter().map(|l| fit(l, room)).collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll as u16, 0))
            .block(pane(app, title, None)),
        popup,
    );
}

/// `line` cut to `width` columns, ending in `…` when something was cut.
fn fit(line: Line<'_>, width: usize) -> Line<'_> {
    use unicode_width::UnicodeWidthChar;
    if line.width() <= width {
        return line;
    }
    let mut left = width.saturating_sub(1);
    let mut spans = Vec::new();
    for span in line.spans {
        let mut text = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if w > left {
                break;
            }
            left -= w;
            text.push(c);
        }
        let cut = text.chars().count() < span.content.chars().count();
        spans.push(Span::styled(text, span.style));
        if cut {
            spans.push(Span::styled("…", span.style));
            break;
        }
    }
    Line::from(spans)
}

/// The inner width of an overlay `width` wide on `area`.
fn overlay_width(area: Rect, width: u16) -> usize {
    usize::from(width.min(area.width).saturating_sub(2))
}

/// Words of `text` in lines of at most `width` columns; a word longer than a line is cut
/// with `…`.
fn wrap(text: &str, width: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let width = width.max(1);
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word = if word.width() > width {
            crate::text::clip(word, width)
        } else {
            word.to_string()
        };
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
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
        // The focus shows in text too: border styles and colours are easy to miss.
        .title(Span::styled(
            if focused {
                format!(" ▶ {title} ")
            } else {
                format!(" {title} ")
            },
            t.title,
        ))
}

/// Says why a table in `area` (inside its border, under its header) has no rows.
fn empty_note(frame: &mut Frame, area: Rect, note: Span) {
    let inner = Rect {
        x: area.x + 2,
        y: area.y + 2,
        width: area.width.saturating_sub(4),
        height: 1.min(area.height.saturating_sub(3)),
    };
    frame.render_widget(Paragraph::new(note), inner);
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
