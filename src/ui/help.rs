//! The help overlay: every binding from the live keymap (so remapped keys show), what
//! the states mean and the keymap file the console reads; it scrolls when cut.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::overlay;
use crate::action::Action;
use crate::app::App;

/// Draws the overlay.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let names = area.width >= 100;
    let width = if names { 86 } else { 76 };
    let mut lines = Vec::new();
    let actions = [
        Action::Drain,
        Action::Undrain,
        Action::Failover,
        Action::Failback,
    ];
    // Read-only hides the actions it refuses: a shell too, unless the profile allows it.
    let refused = |a: &Action| {
        app.read_only
            && (actions.contains(a) || (*a == Action::Shell && !app.profile.shell_in_read_only))
    };
    for (action, what) in Action::BINDABLE.iter().filter(|(a, _)| !refused(a)) {
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
        let mut spans = vec![
            Span::styled(format!("{keys:>14}  "), t.key),
            Span::styled((*what).to_string(), t.text),
        ];
        if names {
            spans.push(Span::styled(format!("  [{}]", action.name()), t.muted));
        }
        lines.push(Line::from(spans));
    }
    // Where keys are remapped: the file read, or the one to create.
    let (path, said) = match app.keymap.file() {
        Some(file) => (
            file.to_string(),
            if names {
                "  keys are remapped, by the names in brackets, in:"
            } else {
                "  keys are remapped in:"
            },
        ),
        None => (
            app.keymap_path
                .as_ref()
                .map_or("keys.toml in lbdeck's config directory".into(), |p| {
                    p.display().to_string()
                }),
            if names {
                "  default keys; to remap them by the names in brackets, create:"
            } else {
                "  default keys; to remap them, create:"
            },
        ),
    };
    lines.extend([
        Line::from(""),
        Line::from(vec![
            Span::styled("  states: ", t.header),
            Span::styled("UP ", t.healthy),
            Span::styled("DRAIN ", t.draining),
            Span::styled("MAINT ", t.maint),
            Span::styled("DOWN ", t.down),
            Span::styled("MASTER ", t.master),
            Span::styled("BACKUP ", t.backup),
            Span::styled("stale 12s", t.stale),
        ]),
        Line::from(Span::styled(
            "  health = our own probe; lb columns = each balancer's view",
            t.muted,
        )),
        Line::from(Span::styled(
            "  · = traffic only (nginx access log); — = not reported",
            t.muted,
        )),
        Line::from(Span::styled("  ▶ marks the focused pane", t.muted)),
        Line::from(Span::styled(said, t.muted)),
        Line::from(Span::styled(format!("  {path}"), t.text)),
    ]);
    overlay(frame, area, app, "Help", lines, width);
}
