//! The audit log viewer: the newest actions, one line each (time, user, action, target,
//! result and why) — this cluster's by default, every cluster's after `a`.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{centered, pane};
use crate::app::App;

/// Draws the viewer.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let popup = centered(
        area,
        area.width.saturating_sub(4).max(20),
        area.height.saturating_sub(4).max(5),
    );
    let room = popup.height.saturating_sub(2) as usize;
    let entries: Vec<serde_json::Value> = app
        .audit
        .iter()
        .map(|raw| serde_json::from_str(raw).unwrap_or_default())
        .filter(|v: &serde_json::Value| {
            app.ui.audit_all || v["profile"].as_str() == Some(app.profile.name.as_str())
        })
        .collect();
    let lines: Vec<Line> = if entries.is_empty() {
        vec![Line::from(Span::styled("no actions recorded yet", t.muted))]
    } else {
        entries
            .iter()
            .rev()
            .take(room)
            .rev()
            .map(|v| {
                let get = |k: &str| {
                    crate::text::clip(&crate::text::sentence(v[k].as_str().unwrap_or("")), 60)
                };
                let result = get("result");
                let style = match result.as_str() {
                    "done" => t.healthy,
                    "refused" => t.degraded,
                    _ => t.down,
                };
                let time = get("time")
                    .chars()
                    .take(19)
                    .collect::<String>()
                    .replace('T', " ");
                let mut spans = vec![Span::styled(format!("{time}  "), t.muted)];
                if app.ui.audit_all {
                    spans.push(Span::styled(format!("{:<12} ", get("profile")), t.header));
                }
                spans.extend([
                    Span::styled(format!("{:<10} ", get("user")), t.text),
                    Span::styled(
                        format!("{:<9} {:<8} ", get("action"), get("target")),
                        t.text,
                    ),
                    Span::styled(format!("{result:<11} "), style),
                ]);
                // The reason takes what is left of the line, and ends in `…` when cut.
                let used: usize = spans.iter().map(Span::width).sum();
                let left = usize::from(popup.width.saturating_sub(2)).saturating_sub(used);
                if left > 0 {
                    spans.push(Span::styled(
                        crate::text::clip(
                            &crate::text::sentence(v["reason"].as_str().unwrap_or("")),
                            left,
                        ),
                        t.muted,
                    ));
                }
                Line::from(spans)
            })
            .collect()
    };
    let path = crate::ops::audit::path(&app.profile)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let whose = if app.ui.audit_all {
        "every cluster (a: this one)".to_string()
    } else {
        format!("{} (a: every cluster)", app.profile_name)
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(pane(
            app,
            crate::text::clip(
                &format!("Audit log · {whose} · {path}"),
                usize::from(popup.width.saturating_sub(4)),
            ),
            None,
        )),
        popup,
    );
}
