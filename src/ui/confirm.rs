//! The confirmation dialog: y/n for routine actions, the backend's name typed for risky
//! ones (the last healthy backends, production profiles).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::centered;
use crate::app::App;

/// Draws the dialog when one is open.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(c) = &app.confirm else { return };
    let t = &app.theme;
    let verb = match c.move_vip {
        Some(true) => "Fail back to",
        Some(false) => "Fail over from",
        None if c.drain => "Drain",
        None => "Undrain",
    };
    let balancers: Vec<&str> = app
        .cluster
        .balancers
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{verb} "), t.text),
            Span::styled(c.target.clone(), t.header),
            Span::styled(
                if c.move_vip.is_some() {
                    "? The VIP moves; lbdeck follows it.".to_string()
                } else {
                    format!(" on every balancer ({})?", balancers.join(", "))
                },
                t.text,
            ),
        ]),
        Line::from(Span::styled(
            match (c.move_vip, c.drain) {
                (Some(_), _) => "Pre-checks first (peer BACKUP and answering, backends healthy); the profile's method triggers it.",
                (None, true) => "No new sessions go to it; open ones finish. The state is read back from each balancer.",
                (None, false) => "It goes back into rotation. The state is read back from each balancer.",
            },
            t.muted,
        )),
        Line::from(""),
    ];
    for (ok, what) in &c.checks {
        lines.push(Line::from(vec![
            Span::styled(
                if *ok { "  ✓ " } else { "  ✗ " },
                if *ok { t.healthy } else { t.down },
            ),
            Span::styled(what.clone(), t.text),
        ]));
    }
    if !c.checks.is_empty() {
        lines.push(Line::from(""));
    }
    match &c.typed_because {
        Some(why) => {
            let whose = if c.move_vip.is_some() {
                "node's"
            } else {
                "backend's"
            };
            lines.push(Line::from(Span::styled(
                format!("{why}: type the {whose} name to confirm."),
                t.degraded,
            )));
            lines.push(Line::from(vec![
                Span::styled("> ", t.key),
                Span::styled(c.typed.clone(), t.text),
                Span::styled("▏", t.key),
            ]));
            lines.push(Line::from(Span::styled(
                "Enter confirms · Esc cancels",
                t.muted,
            )));
        }
        None => lines.push(Line::from(vec![
            Span::styled("y", t.key),
            Span::styled(" confirm · ", t.muted),
            Span::styled("n/Esc", t.key),
            Span::styled(" cancel", t.muted),
        ])),
    }
    let popup = centered(area, 72, lines.len() as u16 + 4);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(t.alarm)
        .title(Span::styled(format!(" {verb} {} ", c.target), t.alarm));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
        popup,
    );
}
