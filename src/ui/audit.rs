//! The audit log viewer: the newest actions, one line each (time, user, action, target,
//! result and why) — this cluster's by default, every cluster's after `a`, the pair's
//! shared log (every operator's actions, named user@host) after `p`; scrolled back with
//! the arrows, page keys, Home and End.

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
    let pair = app.ui.audit_pair;
    let raw: &[String] = match (&app.shared_audit, pair) {
        (Some((lines, _)), true) => lines,
        (None, true) => &[],
        (_, false) => &app.audit,
    };
    let entries: Vec<serde_json::Value> = raw
        .iter()
        .map(|raw| serde_json::from_str(raw).unwrap_or_default())
        .filter(|v: &serde_json::Value| {
            pair || app.ui.audit_all || v["profile"].as_str() == Some(app.profile.name.as_str())
        })
        .collect();
    // A balancer whose copy could not be read is said first: the list may lack its lines.
    let unread: Vec<Line> = match (&app.shared_audit, pair) {
        (Some((_, unread)), true) => unread
            .iter()
            .map(|u| Line::from(Span::styled(format!("not read: {u}"), t.degraded)))
            .collect(),
        _ => Vec::new(),
    };
    let room = room.saturating_sub(unread.len());
    // Scrolled back, the oldest page is still a full page.
    let oldest = entries.len().saturating_sub(room);
    app.ui.audit_extent.set((oldest, room));
    let scroll = app.ui.audit_scroll.min(oldest);
    let lines: Vec<Line> = if pair && app.shared_audit.is_none() {
        vec![Line::from(Span::styled(
            "reading the pair's shared audit log…",
            t.muted,
        ))]
    } else if entries.is_empty() {
        vec![Line::from(Span::styled("no actions recorded yet", t.muted))]
    } else {
        entries[oldest - scroll..entries.len() - scroll]
            .iter()
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
                if app.ui.audit_all && !pair {
                    spans.push(Span::styled(format!("{:<12} ", get("profile")), t.header));
                }
                // On the pair's log, who is the operator and the host they acted from.
                let who = if pair {
                    let op = &v["operator"];
                    let name = op["user"].as_str().unwrap_or("?");
                    let name = name.trim_end_matches(" (via sudo)");
                    let host = op["host"].as_str().unwrap_or("?");
                    format!(
                        "{:<18} ",
                        crate::text::clip(&crate::text::sentence(&format!("{name}@{host}")), 18)
                    )
                } else {
                    format!("{:<10} ", get("user"))
                };
                spans.extend([
                    Span::styled(who, t.text),
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
    let (whose, path) = if pair {
        (
            "the pair's shared log (p: local)".to_string(),
            format!("{} on each balancer", crate::wire::audit::SHARED_LOG),
        )
    } else if app.ui.audit_all {
        ("every cluster (a: this one)".to_string(), path)
    } else {
        (format!("{} (a: every cluster)", app.profile_name), path)
    };
    // Where the list is, when it does not all fit.
    let place = if scroll > 0 {
        format!(" · scrolled back {scroll} (↓ newer)")
    } else if oldest > 0 {
        format!(" · {oldest} older (↑)")
    } else {
        String::new()
    };
    let lines: Vec<Line> = unread.into_iter().chain(lines).collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(pane(
            app,
            crate::text::clip(
                &format!("Audit log{place} · {whose} · {path}"),
                usize::from(popup.width.saturating_sub(4)),
            ),
            None,
        )),
        popup,
    );
}
