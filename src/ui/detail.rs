//! The detail view of one backend: how every balancer of the pair sees it (raw state,
//! check, weight, state-change times, the balancer's counters), our probe against the
//! balancers' checks, for nginx open source its upstream-file line and the edit a drain
//! or undrain would make, and its recent events. Redrawn with every poll; what a kind
//! does not report is left out, never made up.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{age, backends::state_span, count, level_style, millis, overlay, rate};
use crate::action::Action;
use crate::app::App;
use crate::model::{Backend, Balancer, Health, ServerDetail, ServerState, ServerView};

/// Recent events shown: the event pane and `lbdeck events` have the rest.
const EVENTS: usize = 8;
/// Labels take a fixed column so values line up.
const LABEL: usize = 10;

/// Draws the view over everything but the status line.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let name = app.ui.detail.clone().unwrap_or_default();
    let lines = match app.detail_backend() {
        Some(b) => body(app, b),
        None => vec![Line::from(Span::styled(
            format!(" {name} is no longer known to the console"),
            app.theme.degraded,
        ))],
    };
    let body = Rect {
        height: area.height.saturating_sub(1),
        ..area
    };
    frame.render_widget(Clear, body);
    if area.width < super::MIN_WIDTH || area.height < super::MIN_HEIGHT {
        // No status line on a terminal this small: the keys go on the last row.
        let hint = Rect {
            y: area.y + body.height,
            height: area.height - body.height,
            ..area
        };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                crate::text::clip(
                    "DETAIL ↑↓ scroll · other keys close",
                    usize::from(area.width),
                ),
                app.theme.muted,
            ))),
            hint,
        );
    }
    let popup = Rect {
        height: (lines.len() as u16).saturating_add(2).min(body.height),
        ..body
    };
    overlay(
        frame,
        popup,
        app,
        &format!("Detail {name}"),
        lines,
        area.width,
    );
}

/// Every line of the view for backend `b`.
fn body(app: &App, b: &Backend) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!(" {} ", b.name), t.header),
        Span::styled(b.address.clone(), t.text),
        Span::styled(
            if b.configured {
                "  (profile)"
            } else {
                "  (found on a balancer)"
            },
            t.muted,
        ),
    ])];
    lines.push(probe_line(app, b));
    lines.push(latency_line(app, b));
    for (index, lb) in app.cluster.balancers.iter().enumerate() {
        lines.push(Line::from(""));
        lines.extend(balancer_lines(app, b, index, lb));
    }
    lines.push(Line::from(""));
    lines.extend(event_lines(app, b));
    lines
}

/// A labelled line: the label in a fixed column, then `parts` joined by ` · `; None
/// when no part is known.
fn row(app: &App, label: &str, parts: &[Option<String>]) -> Option<Line<'static>> {
    let known: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
    if known.is_empty() {
        return None;
    }
    Some(Line::from(vec![
        Span::styled(format!("   {label:<LABEL$} "), app.theme.muted),
        Span::styled(known.join(" · "), app.theme.text),
    ]))
}

/// Our own probe of the backend.
fn probe_line(app: &App, b: &Backend) -> Line<'static> {
    let t = &app.theme;
    let label = Span::styled(
        format!(" {:<width$} ", "our probe", width = LABEL + 2),
        t.muted,
    );
    if !b.probed {
        let why = if b.configured {
            "not probed"
        } else {
            "not probed (not in the profile)"
        };
        return Line::from(vec![label, Span::styled(why, t.muted)]);
    }
    let style = match b.health {
        Health::Healthy => t.healthy,
        Health::Unknown => t.muted,
        _ => t.down,
    };
    let said = match (&b.health, b.fresh.failing(), b.probe) {
        (Health::Unknown, _, _) => "not answered yet".to_string(),
        (_, Some(why), _) => why.to_string(),
        (_, None, Some(p)) => format!("HTTP {} in {}", p.status, millis(b.probe_latency_ms())),
        _ => String::new(),
    };
    Line::from(vec![
        label,
        Span::styled(format!("{} ", b.health.label()), style),
        Span::styled(said, t.text),
    ])
}

/// Our probe's latency against each balancer's check of the backend.
fn latency_line(app: &App, b: &Backend) -> Line<'static> {
    let t = &app.theme;
    let mut parts = vec![format!(
        "our probe {}",
        if b.fresh.failing().is_some() {
            "—".to_string()
        } else {
            millis(b.probe_latency_ms())
        }
    )];
    for (lb, view) in app.cluster.balancers.iter().zip(&b.views) {
        let check = view
            .as_ref()
            .and_then(|v| v.detail.as_ref())
            .and_then(|d| d.check_ms);
        if let Some(ms) = check {
            parts.push(format!("{} check {ms}ms", lb.name));
        }
    }
    Line::from(vec![
        Span::styled(
            format!(" {:<width$} ", "latency", width = LABEL + 2),
            t.muted,
        ),
        Span::styled(parts.join(" · "), t.text),
    ])
}

/// How balancer `lb` (number `index`) sees the backend.
fn balancer_lines(app: &App, b: &Backend, index: usize, lb: &Balancer) -> Vec<Line<'static>> {
    let t = &app.theme;
    let stale = lb.fresh.stale(app.now, app.cluster.stale_after());
    let mut head = vec![
        Span::styled(format!(" {}", lb.name), t.header),
        Span::styled(format!(" · {}", lb.kind), t.muted),
    ];
    if let Some(why) = lb.fresh.failing() {
        head.push(Span::styled(format!(" · does not answer: {why}"), t.down));
    } else if stale {
        let since = lb.fresh.age(app.now).map(age).unwrap_or_default();
        head.push(Span::styled(format!(" · stale {since}"), t.stale));
    }
    if let Some(why) = lb.upstream.failing() {
        head.push(Span::styled(format!(" · upstream file: {why}"), t.degraded));
    }
    let mut lines = vec![Line::from(head)];
    let Some(view) = b.views.get(index).and_then(Option::as_ref) else {
        lines.push(Line::from(Span::styled(
            format!("   {} does not report {}", lb.name, b.name),
            t.muted,
        )));
        return lines;
    };
    if app.cluster.still_listed(b, index) == Some(false) {
        lines.push(Line::from(Span::styled(
            format!(
                "   {} no longer lists {}: the values below are its last",
                lb.name, b.name
            ),
            t.degraded,
        )));
    }
    lines.push(state_line(app, view, stale));
    let none = ServerDetail::default();
    let d = view.detail.as_deref().unwrap_or(&none);
    lines.extend(counter_lines(app, view, d));
    lines.extend(file_lines(app, view, d));
    lines
}

/// The state as the balancer says it, and the one an operator set.
fn state_line(app: &App, view: &ServerView, stale: bool) -> Line<'static> {
    let t = &app.theme;
    let mut spans = vec![Span::styled(format!("   {:<LABEL$} ", "state"), t.muted)];
    let shown = view.shown_state();
    match shown {
        // The balancer's own words ("DOWN 1/2", "MAINT (via be/s)") in the state's style.
        Some(s) if view.status.starts_with(s.label()) => {
            let style = state_span(app, shown, stale, true).style;
            spans.push(Span::styled(view.status.clone(), style));
        }
        Some(_) => {
            spans.push(state_span(app, shown, stale, true));
            if !view.status.is_empty() {
                spans.push(Span::styled(format!(" ({})", view.status), t.text));
            }
        }
        None => spans.push(Span::styled("not reported", t.muted)),
    }
    if let Some(admin) = view.admin {
        let set = match admin {
            ServerState::Up => "ready",
            other => other.label(),
        };
        spans.push(Span::styled(format!(" · set {set}"), t.text));
    }
    Line::from(spans)
}

/// The balancer's counters for the server: only those its kind reports.
fn counter_lines(app: &App, v: &ServerView, d: &ServerDetail) -> Vec<Line<'static>> {
    // A counter named before its figure, and a figure followed by what it is.
    let n = |label: &str, value: Option<u64>| value.map(|x| format!("{label} {}", count(Some(x))));
    let of = |value: Option<u64>, what: &str| value.map(|x| format!("{} {what}", count(Some(x))));
    let check = (!v.check.is_empty()).then(|| v.check.clone());
    let rows = [
        row(
            app,
            "check",
            &[
                check,
                d.check_ms.map(|ms| format!("took {ms}ms")),
                n("checks", d.checks),
                n("failed", d.check_fails),
            ],
        ),
        row(
            app,
            "weight",
            &[of(d.weight, "now"), of(d.weight_initial, "initial")],
        ),
        row(
            app,
            "times",
            &[
                d.since_change.map(|s| format!("changed {} ago", age(s))),
                d.downtime.map(|s| format!("down {} in total", age(s))),
            ],
        ),
        row(
            app,
            "sessions",
            &[
                of(v.sessions, "now"),
                of(d.sessions_max, "max"),
                of(d.queue, "queued"),
                of(d.queue_max, "queued at most"),
            ],
        ),
        row(
            app,
            "requests",
            &[
                n("total", d.requests),
                v.req_rate.map(|r| format!("{}/s", rate(Some(r)))),
                n("2xx", v.responses[0]),
                n("4xx", v.responses[1]),
                n("5xx", v.responses[2]),
                v.latency_ms.map(|ms| format!("response avg {ms}ms")),
            ],
        ),
        row(
            app,
            "errors",
            &[
                n("connect", d.conn_errors),
                n("response", d.resp_errors),
                n("retries", d.retries),
                n("redispatched", d.redispatches),
                n("failed", d.fails),
            ],
        ),
        row(
            app,
            "denied",
            &[n("requests", d.denied_req), n("responses", d.denied_resp)],
        ),
        row(
            app,
            "bytes",
            &[
                d.bytes_in.map(|b| format!("in {}", bytes(b))),
                d.bytes_out.map(|b| format!("out {}", bytes(b))),
            ],
        ),
    ];
    rows.into_iter().flatten().collect()
}

/// nginx open source: the server's line in the upstream file and the edit the next drain
/// or undrain makes, as a diff.
fn file_lines(app: &App, v: &ServerView, d: &ServerDetail) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut lines: Vec<Line> = row(app, "file", std::slice::from_ref(&d.source))
        .into_iter()
        .collect();
    if let Some((before, after)) = &d.next_edit {
        let (what, action) = if v.admin == Some(ServerState::Maint) {
            ("an undrain", Action::Undrain)
        } else {
            ("a drain", Action::Drain)
        };
        let key = app.keymap.hint(&action);
        lines.push(Line::from(Span::styled(
            format!("   {what} ({key}) changes this line:"),
            t.muted,
        )));
        lines.push(diff_line("-", before, t.down));
        lines.push(diff_line("+", after, t.healthy));
    }
    lines
}

/// One side of a diff: the sign says which, whatever the colours.
fn diff_line(sign: &str, text: &str, style: Style) -> Line<'static> {
    Line::from(vec![
        Span::raw("   "),
        Span::styled(format!("{sign}{text}"), style),
    ])
}

/// The newest events about the backend, oldest first.
fn event_lines(app: &App, b: &Backend) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mine: Vec<_> = app
        .cluster
        .events
        .iter()
        .filter(|e| e.subject == b.name)
        .collect();
    let mut lines = vec![Line::from(Span::styled(
        format!(" recent events ({} in all)", mine.len()),
        t.header,
    ))];
    if mine.is_empty() {
        lines.push(Line::from(Span::styled("   none yet", t.muted)));
    }
    for e in mine.iter().skip(mine.len().saturating_sub(EVENTS)) {
        lines.push(Line::from(vec![
            Span::styled(e.time.format("   %H:%M:%S ").to_string(), t.muted),
            Span::styled(format!("{:<5} ", e.level.word()), level_style(app, e.level)),
            Span::styled(e.text.clone(), t.text),
        ]));
    }
    lines
}

/// Bytes in binary units: 830 B, 1.2 KiB, 3.4 MiB.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(bytes(830), "830 B");
        assert_eq!(bytes(1270), "1.2 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 + 1), "5.0 MiB");
    }
}
