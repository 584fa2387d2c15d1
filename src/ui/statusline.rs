//! The status line: the mode, the keys that apply now, and the latest message.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::alerts::severity;
use crate::action::Action;
use crate::app::{App, Mode};
use crate::model::{Alert, Level};

/// The room kept for the message on the right before hints give way to it.
const MESSAGE_ROOM: usize = 40;

/// Draws the status line.
pub fn render(frame: &mut Frame, area: Rect, app: &App, alerts: &[Alert]) {
    let t = &app.theme;
    let k = |a: &Action| app.keymap.hint(a);
    let mut spans: Vec<Span> = Vec::new();
    let hint = |spans: &mut Vec<Span>, key: String, what: &str| {
        spans.push(Span::styled(key, t.key));
        spans.push(Span::styled(format!(" {what}  "), t.muted));
    };
    let draining = app.drain_progress();
    let showing_drain = app.flash.is_none() && draining.is_some();
    let right = match (&app.flash, alerts.len()) {
        (Some((_, msg)), _) => Span::styled(msg.clone(), t.text),
        (None, _) if draining.is_some() => Span::styled(draining.unwrap_or_default(), t.draining),
        (None, 0) => Span::styled("all clear", t.healthy),
        (None, n) => {
            let worst = &alerts[0];
            let style = if worst.level == Level::Error {
                t.down
            } else {
                t.degraded
            };
            let text = if n == 1 {
                format!("{}: {}", severity(worst.level), worst.text)
            } else {
                format!("{n} alerts, {}: {}", severity(worst.level), worst.text)
            };
            Span::styled(text, style)
        }
    };
    match app.ui.mode {
        Mode::Filter => {
            spans.push(Span::styled(" FILTER ", t.highlight));
            spans.push(Span::styled(format!(" /{}", app.ui.filter), t.text));
            spans.push(Span::styled("▏  ", t.key));
            hint(&mut spans, "Enter".into(), "keep");
            hint(&mut spans, "Esc".into(), "clear");
        }
        Mode::Audit => {
            spans.push(Span::styled(" AUDIT  ", t.highlight));
            // `a` switches between this cluster's actions and every cluster's, `p` to the
            // pair's shared log and back.
            let other = if app.ui.audit_all {
                "this cluster"
            } else {
                "every cluster"
            };
            let pair = if app.ui.audit_pair {
                "local log"
            } else {
                "the pair's log"
            };
            spans.push(Span::styled("a", t.key));
            spans.push(Span::styled(format!(" {other} · "), t.muted));
            spans.push(Span::styled("p", t.key));
            spans.push(Span::styled(
                format!(" {pair} · any key but a, p closes  "),
                t.muted,
            ));
        }
        Mode::Runtime => {
            spans.push(Span::styled(" RUNTIME ", t.highlight));
            let room = usize::from(area.width).saturating_sub(44).max(8);
            spans.push(Span::styled(
                format!(" :{}", super::runtime::typed(&app.runtime.input, room)),
                t.text,
            ));
            spans.push(Span::styled("▏  ", t.key));
            hint(&mut spans, "Enter".into(), "send");
            hint(&mut spans, "↑".into(), "previous");
            hint(&mut spans, "Esc".into(), "cancel");
        }
        Mode::RuntimeAnswer => {
            spans.push(Span::styled(" RUNTIME ", t.highlight));
            spans.push(Span::styled(
                format!(
                    "  ↑↓ scroll · {} another command · any other key closes",
                    k(&Action::Runtime)
                ),
                t.muted,
            ));
        }
        Mode::Confirm => {
            spans.push(Span::styled(" CONFIRM ", t.alarm));
            spans.push(Span::styled("  see the dialog · Esc cancels  ", t.muted));
        }
        Mode::Help | Mode::Alerts | Mode::Detail => {
            let name = match app.ui.mode {
                Mode::Help => " HELP ",
                Mode::Detail => " DETAIL ",
                _ => " ALERTS ",
            };
            spans.push(Span::styled(name, t.highlight));
            spans.push(Span::styled("  ↑↓ scroll · any other key closes", t.muted));
        }
        Mode::Normal => {
            if app.read_only {
                spans.push(Span::styled(" READ-ONLY ", t.highlight));
                spans.push(Span::raw(" "));
            }
            // What to drop first when the line is short: the message on the right
            // (an alert) matters more than the filter, sort and theme hints.
            let mut hints: Vec<(u8, Action, &str)> = vec![(0, Action::Help, "help")];
            if !alerts.is_empty() {
                hints.push((1, Action::Alerts, "alerts"));
            }
            hints.extend([
                (4, Action::Filter, "filter"),
                (5, Action::SortNext, "sort"),
                (6, Action::CycleTheme, "theme"),
                (3, Action::NextPane, "pane"),
                (2, Action::Quit, "quit"),
            ]);
            if app.in_fleet {
                // Opened from the overview: the way back is as needed as the way out.
                hints.push((2, Action::Back, "fleet"));
            }
            let width = |hints: &[(u8, Action, &str)]| -> usize {
                hints
                    .iter()
                    .map(|(_, a, what)| k(a).chars().count() + what.chars().count() + 3)
                    .sum()
            };
            let used: usize = spans.iter().map(Span::width).sum();
            // A drain's progress ends in the key that undoes it: it keeps all its room.
            let room = if showing_drain {
                usize::MAX
            } else {
                MESSAGE_ROOM
            };
            let message = right.content.chars().count().min(room) + 1;
            while hints.len() > 1 && used + width(&hints) + message > usize::from(area.width) {
                let last = hints.iter().map(|h| h.0).max().unwrap_or(0);
                hints.retain(|h| h.0 != last);
            }
            for (_, action, what) in &hints {
                hint(&mut spans, k(action), what);
            }
        }
    }
    // One space always parts the keys from the message, however long it is.
    if spans.last().is_some_and(|s| !s.content.ends_with(' ')) {
        spans.push(Span::raw(" "));
    }
    let used: usize = spans.iter().map(Span::width).sum();
    let room = (area.width as usize).saturating_sub(used + 1);
    // A message cut to a few characters says nothing: none then.
    let right_text = if room < 8 {
        String::new()
    } else {
        crate::text::clip(&right.content, room)
    };
    let pad = room.saturating_sub(unicode_width::UnicodeWidthStr::width(right_text.as_str()));
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(right_text, right.style));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
