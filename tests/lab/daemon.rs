//! Lab scenario for daemon control per family: the lab's nodes run no systemd but have
//! keepalived's SysV init script (as Debian without systemd, or RHEL 6, would), so a
//! `stop_daemon` failover stops and starts keepalived through `service`.

use std::time::{Duration, Instant};

use super::{failover_variant, lab, lab_ok, lbdeck_ok};

/// Whether keepalived on `node` runs (its pid file names a live process).
fn keepalived_runs(node: &str) -> bool {
    lab(&[
        "exec",
        node,
        "sh",
        "-c",
        "kill -0 $(cat /run/keepalived.pid 2>/dev/null) 2>/dev/null",
    ])
    .status
    .success()
}

/// `check` names `service` as the way keepalived is driven; a failover by stopping
/// keepalived moves the VIP to lb2 and stops lb1's keepalived, the failback starts it
/// again and the VIP comes home.
pub fn failover_by_stopping_keepalived_through_its_init_script() {
    let state = tempfile::tempdir().expect("tempdir");
    let p = failover_variant(state.path(), r#"failover = { method = "stop_daemon" }"#);
    let out = lbdeck_ok(&["check", "--profile", &p], state.path());
    assert!(
        out.contains("✓ keepalived started and stopped through service"),
        "{out}"
    );
    let out = lbdeck_ok(&["failover", "--profile", &p, "--yes"], state.path());
    assert!(out.contains("VIP moved lb1 → lb2"), "{out}");
    // keepalived hands the VIP over first, then exits.
    let stopping = Instant::now();
    while keepalived_runs("lb1") && stopping.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!keepalived_runs("lb1"), "lb1's keepalived stopped");
    let out = lbdeck_ok(&["failback", "--profile", &p, "--yes"], state.path());
    assert!(out.contains("VIP moved lb2 → lb1"), "{out}");
    assert!(keepalived_runs("lb1"), "lb1's keepalived started again");
    // Back to the lab's own keepalived: the init script's logs to syslog, and the timing
    // scenarios read the lab's log with its µs stamps.
    lab_ok(&[
        "exec",
        "lb1",
        "sh",
        "-c",
        "kill $(cat /run/keepalived.pid); \
         while kill -0 $(cat /run/keepalived.pid 2>/dev/null) 2>/dev/null; do sleep 0.1; done",
    ]);
    lab_ok(&["start-keepalived", "lb1"]);
    let back = Instant::now();
    while String::from_utf8_lossy(&lab(&["vip"]).stdout).trim() != "lb1"
        && back.elapsed() < Duration::from_secs(15)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(String::from_utf8_lossy(&lab(&["vip"]).stdout).trim(), "lb1");
}
