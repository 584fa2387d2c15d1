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
    let title = if app.ui.event_scroll > 0 {
        format!(
            "Events {} (scrolled back {})",
            log.len(),
            app.ui.event_scroll
        )
    } else {
        format!("Events {}", log.len())
    };
    let block = pane(app, title, Some(Pane::Events));
    let inner = block.inner(area);
    let h = inner.height as usize;
    let end = log.len().saturating_sub(app.ui.event_scroll);
    let start = end.saturating_sub(h);
    let lines: Vec<Line> = log
        .iter()
        .skip(start)
        .take(end - start)
        .map(|e| {
            Line::from(vec![
                Span::styled(e.time.format("%H:%M:%S ").to_string(), t.muted),
                Span::styled(e.text.clone(), level_style(app, e.level)),
            ])
        })
        .collect();
    let body = if lines.is_empty() {
        vec![Line::from(Span::styled("no events yet", t.muted))]
    } else {
        lines
    };
    frame.render_widget(Paragraph::new(body).block(block), area);
}
