//! The live traffic pane: req/s (or, toggled with `m`, connections) as sparklines per
//! balancer and for the selected backend, newest on the right.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, RenderDirection, Sparkline};
use ratatui::Frame;

use super::{count, pane, rate};
use crate::app::App;
use crate::model::History;

/// One plotted series.
struct Series<'a> {
    name: String,
    history: &'a History,
    now: String,
    backend: bool,
    /// Read at least once: a peak of a balancer never reached says nothing.
    read: bool,
}

/// Draws the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let conns = app.ui.traffic_connections;
    let (title, unit) = if conns {
        ("Traffic connections", "")
    } else {
        ("Traffic req/s", "/s")
    };
    let block = pane(app, title.into(), None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut series: Vec<Series> = app
        .cluster
        .balancers
        .iter()
        .map(|b| Series {
            name: b.name.clone(),
            history: if conns {
                &b.conn_history
            } else {
                &b.req_history
            },
            now: if conns {
                count(b.metrics.active)
            } else {
                rate(b.metrics.req_rate)
            },
            backend: false,
            read: !b.fresh.never(),
        })
        .collect();
    if let Some(i) = app.selected_backend() {
        let b = &app.cluster.backends[i];
        let history = if conns {
            &b.session_history
        } else {
            &b.req_history
        };
        if !history.is_empty() {
            series.push(Series {
                name: b.name.clone(),
                history,
                now: if conns {
                    count(b.sessions())
                } else {
                    rate(b.req_rate())
                },
                backend: true,
                read: true,
            });
        }
    }
    if series.is_empty() || inner.height == 0 {
        return;
    }
    // Balancers share one scale so an idle backup never looks as busy as the master.
    let label_w = 16.min(inner.width / 2);
    let width = inner.width.saturating_sub(label_w) as usize;
    let balancer_max = series
        .iter()
        .filter(|s| !s.backend)
        .map(|s| s.history.max_last(width))
        .max()
        .unwrap_or(0)
        .max(1);
    let per = (inner.height / series.len() as u16).max(1);
    let rows = Layout::vertical(series.iter().map(|_| Constraint::Length(per))).split(inner);
    for (s, row) in series.iter().zip(rows.iter()) {
        if row.height == 0 {
            continue;
        }
        let [label, spark] =
            Layout::horizontal([Constraint::Length(label_w), Constraint::Min(1)]).areas(*row);
        // Newest sample at the right edge, as in htop: draw right-to-left, newest first.
        let mut data = s.history.last(width);
        data.reverse();
        let peak = s.history.max_last(width);
        let max = if s.backend { peak.max(1) } else { balancer_max };
        let lines = vec![
            Line::from(vec![
                Span::styled(
                    format!(
                        "{} ",
                        crate::text::clip(
                            &s.name,
                            usize::from(label_w).saturating_sub(s.now.chars().count() + 1)
                        )
                    ),
                    t.text,
                ),
                Span::styled(
                    s.now.clone(),
                    t.text.add_modifier(ratatui::style::Modifier::BOLD),
                ),
            ]),
            Line::from(Span::styled(
                if s.read {
                    format!("peak {peak}{unit}")
                } else {
                    "not read yet".into()
                },
                t.muted,
            )),
        ];
        frame.render_widget(Paragraph::new(lines), label);
        let style = if s.backend {
            t.sparkline_alt
        } else {
            t.sparkline
        };
        frame.render_widget(
            Sparkline::default()
                .data(&data)
                .max(max)
                .style(style)
                .direction(RenderDirection::RightToLeft),
            spark,
        );
    }
}
