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
    let all = answers(r);
    let took = all.iter().filter(|a| a.failed.is_none()).count();
    for a in all.iter() {
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
        lines.extend(a.text.lines().map(|l| {
            Line::from(Span::styled(
                format!("  {}", crate::text::sanitize(l)),
                t.text,
            ))
        }));
    }
    let name = format!(
        "Runtime · {} · {took} of {} took it",
        r.operation,
        all.len()
    );
    let width = area.width.saturating_sub(4).max(20);
    overlay(frame, area, app, &name, lines, width);
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::action::Action;
    use crate::app::runtime::tests::answered;
    use crate::app::tests::app;

    /// The overlay alone, on a blank `w`×`h` screen.
    fn overlay_text(a: &App, w: u16, h: u16) -> (Terminal<TestBackend>, String) {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        term.draw(|f| render(f, f.area(), a)).expect("draw");
        let buf = term.backend().buffer().clone();
        let text = (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n")
            .collect();
        (term, text)
    }

    #[test]
    fn the_answers_show_per_balancer_sanitised_and_scroll() {
        let mut a = app();
        let info = "Name: HAProxy\nVersion: 2.6.12\nevil\x1b]0;owned\x07\x1b[2J\nUptime_sec: 3600";
        a.update(answered("show info", info, Err("Unknown command")));
        let (term, text) = overlay_text(&a, 80, 16);
        assert!(!text.contains('\x1b'), "an escape reached the screen");
        assert!(text.contains("evil\\x1b]0;owned\\x07\\x1b[2J"), "{text}");
        insta::assert_snapshot!(term.backend());

        let long: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        a.update(answered("show stat", &long, Ok("")));
        let (_, text) = overlay_text(&a, 80, 16);
        assert!(text.contains("lines 1-14 of 44"), "{text}");
        a.update(Action::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::End,
        )));
        let (_, text) = overlay_text(&a, 80, 16);
        assert!(text.contains("(empty answer)"), "{text}");
        assert!(text.contains("lines 31-44 of 44"), "{text}");
    }

    #[test]
    fn a_changes_dialog_names_the_command_and_the_prompt_shows_what_is_typed() {
        let mut a = app();
        a.update(Action::Runtime);
        for c in "set server be_web/web1 weight 50".chars() {
            a.update(Action::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char(c),
            )));
        }
        let mut term = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
        term.draw(|f| crate::ui::draw(f, &a)).expect("draw");
        let text = format!("{}", term.backend());
        assert!(
            text.contains(" RUNTIME  :set server be_web/web1 weight 50▏  Enter send"),
            "{text}"
        );
        a.update(Action::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Enter,
        )));
        term.draw(|f| crate::ui::draw(f, &a)).expect("draw");
        let text = format!("{}", term.backend());
        for needle in [
            "Runtime command on shop (lb1, lb2): set server be_web/web1 weight 50?",
            "✓ lb1: runtime API tcp://10.77.0.11:9999",
            "shop is production: type the cluster's name (shop) to confirm.",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }

    #[test]
    fn a_long_command_keeps_its_end_in_view() {
        assert_eq!(typed("show info", 20), "show info");
        assert_eq!(
            typed("set server be_web/web1 weight 50", 12),
            "…1 weight 50"
        );
        assert_eq!(typed("a\x1bb", 20), "a\\x1bb");
    }
}
