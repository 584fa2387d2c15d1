//! The header line (profile, environment, VIP, freshness, clock) and the alarm banner.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{age, millis};
use crate::app::App;
use crate::config::profile::Environment;
use crate::model::{Alert, Level};

/// Draws the header.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let mut spans = if area.width >= 100 {
        vec![Span::styled(" lbdeck ", t.title)]
    } else {
        vec![Span::raw(" ")]
    };
    if app.demo {
        spans.push(Span::styled(" DEMO ", t.demo_badge));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(
        app.profile_name.clone(),
        t.text.add_modifier(ratatui::style::Modifier::BOLD),
    ));
    spans.push(Span::raw(" "));
    let env = match app.environment {
        Environment::Production => Span::styled(" PRODUCTION ", t.production_frame),
        Environment::Staging => Span::styled(" staging ", t.staging_frame),
        Environment::Lab => Span::styled(" lab ", t.muted),
    };
    spans.push(env);
    let vip = &app.cluster.vip;
    if let Some(addr) = &vip.address {
        spans.push(Span::styled("  VIP ", t.muted));
        spans.push(Span::styled(addr.clone(), t.text));
        match vip.serving() {
            Some(true) => {
                let stale = vip.fresh.stale(app.now, app.cluster.stale_after());
                let lat = vip.probe.map(|p| p.latency.as_secs_f64() * 1000.0);
                let style = if stale { t.stale } else { t.healthy };
                spans.push(Span::styled(format!(" ● serving {}", millis(lat)), style));
            }
            Some(false) => spans.push(Span::styled(" ✖ not serving", t.down)),
            None if vip.check_url.is_some() => spans.push(Span::styled(" … checking", t.muted)),
            None => {}
        }
    }
    let newest = app
        .cluster
        .balancers
        .iter()
        .filter_map(|b| b.fresh.last_ok)
        .max();
    let clock = app.wall(app.now).format("%H:%M:%S").to_string();
    let used: usize = spans.iter().map(Span::width).sum();
    let room = (area.width as usize).saturating_sub(used + clock.len() + 1);
    let fresh = match newest {
        Some(at) => {
            let a = age(app.now.saturating_duration_since(at));
            [
                format!("  updated {a} ago"),
                format!("  {a} ago"),
                String::new(),
            ]
        }
        None => [
            "  waiting for first poll".into(),
            "  waiting".into(),
            String::new(),
        ],
    };
    let fresh = fresh
        .into_iter()
        .find(|f| f.chars().count() <= room)
        .unwrap_or_default();
    spans.push(Span::styled(fresh, t.muted));
    let used: usize = spans.iter().map(Span::width).sum();
    let pad = (area.width as usize).saturating_sub(used + clock.len());
    if used + clock.len() <= area.width as usize {
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(clock, t.text));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Draws the alarm banner: the worst alert and how many more there are.
pub fn render_alarm(frame: &mut Frame, area: Rect, app: &App, alerts: &[Alert]) {
    let errors: Vec<&Alert> = alerts.iter().filter(|a| a.level == Level::Error).collect();
    let Some(first) = errors.first() else { return };
    let more = if errors.len() > 1 {
        format!("  (+{} more, see status line)", errors.len() - 1)
    } else {
        String::new()
    };
    let text = format!(" ⚠ {}{more}", first.text);
    let line = Line::from(Span::styled(
        format!("{text:<width$}", width = area.width as usize),
        app.theme.alarm,
    ));
    frame.render_widget(Paragraph::new(line), area);
}
