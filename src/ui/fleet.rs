//! The fleet overview (one row per cluster) and the cluster picker, and the screen of a
//! fleet: the overview, or the cluster in front, with the picker over either.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, BorderType, Borders, Cell, Clear, Paragraph, Row, Table, TableState,
};
use ratatui::Frame;

use super::{age, rate};
use crate::config::profile::Environment;
use crate::config::theme::Theme;
use crate::fleet::{Fleet, FleetMode, Pair, Row as FleetRow};
use crate::model::{Level, Role};
use crate::text::clip;

/// The overview's columns, header and width; [`row`] gives the cells in this order.
const COLUMNS: [(&str, Constraint); 9] = [
    ("CLUSTER", Constraint::Length(16)),
    ("ENV", Constraint::Length(5)),
    ("VIP", Constraint::Length(6)),
    ("ROLES", Constraint::Length(10)),
    ("IN ROT", Constraint::Length(6)),
    ("HEALTHY", Constraint::Length(7)),
    ("REQ/S", Constraint::Length(6)),
    ("AGE", Constraint::Length(4)),
    // The alarm takes what is left: on 80 columns it still shows its start.
    ("ALARM", Constraint::Fill(1)),
];

/// The picker's width when the terminal has room.
const PICKER_WIDTH: u16 = 50;
/// The most matches the picker lists.
const PICKER_ROWS: usize = 12;

/// Draws the whole screen of a fleet.
pub fn draw(frame: &mut Frame, fleet: &Fleet) {
    let area = frame.area();
    match fleet.front_app() {
        Some(app) => super::draw(frame, app),
        None => overview(frame, area, fleet),
    }
    if fleet.ui.picker.is_some() {
        picker(frame, area, fleet);
    }
}

/// The overview: a header line, one row per cluster, and the status line.
pub fn overview(frame: &mut Frame, area: Rect, fleet: &Fleet) {
    let t = &fleet.theme;
    let [head, table, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let rows = fleet.rows();
    header(frame, head, fleet);
    let keep = kept(table.width.saturating_sub(2));
    let pick = |cells: Vec<Cell<'static>>| -> Row<'static> {
        let mut cells: Vec<Option<Cell>> = cells.into_iter().map(Some).collect();
        Row::new(
            keep.iter()
                .filter_map(|i| cells.get_mut(*i)?.take())
                .collect::<Vec<_>>(),
        )
    };
    let lines: Vec<Row> = rows.iter().map(|r| pick(row(t, r))).collect();
    let widths: Vec<Constraint> = keep.iter().map(|i| COLUMNS[*i].1).collect();
    let header = Row::new(keep.iter().map(|i| COLUMNS[*i].0)).style(t.header);
    let mut title = format!(
        "clusters · sort {}{}",
        fleet.ui.sort.label(),
        if fleet.ui.descending { "↓" } else { "↑" }
    );
    if !fleet.ui.filter.is_empty() || fleet.ui.mode == FleetMode::Filter {
        title.push_str(&format!(" · filter \"{}\"", fleet.ui.filter));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Thick)
        .border_style(t.border_focus)
        .title(Span::styled(format!(" ▶ {title} "), t.title));
    let selected = fleet
        .ui
        .selected
        .and_then(|s| rows.iter().position(|r| r.index == s));
    let widget = Table::new(lines, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(t.highlight)
        .block(block);
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(widget, table, &mut state);
    if rows.is_empty() {
        let msg = if fleet.members.is_empty() {
            "no profiles found: put cluster profiles (*.toml) in the profiles directory"
        } else {
            "no cluster matches the filter (Esc clears it)"
        };
        super::empty_note(frame, table, Span::styled(msg, t.muted));
    }
    status_line(frame, status, fleet);
    if fleet.ui.mode == FleetMode::Help {
        help(frame, area, fleet);
    }
}

fn header(frame: &mut Frame, area: Rect, fleet: &Fleet) {
    let t = &fleet.theme;
    let open = fleet.members.iter().filter(|m| m.app().is_some()).count();
    let broken = fleet.members.len() - open;
    let mut spans = vec![
        Span::styled(" lbdeck ", t.title),
        Span::styled(
            format!("fleet · {} clusters", fleet.members.len()),
            t.text.add_modifier(Modifier::BOLD),
        ),
    ];
    match fleet.alarming() {
        0 => spans.push(Span::styled("  all clear", t.healthy)),
        n => spans.push(Span::styled(format!("  ✖ {n} alarming"), t.alarm)),
    }
    if broken > 0 {
        spans.push(Span::styled(
            format!("  {broken} profile(s) broken"),
            t.down,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status_line(frame: &mut Frame, area: Rect, fleet: &Fleet) {
    let t = &fleet.theme;
    let w = usize::from(area.width);
    let k = |a| fleet.keymap.hint(&a);
    use crate::action::Action;
    let text = match (&fleet.flash, fleet.ui.mode) {
        (_, FleetMode::Filter) => format!("/{}▏ Enter keeps · Esc clears", fleet.ui.filter),
        (Some((_, msg)), _) => msg.clone(),
        _ => format!(
            "Enter open · {} pick · {} filter · {} sort · {} help · {} quit",
            k(Action::Clusters),
            k(Action::Filter),
            k(Action::SortNext),
            k(Action::Help),
            k(Action::Quit)
        ),
    };
    frame.render_widget(Paragraph::new(Span::styled(clip(&text, w), t.text)), area);
}

/// The columns that fit `width`, in their order: the most telling first (name, alarm,
/// VIP, roles, healthy…), so a narrow terminal drops the age and environment, not the
/// name or the alarm.
fn kept(width: u16) -> Vec<usize> {
    const BY_WORTH: [usize; 9] = [0, 8, 2, 3, 5, 4, 6, 1, 7];
    /// What the alarm column needs to say anything.
    const ALARM_MIN: u16 = 10;
    let wide = |i: usize| match COLUMNS[i].1 {
        Constraint::Length(n) => n,
        _ => ALARM_MIN,
    };
    let mut used = 0;
    let mut keep = Vec::new();
    for i in BY_WORTH {
        let need = wide(i) + u16::from(!keep.is_empty());
        if used + need <= width || keep.is_empty() {
            used += need;
            keep.push(i);
        }
    }
    keep.sort_unstable();
    keep
}

/// One cluster's cells, in [`COLUMNS`] order; a broken profile's row carries its error.
fn row<'a>(t: &Theme, r: &FleetRow) -> Vec<Cell<'a>> {
    let bold = t.text.add_modifier(Modifier::BOLD);
    let name = Cell::from(Span::styled(clip(&r.name, 16), bold));
    if let Some(e) = &r.error {
        let mut cells = vec![
            name,
            Span::styled("—", t.muted).into(),
            Span::styled("BROKEN", t.down).into(),
        ];
        // Nothing to show between the state and the error.
        cells.extend((cells.len()..COLUMNS.len() - 1).map(|_| Cell::from("")));
        cells.push(Span::styled(format!("✖ {e}"), t.down).into());
        return cells;
    }
    // Production is marked loudly, as the header of its console does.
    let env = match r.environment {
        Some(Environment::Production) => Span::styled("PROD", t.production_frame),
        Some(Environment::Staging) => Span::styled("stage", t.staging_frame),
        Some(Environment::Lab) => Span::styled("lab", t.muted),
        None => Span::raw(""),
    };
    let vip = match r.vip {
        Some(true) => Span::styled("● up", t.healthy),
        Some(false) => Span::styled("✖ DOWN", t.down),
        None => Span::styled("—", t.muted),
    };
    let fraction = |(n, m): (usize, usize)| {
        let style = if n < m { t.degraded } else { t.text };
        Span::styled(format!("{n}/{m}"), style)
    };
    let rotation = r.in_rotation.map_or(Span::styled("—", t.muted), fraction);
    let alarm = match &r.worst {
        None => Span::styled("all clear", t.healthy),
        Some(a) => Span::styled(
            format!("{} {}", super::alerts::severity(a.level), a.text),
            if a.level == Level::Error {
                t.down
            } else {
                t.degraded
            },
        ),
    };
    let age = r.age.map_or("—".to_string(), age);
    vec![
        name,
        env.into(),
        vip.into(),
        roles(t, r).into(),
        rotation.into(),
        fraction(r.healthy).into(),
        Span::styled(rate(r.req_rate), t.text).into(),
        Span::styled(age, t.muted).into(),
        alarm.into(),
    ]
}

/// Each balancer's role by its initial (M, B, F…), or what is wrong with the pair; `?`
/// not known yet, `-` keepalived not watched there.
fn roles<'a>(t: &Theme, r: &FleetRow) -> Line<'a> {
    match r.pair {
        Pair::SplitBrain => return Line::from(Span::styled("SPLIT", t.alarm)),
        Pair::NoMaster => return Line::from(Span::styled("NO MASTER", t.alarm)),
        Pair::Ok | Pair::Unknown => {}
    }
    let spans: Vec<Span> = r
        .roles
        .iter()
        .map(|(_, role)| match role {
            Some(Some(Role::Master)) => Span::styled("M ", t.master),
            Some(Some(Role::Backup)) => Span::styled("B ", t.backup),
            Some(Some(Role::Fault)) => Span::styled("F ", t.fault),
            Some(Some(other)) => Span::styled(format!("{} ", &other.label()[..1]), t.degraded),
            Some(None) => Span::styled("? ", t.muted),
            None => Span::styled("- ", t.muted),
        })
        .collect();
    Line::from(spans)
}

/// The cluster picker: what is typed and the clusters that match, best first.
fn picker(frame: &mut Frame, area: Rect, fleet: &Fleet) {
    let t = &fleet.theme;
    let Some(p) = &fleet.ui.picker else { return };
    let picks = fleet.picks();
    let shown: Vec<usize> = picks.iter().copied().take(PICKER_ROWS).collect();
    let height = shown.len().max(1) as u16 + 4;
    let popup = super::centered(area, PICKER_WIDTH, height);
    let room = usize::from(popup.width.saturating_sub(4));
    let mut lines = vec![Line::from(vec![
        Span::styled("> ", t.key),
        Span::styled(format!("{}▏", p.typed), t.text),
    ])];
    lines.push(Line::raw(""));
    for (n, &i) in shown.iter().enumerate() {
        let m = &fleet.members[i];
        let marker = if fleet.front == Some(i) { "● " } else { "  " };
        let env = match (&m.state, m.environment()) {
            (Err(_), _) => " BROKEN".to_string(),
            (_, Some(e)) => format!(" {e}"),
            _ => String::new(),
        };
        let style = if n == p.selected { t.highlight } else { t.text };
        lines.push(Line::from(Span::styled(
            clip(&format!("{marker}{}{env}", m.name), room),
            style,
        )));
    }
    if shown.is_empty() {
        lines.push(Line::from(Span::styled("no cluster matches", t.muted)));
    }
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Thick)
                .border_style(t.border_focus)
                .title(Span::styled(
                    " switch cluster · Enter opens · Esc closes ",
                    t.title,
                )),
        ),
        popup,
    );
}

/// The overview's keys.
fn help(frame: &mut Frame, area: Rect, fleet: &Fleet) {
    use crate::action::Action;
    let t = &fleet.theme;
    let k = |a: Action| {
        fleet
            .keymap
            .keys_for(&a)
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let entries = [
        (k(Action::Detail), "open the selected cluster"),
        (
            k(Action::Clusters),
            "pick a cluster by name (from anywhere)",
        ),
        (k(Action::Back), "in a cluster: back to this overview"),
        (format!("{} {}", k(Action::Up), k(Action::Down)), "move"),
        (k(Action::Filter), "filter clusters by name or environment"),
        (k(Action::SortNext), "sort by the next column"),
        (k(Action::SortReverse), "reverse the sort"),
        (k(Action::Refresh), "poll every cluster now"),
        (k(Action::CycleTheme), "next theme"),
        (k(Action::Quit), "quit"),
    ];
    let lines: Vec<Line> = entries
        .into_iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!("{:<14}", clip(&keys, 14)), t.key),
                Span::styled(what, t.text),
            ])
        })
        .collect();
    let popup = super::centered(area, 64, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border_focus)
                .title(Span::styled(" fleet keys · any key closes ", t.title)),
        ),
        popup,
    );
}
