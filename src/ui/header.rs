//! The header line (profile, environment, VIP, freshness, clock) and the alarm banner.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{age, millis};
use crate::app::App;
use crate::config::profile::Environment;
use crate::model::{Alert, LastPoll, Level};
use crate::text::clip;

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
    if app.others_alarming > 0 {
        let n = app.others_alarming;
        let s = if n == 1 { "" } else { "s" };
        spans.push(Span::styled(
            format!("  ✖ {n} other cluster{s} alarming"),
            t.alarm,
        ));
    }
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
    let clock = app.wall(app.now).format("%H:%M:%S").to_string();
    let used: usize = spans.iter().map(Span::width).sum();
    let room = (area.width as usize).saturating_sub(used + clock.len() + 1);
    let last = app.cluster.last_poll();
    let failing = last.as_ref().is_some_and(|l| l.failed.is_some());
    let fresh = match last {
        Some(LastPoll { at, failed: None }) => {
            let a = age(app.now.saturating_duration_since(at));
            [
                format!("  updated {a} ago"),
                format!("  {a} ago"),
                String::new(),
                String::new(),
            ]
        }
        Some(LastPoll {
            at,
            failed: Some(why),
        }) => {
            let a = age(app.now.saturating_duration_since(at));
            let head = format!("  poll failed {a} ago: ");
            let why = clip(&why, room.saturating_sub(head.chars().count()).max(8));
            [
                format!("{head}{why}"),
                format!("  poll failed {a} ago"),
                "  poll failed".into(),
                String::new(),
            ]
        }
        None => [
            "  waiting for first poll".into(),
            "  waiting".into(),
            String::new(),
            String::new(),
        ],
    };
    let pick = |room: usize| {
        fresh
            .iter()
            .find(|f| f.chars().count() <= room)
            .cloned()
            .unwrap_or_default()
    };
    // Whether the numbers are current matters more than the time of day: on a narrow
    // terminal the clock gives way first.
    let (fresh, clock_fits) = match pick(room) {
        f if f.is_empty() => {
            let without = pick((area.width as usize).saturating_sub(used));
            let keep_clock = without.is_empty();
            (without, keep_clock)
        }
        f => (f, true),
    };
    spans.push(Span::styled(fresh, if failing { t.down } else { t.muted }));
    let used: usize = spans.iter().map(Span::width).sum();
    let pad = (area.width as usize).saturating_sub(used + clock.len());
    if clock_fits && used + clock.len() <= area.width as usize {
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(clock, t.text));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Draws the alarm banner: the worst alert and how many more there are.
pub fn render_alarm(frame: &mut Frame, area: Rect, app: &App, alerts: &[Alert]) {
    let errors: Vec<&Alert> = alerts.iter().filter(|a| a.level == Level::Error).collect();
    let Some(first) = errors.first() else { return };
    let width = area.width as usize;
    let more = match alerts.len() {
        0 | 1 => String::new(),
        n => {
            let long = format!("  ({})", super::alerts::hint(app, n));
            // When the worst alert and the long hint do not fit together, a short hint
            // leaves the alert's sentence its room.
            if 3 + first.text.chars().count() + long.chars().count() <= width {
                long
            } else {
                let key = app.keymap.hint(&crate::action::Action::Alerts);
                format!("  (+{} more: {key})", n - 1)
            }
        }
    };
    // The way to every alert stays in view: the worst one's text is what gets cut.
    let room = width.saturating_sub(3 + more.chars().count());
    let text = format!(" ⚠ {}{more}", crate::text::clip(&first.text, room));
    let line = Line::from(Span::styled(
        format!("{text:<width$}", width = area.width as usize),
        app.theme.alarm,
    ));
    frame.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use crate::action::Action;
    use crate::app::tests::app;
    use crate::sources::SourceUpdate;
    use crate::wire::SourceError;

    fn header(a: &crate::app::App, width: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(width, 1)).expect("terminal");
        term.draw(|f| super::render(f, f.area(), a)).expect("draw");
        let buf = term.backend().buffer();
        (0..width).map(|x| buf[(x, 0)].symbol()).collect()
    }

    #[test]
    fn after_failed_polls_the_header_says_when_and_why() {
        let mut a = app();
        let t0 = Instant::now();
        a.set_clock(t0, chrono::Local::now());
        assert!(header(&a, 120).contains("waiting for first poll"));
        for index in 0..2 {
            a.update(Action::Update(SourceUpdate::Balancer {
                index,
                at: t0,
                result: Err(SourceError::Connect(
                    "Connection refused (os error 111)".into(),
                )),
            }));
        }
        a.update(Action::Tick(t0 + Duration::from_secs(3)));
        let text = header(&a, 120);
        assert!(!text.contains("waiting"), "{text}");
        assert!(
            text.contains("poll failed 3s ago: lb2: cannot connect"),
            "{text}"
        );
        assert!(header(&a, 80).contains("poll failed"), "{}", header(&a, 80));
    }
}
