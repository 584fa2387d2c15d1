//! The screen as an operator meets it on the demo (tmux): no colours, a small terminal,
//! every alert within reach.

mod common;

use std::time::Duration;

use common::{assert_fits, bin, Tmux};

/// The demo in a private home, with `env` before the command (e.g. `NO_COLOR=1`).
fn demo(env: &str, w: u16, h: u16, home: &tempfile::TempDir) -> Tmux {
    let cmd = format!(
        "HOME={0} XDG_CONFIG_HOME={0}/config XDG_STATE_HOME={0}/state {env} {1} demo",
        home.path().display(),
        bin()
    );
    Tmux::start(&cmd, w, h)
}

fn quit(t: &Tmux) {
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(6), |s| s.contains("EXITED 0"));
}

#[test]
fn at_40x10_the_vip_stays_with_the_size_needed_and_the_panes_come_back() {
    let h = tempfile::tempdir().expect("tempdir");
    let t = demo("", 40, 10, &h);
    let s = t.wait_for("the small screen", Duration::from_secs(6), |s| {
        s.contains("serving")
    });
    assert!(s.contains("terminal too small (need 60×13)"), "{s}");
    assert!(s.contains("VIP 127.0.0.100"), "{s}");
    assert_fits(&s, 40, 10);
    t.resize(80, 24);
    t.wait_for("every pane", Duration::from_secs(6), |s| {
        s.contains("▶ Backends") && s.contains("Events") && !s.contains("too small")
    });
    quit(&t);
}

#[test]
fn without_colour_the_focused_pane_is_named_and_bang_lists_the_alerts() {
    let h = tempfile::tempdir().expect("tempdir");
    let t = demo("NO_COLOR=1", 80, 24, &h);
    t.wait_for("data", Duration::from_secs(6), |s| s.contains("web6"));
    t.keys(&["Tab"]);
    t.wait_for("events focused", Duration::from_secs(5), |s| {
        s.contains("▶ Events") && !s.contains("▶ Backends")
    });
    t.keys(&["!"]);
    let s = t.wait_for("alerts list", Duration::from_secs(5), |s| {
        s.contains("Alerts ") && s.contains("closes")
    });
    assert!(s.contains("ALERTS"), "the status line names the mode:\n{s}");
    // Esc then `?` at once would read as alt-?.
    t.keys(&["Escape"]);
    t.wait_for("alerts closed", Duration::from_secs(5), |s| {
        !s.contains("ALERTS")
    });
    t.keys(&["?"]);
    let s = t.wait_for("help", Duration::from_secs(5), |s| s.contains("Help"));
    assert!(
        s.contains("↑↓ PgUp PgDn scroll"),
        "help at 80x24 is cut: {s}"
    );
    t.keys(&["End"]);
    let s = t.wait_for("help scrolled", Duration::from_secs(5), |s| {
        s.contains("list every alert")
    });
    assert!(s.contains("config/lbdeck/keys.toml"), "{s}");
    t.keys(&["Escape"]);
    t.wait_for("help closed", Duration::from_secs(5), |s| {
        !s.contains("Help")
    });
    quit(&t);
}
