use std::time::{Duration, Instant};

use chrono::TimeZone;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::action::Action;
use crate::app::tests::{app, feed};
use crate::app::App;
use crate::model::{Level, Role};
use crate::sources::vrrp::VrrpSample;
use crate::sources::SourceUpdate;
use crate::wire::health::Probe;
use crate::wire::keepalived::{DumpInstance, DumpKind, FifoEvent};
use crate::wire::SourceError;

mod detail;
mod fleet;

fn fixed_app() -> (App, Instant) {
    let mut a = app();
    let t0 = Instant::now();
    let wall = chrono::Local
        .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("time");
    a.set_clock(t0, wall);
    feed(&mut a, t0);
    let probe = |ms| Probe {
        status: 200,
        latency: Duration::from_millis(ms),
    };
    a.update(Action::Update(SourceUpdate::Health {
        index: 0,
        at: t0,
        result: Ok(probe(2)),
    }));
    a.update(Action::Update(SourceUpdate::Health {
        index: 1,
        at: t0,
        result: Ok(probe(3)),
    }));
    a.update(Action::Update(SourceUpdate::Health {
        index: 2,
        at: t0,
        result: Err(SourceError::Connect(
            "Connection refused (os error 111)".into(),
        )),
    }));
    a.update(Action::Update(SourceUpdate::Vip {
        at: t0,
        result: Ok(probe(1)),
    }));
    pair_roles(&mut a, t0);
    a.update(Action::Tick(t0 + Duration::from_millis(500)));
    (a, t0)
}

/// lb1 MASTER with the VIP, lb2 BACKUP, followed through the notify FIFO.
fn pair_roles(a: &mut App, t0: Instant) {
    for (index, role, prio, vip) in [(0, Role::Master, 150, true), (1, Role::Backup, 100, false)] {
        vrrp(
            a,
            t0,
            index,
            VrrpSample::Following {
                method: "notify FIFO /run/keepalived.fifo".into(),
                dump: DumpKind::Json,
            },
        );
        vrrp(a, t0, index, VrrpSample::Vip(vip));
        vrrp(a, t0, index, VrrpSample::Dump(Some(dump(role, prio))));
    }
}

fn vrrp(a: &mut App, at: Instant, index: usize, sample: VrrpSample) {
    a.update(Action::Update(SourceUpdate::Vrrp {
        index,
        at,
        result: Ok(sample),
    }));
}

fn dump(role: Role, priority: u16) -> DumpInstance {
    DumpInstance {
        name: "VI_1".into(),
        vrid: 77,
        role,
        wantstate: Some(role),
        base_priority: priority,
        effective_priority: priority,
        nopreempt: false,
        last_transition: 0.0,
        vips: vec!["10.77.0.100/24".into()],
        become_master: Some(1),
        release_master: Some(0),
    }
}

fn render(a: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| super::draw(f, a)).expect("draw");
    term
}

fn screen(term: &Terminal<TestBackend>) -> String {
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn full_screen_80x24() {
    let (a, _) = fixed_app();
    insta::assert_snapshot!(render(&a, 80, 24).backend());
}

#[test]
fn full_screen_200x60() {
    let (a, _) = fixed_app();
    insta::assert_snapshot!(render(&a, 200, 60).backend());
}

#[test]
fn help_overlay_lists_the_live_keymap() {
    let (mut a, _) = fixed_app();
    a.update(Action::Help);
    insta::assert_snapshot!(render(&a, 80, 24).backend());
}

#[test]
fn states_are_coloured_by_the_theme() {
    let (mut a, _) = fixed_app();
    // The selected row takes the highlight style; look at rows that are not selected.
    a.update(Action::Bottom);
    let term = render(&a, 80, 24);
    let text = screen(&term);
    let buf = term.backend().buffer();
    let find = |needle: &str| -> (u16, u16) {
        for (y, line) in text.lines().enumerate() {
            if let Some(byte) = line.find(needle) {
                return (line[..byte].chars().count() as u16, y as u16);
            }
        }
        panic!("{needle:?} not on screen:\n{text}");
    };
    let (x, y) = find("PRODUCTION");
    assert_eq!(buf[(x, y)].bg, a.theme.production_frame.bg.expect("bg"));
    let (x, y) = find("DRAIN");
    assert_eq!(buf[(x, y)].fg, a.theme.draining.fg.expect("fg"));
    let (x, y) = find("MAINT");
    assert_eq!(buf[(x, y)].fg, a.theme.maint.fg.expect("fg"));
}

#[test]
fn values_not_refreshed_are_marked_stale_with_their_age() {
    let (mut a, t0) = fixed_app();
    a.update(Action::Tick(t0 + Duration::from_secs(12)));
    let text = screen(&render(&a, 80, 24));
    let balancer_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("│lb") && (l.contains("MASTER") || l.contains("BACKUP")))
        .collect();
    assert_eq!(balancer_rows.len(), 2);
    for row in balancer_rows {
        assert!(row.contains("stale 12s"), "{row}");
        assert!(!row.contains(" UP "), "shown as current: {row}");
    }
    assert!(
        text.contains("lb1 (stale)") || text.contains("lb1?"),
        "backend columns flag the stale balancer:\n{text}"
    );
}

#[test]
fn a_dead_balancer_says_why() {
    let (mut a, t0) = fixed_app();
    a.update(Action::Update(SourceUpdate::Balancer {
        index: 1,
        at: t0 + Duration::from_secs(1),
        result: Err(SourceError::Timeout(Duration::from_secs(1))),
    }));
    let text = screen(&render(&a, 80, 24));
    let row = text
        .lines()
        .find(|l| l.starts_with("│lb2 "))
        .expect("lb2 row");
    assert!(
        row.contains("DOWN") && row.contains("no answer within 1s"),
        "{row}"
    );
    assert!(
        text.contains("⚠ lb2 does not answer"),
        "alarm banner:\n{text}"
    );
}

#[test]
fn hostile_server_names_never_reach_the_terminal_raw() {
    let (mut a, t0) = fixed_app();
    let csv = "# pxname,svname,status,type,scur\nbe_web,evil\x1b]0;owned\x07\x1b[2J,UP,2,1\n";
    let stats = crate::wire::haproxy::parse_stat(csv).expect("csv");
    a.update(Action::Update(SourceUpdate::Balancer {
        index: 0,
        at: t0,
        result: Ok(crate::sources::BalancerSample::Haproxy {
            info: None,
            stats,
            admin: None,
            access: None,
        }),
    }));
    let text = screen(&render(&a, 200, 60));
    assert!(!text.contains('\x1b'), "an escape reached the screen");
    assert!(text.contains("evil\\x1b]0;owned"), "{text}");
}

#[test]
fn the_balancer_pane_says_how_a_runtime_api_socket_is_reached() {
    use crate::wire::api::{Access, Level};
    let (mut a, t0) = fixed_app();
    let csv = "# pxname,svname,status,type,scur\nbe_web,web1,UP,2,0\n";
    for (index, reach, level) in [(0, "tcp", Level::Admin), (1, "sudo socat", Level::User)] {
        a.update(Action::Update(SourceUpdate::Balancer {
            index,
            at: t0 + Duration::from_secs(1),
            result: Ok(crate::sources::BalancerSample::Haproxy {
                info: None,
                stats: crate::wire::haproxy::parse_stat(csv).expect("csv"),
                admin: None,
                access: Some(Access {
                    reach: reach.into(),
                    socket: None,
                    level: Some(level),
                }),
            }),
        }));
    }
    let text = screen(&render(&a, 200, 60));
    let row = |n: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("│{n} ")))
            .unwrap_or("")
            .to_string()
    };
    // Plain TCP at level admin, the usual, is left unsaid.
    assert!(!row("lb1").contains("api"), "{}", row("lb1"));
    assert!(
        row("lb2").contains("api sudo socat (user)"),
        "{}",
        row("lb2")
    );
}

#[test]
fn tiny_terminals_do_not_panic() {
    let (a, _) = fixed_app();
    for (w, h) in [(1, 1), (10, 5), (40, 12), (80, 10), (300, 100)] {
        render(&a, w, h);
    }
}

#[test]
fn the_selection_stays_in_view_in_a_long_table() {
    let (mut a, t0) = fixed_app();
    let sim = crate::demo::Sim::new(50);
    let stats = crate::wire::haproxy::parse_stat(&sim.show_stat(0)).expect("csv");
    a.update(Action::Update(SourceUpdate::Balancer {
        index: 0,
        at: t0 + Duration::from_secs(1),
        result: Ok(crate::sources::BalancerSample::Haproxy {
            info: None,
            stats,
            admin: None,
            access: None,
        }),
    }));
    a.update(Action::Bottom);
    let last = a.ui.selected_backend.clone().expect("selected");
    let text = screen(&render(&a, 80, 24));
    assert!(
        text.contains(&format!("┃{last} ")),
        "{last} not visible:\n{text}"
    );
    a.update(Action::Top);
    let text = screen(&render(&a, 80, 24));
    assert!(text.contains("┃web1 "), "{text}");
}

#[test]
fn the_pair_shows_roles_and_split_brain_raises_the_banner() {
    let (mut a, t0) = fixed_app();
    let text = screen(&render(&a, 80, 24));
    let row = |t: &str, n: &str| {
        t.lines()
            .find(|l| l.starts_with(&format!("│{n} ")))
            .unwrap_or("")
            .to_string()
    };
    assert!(row(&text, "lb1").contains("MASTER  150     ●"), "{text}");
    assert!(row(&text, "lb2").contains("BACKUP  100     ·"), "{text}");
    // lb2 stops hearing lb1 and takes the VIP too.
    let at = t0 + Duration::from_secs(1);
    let fifo = |role| {
        VrrpSample::Fifo(FifoEvent {
            group: false,
            name: "VI_1".into(),
            role: Some(role),
            priority: Some(100),
        })
    };
    vrrp(&mut a, at, 1, fifo(Role::Master));
    vrrp(&mut a, at, 1, VrrpSample::Vip(true));
    let term = render(&a, 80, 24);
    let text = screen(&term);
    assert!(
        text.contains("⚠ SPLIT-BRAIN: lb1 and lb2 all claim 10.77.0.100"),
        "{text}"
    );
    assert!(text.contains("lb2 BACKUP → MASTER (priorit…"), "{text}");
    let (x, y) = text
        .lines()
        .enumerate()
        .find_map(|(y, l)| {
            l.find("SPLIT")
                .map(|b| (l[..b].chars().count() as u16, y as u16))
        })
        .expect("banner");
    assert_eq!(
        term.backend().buffer()[(x, y)].bg,
        a.theme.alarm.bg.expect("alarm bg")
    );
    // Healed: lb2 back to BACKUP, the VIP leaves it.
    let at = t0 + Duration::from_secs(2);
    vrrp(&mut a, at, 1, fifo(Role::Backup));
    vrrp(&mut a, at, 1, VrrpSample::Vip(false));
    assert!(!screen(&render(&a, 80, 24)).contains("SPLIT-BRAIN"));
}

#[test]
fn keepalived_down_and_no_master_are_alarms() {
    let (mut a, t0) = fixed_app();
    let at = t0 + Duration::from_secs(1);
    vrrp(&mut a, at, 1, VrrpSample::Dump(None));
    let text = screen(&render(&a, 100, 30));
    assert!(text.contains("keepalived is not running on lb2"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("│lb2 ") && l.contains("down")),
        "{text}"
    );
    let fault = FifoEvent {
        group: false,
        name: "VI_1".into(),
        role: Some(Role::Fault),
        priority: Some(0),
    };
    vrrp(&mut a, at, 0, VrrpSample::Fifo(fault));
    vrrp(&mut a, at, 0, VrrpSample::Vip(false));
    let alerts = a.cluster.alerts(at);
    assert!(
        alerts.iter().any(|x| x
            .text
            .starts_with("NO MASTER: 10.77.0.100 is on no balancer")),
        "{alerts:?}"
    );
}

#[test]
fn production_paints_the_frames() {
    let (a, _) = fixed_app();
    let term = render(&a, 80, 24);
    let buf = term.backend().buffer();
    // The balancer pane is not focused: its corner takes the production colour (below
    // the banner: the fixture has no backend in rotation).
    let corner = &buf[(0, 2)];
    assert_eq!(corner.symbol(), "╭");
    assert_eq!(
        corner.fg,
        a.theme.production_frame.bg.expect("production colour")
    );
}

/// Where `needle` first shows on the screen, as a buffer position.
fn find(text: &str, needle: &str) -> (u16, u16) {
    text.lines()
        .enumerate()
        .find_map(|(y, l)| {
            l.find(needle)
                .map(|b| (l[..b].chars().count() as u16, y as u16))
        })
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{text}"))
}

/// The fixed app as NO_COLOR shows it, with the second backend selected.
fn no_colour_app() -> App {
    let (mut a, _) = fixed_app();
    a.theme = a.theme.without_colour();
    a.update(Action::Down);
    a
}

/// Under NO_COLOR nothing on screen carries a colour, and what colour marked is still
/// marked: the selected row in reverse video, the focused pane's title, the production
/// badge, severity in words.
fn assert_readable_without_colour(a: &App, w: u16, h: u16) -> String {
    use ratatui::style::{Color, Modifier};
    let term = render(a, w, h);
    let text = screen(&term);
    let buf = term.backend().buffer();
    assert!(
        buf.content()
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
        "a colour under NO_COLOR"
    );
    let (x, y) = find(&text, "┃web2 ");
    assert!(
        buf[(x + 1, y)].modifier.contains(Modifier::REVERSED),
        "the selected row is not reversed:\n{text}"
    );
    let (x, y) = find(&text, "┃web1 ");
    assert!(!buf[(x + 1, y)].modifier.contains(Modifier::REVERSED));
    assert!(text.contains("▶ Backends 3"), "{text}");
    let (x, y) = find(&text, "PRODUCTION");
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
    assert!(text.contains("5 alerts, ALARM: "), "{text}");
    text
}

#[test]
fn no_colour_80x24() {
    let a = no_colour_app();
    insta::assert_snapshot!(assert_readable_without_colour(&a, 80, 24));
}

#[test]
fn no_colour_200x60() {
    let a = no_colour_app();
    insta::assert_snapshot!(assert_readable_without_colour(&a, 200, 60));
}

#[test]
fn the_focused_pane_is_named_in_its_title() {
    let (mut a, _) = fixed_app();
    let text = screen(&render(&a, 80, 24));
    assert!(text.contains("▶ Backends"), "{text}");
    assert!(!text.contains("▶ Balancers"), "{text}");
    a.update(Action::PrevPane);
    let text = screen(&render(&a, 80, 24));
    assert!(text.contains("▶ Balancers"), "{text}");
    assert!(!text.contains("▶ Backends"), "{text}");
}

#[test]
fn scrolled_back_events_are_a_full_page() {
    let (mut a, _) = fixed_app();
    let wall = a.wall(a.now);
    let before = a.cluster.events.len();
    for i in 0..40 {
        a.cluster
            .events
            .push(wall, Level::Info, "web1", format!("event {i:02}"));
    }
    let total = a.cluster.events.len();
    a.update(Action::NextPane);
    assert_eq!(a.ui.focus, crate::app::Pane::Events);
    render(&a, 80, 24);
    let rows = a.ui.event_rows.get();
    assert!(rows >= 3, "{rows}");
    a.update(Action::Top);
    let text = screen(&render(&a, 80, 24));
    let shown: Vec<&str> = text.lines().filter(|l| l.contains("12:00:00 ")).collect();
    assert_eq!(shown.len(), rows, "{text}");
    assert!(
        text.contains(&format!("scrolled back {}", total - rows)),
        "{text}"
    );
    // The oldest page ends where a page from the start would.
    let last_shown = rows.saturating_sub(before);
    assert!(
        before >= rows || text.contains(&format!("event {:02}", last_shown - 1)),
        "{text}"
    );
    // One step down from the oldest page moves at once.
    a.update(Action::Down);
    let text = screen(&render(&a, 80, 24));
    assert!(
        text.contains(&format!("scrolled back {}", total - rows - 1)),
        "{text}"
    );
}

/// The fixed app a second later, when the VIP refuses connections.
fn vip_refused() -> (App, Instant) {
    let (mut a, t0) = fixed_app();
    a.update(Action::Update(SourceUpdate::Vip {
        at: t0 + Duration::from_secs(1),
        result: Err(SourceError::Connect("Connection refused".into())),
    }));
    (a, t0)
}

#[test]
fn at_40x10_the_vip_and_the_alarm_stay_with_the_size_needed() {
    let (mut a, _) = vip_refused();
    a.update(Action::SortNext);
    let text = screen(&render(&a, 40, 10));
    assert!(text.contains("sorted by"), "what a key did shows: {text}");
    assert!(text.contains("terminal too small (need 60×13)"), "{text}");
    assert!(
        text.contains("VIP 10.77.0.100 ✖ NOT SERVING on lb1"),
        "{text}"
    );
    assert!(
        text.contains("ALARM VIP 10.77.0.100 does not serve"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 40));
}

#[test]
fn at_60x15_the_whole_pair_and_backends_show() {
    let (a, _) = fixed_app();
    let text = screen(&render(&a, 60, 15));
    let lb1 = text
        .lines()
        .find(|l| l.starts_with("│lb1 "))
        .unwrap_or_default();
    assert!(lb1.ends_with("…│"), "the cut detail ends in …:\n{text}");
    assert!(text.lines().any(|l| l.starts_with("│lb2 ")), "{text}");
    assert!(text.contains("┃web1 ") && text.contains("┃web3 "), "{text}");
    assert!(!text.contains("too small"), "{text}");
}

#[test]
fn help_scrolls_at_80x24_and_names_the_keymap_file_read() {
    let (mut a, _) = fixed_app();
    a.keymap_path = Some("/home/op/.cfg/lbdeck/keys.toml".into());
    a.update(Action::Help);
    let text = screen(&render(&a, 80, 24));
    assert!(text.contains("lines 1-22 of"), "{text}");
    assert!(!text.contains("list every alert"), "{text}");
    let page_down = Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::PageDown,
    ));
    a.update(page_down.clone());
    a.update(page_down.clone());
    a.update(page_down);
    let text = screen(&render(&a, 80, 24));
    assert!(text.contains("list every alert"), "{text}");
    assert!(text.contains("/home/op/.cfg/lbdeck/keys.toml"), "{text}");
    assert_eq!(
        a.ui.mode,
        crate::app::Mode::Help,
        "scrolling keeps help open"
    );
}

#[test]
fn the_alerts_list_shows_every_alert_with_its_age_and_what_to_check() {
    let (mut a, t0) = vip_refused();
    a.update(Action::Tick(t0 + Duration::from_secs(75)));
    let alerts = a.cluster.alerts(a.now);
    assert!(alerts.len() >= 4, "{alerts:?}");
    let text = screen(&render(&a, 200, 60));
    assert!(
        text.contains(&format!("press ! for all {} alerts", alerts.len()))
            || text.contains("! alerts"),
        "{text}"
    );
    a.update(Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('!'),
    )));
    assert_eq!(a.ui.mode, crate::app::Mode::Alerts);
    let text = screen(&render(&a, 200, 60));
    assert!(text.contains(&format!("Alerts {}", alerts.len())), "{text}");
    let listed = text.matches("ALARM ").count() + text.matches("warn ").count();
    assert_eq!(listed, alerts.len(), "{text}");
    assert!(
        text.contains("ALARM   1m  VIP 10.77.0.100 does not serve"),
        "{text}"
    );
    assert!(text.contains("lb1 is MASTER: check the VIP"), "{text}");
    assert!(
        text.contains("warn    1m  balancers disagree on web3"),
        "{text}"
    );
}

#[test]
fn a_dialog_keeps_its_confirm_line_on_a_small_terminal() {
    let (mut a, _) = fixed_app();
    a.update(Action::Drain);
    assert_eq!(a.ui.mode, crate::app::Mode::Confirm, "{:?}", a.flash);
    for (w, h) in [(40, 10), (60, 15), (80, 24)] {
        let text = screen(&render(&a, w, h));
        assert!(text.contains("Esc cancels"), "{w}x{h}:\n{text}");
        assert!(text.contains("Drain web1"), "{w}x{h}:\n{text}");
    }
}

#[test]
fn a_small_dialog_that_hides_only_its_explanation_says_so() {
    let (mut a, _) = fixed_app();
    a.update(Action::Drain);
    let texts: Vec<String> = (10..20).map(|h| screen(&render(&a, 40, h))).collect();
    for text in &texts {
        assert!(!text.contains("… 0 more"), "{text}");
    }
    assert!(
        texts.iter().any(|t| t.contains("… what it does is hidden")),
        "{}",
        texts.join("\n")
    );
}

#[test]
fn a_long_audit_reason_is_cut_with_an_ellipsis() {
    let (mut a, _) = fixed_app();
    let line = serde_json::json!({
        "time": "2026-11-25T12:00:00+00:00",
        "profile": "shop",
        "user": "op",
        "action": "drain",
        "target": "web1",
        "result": "refused",
        "reason": "lb2 could not be read before the change: ".repeat(4),
    });
    a.update(Action::AuditLoaded(vec![line.to_string()]));
    let text = screen(&render(&a, 80, 24));
    let row = text
        .lines()
        .find(|l| l.contains("refused"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("refused     lb2 could …│"), "{text}");
}

#[test]
fn overlays_fit_a_40x10_terminal() {
    let (mut a, _) = vip_refused();
    a.update(Action::Help);
    let text = screen(&render(&a, 40, 10));
    assert!(text.contains("Help · lines 1-8 of "), "{text}");
    a.update(Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::End,
    )));
    let text = screen(&render(&a, 40, 10));
    assert!(text.contains("Esc  back to the fleet ove…│"), "{text}");
    a.update(Action::Help);
    a.update(Action::Alerts);
    let text = screen(&render(&a, 40, 10));
    assert!(text.contains("Alerts 6 · lines 1-8 of "), "{text}");
    assert!(
        text.lines().all(|l| l.chars().count() <= 40),
        "the alerts wrap inside the overlay:\n{text}"
    );
}

/// The README's sample screen (its first code block), as the console draws it.
const README_SIZE: (u16, u16) = (100, 24);

/// The README's console: the pair under the demo's simulated traffic, two polls apart.
fn readme_app() -> App {
    let mut a = app();
    let t0 = Instant::now();
    let wall = chrono::Local
        .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("time");
    a.set_clock(t0, wall);
    pair_roles(&mut a, t0);
    a.update(Action::Update(SourceUpdate::Vip {
        at: t0,
        result: Ok(Probe {
            status: 200,
            latency: Duration::from_micros(900),
        }),
    }));
    let mut sim = crate::demo::Sim::new(3);
    for (second, step) in [(1, 0.0), (2, 1.0)] {
        sim.step(step);
        for lb in 0..2 {
            let stats = crate::wire::haproxy::parse_stat(&sim.show_stat(lb)).expect("csv");
            let info = crate::wire::haproxy::parse_info(&sim.show_info(lb)).expect("info");
            a.update(Action::Update(SourceUpdate::Balancer {
                index: lb,
                at: t0 + Duration::from_secs(second),
                result: Ok(crate::sources::BalancerSample::Haproxy {
                    info: Some(info),
                    stats,
                    admin: None,
                    access: None,
                }),
            }));
        }
    }
    for index in 0..3 {
        a.update(Action::Update(SourceUpdate::Health {
            index,
            at: t0 + Duration::from_secs(2),
            result: Ok(Probe {
                status: 200,
                latency: Duration::from_micros(1800 + 700 * index as u64),
            }),
        }));
    }
    a.update(Action::Tick(t0 + Duration::from_millis(2100)));
    a
}

#[test]
fn the_readme_screen_is_what_the_console_draws() {
    let a = readme_app();
    let drawn: String = screen(&render(&a, README_SIZE.0, README_SIZE.1))
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    let readme = include_str!("../../README.md");
    let sample = readme
        .split("```\n")
        .nth(1)
        .expect("a code block in README.md");
    assert_eq!(
        sample, drawn,
        "README.md's first code block must be this screen (paste it there):\n{drawn}"
    );
}

#[test]
fn an_nginx_balancer_says_how_much_of_its_access_log_its_format_reads() {
    let mut a = crate::app::tests::app_from(
        r#"
name = "web"
[[balancers]]
name = "lb1"
host = "10.77.0.11"
kind = "nginx"
access_log = "/var/log/nginx/access.log"
[[backends]]
name = "web1"
address = "10.77.0.21:80"
"#,
    );
    let t0 = Instant::now();
    let lines = |matched| crate::sources::access_log::LogLines {
        seen: crate::sources::access_log::LineMatch { lines: 40, matched },
        format: "lbdeck",
    };
    a.update(Action::Update(SourceUpdate::Traffic {
        index: 0,
        at: t0,
        result: Ok(Vec::new()),
        lines: Some(lines(38)),
    }));
    let s = screen(&render(&a, 120, 24));
    let row = s.lines().find(|l| l.contains("lb1 ")).expect("lb1's row");
    assert!(row.contains("log 38/40 lbdeck"), "{s}");
    // A stream that broke keeps the last counts it had (the pane says it failed).
    a.update(Action::Update(SourceUpdate::Traffic {
        index: 0,
        at: t0 + Duration::from_secs(1),
        result: Err(crate::wire::FetchError(
            "lb1: the access log stream ended".into(),
        )),
        lines: None,
    }));
    assert_eq!(a.cluster.balancers[0].log_lines, Some(lines(38)));
}

#[test]
fn roles_seen_only_from_the_vip_are_marked_and_say_how() {
    let (mut a, t0) = fixed_app();
    for (index, vip) in [(0, true), (1, false)] {
        let method = "ip addr only, notify FIFO /run/keepalived.fifo".to_string();
        let dump = DumpKind::IpAddrOnly;
        vrrp(&mut a, t0, index, VrrpSample::Dump(None));
        vrrp(&mut a, t0, index, VrrpSample::Following { method, dump });
        vrrp(&mut a, t0, index, VrrpSample::Vip(vip));
        vrrp(&mut a, t0, index, VrrpSample::Running);
    }
    let text = screen(&render(&a, 140, 30));
    let row = |n: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("│{n} ")))
            .unwrap_or("")
            .to_string()
    };
    assert!(row("lb1").contains("MASTER~"), "{text}");
    assert!(row("lb2").contains("BACKUP~"), "{text}");
    assert!(row("lb1").contains("ip addr only"), "{text}");
}

#[test]
fn a_failed_probe_shows_no_latency_as_current() {
    let (mut a, t0) = fixed_app();
    let row = |a: &App| {
        screen(&render(a, 200, 60))
            .lines()
            .find(|l| l.contains("web1 "))
            .unwrap_or("")
            .to_string()
    };
    assert!(row(&a).contains("2.0ms"), "{}", row(&a));
    a.update(Action::Update(SourceUpdate::Health {
        index: 0,
        at: t0 + Duration::from_secs(1),
        result: Err(SourceError::Timeout(Duration::from_secs(1))),
    }));
    let now = row(&a);
    assert!(now.contains("DOWN"), "{now}");
    assert!(
        !now.contains("2.0ms"),
        "the last good latency shown as current: {now}"
    );
}

#[test]
fn a_stopped_keepalived_shows_no_priority() {
    let (mut a, t0) = fixed_app();
    vrrp(
        &mut a,
        t0 + Duration::from_secs(1),
        0,
        VrrpSample::Dump(None),
    );
    let text = screen(&render(&a, 100, 30));
    let row = text
        .lines()
        .find(|l| l.starts_with("│lb1 "))
        .expect("lb1 row");
    assert!(row.contains("down"), "{row}");
    assert!(!row.contains("150"), "last-known priority shown: {row}");
}

#[test]
fn a_long_table_says_which_rows_are_shown() {
    let (mut a, t0) = fixed_app();
    let sim = crate::demo::Sim::new(20);
    let stats = crate::wire::haproxy::parse_stat(&sim.show_stat(0)).expect("csv");
    a.update(Action::Update(SourceUpdate::Balancer {
        index: 0,
        at: t0 + Duration::from_secs(1),
        result: Ok(crate::sources::BalancerSample::Haproxy {
            info: None,
            stats,
            admin: None,
            access: None,
        }),
    }));
    let title = |a: &App| {
        screen(&render(a, 80, 24))
            .lines()
            .find(|l| l.contains("Backends "))
            .unwrap_or("")
            .to_string()
    };
    let top = title(&a);
    assert!(top.contains("Backends 1–"), "{top}");
    assert!(
        top.contains(" of 20 · ") && top.contains("healthy"),
        "{top}"
    );
    a.update(Action::Bottom);
    let bottom = title(&a);
    assert!(bottom.contains("–20 of 20 · "), "{bottom}");
    assert!(!bottom.contains("Backends 1–"), "{bottom}");
}

fn status_line(a: &App, w: u16, h: u16) -> String {
    screen(&render(a, w, h))
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

#[test]
fn the_status_line_parts_the_keys_from_the_message() {
    let (mut a, _) = fixed_app();
    a.update(Action::Alerts);
    let line = status_line(&a, 80, 24);
    assert!(line.contains("closes "), "{line}");
    assert!(
        !line.contains("closes2") && !line.contains("closes1"),
        "{line}"
    );
}

#[test]
fn a_drain_in_progress_keeps_the_key_that_undoes_it_at_80_columns() {
    let (mut a, t0) = fixed_app();
    a.draining = Some(("web1".into(), t0));
    let progress = a.drain_progress().expect("draining");
    let line = status_line(&a, 80, 24);
    assert!(line.contains(&progress), "{progress:?} cut: {line}");
    assert!(line.contains("Esc undoes"), "{line}");
    // Where the sentence is cut (a narrower terminal, a longer count), the key stays.
    let line = status_line(&a, 60, 24);
    assert!(line.contains("draining web1 (Esc undoes)"), "{line}");
}

#[test]
fn a_small_dialog_says_how_many_pre_checks_it_hides() {
    let (mut a, _) = fixed_app();
    a.update(Action::Failover);
    assert_eq!(a.ui.mode, crate::app::Mode::Confirm, "{:?}", a.flash);
    let checks = a.confirm.as_ref().expect("dialog").plan.checks.len();
    let marks = |text: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix('║'))
            .filter(|l| ["✓ ", "✗ ", "? ", "· "].iter().any(|m| l.starts_with(m)))
            .count()
    };
    let text = screen(&render(&a, 40, 10));
    let shown = marks(&text);
    assert!(shown < checks, "all {checks} fit:\n{text}");
    let more = format!("… {} more pre-checks: enlarge terminal", checks - shown);
    assert!(text.contains(&more), "{more:?} missing:\n{text}");
    assert!(text.contains("Esc cancels"), "{text}");
    assert!(!screen(&render(&a, 80, 24)).contains("more pre-check"));
}

#[test]
fn a_small_dialog_shows_the_failed_pre_check_first() {
    let (mut a, t0) = fixed_app();
    vrrp(
        &mut a,
        t0 + Duration::from_secs(1),
        1,
        VrrpSample::Dump(None),
    );
    a.update(Action::Failover);
    let plan = &a.confirm.as_ref().expect("dialog").plan;
    let failed = plan
        .checks
        .iter()
        .find(|c| c.state == crate::ops::CheckState::Failed)
        .expect("a failed pre-check")
        .what
        .clone();
    let text = screen(&render(&a, 40, 10));
    let start: String = failed.chars().take(20).collect();
    assert!(
        text.contains(&format!("✗ {start}")),
        "{failed:?} hidden:\n{text}"
    );
    assert!(text.contains("more pre-check"), "{text}");
}

#[test]
fn a_too_small_terminal_names_what_keys_act_on() {
    let (mut a, _) = fixed_app();
    a.update(Action::Bottom);
    let last = a.ui.selected_backend.clone().expect("selected");
    let text = screen(&render(&a, 40, 10));
    assert!(text.contains("terminal too small"), "{text}");
    assert!(text.contains(&format!("▶ backend {last}")), "{text}");
    a.update(Action::NextPane);
    let text = screen(&render(&a, 40, 10));
    assert!(!text.contains(&format!("▶ backend {last}")), "{text}");
    assert!(text.contains("▶ "), "{text}");
}

#[test]
fn the_audit_viewer_says_what_a_does() {
    let (mut a, _) = fixed_app();
    a.update(Action::AuditLoaded(Vec::new()));
    let line = status_line(&a, 80, 24);
    assert!(
        line.contains("a every cluster · p the pair's log · any key but a, p closes"),
        "{line}"
    );
    assert!(!line.contains("any key closes"), "{line}");
    a.update(Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('a'),
    )));
    assert_eq!(
        a.ui.mode,
        crate::app::Mode::Audit,
        "a keeps the viewer open"
    );
    let line = status_line(&a, 80, 24);
    assert!(line.contains("a this cluster · p the pair's log"), "{line}");
}

/// Help's text, scrolled to its end, on a screen tall enough for all of it.
fn help_text(a: &mut App) -> String {
    a.update(Action::Help);
    let text = screen(&render(a, 100, 60));
    a.update(Action::Help);
    text
}

#[test]
fn help_says_the_keys_are_the_defaults_when_no_keymap_file_was_read() {
    let (mut a, _) = fixed_app();
    a.keymap_path = Some("/tmp/x/.config/lbdeck/keys.toml".into());
    let text = help_text(&mut a);
    assert!(text.contains("default keys; to remap them"), "{text}");
    assert!(text.contains("/tmp/x/.config/lbdeck/keys.toml"), "{text}");
    assert!(!text.contains("keys are remapped"), "{text}");
    a.keymap = crate::app::keys::Keymap::parse("/home/op/keys.toml", "").expect("keymap");
    let text = help_text(&mut a);
    assert!(text.contains("keys are remapped"), "{text}");
    assert!(text.contains("/home/op/keys.toml"), "{text}");
}

#[test]
fn read_only_help_hides_the_shell_it_refuses() {
    let (mut a, _) = fixed_app();
    let shell = "SSH into the selected balancer or backend";
    assert!(help_text(&mut a).contains(shell));
    a.read_only = true;
    let text = help_text(&mut a);
    assert!(!text.contains(shell), "{text}");
    a.profile.shell_in_read_only = true;
    assert!(help_text(&mut a).contains(shell));
}

#[test]
fn a_balancer_never_read_has_no_peak() {
    let a = app();
    let text = screen(&render(&a, 80, 30));
    assert!(text.contains("Traffic req/s"), "{text}");
    assert!(!text.contains("peak 0"), "{text}");
    assert!(text.contains("not read yet"), "{text}");
    let (a, _) = fixed_app();
    assert!(screen(&render(&a, 80, 30)).contains("peak 0/s"));
}

#[test]
fn under_no_color_a_theme_change_says_colours_are_off() {
    let (mut a, _) = fixed_app();
    a.update(Action::CycleTheme);
    assert!(!status_line(&a, 100, 30).contains("NO_COLOR"));
    a.no_color = true;
    a.update(Action::CycleTheme);
    let line = status_line(&a, 100, 30);
    assert!(line.contains("colours off: NO_COLOR"), "{line}");
}

#[test]
fn at_60_columns_the_header_keeps_its_freshness_and_labels_are_words() {
    let (a, _) = fixed_app();
    let text = screen(&render(&a, 60, 20));
    let head = text.lines().next().unwrap_or("");
    assert!(head.contains("0s ago"), "{head}");
    let header = text
        .lines()
        .find(|l| l.contains("role") && l.contains("prio"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(header.starts_with("│lb "), "{header}");
    assert!(!header.contains("balanc "), "{header}");
    let wide = screen(&render(&a, 100, 30));
    assert!(
        wide.contains("updated 0s ago") && wide.contains("12:00:00"),
        "{wide}"
    );
    assert!(wide.contains("│balancer "), "{wide}");
}
