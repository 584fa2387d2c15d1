//! The console itself, on the demo cluster, in a real terminal (tmux): all panes within
//! one poll interval, at 80x24 and 200x60, and the keys that matter.

mod common;

use std::time::Duration;

use common::{assert_fits, audit_entries, bin, Tmux};

fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn demo(w: u16, h: u16, home: &tempfile::TempDir) -> Tmux {
    let cmd = format!(
        "HOME={0} XDG_CONFIG_HOME={0}/config XDG_STATE_HOME={0}/state {1} demo",
        home.path().display(),
        bin()
    );
    Tmux::start(&cmd, w, h)
}

fn all_panes(s: &str) -> bool {
    [
        "DEMO",
        "Balancers · VRRP (2)",
        "Backends 6",
        "Traffic",
        "Events",
        "help",
    ]
    .iter()
    .all(|n| s.contains(n))
        && s.contains("lb1")
        && s.contains("web6")
        && s.lines().any(|l| l.contains("lb1") && l.contains("UP"))
}

#[test]
fn every_pane_shows_within_one_poll_at_80x24_and_200x60() {
    let h = home();
    for (w, rows) in [(80u16, 24u16), (200, 60)] {
        let t = demo(w, rows, &h);
        // One poll interval (1 s) plus start-up.
        let s = t.wait_for(
            "all panes with data",
            Duration::from_millis(2500),
            all_panes,
        );
        assert_fits(&s, w as usize, rows as usize);
        assert!(s.contains("VIP 127.0.0.100"), "{s}");
        t.keys(&["q"]);
        t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
    }
}

#[test]
fn filter_sort_help_and_theme_keys_work() {
    let h = home();
    let t = demo(100, 30, &h);
    t.wait_for("data", Duration::from_secs(3), all_panes);
    t.keys(&["/"]);
    t.type_text("web3");
    let s = t.wait_for("filter applied", Duration::from_secs(2), |s| {
        s.contains("Backends 1/6")
    });
    assert!(s.contains("FILTER"), "{s}");
    assert!(!s.contains("web5"), "{s}");
    t.keys(&["Enter"]);
    t.wait_for("filter kept", Duration::from_secs(2), |s| {
        !s.contains("FILTER")
    });
    t.keys(&["Escape"]);
    t.wait_for("filter cleared", Duration::from_secs(2), |s| {
        s.contains("Backends 6 ·")
    });
    t.keys(&["o"]);
    t.wait_for("sorted by name", Duration::from_secs(2), |s| {
        s.contains("sort name↑")
    });
    t.keys(&["O"]);
    let s = t.wait_for("reversed", Duration::from_secs(2), |s| {
        s.contains("sort name↓")
    });
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("┃web")).collect();
    assert!(rows.first().is_some_and(|r| r.contains("web6")), "{s}");
    t.keys(&["?"]);
    let s = t.wait_for("help", Duration::from_secs(2), |s| {
        s.contains("Help") && s.contains("next theme")
    });
    assert!(s.contains("sort backends by the next column"));
    t.keys(&["Escape"]);
    t.wait_for("help closed", Duration::from_secs(2), |s| {
        !s.contains("next theme")
    });
    t.keys(&["t"]);
    t.wait_for("theme switched", Duration::from_secs(2), |s| {
        s.contains("theme: light")
    });
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
}

#[test]
fn resizing_redraws_without_garbage() {
    let h = home();
    let t = demo(80, 24, &h);
    t.wait_for("data", Duration::from_secs(3), all_panes);
    t.resize(200, 60);
    let s = t.wait_for("wide layout", Duration::from_secs(2), |s| {
        s.contains("address") && s.contains("2xx")
    });
    assert_fits(&s, 200, 60);
    t.resize(80, 24);
    let s = t.wait_for("narrow layout", Duration::from_secs(2), |s| {
        !s.contains("address")
    });
    assert_fits(&s, 80, 24);
    t.keys(&["q"]);
}

#[test]
fn sigterm_restores_the_terminal() {
    let h = home();
    let t = demo(80, 24, &h);
    t.wait_for("data", Duration::from_secs(3), all_panes);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &t.program_pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let s = t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
    assert!(!s.contains("Balancers"), "alternate screen left:\n{s}");
}

#[test]
fn read_only_refuses_the_shell_and_audits_the_refusal() {
    let h = home();
    let cmd = format!(
        "HOME={0} XDG_CONFIG_HOME={0}/config XDG_STATE_HOME={0}/state {1} --read-only demo",
        h.path().display(),
        bin()
    );
    let t = Tmux::start(&cmd, 100, 30);
    t.wait_for("data", Duration::from_secs(5), all_panes);
    t.keys(&["Tab"]);
    t.keys(&["Tab"]);
    t.keys(&["s"]);
    t.wait_for("the refusal", Duration::from_secs(3), |s| {
        s.contains("shell 127.0.0.11: refused")
    });
    assert!(!t.screen().contains("root@lb1"), "no shell was opened");
    let audit = h.path().join("state/lbdeck/demo-audit.jsonl");
    assert_eq!(
        audit_entries(&audit, &["action", "target", "result"]),
        vec!["shell 127.0.0.11 refused"]
    );
    assert!(
        !h.path().join("state/lbdeck/audit.jsonl").exists(),
        "the demo never writes the real clusters' audit log"
    );
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&audit)
            .expect("audit")
            .lines()
            .next()
            .expect("a line"),
    )
    .expect("JSON");
    assert_eq!(line["profile"], "demo");
    assert_eq!(line["profile_file"], "(demo)");
    for who in ["user", "host", "ssh_user"] {
        assert!(
            line["operator"][who]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "operator.{who}: {line}"
        );
    }
    t.keys(&["q"]);
}

#[test]
fn demo_nodes_answer_over_ssh_and_fail_over_like_keepalived() {
    let h = home();
    let t = demo(100, 30, &h);
    t.wait_for("roles", Duration::from_secs(5), |s| {
        s.lines().any(|l| l.contains("lb1") && l.contains("MASTER"))
            && s.lines().any(|l| l.contains("lb2") && l.contains("BACKUP"))
    });
    // Balancers pane, lb1 selected: s opens the demo node's shell.
    t.keys(&["Tab"]);
    t.keys(&["Tab"]);
    t.keys(&["s"]);
    let shell = t.wait_for("demo shell", Duration::from_secs(5), |s| {
        s.contains("root@lb1:~#")
    });
    // A clean screen that names the node: the banner is the first line.
    assert!(
        shell
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("lbdeck: shell on balancer lb1 (")),
        "{shell}"
    );
    t.type_text("echo -100 > /etc/keepalived/maintenance");
    let started = std::time::Instant::now();
    t.keys(&["Enter"]);
    t.type_text("exit");
    t.keys(&["Enter"]);
    t.wait_for("console back", Duration::from_secs(3), |s| {
        s.contains("shell on balancer lb1 ended (exit 0)")
    });
    // The shell is in the audit log, like every operation.
    let audit = h.path().join("state/lbdeck/demo-audit.jsonl");
    let wrote = std::time::Instant::now();
    while !audit.exists() && wrote.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        audit_entries(&audit, &["action", "target", "result"]),
        vec!["shell 127.0.0.11 done"]
    );
    let s = t.wait_for("lb2 MASTER", Duration::from_secs(8), |s| {
        s.lines().any(|l| l.contains("lb2") && l.contains("MASTER"))
            && s.lines().any(|l| l.contains("lb1") && l.contains("BACKUP"))
    });
    // keepalived's timing: about three advert intervals, not instantly.
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "faster than three VRRP adverts"
    );
    assert!(
        s.contains("127.0.0.100 arrived on lb2") || s.contains("lb2 BACKUP → MASTER"),
        "{s}"
    );
    t.keys(&["q"]);
}

#[test]
fn d_drains_the_selected_backend_on_both_balancers_and_u_restores_it() {
    let h = home();
    let t = demo(100, 30, &h);
    t.wait_for("data", Duration::from_secs(5), all_panes);
    t.keys(&["j"]);
    t.keys(&["d"]);
    t.wait_for("the dialog", Duration::from_secs(2), |s| {
        s.contains("Drain web2 on every balancer (lb1, lb2)?")
    });
    t.keys(&["y"]);
    let row = |s: &str| {
        s.lines()
            .find(|l| l.contains("┃web2 "))
            .unwrap_or("")
            .to_string()
    };
    t.wait_for("DRAIN on both", Duration::from_secs(5), |s| {
        row(s).matches("DRAIN").count() == 2
    });
    t.wait_for("sessions at 0", Duration::from_secs(10), |s| {
        s.contains("web2 drained: no sessions left")
    });
    t.keys(&["u"]);
    t.wait_for("the dialog", Duration::from_secs(2), |s| {
        s.contains("Undrain web2")
    });
    t.keys(&["y"]);
    t.wait_for("UP on both", Duration::from_secs(5), |s| {
        row(s).matches(" UP ").count() == 2
    });
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
    assert_eq!(
        audit_entries(
            &h.path().join("state/lbdeck/demo-audit.jsonl"),
            &["action", "result"]
        ),
        vec!["drain done", "undrain done"]
    );
}

#[test]
fn shift_f_fails_over_and_shift_b_fails_back_on_the_demo() {
    let h = home();
    let t = demo(100, 30, &h);
    let row = |s: &str, n: &str| {
        s.lines()
            .find(|l| l.starts_with(&format!("│{n} ")))
            .unwrap_or("")
            .to_string()
    };
    t.wait_for("roles", Duration::from_secs(5), |s| {
        row(s, "lb1").contains("MASTER")
    });
    t.keys(&["F"]);
    t.wait_for("the dialog", Duration::from_secs(2), |s| {
        s.contains("Fail over from lb1?")
    });
    t.keys(&["y"]);
    let s = t.wait_for("VIP on lb2 and the timing", Duration::from_secs(10), |s| {
        row(s, "lb2").contains("MASTER") && s.contains("VIP moved lb1 → lb2 in")
    });
    assert!(row(&s, "lb1").contains("BACKUP"), "{s}");
    t.keys(&["B"]);
    t.wait_for("the dialog", Duration::from_secs(2), |s| {
        s.contains("Fail back to lb1?")
    });
    t.keys(&["y"]);
    t.wait_for("VIP home", Duration::from_secs(10), |s| {
        row(s, "lb1").contains("MASTER") && s.contains("VIP moved lb2 → lb1")
    });
    t.keys(&["q"]);
    assert_eq!(
        audit_entries(
            &h.path().join("state/lbdeck/demo-audit.jsonl"),
            &["action", "result"]
        ),
        vec!["failover done", "failback done"]
    );
}

#[test]
fn shift_a_shows_the_audit_log() {
    let h = home();
    let t = demo(120, 30, &h);
    t.wait_for("data", Duration::from_secs(5), all_panes);
    t.keys(&["A"]);
    t.wait_for("empty viewer", Duration::from_secs(2), |s| {
        s.contains("Audit log") && s.contains("no actions recorded yet")
    });
    // Esc followed at once by a key would read as Alt and that key.
    t.keys(&["Escape"]);
    t.wait_for("the viewer closed", Duration::from_secs(2), |s| {
        !s.contains("Audit log")
    });
    t.keys(&["d"]);
    t.wait_for("the dialog", Duration::from_secs(2), |s| {
        s.contains("Drain web1")
    });
    t.keys(&["y"]);
    t.wait_for("drained", Duration::from_secs(5), |s| {
        s.contains("drain web1: done")
    });
    t.keys(&["A"]);
    t.wait_for("the action in the viewer", Duration::from_secs(2), |s| {
        s.lines()
            .any(|l| l.contains("drain") && l.contains("web1") && l.contains("done"))
    });
    t.keys(&["q"]);
}
