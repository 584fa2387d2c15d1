//! The audit log viewer: the newest actions, one line each (time, user, action, target,
//! result and why).

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
    let lines: Vec<Line> = if app.audit.is_empty() {
        vec![Line::from(Span::styled("no actions recorded yet", t.muted))]
    } else {
        app.audit
            .iter()
            .rev()
            .take(room)
            .rev()
            .map(|raw| {
                let v: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
                let get = |k: &str| crate::text::clip(v[k].as_str().unwrap_or(""), 60);
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
                Line::from(vec![
                    Span::styled(format!("{time}  "), t.muted),
                    Span::styled(format!("{:<10} ", get("user")), t.text),
                    Span::styled(
                        format!("{:<9} {:<8} ", get("action"), get("target")),
                        t.text,
                    ),
                    Span::styled(format!("{result:<11} "), style),
                    Span::styled(get("reason"), t.muted),
                ])
            })
            .collect()
    };
    let path = crate::ops::audit::path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(pane(app, format!("Audit log · {path}"), None)),
        popup,
    );
}
