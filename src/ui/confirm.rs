//! The confirmation dialog of an operation's plan: what it does, the pre-checks, and
//! y/n for routine actions or the name typed for risky ones (the last healthy backends,
//! production). A failed pre-check leaves only Esc, or typing `force` where the profile
//! allows it and only unreadable balancers failed. The confirm/cancel lines stay
//! visible at any size: the pre-checks are what gets cut, failed ones last, and the
//! dialog says how many are hidden.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::centered;
use crate::app::App;
use crate::ops::{CheckState, Confirmation, Operation};

/// The dialog's width when the terminal has room.
const WIDTH: u16 = 76;

/// Draws the dialog when one is open.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(c) = &app.confirm else { return };
    let t = &app.theme;
    let plan = &c.plan;
    let op = &plan.operation;
    let question = match op {
        Operation::Vip { .. } => "? The VIP moves; lbdeck follows it.".to_string(),
        Operation::Shell { .. } => "?".to_string(),
        Operation::Roll { .. } => format!(
            " on every balancer ({}), one at a time?",
            plan.balancers.join(", ")
        ),
        Operation::Server { .. } => {
            format!(" on every balancer ({})?", plan.balancers.join(", "))
        }
        Operation::Runtime { command, .. } => format!(
            " ({}): {}?",
            plan.balancers.join(", "),
            crate::text::sanitize(command)
        ),
    };
    let asked = Line::from(vec![
        Span::styled(format!("{} ", op.title()), t.text),
        Span::styled(plan.target.clone(), t.header),
        Span::styled(question, t.text),
    ]);
    let checks: Vec<(bool, Line)> = plan
        .checks
        .iter()
        .map(|check| {
            let style = match check.state {
                CheckState::Passed => t.healthy,
                CheckState::Failed => t.down,
                CheckState::OnNode => t.degraded,
                CheckState::Info => t.muted,
            };
            let line = Line::from(vec![
                Span::styled(format!("  {} ", check.mark()), style),
                Span::styled(check.what.clone(), t.text),
            ]);
            (check.state == CheckState::Failed, line)
        })
        .collect();
    let typed_line = || {
        Line::from(vec![
            Span::styled("> ", t.key),
            Span::styled(c.typed.clone(), t.text),
            Span::styled("▏", t.key),
        ])
    };
    let footer = if c.forceable() {
        vec![
            Line::from(Span::styled(
                format!(
                    "A pre-check failed (✗). This profile allows acting anyway: type {} \
                     to act on what could be read (audited as forced).",
                    crate::app::Confirm::FORCE
                ),
                t.down,
            )),
            typed_line(),
            Line::from(Span::styled("Enter forces · Esc cancels", t.muted)),
        ]
    } else if c.blocked() {
        vec![
            Line::from(Span::styled(
                "A pre-check failed (✗): this cannot be confirmed.",
                t.down,
            )),
            Line::from(vec![
                Span::styled("Esc", t.key),
                Span::styled(" closes", t.muted),
            ]),
        ]
    } else {
        match &plan.confirmation {
            Confirmation::Typed { name, because } => {
                let whose = match op {
                    Operation::Vip { .. } | Operation::Shell { .. } => "node's",
                    Operation::Roll { .. } => "cluster's",
                    Operation::Server { .. } if plan.batch.is_some() => "cluster's",
                    Operation::Server { .. } => "backend's",
                    Operation::Runtime {
                        balancer: Some(_), ..
                    } => "balancer's",
                    Operation::Runtime { balancer: None, .. } => "cluster's",
                };
                vec![
                    Line::from(Span::styled(
                        format!("{because}: type the {whose} name ({name}) to confirm."),
                        t.degraded,
                    )),
                    typed_line(),
                    Line::from(Span::styled("Enter confirms · Esc cancels", t.muted)),
                ]
            }
            Confirmation::YesNo => vec![Line::from(vec![
                Span::styled("y", t.key),
                Span::styled(" confirm · ", t.muted),
                Span::styled("n/Esc", t.key),
                Span::styled(" cancel", t.muted),
            ])],
        }
    };
    let inner_width = usize::from(WIDTH.min(area.width).saturating_sub(2)).max(1);
    let rows = |lines: &[Line]| -> usize {
        lines
            .iter()
            .map(|l| l.width().div_ceil(inner_width).max(1))
            .sum()
    };
    let mut body = vec![
        asked.clone(),
        Line::from(Span::styled(op.explain(), t.muted)),
        Line::from(""),
    ];
    body.extend(checks.iter().map(|(_, l)| l.clone()));
    let (body_rows, footer_rows) = (rows(&body), rows(&footer) as u16);
    let popup = centered(area, WIDTH, body_rows as u16 + 1 + footer_rows + 2);
    // Too short for every pre-check: the failed ones first, and a line that says how
    // many are hidden, so nothing is confirmed unseen without a word.
    let room = usize::from(popup.height.saturating_sub(2 + footer_rows));
    if body_rows > room {
        body = vec![asked];
        let mut order: Vec<&(bool, Line)> = checks.iter().filter(|c| c.0).collect();
        order.extend(checks.iter().filter(|c| !c.0));
        let mut hidden = order.len();
        for (_, line) in order {
            if rows(&body) + rows(std::slice::from_ref(line)) + 1 > room {
                break;
            }
            body.push(line.clone());
            hidden -= 1;
        }
        // Every pre-check may fit while the sentence saying what the action does did not.
        let notice = match hidden {
            0 => "… what it does is hidden: enlarge terminal".to_string(),
            1 => "… 1 more pre-check: enlarge terminal".to_string(),
            n => format!("… {n} more pre-checks: enlarge terminal"),
        };
        body.push(Line::from(Span::styled(
            crate::text::clip(&notice, inner_width),
            t.degraded,
        )));
    }
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(t.alarm)
        .title(Span::styled(
            format!(" {} {} · {} ", op.title(), plan.target, plan.cluster),
            t.alarm,
        ));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [top, bottom] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(footer_rows.min(inner.height)),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(body).wrap(Wrap { trim: true }), top);
    frame.render_widget(Paragraph::new(footer).wrap(Wrap { trim: true }), bottom);
}
