//! The help overlay: every binding from the live keymap (so remapped keys show), and what
//! the states mean.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{centered, pane};
use crate::action::Action;
use crate::app::App;

/// Draws the overlay.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let mut lines = Vec::new();
    for (action, what) in Action::BINDABLE {
        let keys: Vec<String> = app
            .keymap
            .keys_for(action)
            .iter()
            .map(ToString::to_string)
            .collect();
        let keys = if keys.is_empty() {
            "(unbound)".to_string()
        } else {
            keys.join(" ")
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{keys:>16}  "), t.key),
            Span::styled((*what).to_string(), t.text),
            Span::styled(format!("  [{}]", action.name()), t.muted),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("  states: ", t.header),
        Span::styled("UP ", t.healthy),
        Span::styled("DRAIN ", t.draining),
        Span::styled("MAINT ", t.maint),
        Span::styled("DOWN ", t.down),
        Span::styled("stale 12s ", t.stale),
        Span::styled("= not refreshed for 12 s", t.muted),
    ]));
    lines.push(Line::from(Span::styled(
        "  health = our own probe of the backend; lb columns = each balancer's view",
        t.muted,
    )));
    lines.push(Line::from(Span::styled(
        "  — = not reported (nginx stub_status has no per-server numbers)",
        t.muted,
    )));
    lines.push(Line::from(Span::styled(
        "  keys are remapped in ~/.config/lbdeck/keys.toml (names in brackets)",
        t.muted,
    )));
    lines.push(Line::from(Span::styled(
        "  any other key closes this help",
        t.muted,
    )));
    let h = lines.len() as u16 + 2;
    let popup = centered(area, 76, h);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(pane(app, "Help".into(), None)),
        popup,
    );
}
