//! The runtime prompt on the HAProxy demo in a real terminal (tmux): `:` then a read
//! answers from both simulated balancers at once; a change asks first, takes on both and
//! reads back with `get weight`; an unknown command gets HAProxy's own refusal; only the
//! changes are in the demo's audit log, and in the demo pair's shared log.

mod common;

use std::time::Duration;

use common::{audit_entries, bin, Tmux};

/// How long a screen may take to show what a step waits for.
const WAIT: Duration = Duration::from_secs(10);

/// `:` COMMAND Enter.
fn send(t: &Tmux, command: &str) {
    t.keys(&[":"]);
    // The prompt's own hints: the answers overlay also says RUNTIME.
    t.wait_for("the prompt", WAIT, |s| s.contains("Enter send"));
    t.type_text(command);
    t.keys(&["Enter"]);
}

/// Esc on the answers, and waits until they are gone (an Esc followed at once by a key
/// would read as Alt and that key).
fn close(t: &Tmux) {
    t.keys(&["Escape"]);
    t.wait_for("the answers closed", WAIT, |s| !s.contains("took it"));
}

#[test]
fn the_runtime_prompt_on_the_haproxy_demo() {
    let home = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(
        &format!(
            "HOME={0} XDG_CONFIG_HOME={0}/config XDG_STATE_HOME={0}/state {1} demo --backends 3",
            home.path().display(),
            bin(),
        ),
        120,
        32,
    );
    t.wait_for("the pair read", WAIT, |s| s.contains("MASTER"));

    send(&t, "show info");
    let s = t.wait_for("both answers", WAIT, |s| s.contains("2 of 2 took it"));
    assert_eq!(s.matches("Name: HAProxy").count(), 2, "{s}");
    assert!(
        s.contains("✓ lb1  answered") && s.contains("✓ lb2  answered"),
        "{s}"
    );
    close(&t);

    send(&t, "set server be_web/web1 weight 5");
    t.wait_for("the dialog", WAIT, |s| {
        s.contains("Runtime command on demo (lb1, lb2): set server be_web/web1 weight 5?")
    });
    t.keys(&["y"]);
    t.wait_for("both took it", WAIT, |s| {
        s.contains("runtime 'set server be_web/web1 weight 5' · 2 of 2 took it")
    });
    close(&t);
    send(&t, "get weight be_web/web1");
    let s = t.wait_for("the weight read back", WAIT, |s| {
        s.contains("2 of 2 took it")
    });
    assert_eq!(s.matches("5 (initial 1)").count(), 2, "{s}");
    close(&t);

    send(&t, "bogus");
    t.wait_for("the dialog", WAIT, |s| {
        s.contains("Runtime command on demo")
    });
    t.keys(&["y"]);
    let s = t.wait_for("HAProxy's refusal", WAIT, |s| s.contains("0 of 2 took it"));
    assert!(s.contains("✗ lb1  Unknown command"), "{s}");
    close(&t);

    // Both changes are in the pair's shared log too, each once though both balancers
    // hold it.
    t.keys(&["A"]);
    t.wait_for("the audit viewer", WAIT, |s| s.contains("Audit log"));
    t.keys(&["p"]);
    // A row of the shared log names the operator as user@host.
    let rows = |s: &str| {
        s.lines()
            .filter(|l| l.contains(" runtime ") && l.contains('@'))
            .count()
    };
    let s = t.wait_for("the pair's shared log", WAIT, |s| {
        s.contains("the pair's shared log (p: local)") && rows(s) > 0
    });
    assert_eq!(rows(&s), 2, "{s}");
    assert!(!s.contains("not read:"), "{s}");
    t.keys(&["Escape"]);
    t.wait_for("the viewer closed", WAIT, |s| !s.contains("Audit log"));
    t.keys(&["q"]);

    let audit = home.path().join("state/lbdeck/demo-audit.jsonl");
    t.wait_for("the audit log", WAIT, |_| audit.exists());
    assert_eq!(
        audit_entries(&audit, &["action", "argument", "result"]),
        vec![
            "runtime set server be_web/web1 weight 5 done",
            "runtime bogus failed"
        ]
    );
}
