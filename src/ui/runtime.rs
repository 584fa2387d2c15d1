//! The runtime prompt's answers: each balancer's name and whether it took the command,
//! then HAProxy's answer as it printed it (sanitised again here: nothing remote reaches
//! the terminal raw), scrolled like the help overlay.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::overlay;
use crate::app::App;
use crate::ops::runtime::answers;

/// The command typed so far, its end kept in view: cut from the left with `…` when it
/// is longer than `room` characters.
pub fn typed(input: &str, room: usize) -> String {
    let clean = crate::text::sanitize(input);
    let n = clean.chars().count();
    if n <= room {
        return clean;
    }
    let tail: String = clean.chars().skip(n - room.saturating_sub(1)).collect();
    format!("…{tail}")
}

/// Draws the answers of the last runtime command.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(r) = &app.runtime.answer else { return };
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    for a in answers(r) {
        if !lines.is_empty() {
            lines.push(Line::from(""));
        }
        let (mark, said, style) = match &a.failed {
            None => ("✓", "answered".to_string(), t.healthy),
            Some(why) => ("✗", why.clone(), t.down),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} "), style),
            Span::styled(crate::text::sanitize(&a.balancer), t.header),
            Span::styled(format!("  {said}"), style),
        ]));
        if a.text.is_empty() && a.failed.is_none() {
            lines.push(Line::from(Span::styled("  (empty answer)", t.muted)));
        }
        lines.extend(
            a.text
                .lines()
                .map(|l| Line::from(Span::styled(crate::text::sanitize(l), t.text))),
        );
    }
    let name = format!("Runtime · {} · {}", r.operation, r.summary());
    let width = area.width.saturating_sub(4).max(20);
    overlay(frame, area, app, &name, lines, width);
}
