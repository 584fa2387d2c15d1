//! Lab scenarios for the operation engine and what it must never do: `check` asks the
//! real nodes, an action refuses a pair it could not read (unless forced, and then says
//! so in the audit), `drain --wait` on nginx ends on the access logs, and `q` leaves at
//! once with SSH followers running.

use std::time::{Duration, Instant};

use super::common::Tmux;
use super::harness::root;
use super::{admin_bits, console, lbdeck_in_lab, lbdeck_ok};

/// `lbdeck check` on both lab pairs: every need of every balancer is met.
pub fn check_asks_both_lab_pairs_and_all_pass() {
    let state = tempfile::tempdir().expect("tempdir");
    for (profile, needs) in [
        (
            "lab",
            &["✓ SSH login as root@", "✓ upstream file", "✓ access log"][..],
        ),
        (
            "lab-haproxy",
            &[
                "✓ runtime API tcp://10.77.0.11:9999 answers",
                "✓ keepalived can write its JSON dump",
                "✓ notify FIFO /run/keepalived.fifo readable",
            ][..],
        ),
    ] {
        let o = lbdeck_in_lab(&["check", "--profile", profile], state.path());
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{profile}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.contains("every check passed"), "{out}");
        for need in needs {
            assert!(out.contains(need), "{profile} lacks {need:?}:\n{out}");
        }
    }
}

/// A drain whose before-state could not be read on lb2 is refused (nothing changes);
/// with --force it acts on what it can and the audit line lists what was overridden.
pub fn a_pair_that_cannot_be_read_is_not_acted_on_unless_forced() {
    let state = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("profiles/lab-haproxy.toml")).expect("profile");
    let blind = text.replace("tcp://10.77.0.12:9999", "tcp://10.77.0.12:9");
    assert_ne!(blind, text);
    let p = state.path().join("blind.toml");
    std::fs::write(&p, blind).expect("write");
    let p = p.display().to_string();
    let o = lbdeck_in_lab(&["drain", "--profile", &p, "web2", "--yes"], state.path());
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("lb2 could not be read"), "{err}");
    assert!(!err.contains("\\x0d"), "sentences, not escapes: {err}");
    assert_eq!(admin_bits("web2"), vec!["0", "0"], "nothing changed");
    let o = lbdeck_in_lab(
        &["drain", "--profile", &p, "web2", "--yes", "--force"],
        state.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "partly done: {out}");
    assert!(out.contains("(overridden by --force)"), "{out}");
    assert!(out.contains("DRAIN on lb1"), "{out}");
    assert_eq!(admin_bits("web2"), vec!["8", "0"]);
    let audit = std::fs::read_to_string(state.path().join("lbdeck/audit.jsonl")).expect("audit");
    let last: serde_json::Value =
        serde_json::from_str(audit.lines().last().expect("a line")).expect("JSON");
    assert_eq!(last["result"], "partly_done", "{last}");
    assert!(
        last["forced"][0]
            .as_str()
            .is_some_and(|f| f.starts_with("lb2 could not be read")),
        "{last}"
    );
    let o = lbdeck_in_lab(
        &["undrain", "--profile", "lab-haproxy", "web2", "--yes"],
        state.path(),
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(admin_bits("web2"), vec!["0", "0"]);
}

/// On nginx open source `drain --wait` waits on the access logs and ends.
pub fn nginx_drain_wait_ends_on_the_access_logs() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = lbdeck_ok(
        &[
            "drain",
            "--profile",
            "lab",
            "web2",
            "--yes",
            "--wait",
            "--timeout",
            "30s",
        ],
        state.path(),
    );
    assert!(
        out.contains("waiting until the access logs show no request"),
        "{out}"
    );
    assert!(
        out.contains("web2 drained: no request for 4 s (access log)"),
        "{out}"
    );
    let o = lbdeck_in_lab(
        &["undrain", "--profile", "lab", "web2", "--yes"],
        state.path(),
    );
    assert_eq!(o.status.code(), Some(0));
}

/// `q` with keepalived followed over SSH on both nodes: the console is gone within
/// 100 ms and the terminal is the shell's again.
pub fn quit_leaves_at_once() {
    let home = tempfile::tempdir().expect("tempdir");
    let t: Tmux = console("lab-haproxy", 100, 30, &home);
    let pid = t.program_pid();
    let pressed = Instant::now();
    t.keys(&["q"]);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            pressed.elapsed() < Duration::from_secs(2),
            "lbdeck still running 2 s after q"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = pressed.elapsed();
    eprintln!("q → process gone in {} ms", took.as_millis());
    assert!(took < Duration::from_millis(300), "quit took {took:?}");
}
