use std::time::{Duration, Instant};

use chrono::TimeZone;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::action::Action;
use crate::app::tests::{app, feed};
use crate::app::App;
use crate::model::Role;
use crate::sources::health::Probe;
use crate::sources::keepalived::{DumpInstance, FifoEvent};
use crate::sources::vrrp::VrrpSample;
use crate::sources::{SourceError, SourceUpdate};

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
    for (index, role, prio, vip) in [(0, Role::Master, 150, true), (1, Role::Backup, 100, false)] {
        vrrp(
            &mut a,
            t0,
            index,
            VrrpSample::Following("notify FIFO /run/keepalived.fifo".into()),
        );
        vrrp(&mut a, t0, index, VrrpSample::Vip(vip));
        vrrp(&mut a, t0, index, VrrpSample::Dump(Some(dump(role, prio))));
    }
    a.update(Action::Tick(t0 + Duration::from_millis(500)));
    (a, t0)
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
        base_priority: priority,
        effective_priority: priority,
        nopreempt: false,
        last_transition: 0.0,
        vips: vec!["10.77.0.100/24".into()],
        become_master: 1,
        release_master: 0,
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
    let stats = crate::sources::haproxy::parse_stat(csv).expect("csv");
    a.update(Action::Update(SourceUpdate::Balancer {
        index: 0,
        at: t0,
        result: Ok(crate::sources::BalancerSample::Haproxy {
            info: None,
            stats,
            admin: None,
        }),
    }));
    let text = screen(&render(&a, 200, 60));
    assert!(!text.contains('\x1b'), "an escape reached the screen");
    assert!(text.contains("evil\\x1b]0;owned"), "{text}");
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
    let stats = crate::sources::haproxy::parse_stat(&sim.show_stat(0)).expect("csv");
    a.update(Action::Update(SourceUpdate::Balancer {
        index: 0,
        at: t0 + Duration::from_secs(1),
        result: Ok(crate::sources::BalancerSample::Haproxy {
            info: None,
            stats,
            admin: None,
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
    assert!(text.contains("lb2 BACKUP → MASTER (priority"), "{text}");
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
