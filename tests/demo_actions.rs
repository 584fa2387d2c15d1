//! Every action key on the demo, for every balancer kind, in a real terminal (tmux):
//! drain, undrain, failover and failback each end "done" on screen and in the demo's
//! audit log, and the backend's state follows on both balancers.

mod common;

use std::time::Duration;

use common::{audit_entries, bin, Tmux};

/// What a drain reads back as on a kind: nginx open source can only mark a server `down`.
struct Kind {
    /// `lbdeck demo --kind` value.
    name: &'static str,
    /// The state a drained server reads back as.
    drained: &'static str,
    /// Whether the console shows each balancer's view of a server (the Plus API and
    /// HAProxy's runtime API do; nginx's stub_status does not).
    per_balancer: bool,
}

/// The web2 row of the backends pane.
fn web2(s: &str) -> String {
    s.lines()
        .find(|l| l.contains("┃web2 "))
        .unwrap_or("")
        .to_string()
}

/// The row of balancer `name`.
fn balancer(s: &str, name: &str) -> String {
    s.lines()
        .find(|l| l.starts_with(&format!("│{name} ")))
        .unwrap_or("")
        .to_string()
}

/// How long a screen may take to show what a step waits for: a VIP move takes about
/// three VRRP adverts (3 s) plus a poll.
const WAIT: Duration = Duration::from_secs(10);

/// Presses `key`, waits for its dialog (`dialog`), confirms with `y` and waits for `done`.
fn confirm(t: &Tmux, key: &str, dialog: &str, done: &str) {
    t.keys(&[key]);
    t.wait_for(dialog, WAIT, |s| s.contains(dialog));
    t.keys(&["y"]);
    t.wait_for(done, WAIT, |s| s.contains(done));
}

fn every_action_ends_done(kind: Kind) {
    let home = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(
        &format!(
            "HOME={0} XDG_CONFIG_HOME={0}/config XDG_STATE_HOME={0}/state {1} demo --kind {2} --backends 3",
            home.path().display(),
            bin(),
            kind.name
        ),
        120,
        32,
    );
    t.wait_for("web2 in rotation on lb1, lb1 MASTER", WAIT, |s| {
        balancer(s, "lb1").contains("MASTER") && web2(s).contains(" OK ")
    });

    t.keys(&["j"]);
    confirm(&t, "d", "Drain web2", "drain web2: done");
    if kind.per_balancer {
        t.wait_for("drained on both balancers", WAIT, |s| {
            web2(s).matches(kind.drained).count() == 2
        });
    }
    // The console's verdict that the backend gets no more traffic: the simulated
    // balancers honour the change.
    t.wait_for("web2 drained", Duration::from_secs(15), |s| {
        s.contains("web2 drained")
    });

    confirm(&t, "u", "Undrain web2", "undrain web2: done");
    if kind.per_balancer {
        t.wait_for("UP on both balancers", WAIT, |s| {
            web2(s).matches(" UP ").count() == 2
        });
    }

    confirm(
        &t,
        "F",
        "Fail over from lb1",
        "failover: VIP moved lb1 → lb2",
    );
    t.wait_for("lb2 MASTER", WAIT, |s| {
        balancer(s, "lb2").contains("MASTER")
    });
    confirm(&t, "B", "Fail back to lb1", "failback: VIP moved lb2 → lb1");
    t.wait_for("lb1 MASTER", WAIT, |s| {
        balancer(s, "lb1").contains("MASTER")
    });
    t.keys(&["q"]);
    t.wait_for("exit", WAIT, |s| s.contains("EXITED 0"));

    let audit = home.path().join("state/lbdeck/demo-audit.jsonl");
    assert_eq!(
        audit_entries(&audit, &["action", "target", "result"]),
        vec![
            "drain web2 done",
            "undrain web2 done",
            "failover lb1 done",
            "failback lb1 done"
        ]
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let both = |state: &str| serde_json::json!({ "lb1": state, "lb2": state });
    assert_eq!(
        (&lines[0]["before"], &lines[0]["after"]),
        (&both("UP"), &both(kind.drained)),
        "drain"
    );
    assert_eq!(lines[1]["after"], both("UP"), "undrain");
    assert_eq!(
        lines[2]["after"],
        serde_json::json!({ "lb1": false, "lb2": true })
    );
    assert_eq!(
        lines[3]["after"],
        serde_json::json!({ "lb1": true, "lb2": false })
    );
}

#[test]
fn every_action_ends_done_on_the_haproxy_demo() {
    every_action_ends_done(Kind {
        name: "haproxy",
        drained: "DRAIN",
        per_balancer: true,
    });
}

#[test]
fn every_action_ends_done_on_the_nginx_demo() {
    every_action_ends_done(Kind {
        name: "nginx",
        drained: "MAINT",
        per_balancer: false,
    });
}

#[test]
fn every_action_ends_done_on_the_nginx_plus_demo() {
    every_action_ends_done(Kind {
        name: "nginx-plus",
        drained: "DRAIN",
        per_balancer: true,
    });
}
