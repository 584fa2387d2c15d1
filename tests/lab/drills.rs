//! Fault drills against the real lab (`scripts/lab fault KIND NODE` / `lift KIND NODE`),
//! each a scenario of its own with a console of its own. For each: the console keeps
//! drawing (frame statistics: no gap over 100 ms between frames), marks what is affected
//! within two poll intervals with a sentence saying what failed, and recovers by itself
//! once the fault is lifted; the timeline and the audit log keep every event and action.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{console_cmd, lab_ok, lbdeck_in_lab, root, screen_row, Tmux};
use crate::common::audit_entries;

/// Two poll intervals (the lab profiles poll every second, with a 1 s timeout: a poll
/// that starts just after the fault fails one timeout later), plus what this test adds
/// by reading the screen (tmux capture every 50 ms) and the console's 30 ms frame
/// coalescing, on a 2-core machine that also runs the lab.
const MARKED_WITHIN: Duration = Duration::from_millis(2000 + 250);

/// A console on `profile` at 200x50 that writes frame statistics.
struct Console {
    t: Tmux,
    home: tempfile::TempDir,
}

impl Console {
    fn start(profile: &str) -> Console {
        let home = tempfile::tempdir().expect("tempdir");
        let stats = format!("--frame-stats {}/frames.jsonl", home.path().display());
        let t = Tmux::start(&console_cmd(profile, home.path(), &stats), 200, 50);
        t.wait_for("roles on screen", Duration::from_secs(8), |s| {
            screen_row(s, "lb1").contains("MASTER") && screen_row(s, "lb2").contains("BACKUP")
        });
        Console { t, home }
    }

    /// Applies the fault, checks it is marked in time, lifts it, waits for recovery.
    fn drill(
        &self,
        kind: &str,
        node: &str,
        marked: impl Fn(&str) -> bool,
        recovered: impl Fn(&str) -> bool,
    ) {
        self.fault(kind, node, marked);
        self.lift(kind, node, recovered);
    }

    fn fault(&self, kind: &str, node: &str, marked: impl Fn(&str) -> bool) {
        lab_ok(&["fault", kind, node]);
        let t0 = Instant::now();
        self.t.wait_for(
            &format!("{kind} on {node} marked"),
            Duration::from_secs(5),
            &marked,
        );
        let took = t0.elapsed();
        eprintln!(
            "drill {kind} on {node}: marked on screen in {} ms",
            took.as_millis()
        );
        assert!(
            took <= MARKED_WITHIN,
            "{kind} on {node}: marked after {took:?}, more than two poll intervals; \
             applied {:.3} s ago; the console's timeline:\n{}",
            took.as_secs_f64(),
            self.timeline()
        );
    }

    /// The console's timeline so far.
    fn timeline(&self) -> String {
        std::fs::read_to_string(self.home.path().join("s/lbdeck/timeline.jsonl"))
            .unwrap_or_default()
    }

    fn lift(&self, kind: &str, node: &str, recovered: impl Fn(&str) -> bool) {
        lab_ok(&["lift", kind, node]);
        let t0 = Instant::now();
        self.t.wait_for(
            &format!("recovery from {kind} on {node}"),
            Duration::from_secs(30),
            recovered,
        );
        eprintln!(
            "drill {kind} on {node}: recovered on screen {} ms after the lift",
            t0.elapsed().as_millis()
        );
    }

    /// Quits and returns the frame statistics and the timeline.
    fn finish(&self) -> (Vec<Value>, String) {
        self.t.keys(&["q"]);
        self.t
            .wait_for("exit", Duration::from_secs(5), |s| s.contains("EXITED 0"));
        let frames = std::fs::read_to_string(self.home.path().join("frames.jsonl"))
            .expect("frame statistics");
        let frames: Vec<Value> = frames
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        (frames, self.timeline())
    }

    /// Quits; the console kept drawing all along and its timeline holds `events`.
    fn finish_with(&self, what: &str, events: &[&str]) {
        let (frames, timeline) = self.finish();
        assert_kept_drawing(what, &frames);
        assert_in_timeline(&timeline, events);
    }

    fn audit_path(&self) -> std::path::PathBuf {
        self.home.path().join("s/lbdeck/audit.jsonl")
    }
}

/// No frame gap over 100 ms at any time, and frames all along.
fn assert_kept_drawing(what: &str, frames: &[Value]) {
    let seconds: Vec<&Value> = frames.iter().filter(|f| f["summary"] == false).collect();
    let worst = frames
        .iter()
        .filter_map(|f| f["max_gap_ms"].as_f64())
        .fold(0.0, f64::max);
    let summary = frames.last().expect("summary line");
    assert_eq!(
        summary["summary"], true,
        "{what}: the console wrote its summary at exit"
    );
    assert!(summary["frames"].as_u64() >= Some(10), "{what}: {summary}");
    eprintln!(
        "{what}: {} frames, longest gap {worst} ms, render p99 {} ms",
        summary["frames"], summary["render_p99_ms"]
    );
    assert!(worst <= 100.0, "{what}: a frame gap of {worst} ms");
    for f in &seconds {
        assert!(
            f["frames"].as_u64() >= Some(10),
            "{what}: a second with few frames: {f}"
        );
    }
}

fn assert_in_timeline(timeline: &str, texts: &[&str]) {
    for text in texts {
        assert!(
            timeline.lines().any(|l| l.contains(text)),
            "timeline lacks {text:?}:\n{timeline}"
        );
    }
}

/// keepalived SIGKILLed on the MASTER: lb2 takes over, lb1's keepalived shows down.
pub fn drill_keepalived_killed_on_the_master() {
    let c = Console::start("lab-haproxy");
    c.drill(
        "kill-keepalived",
        "lb1",
        |s| {
            screen_row(s, "lb1").contains(" down ")
                && s.contains("keepalived is not running on lb1")
        },
        |s| {
            screen_row(s, "lb1").contains("MASTER ")
                && screen_row(s, "lb2").contains("BACKUP ")
                && !s.contains("⚠ keepalived is not running")
        },
    );
    c.finish_with(
        "kill-keepalived on lb1",
        &[
            "keepalived is not running on lb1",
            "keepalived runs again on lb1",
        ],
    );
}

/// HAProxy stopped and started again: its counters reset, which is not read as a
/// negative rate but as a restart.
pub fn drill_haproxy_stopped() {
    let c = Console::start("lab-haproxy");
    c.drill(
        "stop-haproxy",
        "lb2",
        |s| {
            screen_row(s, "lb2").contains("DOWN")
                && s.contains("lb2 does not answer (cannot connect to tcp://10.77.0.12:9999: Connection refused")
        },
        |s| screen_row(s, "lb2").contains(" UP ") && screen_row(s, "lb2").contains("restarts 1"),
    );
    c.finish_with(
        "stop-haproxy on lb2",
        &[
            "lb2 unreachable: cannot connect to tcp://10.77.0.12:9999",
            "lb2 restarted",
        ],
    );
}

/// The same over the unix sockets (TCP cut): HAProxy stopped on lb2, whose socket is
/// relayed by socat, is marked down with socat's reason and read again once it is back.
pub fn unix_socket_drill_haproxy_stopped() {
    let _cut = super::NoTcpApi::cut();
    let c = Console::start(super::UNIX);
    c.drill(
        "stop-haproxy",
        "lb2",
        |s| screen_row(s, "lb2").contains("DOWN") && s.contains("lb2 does not answer ("),
        |s| screen_row(s, "lb2").contains(" UP ") && screen_row(s, "lb2").contains("restarts 1"),
    );
    c.finish_with(
        "stop-haproxy on lb2",
        &["lb2 unreachable: ", "lb2 restarted"],
    );
}

/// A backend's health endpoint answers 500, then stops answering at all.
pub fn drill_backend_health_500_then_frozen() {
    let c = Console::start("lab-haproxy");
    c.fault("health-500", "web1", |s| {
        screen_row(s, "web1").contains("HTTP 500")
    });
    c.fault("freeze-nginx", "web1", |s| {
        screen_row(s, "web1").contains("DOWN")
            && s.contains("web1 health FAIL → DOWN (no answer within 1s)")
    });
    c.lift("freeze-nginx", "web1", |s| {
        screen_row(s, "web1").contains("HTTP 500")
    });
    c.lift("health-500", "web1", |s| {
        let r = screen_row(s, "web1");
        r.contains(" OK ") && r.matches(" UP ").count() == 2
    });
    c.finish_with(
        "health-500 and freeze-nginx on web1",
        &[
            "web1 health OK → FAIL (HTTP 500)",
            "web1 health FAIL → DOWN (no answer within 1s)",
        ],
    );
}

/// A backend that sends its headers and trickles the body.
pub fn drill_backend_trickles_its_body() {
    let c = Console::start("lab-haproxy");
    c.drill(
        "trickle",
        "web3",
        |s| {
            screen_row(s, "web3").contains("DOWN")
                && s.contains("HTTP 200, but the body did not arrive within 1s")
        },
        |s| screen_row(s, "web3").contains(" OK "),
    );
    c.finish_with(
        "trickle on web3",
        &["web3 health OK → DOWN (HTTP 200, but the body did not arrive"],
    );
}

/// lb2's link cut: its numbers and its keepalived role are no longer current.
pub fn drill_balancer_link_down() {
    balancer_link_down("lab-haproxy", true);
}

/// The same with lb2's runtime API read through its socket over SSH (TCP cut). The
/// kept-open channel's poll times out first, as over TCP; the row then says what the
/// reconnect meets (the connection lost, the SSH connect timing out).
pub fn unix_socket_drill_balancer_link_down() {
    let _cut = super::NoTcpApi::cut();
    balancer_link_down(super::UNIX, false);
}

/// lb2's link cut on `profile`; with `timeout_shown`, its row keeps the poll's timeout.
fn balancer_link_down(profile: &str, timeout_shown: bool) {
    let c = Console::start(profile);
    c.drill(
        "link-down",
        "lb2",
        |s| {
            let r = screen_row(s, "lb2");
            r.contains("DOWN")
                && (!timeout_shown || r.contains("no answer within 1s"))
                && r.contains("BACKUP?")
        },
        |s| {
            let r = screen_row(s, "lb2");
            r.contains(" UP ") && r.contains("BACKUP ") && r.contains("notify log")
        },
    );
    c.finish_with(
        "link-down on lb2",
        &[
            "lb2 unreachable: no answer within 1s",
            "lb2 keepalived unreadable",
            "lb2 keepalived readable again",
            "lb2 answers again",
        ],
    );
}

/// sshd on lb2 accepts TCP but never answers; the session it had is cut.
pub fn drill_sshd_blackholed() {
    sshd_blackholed("lab-haproxy");
}

/// The same with lb2's runtime API read through its socket over SSH (TCP cut): the API
/// goes with sshd and comes back with it.
pub fn unix_socket_drill_sshd_blackholed() {
    let _cut = super::NoTcpApi::cut();
    sshd_blackholed(super::UNIX);
}

fn sshd_blackholed(profile: &str) {
    let c = Console::start(profile);
    c.fault("ssh-blackhole", "lb2", |s| {
        let r = screen_row(s, "lb2");
        r.contains("BACKUP?") && r.contains("stale")
    });
    // Reconnecting meets the silent sshd: said so, not waited on forever.
    c.t.wait_for("the reconnect times out", Duration::from_secs(10), |s| {
        screen_row(s, "lb2").contains("no answer within")
    });
    c.lift("ssh-blackhole", "lb2", |s| {
        let r = screen_row(s, "lb2");
        r.contains("BACKUP ") && r.contains("notify log") && r.contains(" UP ")
    });
    c.finish_with(
        "ssh-blackhole on lb2",
        &["lb2 keepalived unreadable", "lb2 keepalived readable again"],
    );
}

/// nginx stopped and started on a balancer of the nginx pair: counters reset.
pub fn drill_nginx_stopped_on_the_nginx_pair() {
    let c = Console::start("lab");
    // Some requests on lb2 first, so that its counters visibly go back at the restart.
    lab_ok(&[
        "admin",
        "sh",
        "-c",
        "for i in $(seq 30); do curl -s -o /dev/null http://10.77.0.12/; done",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    c.drill(
        "stop-nginx",
        "lb2",
        |s| screen_row(s, "lb2").contains("DOWN") && s.contains("Connection refused"),
        |s| screen_row(s, "lb2").contains(" UP "),
    );
    c.finish_with(
        "stop-nginx on lb2",
        &["lb2 unreachable", "lb2 answers again", "lb2 restarted"],
    );
}

/// A drain whose connection to the second balancer drops midway: partly done, said on
/// screen and in the audit log, never reported as done.
pub fn drill_drain_interrupted_midway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("lab-haproxy-flaky.toml");
    let text = std::fs::read_to_string(root().join("profiles/lab-haproxy.toml"))
        .expect("profile")
        .replace("tcp://10.77.0.12:9999", "tcp://10.77.0.12:9998");
    std::fs::write(&profile, text).expect("write profile");
    lab_ok(&["fault", "drop-runtime-writes", "lb2"]);
    let c = Console::start(&profile.display().to_string());
    c.t.keys(&["j"]);
    c.t.keys(&["d"]);
    c.t.wait_for("the dialog", Duration::from_secs(2), |s| {
        s.contains("Drain web2 on every balancer (lb1, lb2)?")
    });
    c.t.keys(&["y"]);
    let s = c.t.wait_for("partly done", Duration::from_secs(10), |s| {
        s.contains("drain web2: partly done")
    });
    assert!(!s.contains("drain web2: done"), "{s}");
    assert!(s.contains("not confirmed on lb2"), "{s}");
    let row = screen_row(&s, "web2").to_string();
    assert!(
        row.contains("DRAIN") && row.contains(" UP "),
        "lb1 drained, lb2 not: {row}"
    );
    let audit = std::fs::read_to_string(c.audit_path()).expect("audit log");
    let last: Value =
        serde_json::from_str(audit.lines().last().expect("an audit line")).expect("JSON");
    assert_eq!(last["result"], "partly_done", "{audit}");
    assert_eq!(last["after"]["lb1"], "DRAIN", "{audit}");
    assert_eq!(last["after"]["lb2"], "UP", "{audit}");
    assert_eq!(last["failed"][0][0], "lb2", "{audit}");
    let (frames, _) = c.finish();
    assert_kept_drawing("interrupted drain", &frames);
    // Lifted: the undrain (stock profile, same audit log) goes through on both.
    lab_ok(&["lift", "drop-runtime-writes", "lb2"]);
    let o = lbdeck_in_lab(
        &["--profile", "lab-haproxy", "undrain", "web2", "--yes"],
        &c.home.path().join("s"),
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("before: DRAIN on lb1, UP on lb2"), "{out}");
    assert_eq!(
        audit_entries(&c.audit_path(), &["result"]),
        vec!["partly_done", "done"]
    );
}
