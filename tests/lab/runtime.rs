//! Lab scenarios for the runtime prompt on the real HAProxy pair: a read answered by both
//! balancers, a weight changed on both through `lbdeck runtime --yes` and read back with
//! `get weight` (through lbdeck and on each balancer's own admin socket), put back, and
//! HAProxy's own refusal of an unknown command; the same read over the unix sockets
//! reached through SSH; and `:` in the console, where a change shows in the table.

use std::time::Duration;

use serde_json::Value;

use super::{admin_bits, ask_both, console, lbdeck_in_lab, lbdeck_ok, Tmux};

/// `get weight be_web/web1` on each lab balancer's own admin socket.
fn weight_on_both() -> Vec<String> {
    ask_both("get weight be_web/web1")
}

/// `show info`, a weight set and read back on both balancers, then put back; an unknown
/// command refused by HAProxy itself; one audit line per change, none for reads.
pub fn the_runtime_prompt_on_both_haproxy_balancers() {
    let state = tempfile::tempdir().expect("tempdir");
    let p = "lab-haproxy";
    let out = lbdeck_ok(&["runtime", "--profile", p, "show info"], state.path());
    for lb in ["== lb1 ==", "== lb2 =="] {
        assert!(out.contains(lb), "{out}");
    }
    assert_eq!(out.matches("\nName: HAProxy\n").count(), 2, "{out}");

    let out = lbdeck_ok(
        &[
            "runtime",
            "--profile",
            p,
            "--yes",
            "set server be_web/web1 weight 50",
        ],
        state.path(),
    );
    assert!(
        out.contains("runtime 'set server be_web/web1 weight 50': done"),
        "{out}"
    );
    let out = lbdeck_ok(
        &[
            "--read-only",
            "runtime",
            "--profile",
            p,
            "get weight be_web/web1",
        ],
        state.path(),
    );
    assert_eq!(out.matches("\n50 (initial 1)\n").count(), 2, "{out}");
    assert_eq!(weight_on_both(), vec!["50 (initial 1)", "50 (initial 1)"]);

    // 100% of the configured weight, whatever it is.
    lbdeck_ok(
        &[
            "runtime",
            "--profile",
            p,
            "--yes",
            "set server be_web/web1 weight 100%",
        ],
        state.path(),
    );
    assert_eq!(weight_on_both(), vec!["1 (initial 1)", "1 (initial 1)"]);

    let o = lbdeck_in_lab(&["runtime", "--profile", p, "--yes", "bogus"], state.path());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(out.matches("✗ lb").count(), 2, "{out}");
    assert!(out.contains("Unknown command"), "{out}");

    let audit: Vec<Value> = std::fs::read_to_string(state.path().join("lbdeck/audit.jsonl"))
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let said: Vec<(&str, &str)> = audit
        .iter()
        .map(|v| {
            (
                v["argument"].as_str().unwrap_or_default(),
                v["result"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        said,
        vec![
            ("set server be_web/web1 weight 50", "done"),
            ("set server be_web/web1 weight 100%", "done"),
            ("bogus", "failed"),
        ],
        "one line per change, none for the reads"
    );
}

/// `:` COMMAND Enter in the console, then `y` when the command is a change.
fn prompt(t: &Tmux, command: &str, change: bool) {
    t.keys(&[":"]);
    t.wait_for("the prompt", Duration::from_secs(2), |s| {
        s.contains("Enter send")
    });
    t.type_text(command);
    t.keys(&["Enter"]);
    if change {
        t.wait_for("the dialog", Duration::from_secs(2), |s| {
            s.contains("Runtime command on lab-haproxy (lb1, lb2)")
        });
        t.keys(&["y"]);
    }
}

/// Esc on the answers, and waits until they are gone (an Esc followed at once by a key
/// reads as Alt and that key).
fn close(t: &Tmux) {
    t.keys(&["Escape"]);
    t.wait_for("the answers closed", Duration::from_secs(2), |s| {
        !s.contains("took it")
    });
}

/// The runtime prompt over the unix sockets (reached over SSH), and `:` in the console:
/// a read answered in the overlay, a MAINT set and lifted on both balancers, shown in
/// the backend table after each.
pub fn the_runtime_prompt_over_sockets_and_in_the_console() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = lbdeck_ok(
        &["runtime", "--profile", "lab-haproxy-unix", "show info"],
        home.path(),
    );
    assert_eq!(out.matches("\nName: HAProxy\n").count(), 2, "{out}");

    let t = console("lab-haproxy", 120, 32, &home);
    prompt(&t, "show servers state be_web", false);
    let s = t.wait_for("both answers", Duration::from_secs(5), |s| {
        s.contains("2 of 2 took it")
    });
    assert!(
        s.contains("✓ lb1  answered") && s.contains("✓ lb2  answered"),
        "{s}"
    );
    assert!(s.contains(" be_web "), "{s}");
    close(&t);

    let web2 = |s: &str| {
        s.lines()
            .find(|l| l.contains("┃web2 "))
            .unwrap_or("")
            .to_string()
    };
    prompt(&t, "set server be_web/web2 state maint", true);
    t.wait_for("both took it", Duration::from_secs(5), |s| {
        s.contains("2 of 2 took it")
    });
    assert_eq!(admin_bits("web2"), vec!["1", "1"], "MAINT on both");
    close(&t);
    t.wait_for("MAINT in the table", Duration::from_secs(5), |s| {
        web2(s).matches("MAINT").count() == 2
    });
    prompt(&t, "set server be_web/web2 state ready", true);
    t.wait_for("both took it", Duration::from_secs(5), |s| {
        s.contains("2 of 2 took it")
    });
    assert_eq!(admin_bits("web2"), vec!["0", "0"], "ready on both");
    close(&t);
    t.wait_for("UP in the table", Duration::from_secs(5), |s| {
        !web2(s).contains("MAINT")
    });
    t.keys(&["q"]);
}
