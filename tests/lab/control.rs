//! Lab scenarios for full server control on the real daemons: MAINT, READY, weights
//! (absolute, `initial`), health checks off and on, sessions killed while a slow request
//! is in flight, a batch of two with one audit line each, and nginx weights that leave
//! the upstream file byte for byte as it was.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{lab_ok, root};
use super::{admin_bits, lbdeck_in_lab, lbdeck_ok, upstream_file};

/// What `COMMAND` answers on each lab balancer's own admin socket.
pub fn ask_both(command: &str) -> Vec<String> {
    ["lb1", "lb2"]
        .iter()
        .map(|node| {
            let o = Command::new(root().join("scripts/lab"))
                .args([
                    "exec",
                    node,
                    "sh",
                    "-c",
                    &format!("echo '{command}' | socat -t2 - UNIX-CONNECT:/run/haproxy/admin.sock"),
                ])
                .output()
                .expect("socat");
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        })
        .collect()
}

/// Column `col` of `server`'s row of `show servers state be_web` on each balancer.
fn state_column(server: &str, col: usize) -> Vec<String> {
    ask_both("show servers state be_web")
        .iter()
        .map(|text| {
            text.lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.get(3) == Some(&server)).then(|| f.get(col).copied().unwrap_or_default())
                })
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The audit log's lines.
fn audit(state: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("lbdeck/audit.jsonl"))
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// MAINT and READY, weights and `initial`, health checks, a batch: each on both HAProxy
/// balancers, read back from HAProxy itself.
pub fn server_control_on_both_haproxy_balancers() {
    let state = tempfile::tempdir().expect("tempdir");
    let p = "lab-haproxy";
    let out = lbdeck_ok(&["maint", "--profile", p, "web2", "--yes"], state.path());
    assert!(out.contains("maint web2: done"), "{out}");
    assert_eq!(admin_bits("web2"), vec!["1", "1"], "MAINT (FMAINT) on both");
    let out = lbdeck_ok(&["ready", "--profile", p, "web2", "--yes"], state.path());
    assert!(out.contains("undrain web2: done"), "{out}");
    assert_eq!(admin_bits("web2"), vec!["0", "0"]);

    let out = lbdeck_ok(
        &["weight", "--profile", p, "web1", "7", "--yes"],
        state.path(),
    );
    assert!(out.contains("weight web1 7: done"), "{out}");
    assert_eq!(
        ask_both("get weight be_web/web1"),
        vec!["7 (initial 1)", "7 (initial 1)"]
    );
    let out = lbdeck_ok(
        &["weight", "--profile", p, "web1", "-2", "--yes"],
        state.path(),
    );
    assert!(
        out.contains("after: weight 5 on lb1, weight 5 on lb2"),
        "{out}"
    );
    lbdeck_ok(
        &["weight", "--profile", p, "web1", "initial", "--yes"],
        state.path(),
    );
    assert_eq!(
        ask_both("get weight be_web/web1"),
        vec!["1 (initial 1)", "1 (initial 1)"]
    );

    // Health checks off (CHK_ST_ENABLED, 0x04, cleared in srv_check_state) and on.
    lbdeck_ok(
        &["health", "--profile", p, "off", "web3", "--yes"],
        state.path(),
    );
    assert_eq!(
        state_column("web3", 13),
        vec!["2", "2"],
        "checks off on both"
    );
    lbdeck_ok(
        &["health", "--profile", p, "on", "web3", "--yes"],
        state.path(),
    );
    assert_eq!(state_column("web3", 13), vec!["6", "6"], "checks on again");
    // No agent is configured: HAProxy's own sentence, nothing changed, exit 1.
    let o = lbdeck_in_lab(
        &["agent", "--profile", p, "on", "web3", "--yes"],
        state.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("not configured"), "{out}");

    // A batch of two: one confirmation, one audit line each with the same batch id.
    let out = lbdeck_ok(
        &["maint", "--profile", p, "web1", "web2", "--yes"],
        state.path(),
    );
    assert!(out.contains("2 of 2 done"), "{out}");
    assert_eq!(admin_bits("web1"), vec!["1", "1"]);
    assert_eq!(admin_bits("web2"), vec!["1", "1"]);
    // Taking the last one too needs its name typed.
    let o = lbdeck_in_lab(&["maint", "--profile", p, "web3", "--yes"], state.path());
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(admin_bits("web3"), vec!["0", "0"]);
    lbdeck_ok(
        &["ready", "--profile", p, "web1", "web2", "--yes"],
        state.path(),
    );
    assert_eq!(admin_bits("web1"), vec!["0", "0"]);
    assert_eq!(admin_bits("web2"), vec!["0", "0"]);

    let lines = audit(state.path());
    let actions: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {}",
                l["action"].as_str().unwrap_or(""),
                l["target"].as_str().unwrap_or(""),
                l["argument"].as_str().unwrap_or("-"),
                l["result"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            "maint web2 - done",
            "undrain web2 - done",
            "weight web1 7 done",
            "weight web1 -2 done",
            "weight web1 initial done",
            "health web3 off done",
            "health web3 on done",
            "agent web3 on failed",
            "maint web1 - done",
            "maint web2 - done",
            "maint web3 - refused",
            "undrain web1 - done",
            "undrain web2 - done",
        ]
    );
    let batch = |i: usize| lines[i]["batch"].as_str().unwrap_or("").to_string();
    assert!(!batch(8).is_empty());
    assert_eq!(batch(8), batch(9), "one batch id for the batch");
    assert_ne!(batch(8), batch(11), "a new batch, a new id");
    assert_eq!(
        lines[0]["after"],
        serde_json::json!({"lb1": "MAINT", "lb2": "MAINT"})
    );
    assert_eq!(
        lines[2]["before"],
        serde_json::json!({"lb1": "weight 1", "lb2": "weight 1"})
    );
}

/// Sessions killed while a slow request is in flight: the client is cut off at once and
/// HAProxy counts no session on the server any more.
pub fn killing_sessions_cuts_a_slow_request() {
    let state = tempfile::tempdir().expect("tempdir");
    lab_ok(&["fault", "trickle", "web3"]);
    // Three requests in a row through lb1's HAProxy: roundrobin sends one to web3, whose
    // body takes 40 s to arrive.
    let mut curls: Vec<std::process::Child> = (0..3)
        .map(|_| {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    "lbd-admin",
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-m",
                    "30",
                    "http://10.77.0.11:8000/",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("curl")
        })
        .collect();
    let sessions = || {
        ask_both("show stat")[0]
            .lines()
            .find(|l| l.starts_with("be_web,web3,"))
            .and_then(|l| l.split(',').nth(4).map(str::to_string))
            .unwrap_or_default()
    };
    let t0 = Instant::now();
    while sessions() == "0" && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_ne!(sessions(), "0", "a slow request to web3 is in flight");
    // The name must be typed: --yes alone is refused.
    let o = lbdeck_in_lab(
        &["kill-sessions", "--profile", "lab-haproxy", "web3", "--yes"],
        state.path(),
    );
    assert_eq!(o.status.code(), Some(3));
    assert_ne!(sessions(), "0", "nothing cut");
    let cut = Instant::now();
    let out = lbdeck_ok(
        &[
            "kill-sessions",
            "--profile",
            "lab-haproxy",
            "web3",
            "--confirm",
            "web3",
        ],
        state.path(),
    );
    assert!(out.contains("kill-sessions web3: done"), "{out}");
    assert_eq!(sessions(), "0", "{out}");
    // Every curl has ended well before its 30 s limit: the slow one was cut.
    for c in &mut curls {
        let limit = Instant::now() + Duration::from_secs(5);
        while c.try_wait().expect("wait").is_none() && Instant::now() < limit {
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = c.try_wait().expect("wait");
        let _ = c.kill();
        assert!(status.is_some(), "a request still hangs after the kill");
    }
    assert!(cut.elapsed() < Duration::from_secs(15));
    lab_ok(&["lift", "trickle", "web3"]);
}

/// nginx: `weight web3 5` puts `weight=5` on that server's line only, on both balancers,
/// and nginx accepts it; `initial` leaves both files byte for byte as they were.
pub fn nginx_weight_edits_one_line_and_initial_restores_the_file() {
    let state = tempfile::tempdir().expect("tempdir");
    let before: Vec<Vec<u8>> = ["lb1", "lb2"]
        .iter()
        .map(|lb| std::fs::read(upstream_file(lb)).expect("upstream"))
        .collect();
    let out = lbdeck_ok(
        &["weight", "--profile", "lab", "web3", "5", "--yes"],
        state.path(),
    );
    assert!(out.contains("weight web3 5: done"), "{out}");
    for (lb, was) in ["lb1", "lb2"].iter().zip(&before) {
        let now = std::fs::read_to_string(upstream_file(lb)).expect("upstream");
        let was = String::from_utf8_lossy(was);
        let changed: Vec<(&str, &str)> = was
            .lines()
            .zip(now.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1, "{lb}: one line changed: {changed:?}");
        assert!(changed[0].0.contains("10.77.0.23:80"), "{changed:?}");
        assert!(changed[0].1.contains("weight=5;"), "{changed:?}");
        let t = Command::new(root().join("scripts/lab"))
            .args(["exec", lb, "nginx", "-t"])
            .output()
            .expect("nginx -t");
        assert!(t.status.success(), "{lb}: nginx -t refuses the edit");
    }
    lbdeck_ok(
        &["weight", "--profile", "lab", "web3", "initial", "--yes"],
        state.path(),
    );
    for (lb, was) in ["lb1", "lb2"].iter().zip(&before) {
        assert_eq!(
            &std::fs::read(upstream_file(lb)).expect("upstream"),
            was,
            "{lb}: byte for byte as before"
        );
    }
    // What nginx open source cannot do is said before anything is sent.
    let o = lbdeck_in_lab(
        &[
            "kill-sessions",
            "--profile",
            "lab",
            "web3",
            "--confirm",
            "web3",
        ],
        state.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("nginx cannot end one server's sessions"),
        "{err}"
    );
}

/// A rolling run over web1..web3 restarting nginx on each backend: a request loop through
/// the VIP sees no failed request, every backend ends READY, and the audit log has each
/// step under the roll's id.
pub fn a_rolling_restart_keeps_the_vip_serving() {
    let state = tempfile::tempdir().expect("tempdir");
    // At most 600 requests, 60 s: one every 50 ms through the VIP's HAProxy.
    let looped = Command::new("ip")
        .args([
            "netns",
            "exec",
            "lbd-admin",
            "timeout",
            "60",
            "sh",
            "-c",
            "for i in $(seq 600); do curl -s -o /dev/null -m 2 -w '%{http_code}\\n' \
             http://10.77.0.100:8000/; sleep 0.05; [ -e /tmp/lbdeck-roll-done ] && break; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("request loop");
    // Requests before, during and after the roll.
    std::thread::sleep(Duration::from_secs(1));
    let restart = "nginx -s quit; for i in $(seq 50); do [ -e /run/nginx.pid ] || break; \
                   sleep 0.1; done; nginx && echo restarted";
    let out = lbdeck_ok(
        &[
            "roll",
            "--profile",
            "lab-haproxy",
            "web1",
            "web2",
            "web3",
            "--exec",
            restart,
            "--wait-healthy",
            "20s",
            "--drain-timeout",
            "20s",
            "--yes",
        ],
        state.path(),
    );
    std::thread::sleep(Duration::from_secs(1));
    let _ = std::fs::write("/tmp/lbdeck-roll-done", "");
    let codes = looped.wait_with_output().expect("loop");
    let _ = std::fs::remove_file("/tmp/lbdeck-roll-done");
    let codes = String::from_utf8_lossy(&codes.stdout).into_owned();
    let all: Vec<&str> = codes.lines().collect();
    let failed: Vec<&&str> = all.iter().filter(|c| **c != "200").collect();
    assert!(
        all.len() > 20,
        "the loop ran: {} requests\n{out}",
        all.len()
    );
    assert!(
        failed.is_empty(),
        "failed requests through the VIP: {failed:?}\n{out}"
    );
    for web in ["web1", "web2", "web3"] {
        assert!(out.contains(&format!("{web}: done")), "{out}");
        assert!(
            out.contains(&format!("{web}>   restarted"))
                || out.contains(&format!("{web}> restarted")),
            "{out}"
        );
        assert_eq!(admin_bits(web), vec!["0", "0"], "{web} READY on both");
    }
    assert!(out.contains("roll done"), "{out}");
    let lines = audit(state.path());
    let roll = lines[0]["batch"].as_str().unwrap_or("").to_string();
    assert!(roll.starts_with("roll-"), "{lines:?}");
    let steps: Vec<String> = lines
        .iter()
        .filter(|l| l["batch"].as_str() == Some(roll.as_str()))
        .map(|l| {
            format!(
                "{} {}",
                l["action"].as_str().unwrap_or(""),
                l["target"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            "drain web1",
            "undrain web1",
            "drain web2",
            "undrain web2",
            "drain web3",
            "undrain web3"
        ]
    );
}

/// The lab's HAProxy has no server-state-file: a drain says a reload will undo it before
/// acting, and when a reload of lb1's HAProxy does, the console raises the drift alarm.
pub fn a_reload_that_undoes_a_drain_raises_drift() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = lbdeck_ok(
        &["drain", "--profile", "lab-haproxy", "web2", "--yes"],
        state.path(),
    );
    for lb in ["lb1", "lb2"] {
        assert!(
            out.contains(&format!(
                "a reload of HAProxy on {lb} will undo this (no server-state-file)"
            )),
            "{out}"
        );
    }
    lbdeck_ok(
        &["ready", "--profile", "lab-haproxy", "web2", "--yes"],
        state.path(),
    );
    let home = tempfile::tempdir().expect("tempdir");
    let t = super::console("lab-haproxy", 140, 40, &home);
    t.keys(&["j"]);
    t.keys(&["d"]);
    t.wait_for("the dialog warns", Duration::from_secs(5), |s| {
        s.contains("Drain web2 on every balancer")
            && s.contains("a reload of HAProxy on lb1 will undo this")
    });
    t.keys(&["y"]);
    t.wait_for("drained", Duration::from_secs(5), |s| {
        s.contains("drain web2: done")
    });
    assert_eq!(admin_bits("web2"), vec!["8", "8"]);
    // A reload of lb1's HAProxy: a new process, without the runtime change.
    lab_ok(&[
        "exec",
        "lb1",
        "sh",
        "-c",
        "haproxy -f /etc/haproxy/haproxy.cfg -sf $(cat /run/haproxy.pid)",
    ]);
    t.wait_for("the drift alarm", Duration::from_secs(10), |s| {
        s.contains("DRIFT: web2 was drained from lbdeck but lb1")
    });
    assert_eq!(
        admin_bits("web2")[0],
        "0",
        "the reload put web2 back on lb1"
    );
    t.keys(&["u"]);
    t.wait_for("the dialog", Duration::from_secs(5), |s| {
        s.contains("Undrain web2")
    });
    t.keys(&["y"]);
    t.wait_for("undrained", Duration::from_secs(5), |s| {
        s.contains("undrain web2: done") && !s.contains("DRIFT")
    });
    assert_eq!(admin_bits("web2"), vec!["0", "0"]);
}

/// Two operators at once cannot drain past the floor: with `min_healthy_backends = 2`
/// and three healthy backends, two drains started together end with one done and the
/// other refused (it read the pair again under the lock, after the first). A lock someone
/// else holds is named in the refusal.
pub fn two_operators_cannot_drain_past_the_floor() {
    let state = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("profiles/lab-haproxy.toml")).expect("profile");
    let floor = text.replacen(
        "timeout = \"1s\"\n",
        "timeout = \"1s\"\nmin_healthy_backends = 2\n",
        1,
    );
    assert_ne!(floor, text);
    let p = state.path().join("floor.toml");
    std::fs::write(&p, floor).expect("write");
    let p = p.display().to_string();
    let run = |web: &'static str| {
        let (p, dir) = (p.clone(), state.path().to_path_buf());
        std::thread::spawn(move || {
            let o = lbdeck_in_lab(&["drain", "--profile", &p, web, "--yes"], &dir);
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr),
            )
        })
    };
    let (a, b) = (run("web1"), run("web2"));
    let (a, b) = (a.join().expect("first"), b.join().expect("second"));
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(3)],
        "one done, one refused:\n{}\n{}",
        a.1,
        b.1
    );
    let refused = if a.0 == Some(3) { &a.1 } else { &b.1 };
    assert!(
        refused.contains("leaves 1 healthy backend in rotation; the minimum is 2")
            || refused.contains("another lbdeck is acting on this pair"),
        "{refused}"
    );
    let drained = ["web1", "web2"]
        .iter()
        .filter(|w| admin_bits(w) == vec!["8", "8"])
        .count();
    assert_eq!(drained, 1, "exactly one drained");
    for web in ["web1", "web2"] {
        if admin_bits(web) != vec!["0", "0"] {
            lbdeck_ok(&["ready", "--profile", &p, web, "--yes"], state.path());
        }
    }
    // A lock another operator holds: named, nothing changed.
    lab_ok(&[
        "exec",
        "lb1",
        "sh",
        "-c",
        "mkdir -p /run/lock/lbdeck && echo 'ops@admin2 pid 4242 10:00:00: drain web3' > /run/lock/lbdeck/owner",
    ]);
    let o = lbdeck_in_lab(&["drain", "--profile", &p, "web3", "--yes"], state.path());
    lab_ok(&["exec", "lb1", "rm", "-rf", "/run/lock/lbdeck"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("another lbdeck is acting on this pair (ops@admin2 pid 4242 10:00:00: drain web3 on lb1"),
        "{err}"
    );
    assert_eq!(admin_bits("web3"), vec!["0", "0"]);
}
