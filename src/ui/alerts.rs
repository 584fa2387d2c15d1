//! The alerts list: every current alert, worst first, with how long it has been showing
//! and what to check; and the hint, for the banner and the status line, that opens it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{age, level_style, overlay, overlay_width, wrap};
use crate::action::Action;
use crate::app::App;
use crate::model::{Alert, Level};

/// The overlay's width when the terminal has room.
const WIDTH: u16 = 96;
/// Level and age take a fixed column; the text wraps under itself.
const INDENT: usize = 13;

/// "press ! for all 8 alerts": how to open the list, with the key as bound.
pub fn hint(app: &App, alerts: usize) -> String {
    let key = app.keymap.hint(&Action::Alerts);
    match alerts {
        0 | 1 => format!("press {key} for the alerts list"),
        n => format!("press {key} for all {n} alerts"),
    }
}

/// The word for a level, so severity reads without colour.
pub fn severity(level: Level) -> &'static str {
    level.word()
}

/// Draws the overlay.
pub fn render(frame: &mut Frame, area: Rect, app: &App, alerts: &[Alert]) {
    let t = &app.theme;
    let width = overlay_width(area, WIDTH).max(20);
    let mut lines = Vec::new();
    if alerts.is_empty() {
        lines.push(Line::from(Span::styled(
            " all clear: no alert now",
            t.healthy,
        )));
    }
    for a in alerts {
        let head = format!(
            " {:<5} {:>4}  ",
            severity(a.level),
            age(app.alert_age(&a.text))
        );
        // The alert's own words say what is wrong and what to check.
        for (i, part) in wrap(&a.text, width.saturating_sub(INDENT))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 {
                Span::styled(head.clone(), level_style(app, a.level))
            } else {
                Span::raw(" ".repeat(INDENT))
            };
            lines.push(Line::from(vec![lead, Span::styled(part, t.text)]));
        }
    }
    let name = format!("Alerts {}", alerts.len());
    overlay(frame, area, app, &name, lines, WIDTH);
}
