//! The event log pane: state changes, newest at the bottom, scrollable.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{level_style, pane};
use crate::app::{App, Pane};

/// Draws the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let log = &app.cluster.events;
    // The inner height: the pane's borders take two rows.
    let h = usize::from(area.height.saturating_sub(2));
    app.ui.event_rows.set(h);
    // Scrolled back, the oldest page is still a full page.
    let scroll = app.ui.event_scroll.min(log.len().saturating_sub(h));
    let title = if scroll > 0 {
        format!("Events {} (scrolled back {scroll})", log.len())
    } else {
        format!("Events {}", log.len())
    };
    let block = pane(app, title, Some(Pane::Events));
    // What does not fit ends in `…`: the time takes nine columns, the borders two.
    let text_width = usize::from(area.width.saturating_sub(2 + 9)).max(1);
    let end = log.len().saturating_sub(scroll);
    let start = end.saturating_sub(h);
    let lines: Vec<Line> = log
        .iter()
        .skip(start)
        .take(end - start)
        .map(|e| {
            Line::from(vec![
                Span::styled(e.time.format("%H:%M:%S ").to_string(), t.muted),
                Span::styled(
                    crate::text::clip(&e.text, text_width),
                    level_style(app, e.level),
                ),
            ])
        })
        .collect();
    let body = if lines.is_empty() {
        vec![Line::from(Span::styled("no events yet", t.muted))]
    } else {
        lines
    };
    // The lines only where they are: a paragraph styles its whole area first, and the
    // log is mostly shorter than the pane.
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = u16::try_from(body.len())
        .unwrap_or(u16::MAX)
        .min(inner.height);
    frame.render_widget(
        Paragraph::new(body),
        Rect {
            height: rows,
            ..inner
        },
    );
}
