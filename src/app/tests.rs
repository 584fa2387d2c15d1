use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::config::theme::ThemeSet;
use crate::ops::{Outcome, Report};
use crate::sources::{BalancerSample, SourceUpdate};
use crate::wire::haproxy;

/// What the runner reports after `op` on `target`.
fn acted(op: Operation, target: &str, outcome: Outcome) -> Action {
    Action::Acted(Box::new(Report {
        operation: op,
        cluster: "shop".into(),
        target: target.into(),
        balancers: vec!["lb1".into(), "lb2".into()],
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
        outcome,
        moved: None,
        forced: Vec::new(),
        started: chrono::Local::now(),
        took: Duration::from_millis(4),
        audit: "audit: a.jsonl".into(),
        batch: None,
    }))
}

/// The effect that runs a confirmed `op` on `target`.
fn runs(effects: Vec<Effect>) -> Option<(Operation, String)> {
    match effects.as_slice() {
        [Effect::Run { plan, .. }] => Some((plan.operation.clone(), plan.target.clone())),
        _ => None,
    }
}

pub(crate) const PROFILE: &str = r#"
name = "shop"
environment = "production"
poll_interval = "1s"
timeout = "1s"
[vip]
address = "10.77.0.100"
check_url = "http://10.77.0.100/"
[[balancers]]
name = "lb1"
host = "10.77.0.11"
kind = "haproxy"
runtime_api = "tcp://10.77.0.11:9999"
[balancers.keepalived]
notify_fifo = "/run/keepalived.fifo"
failover = { method = "track_file", path = "/etc/keepalived/maintenance", value = "-100" }
[[balancers]]
name = "lb2"
host = "10.77.0.12"
kind = "haproxy"
runtime_api = "tcp://10.77.0.12:9999"
[balancers.keepalived]
notify_fifo = "/run/keepalived.fifo"
failover = { method = "track_file", path = "/etc/keepalived/maintenance", value = "-100" }
[[backends]]
name = "web1"
address = "10.77.0.21:80"
[[backends]]
name = "web2"
address = "10.77.0.22:80"
[[backends]]
name = "web3"
address = "10.77.0.23:80"
"#;

pub(crate) fn app() -> App {
    app_from(PROFILE)
}

/// A console on the profile `text`, default keys and themes.
pub(crate) fn app_from(text: &str) -> App {
    let profile = Profile::parse("t.toml", text).expect("profile");
    let themes = ThemeSet::load_from(None).expect("themes");
    App::new(&profile, Keymap::default(), themes, 0, false)
}

/// [`PROFILE`] outside production.
fn staging() -> App {
    app_from(&PROFILE.replace("environment = \"production\"", "environment = \"staging\""))
}

fn key(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Action {
    Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

/// Feeds both balancers the mixed capture (web1 MAINT, web2 DRAIN, web3 DOWN on lb1).
pub(crate) fn feed(app: &mut App, at: Instant) {
    let ok = haproxy::parse_stat(include_str!("../../tests/fixtures/haproxy/show_stat.csv"))
        .expect("csv");
    let mixed = haproxy::parse_stat(include_str!(
        "../../tests/fixtures/haproxy/show_stat_mixed.csv"
    ))
    .expect("csv");
    let info = haproxy::parse_info(include_str!("../../tests/fixtures/haproxy/show_info.txt"))
        .expect("info");
    for (index, stats) in [(0, mixed), (1, ok)] {
        app.update(Action::Update(SourceUpdate::Balancer {
            index,
            at,
            result: Ok(BalancerSample::Haproxy {
                info: Some(info.clone()),
                stats,
                admin: None,
                access: None,
            }),
        }));
    }
}

#[test]
fn q_quits_and_ctrl_c_quits_even_while_filtering() {
    let mut a = app();
    assert_eq!(a.update(key('q')), vec![Effect::Quit]);
    a.update(key('/'));
    assert_eq!(a.ui.mode, Mode::Filter);
    let ctrl_c = Action::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(a.update(ctrl_c), vec![Effect::Quit]);
}

#[test]
fn filter_typing_applies_live_enter_keeps_esc_clears() {
    let mut a = app();
    a.update(key('/'));
    for c in "WEB2".chars() {
        a.update(key(c));
    }
    assert_eq!(a.ui.filter, "WEB2");
    assert_eq!(a.visible_backends(), vec![1], "case-insensitive");
    assert_eq!(a.ui.selected_backend.as_deref(), Some("web2"));
    a.update(code(KeyCode::Enter));
    assert_eq!(a.ui.mode, Mode::Normal);
    assert_eq!(a.visible_backends(), vec![1], "kept after Enter");
    a.update(key('q'.to_ascii_uppercase()));
    a.update(code(KeyCode::Esc));
    assert!(a.ui.filter.is_empty());
    assert_eq!(a.visible_backends().len(), 3);
    a.update(key('/'));
    a.update(key('x'));
    a.update(code(KeyCode::Backspace));
    a.update(key('.'));
    a.update(key('2'));
    a.update(key('3'));
    assert_eq!(a.visible_backends(), vec![2], "matches the address too");
    a.update(code(KeyCode::Esc));
    assert!(a.ui.filter.is_empty());
}

#[test]
fn sort_cycles_columns_and_reverses() {
    let mut a = app();
    feed(&mut a, Instant::now());
    assert_eq!(a.ui.sort, SortKey::Config);
    a.update(key('o'));
    assert_eq!(a.ui.sort, SortKey::Column(columns::BackendColumn::Name));
    a.update(key('o'));
    a.update(key('o'));
    assert_eq!(a.ui.sort, SortKey::Column(columns::BackendColumn::State));
    assert!(a.ui.descending, "worst first");
    let order: Vec<String> = a
        .visible_backends()
        .iter()
        .map(|&i| a.cluster.backends[i].name.clone())
        .collect();
    assert_eq!(order, vec!["web3", "web1", "web2"], "DOWN, MAINT, DRAIN");
    a.update(key('O'));
    let order: Vec<String> = a
        .visible_backends()
        .iter()
        .map(|&i| a.cluster.backends[i].name.clone())
        .collect();
    assert_eq!(order, vec!["web2", "web1", "web3"]);
    assert_eq!(
        a.flash.as_ref().map(|f| f.1.as_str()),
        Some("sorted by state ascending")
    );
}

#[test]
fn natural_name_order() {
    assert_eq!(natural("web2", "web10"), std::cmp::Ordering::Less);
    assert_eq!(natural("web10", "web9"), std::cmp::Ordering::Greater);
}

#[test]
fn selection_follows_the_backend_not_the_row() {
    let mut a = app();
    feed(&mut a, Instant::now());
    a.update(key('j'));
    assert_eq!(a.ui.selected_backend.as_deref(), Some("web2"));
    a.update(key('o'));
    a.update(key('O'));
    assert_eq!(
        a.ui.selected_backend.as_deref(),
        Some("web2"),
        "sorting keeps the selection"
    );
    // Name, descending: web3 web2 web1.
    a.update(key('G'));
    assert_eq!(a.ui.selected_backend.as_deref(), Some("web1"));
    a.update(key('g'));
    assert_eq!(a.ui.selected_backend.as_deref(), Some("web3"));
    a.update(key('k'));
    assert_eq!(
        a.ui.selected_backend.as_deref(),
        Some("web3"),
        "clamped at the top"
    );
}

#[test]
fn tab_cycles_panes_and_help_toggles() {
    let mut a = app();
    assert_eq!(a.ui.focus, Pane::Backends);
    a.update(code(KeyCode::Tab));
    assert_eq!(a.ui.focus, Pane::Events);
    a.update(code(KeyCode::Tab));
    assert_eq!(a.ui.focus, Pane::Balancers);
    a.update(Action::Key(KeyEvent::new(
        KeyCode::BackTab,
        KeyModifiers::SHIFT,
    )));
    assert_eq!(a.ui.focus, Pane::Events);
    a.update(key('?'));
    assert_eq!(a.ui.mode, Mode::Help);
    assert!(
        a.update(key('q')).is_empty(),
        "q closes help, it does not quit"
    );
    assert_eq!(a.ui.mode, Mode::Normal);
}

#[test]
fn theme_cycles_through_every_theme_and_no_color_strips() {
    let mut a = app();
    let n = a.themes.themes.len();
    let first = a.theme.name.clone();
    a.update(key('t'));
    assert_ne!(a.theme.name, first);
    for _ in 1..n {
        a.update(key('t'));
    }
    assert_eq!(a.theme.name, first);
    let profile = Profile::parse("t.toml", PROFILE).expect("profile");
    let themes = ThemeSet::load_from(None).expect("themes");
    let bare = App::new(&profile, Keymap::default(), themes, 0, true);
    assert_eq!(bare.theme.master.fg, None);
}

#[test]
fn remapped_keys_drive_the_same_actions() {
    let profile = Profile::parse("t.toml", PROFILE).expect("profile");
    let themes = ThemeSet::load_from(None).expect("themes");
    let keymap =
        Keymap::parse("k.toml", "[keys]\nquit = [\"x\"]\nfilter = [\"f\"]\n").expect("keymap");
    let mut a = App::new(&profile, keymap, themes, 0, false);
    assert!(a.update(key('q')).is_empty());
    a.update(key('f'));
    assert_eq!(a.ui.mode, Mode::Filter);
    a.update(code(KeyCode::Esc));
    assert_eq!(a.update(key('x')), vec![Effect::Quit]);
}

#[test]
fn refresh_asks_the_loop_to_poll_now() {
    let mut a = app();
    let ctrl_r = Action::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
    assert_eq!(a.update(ctrl_r), vec![Effect::PollNow]);
}

#[test]
fn flash_messages_expire() {
    let mut a = app();
    let t0 = a.now;
    a.update(key('t'));
    assert!(a.flash.is_some());
    a.update(Action::Tick(t0 + Duration::from_secs(10)));
    assert!(a.flash.is_none());
}

#[test]
fn m_switches_the_traffic_pane_metric() {
    let mut a = app();
    assert!(!a.ui.traffic_connections);
    a.update(key('c'));
    assert!(a.ui.traffic_connections);
    assert_eq!(
        a.flash.as_ref().map(|f| f.1.as_str()),
        Some("traffic: connections")
    );
    a.update(key('c'));
    assert!(!a.ui.traffic_connections);
}

#[test]
fn s_targets_the_selected_node_of_the_focused_pane() {
    let mut a = app();
    feed(&mut a, Instant::now());
    a.update(key('j'));
    assert_eq!(
        a.update(key('s')),
        vec![Effect::Shell("10.77.0.22".into())],
        "backend web2"
    );
    a.update(code(KeyCode::Tab));
    assert!(a.update(key('s')).is_empty(), "the event pane has no node");
    a.update(code(KeyCode::Tab));
    a.update(key('j'));
    assert_eq!(
        a.update(key('s')),
        vec![Effect::Shell("10.77.0.12".into())],
        "balancer lb2"
    );
}

#[test]
fn drain_asks_first_and_production_needs_the_name_typed() {
    let mut a = app();
    feed(&mut a, Instant::now());
    a.update(key('j'));
    assert!(
        a.update(key('d')).is_empty(),
        "nothing happens before confirming"
    );
    assert_eq!(a.ui.mode, Mode::Confirm);
    let c = a.confirm.clone().expect("dialog");
    assert_eq!(c.plan.target, "web2");
    assert!(matches!(
        &c.plan.confirmation,
        Confirmation::Typed { name, because } if name == "web2" && because.contains("production")
    ));
    assert!(
        a.update(key('y')).is_empty(),
        "y is not enough in production"
    );
    a.update(code(KeyCode::Backspace));
    for ch in "web".chars() {
        a.update(key(ch));
    }
    assert!(
        a.update(code(KeyCode::Enter)).is_empty(),
        "a partial name does not confirm"
    );
    a.update(key('2'));
    assert_eq!(
        runs(a.update(code(KeyCode::Enter))),
        Some((Operation::drain("web2"), "web2".into()))
    );
    assert_eq!(a.ui.mode, Mode::Normal);
    a.update(acted(Operation::drain("web2"), "web2", Outcome::Done));
    assert!(a
        .cluster
        .events
        .iter()
        .any(|e| e.text == "drain web2: done in 4 ms (audit: a.jsonl)"));
    assert_eq!(a.draining.as_ref().map(|d| d.0.as_str()), Some("web2"));
}

#[test]
fn esc_cancels_and_read_only_refuses() {
    let mut a = app();
    feed(&mut a, Instant::now());
    a.update(key('u'));
    assert_eq!(a.ui.mode, Mode::Confirm);
    assert!(a.update(code(KeyCode::Esc)).is_empty());
    assert_eq!(a.ui.mode, Mode::Normal);
    assert!(a.confirm.is_none());
    a.read_only = true;
    assert!(matches!(
        a.update(key('d')).as_slice(),
        [Effect::Refuse { operation, .. }] if *operation == Operation::drain("web1")
    ));
    assert_eq!(a.ui.mode, Mode::Normal, "no dialog in read-only");
    assert!(a
        .flash
        .as_ref()
        .is_some_and(|f| f.1.starts_with("read-only")));
}

#[test]
fn outside_production_a_routine_drain_is_y_n() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    a.update(key('d'));
    assert_eq!(
        a.confirm.as_ref().map(|c| c.plan.confirmation.clone()),
        Some(Confirmation::YesNo),
        "web1 is not the last healthy one"
    );
    assert_eq!(
        runs(a.update(key('y'))),
        Some((Operation::drain("web1"), "web1".into()))
    );
}

#[test]
fn f_asks_to_fail_over_the_vip_holder_and_b_fails_back() {
    use crate::model::Role;
    use crate::sources::vrrp::VrrpSample;
    use crate::wire::keepalived::DumpInstance;
    let mut a = app();
    let t0 = Instant::now();
    assert!(a.update(key('F')).is_empty());
    assert_eq!(a.ui.mode, Mode::Normal, "nothing known about the VIP yet");
    for (index, role, prio, vip) in [(0, Role::Master, 150, true), (1, Role::Backup, 100, false)] {
        let dump = DumpInstance {
            name: "VI_1".into(),
            vrid: 77,
            role,
            wantstate: Some(role),
            base_priority: prio,
            effective_priority: prio,
            nopreempt: false,
            last_transition: 0.0,
            vips: vec![],
            become_master: Some(0),
            release_master: Some(0),
        };
        for sample in [VrrpSample::Vip(vip), VrrpSample::Dump(Some(dump))] {
            a.update(Action::Update(SourceUpdate::Vrrp {
                index,
                at: t0,
                result: Ok(sample),
            }));
        }
    }
    feed(&mut a, t0);
    a.update(key('F'));
    let c = a.confirm.clone().expect("dialog");
    assert_eq!(
        (c.plan.target.as_str(), &c.plan.operation),
        ("lb1", &Operation::FAILOVER)
    );
    assert!(!c.blocked(), "{:?}", c.plan.checks);
    for ch in "lb1".chars() {
        a.update(key(ch));
    }
    assert_eq!(
        runs(a.update(code(KeyCode::Enter))),
        Some((Operation::FAILOVER, "lb1".into()))
    );
    // lb1 holds the VIP at its full priority: the failback dialog shows why there is
    // nothing to undo and offers only Esc.
    a.update(key('B'));
    let c = a.confirm.clone().expect("failback dialog");
    assert!(c.blocked());
    assert!(c
        .plan
        .blockers(false)
        .iter()
        .any(|b| b.contains("nothing to fail back")));
    assert!(a.update(key('y')).is_empty(), "y cannot confirm a ✗");
    assert!(a.update(code(KeyCode::Enter)).is_empty());
    assert_eq!(a.ui.mode, Mode::Confirm);
    a.update(code(KeyCode::Esc));
    assert_eq!(a.ui.mode, Mode::Normal);
    a.update(acted(Operation::FAILOVER, "lb1", Outcome::Done));
    for (index, vip) in [(0, false), (1, true)] {
        a.update(Action::Update(SourceUpdate::Vrrp {
            index,
            at: t0,
            result: Ok(VrrpSample::Vip(vip)),
        }));
    }
    a.update(key('B'));
    let c = a.confirm.clone().expect("failback dialog");
    assert_eq!(
        (c.plan.target.as_str(), &c.plan.operation),
        ("lb1", &Operation::FAILBACK)
    );
    assert!(!c.blocked(), "{:?}", c.plan.checks);
}

#[test]
fn esc_during_a_drain_offers_to_undo_it() {
    let mut a = app();
    feed(&mut a, Instant::now());
    a.update(acted(Operation::drain("web2"), "web2", Outcome::Done));
    assert!(a.cluster.drained.contains("web2"));
    a.update(code(KeyCode::Esc));
    let c = a.confirm.clone().expect("undo dialog");
    assert_eq!(c.plan.operation, Operation::ready("web2"));
    a.update(acted(Operation::ready("web2"), "web2", Outcome::Done));
    assert!(a.draining.is_none());
    assert!(!a.cluster.drained.contains("web2"));
}

#[test]
fn esc_offers_the_undo_once_then_goes_back_to_the_fleet() {
    let mut a = app();
    a.in_fleet = true;
    feed(&mut a, Instant::now());
    a.update(acted(Operation::drain("web2"), "web2", Outcome::Done));
    assert!(a.draining.is_some(), "the drain is watched");
    a.update(code(KeyCode::Esc));
    assert!(a.confirm.is_some(), "the first Esc offers the undo");
    // Declined: the drain goes on, and the status line names the key that undoes it now.
    a.update(code(KeyCode::Esc));
    assert!(a.confirm.is_none() && a.draining.is_some());
    assert!(
        a.drain_progress()
            .is_some_and(|p| p.starts_with("draining web2 (r undoes): ")),
        "{:?}",
        a.drain_progress()
    );
    assert_eq!(a.update(code(KeyCode::Esc)), vec![Effect::Back]);
    // A new drain offers its own undo again.
    a.update(acted(Operation::drain("web3"), "web3", Outcome::Done));
    a.update(code(KeyCode::Esc));
    assert!(a.confirm.is_some());
}

#[test]
fn read_only_refuses_failover_and_failback_too() {
    let mut a = app();
    a.read_only = true;
    for (k, op) in [('F', Operation::FAILOVER), ('B', Operation::FAILBACK)] {
        // Refused, and the refusal audited like the CLI's.
        match a.update(key(k)).as_slice() {
            [Effect::Refuse { operation, reason }] => {
                assert_eq!((operation, reason.as_str()), (&op, "--read-only"))
            }
            other => panic!("{k}: {other:?}"),
        }
        assert_eq!(a.ui.mode, Mode::Normal);
        assert!(
            a.flash
                .as_ref()
                .is_some_and(|f| f.1.starts_with("read-only")),
            "{k}"
        );
    }
}

/// The pair fed once, then lb2's next read refused.
fn lb2_unreadable(a: &mut App) {
    let t0 = Instant::now();
    feed(a, t0);
    a.update(Action::Update(SourceUpdate::Balancer {
        index: 1,
        at: t0,
        result: Err(crate::wire::SourceError::Connect("refused".into())),
    }));
}

#[test]
fn a_balancer_that_could_not_be_read_blocks_the_drain() {
    let mut a = app();
    lb2_unreadable(&mut a);
    a.update(key('d'));
    let c = a.confirm.clone().expect("dialog");
    assert!(c.blocked());
    assert_eq!(
        c.plan.blockers(false),
        vec!["lb2 could not be read: cannot connect: refused"]
    );
    assert!(a.update(key('y')).is_empty(), "y cannot confirm");
    assert_eq!(a.ui.mode, Mode::Confirm, "only Esc closes it");
}

#[test]
fn where_the_profile_allows_it_typing_force_acts_past_an_unreadable_balancer() {
    let mut a = app();
    a.profile.allow_force = true;
    lb2_unreadable(&mut a);
    a.update(key('d'));
    let c = a.confirm.clone().expect("dialog");
    assert!(c.blocked() && c.forceable());
    let s = screen_at(&a, 80, 24);
    assert!(s.contains("type force"), "{s}");
    assert!(a.update(key('y')).is_empty(), "y does not force");
    a.update(code(KeyCode::Backspace));
    for ch in "forc".chars() {
        a.update(key(ch));
    }
    assert!(
        a.update(code(KeyCode::Enter)).is_empty(),
        "only the whole word"
    );
    a.update(key('e'));
    match a.update(code(KeyCode::Enter)).as_slice() {
        [Effect::Run { plan, forced, .. }] => {
            assert!(*forced);
            assert_eq!(
                plan.forced_past(),
                vec!["lb2 could not be read: cannot connect: refused"]
            );
        }
        other => panic!("{other:?}"),
    }
    // Without allow_force the same dialog offers only Esc.
    a.profile.allow_force = false;
    a.update(key('d'));
    assert!(!a.confirm.clone().expect("dialog").forceable());
    for ch in "force".chars() {
        a.update(key(ch));
    }
    assert!(a.update(code(KeyCode::Enter)).is_empty());
    assert_eq!(a.ui.mode, Mode::Confirm, "only Esc closes it");
}

#[test]
fn slash_on_a_kept_filter_replaces_it_when_typing_starts() {
    let mut a = app();
    a.update(key('/'));
    for c in "web2".chars() {
        a.update(key(c));
    }
    a.update(code(KeyCode::Enter));
    a.update(key('/'));
    assert_eq!(a.ui.filter, "web2", "still shown until typing starts");
    a.update(key('3'));
    assert_eq!(a.ui.filter, "3", "the first character replaces it");
    assert_eq!(a.visible_backends(), vec![2]);
    a.update(key('1'));
    a.update(code(KeyCode::Enter));
    a.update(key('/'));
    a.update(code(KeyCode::Backspace));
    a.update(key('2'));
    assert_eq!(a.ui.filter, "32", "Backspace edits the kept one instead");
}

#[test]
fn read_only_refuses_the_shell_unless_the_profile_allows_it() {
    let mut a = app();
    a.read_only = true;
    a.update(code(KeyCode::Tab));
    a.update(code(KeyCode::Tab));
    let effects = a.update(key('s'));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Refuse { operation: Operation::Shell { host }, reason }]
                if host == "10.77.0.11" && reason.contains("--read-only")
        ),
        "{effects:?}"
    );
    assert!(a.flash.as_ref().is_some_and(|f| f
        .1
        .contains("read-only: the shell on 10.77.0.11 is refused")));
    a.profile.shell_in_read_only = true;
    assert_eq!(a.update(key('s')), vec![Effect::Shell("10.77.0.11".into())]);
}

/// The whole screen at 120x30, as text.
fn screen(a: &App) -> String {
    let mut term =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).expect("terminal");
    term.draw(|f| crate::ui::draw(f, a)).expect("draw");
    format!("{:?}", term.backend().buffer())
}

#[test]
fn the_audit_viewer_scrolls_back_to_the_oldest_line_and_no_further() {
    let mut a = app();
    // 60 actions, web0 the oldest: more than the viewer's 24 rows.
    let lines: Vec<String> = (0..60)
        .map(|i| {
            format!(
                r#"{{"time":"2026-11-26T10:{:02}:00.000+00:00","user":"ops","profile":"shop","action":"drain","target":"web{i}","result":"done"}}"#,
                i
            )
        })
        .collect();
    a.update(key('A'));
    a.update(Action::AuditLoaded(lines));
    let shown = screen(&a);
    assert!(
        shown.contains("web59") && !shown.contains("web0 "),
        "the newest first"
    );
    assert!(shown.contains("Audit log · 36 older (↑)"), "{shown}");
    a.update(code(KeyCode::Up));
    let shown = screen(&a);
    assert!(
        shown.contains("web35 ") && !shown.contains("web59"),
        "{shown}"
    );
    assert!(shown.contains("scrolled back 1 (↓ newer)"));
    a.update(code(KeyCode::Home));
    let shown = screen(&a);
    assert!(shown.contains("web0 ") && shown.contains("web23 ") && !shown.contains("web24"));
    // Past the oldest page it stays put, and one key down moves at once.
    a.update(code(KeyCode::PageUp));
    a.update(code(KeyCode::Up));
    assert_eq!(a.ui.audit_scroll, 36);
    a.update(code(KeyCode::Down));
    assert_eq!(a.ui.audit_scroll, 35);
    a.update(code(KeyCode::End));
    assert!(screen(&a).contains("web59"));
    assert_eq!(
        a.ui.mode,
        Mode::Audit,
        "scrolling does not close the viewer"
    );
    a.update(code(KeyCode::Esc));
    assert_eq!(a.ui.mode, Mode::Normal);
}

#[test]
fn the_audit_viewer_shows_this_cluster_and_a_toggles_every_cluster() {
    let mut a = app();
    let line = |profile: &str| {
        format!(
            r#"{{"time":"2026-11-26T10:00:00.000+00:00","user":"ops","profile":"{profile}","action":"drain","target":"web2","result":"done"}}"#
        )
    };
    assert_eq!(a.update(key('A')), vec![Effect::LoadAudit]);
    a.update(Action::AuditLoaded(vec![line("shop"), line("other")]));
    assert_eq!(a.ui.mode, Mode::Audit);
    assert!(!a.ui.audit_all, "this cluster's lines first");
    let mine = screen(&a);
    assert!(mine.contains("shop (a: every cluster)") && !mine.contains("other"));
    a.update(key('a'));
    assert!(a.ui.audit_all);
    assert_eq!(a.ui.mode, Mode::Audit, "a toggles, it does not close");
    assert!(screen(&a).contains("other"));
    a.update(code(KeyCode::Esc));
    assert_eq!(a.ui.mode, Mode::Normal);
}

#[test]
fn p_in_the_audit_viewer_reads_the_pairs_shared_log_naming_each_operator() {
    let mut a = app();
    let line = |user: &str, host: &str, profile: &str| {
        format!(
            r#"{{"time":"2026-11-26T10:00:00.000+00:00","user":"{user}","profile":"{profile}","operator":{{"user":"{user}","host":"{host}","ssh_user":"ops","pid":7}},"action":"drain","target":"web2","result":"done"}}"#
        )
    };
    a.update(key('A'));
    a.update(Action::AuditLoaded(vec![line("ana", "admin1", "shop")]));
    assert_eq!(a.update(key('p')), vec![Effect::LoadSharedAudit]);
    assert_eq!(a.ui.mode, Mode::Audit, "p toggles, it does not close");
    assert!(screen(&a).contains("reading the pair's shared audit log"));
    a.update(Action::SharedAuditLoaded {
        lines: vec![
            line("ana", "admin1", "shop"),
            line("bob", "admin2", "shop-b"),
        ],
        unread: vec!["lb2: no answer within 2s".into()],
    });
    let shown = screen(&a);
    for said in [
        "the pair's shared log (p: local)",
        "ana@admin1",
        "bob@admin2",
        "not read: lb2: no answer within 2s",
    ] {
        assert!(shown.contains(said), "{said}: {shown}");
    }
    assert_eq!(a.update(key('p')), Vec::new(), "back to the local log");
    assert!(!screen(&a).contains("bob@admin2"));
}

#[test]
fn another_operators_action_on_the_pair_shows_in_events_once() {
    let mut a = app();
    let line = r#"{"time":"2026-11-26T10:00:00.000+00:00","user":"bob","profile":"shop","operator":{"user":"bob","host":"admin2","ssh_user":"ops","pid":7},"action":"drain","target":"web2","result":"done"}"#;
    for index in [0, 1] {
        a.update(Action::Update(crate::sources::SourceUpdate::SharedAudit {
            index,
            at: Instant::now(),
            result: Ok(line.into()),
        }));
    }
    let said: Vec<_> = a
        .cluster
        .events
        .iter()
        .filter(|e| e.text == "bob@admin2 drained web2 (done)")
        .collect();
    assert_eq!(said.len(), 1, "the line on both balancers is one action");
    assert_eq!(said[0].subject, "web2");
}

/// The whole screen as text at `w`×`h`.
fn screen_at(a: &App, w: u16, h: u16) -> String {
    let mut term =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| crate::ui::draw(f, a)).expect("draw");
    let buf = term.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dialogs_keep_their_confirm_line_and_say_where_the_backend_stands() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    a.update(key('j'));
    a.update(key('d'));
    let big = screen_at(&a, 120, 40);
    assert!(big.contains("web2 now: DRAIN on lb1, UP on lb2"), "{big}");
    assert!(
        big.contains("Drain web2 · shop"),
        "the dialog names the cluster"
    );
    for (w, h) in [(80, 24), (60, 15), (40, 10)] {
        let s = screen_at(&a, w, h);
        assert!(s.contains("y confirm"), "{w}x{h}:\n{s}");
    }
    // Production: the typed-name prompt and its Enter/Esc line stay too.
    let mut p = app();
    feed(&mut p, Instant::now());
    p.update(key('j'));
    p.update(key('d'));
    for (w, h) in [(80, 24), (40, 10)] {
        let s = screen_at(&p, w, h);
        assert!(s.contains("Esc cancels"), "{w}x{h}:\n{s}");
    }
}

#[test]
fn an_nginx_drain_waits_on_the_access_logs_and_ends() {
    let text = r#"
name = "web"
environment = "staging"
[[balancers]]
name = "lb1"
host = "10.77.0.11"
kind = "nginx"
access_log = "/var/log/nginx/access.log"
[[backends]]
name = "web1"
address = "10.77.0.21:80"
[[backends]]
name = "web2"
address = "10.77.0.22:80"
"#;
    let mut a = app_from(text);
    let t0 = Instant::now();
    let traffic = |rate: f64| {
        Action::Update(SourceUpdate::Traffic {
            index: 0,
            at: t0,
            lines: None,
            result: Ok(vec![crate::sources::access_log::BackendTraffic {
                addr: "10.77.0.22:80".into(),
                requests: 30,
                req_rate: rate,
                err_rate: 0.0,
                responses: [30, 0, 0],
                p50_ms: None,
                p95_ms: None,
                p99_ms: None,
                ..Default::default()
            }]),
        })
    };
    a.update(traffic(3.0));
    a.update(acted(Operation::drain("web2"), "web2", Outcome::Done));
    a.update(traffic(1.5));
    assert!(
        a.drain_progress().is_some_and(
            |p| p.starts_with("draining web2 (Esc undoes): 1.5 req/s in the access logs")
        ),
        "{:?}",
        a.drain_progress()
    );
    a.update(traffic(0.0));
    assert!(
        a.draining.is_none(),
        "the drain ends when the logs go quiet"
    );
    assert!(a.cluster.events.iter().any(|e| e
        .text
        .starts_with("web2 drained: no request in the access logs")));
}

#[test]
fn an_alert_keeps_its_age_while_its_figures_change() {
    assert_eq!(
        alert_key("lb1 numbers are stale: no answer for 12s"),
        alert_key("lb1 numbers are stale: no answer for 13s")
    );
    assert_eq!(
        alert_key("web1 is flapping (3 health changes in 60s): check"),
        alert_key("web1 is flapping (4 health changes in 60s): check")
    );
    assert_ne!(
        alert_key("web1 fails its health probe: HTTP 500"),
        alert_key("web2 fails its health probe: HTTP 500")
    );
}

#[test]
fn bang_opens_the_alerts_list_and_arrows_scroll_overlays_without_closing_them() {
    let mut a = app();
    a.update(key('!'));
    assert_eq!(a.ui.mode, Mode::Alerts);
    a.update(code(KeyCode::Down));
    a.update(code(KeyCode::PageDown));
    assert_eq!(a.ui.mode, Mode::Alerts);
    assert!(a.ui.overlay_scroll > 1);
    assert_eq!(
        a.ui.selected_backend, None,
        "the table under the overlay does not move"
    );
    a.update(code(KeyCode::Home));
    assert_eq!(a.ui.overlay_scroll, 0);
    a.update(key('x'));
    assert_eq!(a.ui.mode, Mode::Normal);
    a.update(key('?'));
    assert_eq!((a.ui.mode, a.ui.overlay_scroll), (Mode::Help, 0));
    a.update(key('!'));
    assert_eq!(a.ui.mode, Mode::Normal, "any other key closes help");
}

#[test]
fn the_events_stop_scrolling_back_at_the_oldest_full_page() {
    let mut a = app();
    let wall = a.wall(a.now);
    for i in 0..30 {
        a.cluster
            .events
            .push(wall, crate::model::Level::Info, "web1", format!("e{i}"));
    }
    a.ui.focus = Pane::Events;
    a.ui.event_rows.set(10);
    a.update(code(KeyCode::Home));
    assert_eq!(a.ui.event_scroll, 20);
    a.update(code(KeyCode::Down));
    assert_eq!(a.ui.event_scroll, 19);
}

#[test]
fn failback_cannot_start_a_keepalived_its_method_did_not_stop() {
    use crate::model::Role;
    use crate::sources::vrrp::VrrpSample;
    use crate::wire::keepalived::DumpInstance;
    let mut a = app();
    let t0 = Instant::now();
    feed(&mut a, t0);
    // keepalived stopped by hand on lb1 (its method is the track file); lb2 took the VIP.
    let backup = DumpInstance {
        name: "VI_1".into(),
        vrid: 77,
        role: Role::Master,
        base_priority: 100,
        effective_priority: 100,
        nopreempt: false,
        last_transition: 0.0,
        vips: vec![],
        become_master: None,
        release_master: None,
        wantstate: None,
    };
    for (index, sample) in [
        (0, VrrpSample::Vip(false)),
        (0, VrrpSample::Dump(None)),
        (1, VrrpSample::Vip(true)),
        (1, VrrpSample::Dump(Some(backup))),
    ] {
        a.update(Action::Update(SourceUpdate::Vrrp {
            index,
            at: t0,
            result: Ok(sample),
        }));
    }
    a.update(key('B'));
    let c = a.confirm.clone().expect("failback dialog");
    assert!(c.blocked(), "{:?}", c.plan.checks);
    assert!(
        c.plan
            .blockers(false)
            .iter()
            .any(|b| b.contains("start keepalived on lb1")),
        "{:?}",
        c.plan.checks
    );
}

#[test]
fn a_higher_priority_backup_is_an_alarm_only_once_it_had_time_to_preempt() {
    use crate::model::Role;
    use crate::sources::vrrp::VrrpSample;
    use crate::wire::keepalived::DumpInstance;
    let mut a = app();
    let t0 = Instant::now();
    let dump = |role, priority| DumpInstance {
        name: "VI_1".into(),
        vrid: 77,
        role,
        base_priority: 150,
        effective_priority: priority,
        nopreempt: false,
        last_transition: 0.0,
        vips: vec![],
        become_master: None,
        release_master: None,
        wantstate: None,
    };
    // A failback a moment ago: lb1's priority is back to 150, lb2 still MASTER at 100.
    for (index, role, prio, vip) in [(0, Role::Backup, 150, false), (1, Role::Master, 100, true)] {
        for sample in [
            VrrpSample::Vip(vip),
            VrrpSample::Dump(Some(dump(role, prio))),
        ] {
            a.update(Action::Update(SourceUpdate::Vrrp {
                index,
                at: t0,
                result: Ok(sample),
            }));
        }
    }
    let preempting = |at: Instant| {
        a.cluster
            .alerts(at)
            .into_iter()
            .find(|x| x.text.contains("does not take over"))
    };
    assert_eq!(
        preempting(t0 + Duration::from_secs(1)),
        None,
        "a normal preemption"
    );
    let alert = preempting(t0 + Duration::from_secs(6)).expect("an alarm once it should have");
    assert!(
        alert
            .text
            .starts_with("lb1 has a higher priority (150) than MASTER lb2 (100)"),
        "{}",
        alert.text
    );
}

#[test]
fn quit_during_an_operation_waits_for_its_report_unless_asked_twice() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    a.update(key('d'));
    assert!(runs(a.update(key('y'))).is_some());
    assert!(a.update(key('q')).is_empty(), "the drain is still running");
    assert!(a
        .flash
        .as_ref()
        .is_some_and(|f| f.1.contains("drain web1 is still running")));
    a.update(Action::Progress("+1 s: web1 DRAIN on lb1".into()));
    assert!(a
        .flash
        .as_ref()
        .is_some_and(|f| f.1.ends_with("quitting when it ends")));
    assert!(matches!(
        a.update(acted(Operation::drain("web1"), "web1", Outcome::Done))
            .as_slice(),
        [Effect::Quit]
    ));
    // Asked twice, it leaves at once.
    let mut a = staging();
    feed(&mut a, Instant::now());
    a.update(key('d'));
    a.update(key('y'));
    assert!(a.update(key('q')).is_empty());
    assert!(matches!(a.update(key('q')).as_slice(), [Effect::Quit]));
    // Nothing running: q quits.
    let mut a = staging();
    assert!(matches!(a.update(key('q')).as_slice(), [Effect::Quit]));
}

/// Keeps the filter `/nothing-like-this`: no backend shows, none is selected.
fn filter_out_everything(a: &mut App) {
    a.update(key('/'));
    for c in "nothing-like-this".chars() {
        a.update(key(c));
    }
    a.update(code(KeyCode::Enter));
}

#[test]
fn d_with_nothing_selected_says_why() {
    let mut a = app();
    feed(&mut a, Instant::now());
    filter_out_everything(&mut a);
    assert!(a.update(key('d')).is_empty());
    assert!(
        a.flash.as_ref().is_some_and(
            |f| f.1 == "no backend matches the filter /nothing-like-this: nothing to drain"
        ),
        "{:?}",
        a.flash
    );
}

#[test]
fn weight_keys_step_from_the_current_weight_and_zero_goes_home() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    for (k, w) in [
        ('+', Weight::By(1)),
        ('-', Weight::By(-1)),
        (']', Weight::By(10)),
        ('0', Weight::Initial),
    ] {
        a.update(key(k));
        assert_eq!(
            runs(a.update(key('y'))),
            Some((
                Operation::server("web1", ServerChange::Weight(w)),
                "web1".into()
            )),
            "{k}"
        );
    }
    a.update(key('m'));
    assert_eq!(
        runs(a.update(key('y'))),
        Some((
            Operation::server("web1", ServerChange::Maint),
            "web1".into()
        ))
    );
}

#[test]
fn killing_sessions_needs_the_name_typed_even_outside_production() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    a.update(key('K'));
    assert!(a.update(key('y')).is_empty(), "y is not enough");
    a.update(code(KeyCode::Backspace));
    for c in "web1".chars() {
        a.update(key(c));
    }
    assert_eq!(
        runs(a.update(code(KeyCode::Enter))),
        Some((
            Operation::server("web1", ServerChange::KillSessions),
            "web1".into()
        ))
    );
}

#[test]
fn marked_backends_act_as_one_batch_and_the_guard_counts_them_together() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    // web1 and web2 marked (space moves down as it marks).
    a.update(key(' '));
    a.update(key(' '));
    assert_eq!(
        a.ui.marked.iter().cloned().collect::<Vec<_>>(),
        vec!["web1", "web2"]
    );
    a.update(key('m'));
    let c = a.confirm.as_ref().expect("one dialog for the batch");
    assert_eq!(c.plan.target, "web1, web2");
    assert_eq!(c.batch.as_ref().map(|b| b.plans.len()), Some(2));
    let effects = a.update(key('y'));
    match effects.as_slice() {
        [Effect::RunBatch { batch, forced }] => {
            assert!(!forced);
            let ops: Vec<String> = batch
                .plans
                .iter()
                .map(|p| p.operation.to_string())
                .collect();
            assert_eq!(ops, vec!["maint web1", "maint web2"]);
            assert!(batch
                .plans
                .iter()
                .all(|p| p.batch.as_ref() == Some(&batch.id)));
        }
        other => panic!("expected one batch to run, got {other:?}"),
    }
    assert!(
        a.ui.marked.is_empty(),
        "marks go once the batch is confirmed"
    );
    // Esc unmarks; U too.
    a.update(key(' '));
    a.update(code(KeyCode::Esc));
    assert!(a.ui.marked.is_empty());
}

#[test]
fn read_only_refuses_a_batch_change_by_change() {
    let mut a = staging();
    a.read_only = true;
    feed(&mut a, Instant::now());
    a.update(key(' '));
    a.update(key(' '));
    let effects = a.update(key('d'));
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert!(effects
        .iter()
        .all(|e| matches!(e, Effect::Refuse { reason, .. } if reason == "--read-only")));
}

#[test]
fn enter_opens_the_selected_backends_detail_and_esc_enter_or_q_close_it() {
    let mut a = app();
    feed(&mut a, Instant::now());
    a.update(key('j'));
    assert!(a.update(code(KeyCode::Enter)).is_empty());
    assert_eq!(a.ui.mode, Mode::Detail);
    assert_eq!(a.ui.detail.as_deref(), Some("web2"));
    assert_eq!(
        a.detail_backend().map(|b| b.address.as_str()),
        Some("10.77.0.22:80")
    );
    // Arrows scroll the view; the backend it shows stays while polls move rows.
    a.update(key('j'));
    assert_eq!((a.ui.mode, a.ui.overlay_scroll), (Mode::Detail, 1));
    feed(&mut a, Instant::now());
    assert_eq!(a.ui.detail.as_deref(), Some("web2"));
    for close in [code(KeyCode::Esc), code(KeyCode::Enter), key('q')] {
        assert!(a.update(close).is_empty(), "closing is not quitting");
        assert_eq!(a.ui.mode, Mode::Normal);
        a.update(code(KeyCode::Enter));
        assert_eq!(a.ui.mode, Mode::Detail);
        assert_eq!(a.ui.overlay_scroll, 0, "it opens at its top");
    }
}

#[test]
fn enter_with_no_backend_to_show_says_why() {
    let mut a = app();
    feed(&mut a, Instant::now());
    filter_out_everything(&mut a);
    a.update(code(KeyCode::Enter));
    assert_eq!(a.ui.mode, Mode::Normal);
    assert_eq!(
        a.flash.as_ref().map(|f| f.1.as_str()),
        Some("no backend matches the filter /nothing-like-this: no detail to show")
    );
    a.update(code(KeyCode::Esc));
    a.update(code(KeyCode::Tab));
    a.update(code(KeyCode::Enter));
    assert_eq!(a.ui.mode, Mode::Normal);
    assert_eq!(
        a.flash.as_ref().map(|f| f.1.as_str()),
        Some("select a backend first (Tab to the backend table) to see its detail")
    );
}

#[test]
fn the_detail_key_is_remappable() {
    let mut a = app();
    a.keymap = Keymap::parse("k.toml", "[keys]\ndetail = [\"i\"]\n").expect("keymap");
    feed(&mut a, Instant::now());
    a.update(key('i'));
    assert_eq!(a.ui.mode, Mode::Detail);
}

#[test]
fn a_weight_a_static_algorithm_would_refuse_is_refused_before_sending() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    a.cluster.balancers[0].static_balance = Some("source".into());
    for v in a.cluster.backends[0].views.iter_mut().flatten() {
        v.weight = Some(1);
        v.weight_initial = Some(1);
    }
    a.update(key('+'));
    let c = a.confirm.as_ref().expect("dialog");
    assert!(
        c.blocked(),
        "weight 2 on `balance source` cannot be confirmed"
    );
    assert!(c.plan.blockers(false).iter().any(|b| b.starts_with(
        "lb1: Backend is using a static LB algorithm and only accepts weights '0%' and '100%' (balance source)"
    )));
    a.update(code(KeyCode::Esc));
    // Back to the configured weight (100%) is what a static algorithm takes.
    a.update(key('0'));
    assert!(!a.confirm.as_ref().expect("dialog").blocked());
}

#[test]
fn r_rolls_through_the_marked_backends_and_esc_stops_it() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    a.update(key(' '));
    a.update(key(' '));
    a.update(key('R'));
    let c = a.confirm.as_ref().expect("dialog");
    assert_eq!(c.plan.target, "web1, web2");
    assert!(c
        .plan
        .checks
        .iter()
        .any(|c| c.what == "nothing is run on the backends (no roll_exec in the profile)"));
    let roll = Operation::Roll {
        backends: vec!["web1".into(), "web2".into()],
        exec: None,
    };
    assert_eq!(runs(a.update(key('y'))), Some((roll, "web1, web2".into())));
    assert_eq!(
        a.update(key('R')),
        vec![Effect::PauseRoll],
        "R pauses a running roll"
    );
    assert_eq!(a.update(code(KeyCode::Esc)), vec![Effect::StopRoll]);
}

#[test]
fn a_change_while_the_roll_runs_is_refused_and_r_still_reaches_the_roll() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    a.update(key('R'));
    assert!(runs(a.update(key('y'))).is_some(), "the roll starts");
    assert_eq!(
        a.update(key('m')),
        vec![Effect::Refuse {
            operation: Operation::server("web1", ServerChange::Maint),
            reason: "a roll is running in this console".into(),
        }]
    );
    assert!(a.confirm.is_none(), "no dialog opens");
    assert_eq!(a.update(key('R')), vec![Effect::PauseRoll]);
}

#[test]
fn h_on_a_server_in_maintenance_offers_checks_off_and_on_after_this_console_switched_them_off() {
    let mut a = staging();
    feed(&mut a, Instant::now());
    // web1 is MAINT on lb1 (no check result shown there).
    a.update(key('H'));
    assert_eq!(
        a.confirm.as_ref().map(|c| c.plan.operation.clone()),
        Some(Operation::server("web1", ServerChange::Health(false)))
    );
    a.update(code(KeyCode::Esc));
    a.cluster.checks_off.insert("web1".into());
    a.update(key('H'));
    assert_eq!(
        a.confirm.as_ref().map(|c| c.plan.operation.clone()),
        Some(Operation::server("web1", ServerChange::Health(true)))
    );
}
