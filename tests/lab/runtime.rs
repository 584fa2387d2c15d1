//! Lab scenario for the runtime prompt on the real HAProxy pair: a read answered by both
//! balancers, a weight changed on both through `lbdeck runtime --yes` and read back with
//! `get weight` (through lbdeck and on each balancer's own admin socket), put back, and
//! HAProxy's own refusal of an unknown command.

use serde_json::Value;

use super::{ask_both, lbdeck_in_lab, lbdeck_ok};

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
