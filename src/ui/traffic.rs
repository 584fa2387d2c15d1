//! The live traffic pane: req/s sparklines per balancer and for the selected backend,
//! newest on the right.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, RenderDirection, Sparkline};
use ratatui::Frame;

use super::{pane, rate};
use crate::app::App;
use crate::model::History;

/// Draws the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let block = pane(app, "Traffic req/s".into(), None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut series: Vec<(String, &History, Option<f64>, bool)> = app
        .cluster
        .balancers
        .iter()
        .map(|b| (b.name.clone(), &b.req_history, b.metrics.req_rate, false))
        .collect();
    if let Some(i) = app.selected_backend() {
        let b = &app.cluster.backends[i];
        if !b.req_history.is_empty() {
            series.push((b.name.clone(), &b.req_history, b.req_rate(), true));
        }
    }
    if series.is_empty() || inner.height == 0 {
        return;
    }
    // Balancers share one scale so an idle backup never looks as busy as the master.
    let width = inner.width.saturating_sub(16.min(inner.width / 2)) as usize;
    let balancer_max = app
        .cluster
        .balancers
        .iter()
        .map(|b| b.req_history.max_last(width))
        .max()
        .unwrap_or(0)
        .max(1);
    let per = (inner.height / series.len() as u16).max(1);
    let rows = Layout::vertical(series.iter().map(|_| Constraint::Length(per))).split(inner);
    for ((name, history, now, alt), row) in series.iter().zip(rows.iter()) {
        if row.height == 0 {
            continue;
        }
        let label_w = 16.min(row.width / 2);
        let [label, spark] =
            Layout::horizontal([Constraint::Length(label_w), Constraint::Min(1)]).areas(*row);
        let width = spark.width as usize;
        // Newest sample at the right edge, as in htop: draw right-to-left, newest first.
        let mut data = history.last(width);
        data.reverse();
        let max = if *alt {
            history.max_last(width).max(1)
        } else {
            balancer_max
        };
        let mut lines = vec![Line::from(vec![
            Span::styled(format!("{name} "), t.text),
            Span::styled(
                rate(*now),
                t.text.add_modifier(ratatui::style::Modifier::BOLD),
            ),
        ])];
        lines.push(Line::from(Span::styled(
            format!("peak {}/s", history.max_last(width)),
            t.muted,
        )));
        frame.render_widget(Paragraph::new(lines), label);
        let style = if *alt { t.sparkline_alt } else { t.sparkline };
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
