//! The fleet overview and the cluster picker.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::screen;
use crate::action::Action;
use crate::fleet::tests::{fleet_of, THREE};
use crate::fleet::Fleet;
use crate::sources::SourceUpdate;
use crate::wire::SourceError;

fn draw(f: &Fleet, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|fr| crate::ui::fleet::draw(fr, f)).expect("draw");
    term
}

/// The three profiles, the HAProxy pair's balancers both unreachable a second ago.
fn alarmed() -> Fleet {
    let mut f = fleet_of(&THREE);
    let t0 = Instant::now();
    for index in 0..2 {
        f.update_cluster(
            1,
            Action::Update(SourceUpdate::Balancer {
                index,
                at: t0,
                result: Err(SourceError::Connect("Connection refused".into())),
            }),
        );
    }
    f.update(Action::Tick(t0 + Duration::from_secs(1)));
    f
}

#[test]
fn overview_120x10() {
    let f = alarmed();
    let text = screen(&draw(&f, 120, 10));
    // Production first and marked; the broken profile last, with its error.
    let rows: Vec<&str> = text.lines().skip(3).take(3).collect();
    assert!(
        rows[0].contains("shop-haproxy") && rows[0].contains("PROD"),
        "{text}"
    );
    assert!(
        rows[1].contains("web-nginx") && rows[1].contains("stage"),
        "{text}"
    );
    assert!(rows[2].contains("c-broken.toml:2:"), "{text}");
    assert!(text.contains("1 alarming"), "{text}");
    // Neither profile watches keepalived: its roles are not "unknown" but not watched.
    assert!(
        rows[0].contains(" - - ") && !rows[0].contains("? ?"),
        "{text}"
    );
    insta::assert_snapshot!(draw(&f, 120, 10).backend());
}

/// At 40 columns the overview keeps each cluster's name and its alarm, dropping the
/// columns that say least (age, environment, rates).
#[test]
fn a_narrow_overview_keeps_the_names_and_the_alarm() {
    let f = alarmed();
    let text = screen(&draw(&f, 40, 10));
    let rows: Vec<&str> = text.lines().skip(3).take(3).collect();
    assert!(rows[0].contains("shop-haproxy"), "{text}");
    assert!(rows[1].contains("web-nginx"), "{text}");
    assert!(text.contains("ALARM"), "{text}");
    assert!(!text.contains("AGE"), "{text}");
}

#[test]
fn picker_over_the_overview() {
    let mut f = alarmed();
    f.update(Action::Key(KeyEvent::from(KeyCode::Char('C'))));
    f.update(Action::Key(KeyEvent::from(KeyCode::Char('s'))));
    let text = screen(&draw(&f, 80, 14));
    assert!(text.contains("> s▏"), "{text}");
    assert!(text.contains("shop-haproxy production"), "{text}");
    insta::assert_snapshot!(draw(&f, 80, 14).backend());
}

#[test]
fn the_cluster_in_front_shows_the_badge_of_the_others() {
    let mut f = alarmed();
    // web-nginx is the second row.
    f.update(Action::Key(KeyEvent::from(KeyCode::Char('j'))));
    f.update(Action::Key(KeyEvent::from(KeyCode::Enter)));
    let text = screen(&draw(&f, 120, 24));
    let header = text.lines().next().unwrap_or_default();
    assert!(header.contains("web-nginx"), "{text}");
    assert!(header.contains("✖ 1 other cluster alarming"), "{text}");
    let keys = text.lines().last().unwrap_or_default();
    assert!(keys.contains("Esc fleet"), "{text}");
}
