//! Lab tests: lbdeck against real nginx, HAProxy, keepalived and sshd in network
//! namespaces (scripts/lab). They need root and run when LBDECK_LAB=1 (scripts/test and
//! CI set it); with LBDECK_LAB=1 a missing prerequisite is a failure, not a skip.
//! The lab is built from any state first and torn down at the end, even on failure.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{assert_fits, bin, Tmux};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn lab(args: &[&str]) -> Output {
    Command::new(root().join("scripts/lab"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("scripts/lab")
}

fn lab_ok(args: &[&str]) {
    let o = lab(args);
    assert!(
        o.status.success(),
        "scripts/lab {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The lab for the duration of the test; torn down on drop (also when a check panics).
struct Lab;

impl Lab {
    fn up() -> Lab {
        lab_ok(&["up"]);
        Lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = lab(&["down"]);
    }
}

fn status(profile: &str) -> Value {
    let o = Command::new(root().join("scripts/lab"))
        .args(["admin", bin(), "status", "--json", "--profile", profile])
        .current_dir(root())
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("lbdeck status");
    assert!(
        o.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn backend<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["backends"]
        .as_array()
        .and_then(|a| a.iter().find(|b| b["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {v:#}"))
}

fn wait_status(profile: &str, what: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let v = status(profile);
        if pred(&v) {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "waited {limit:?} for {what}:\n{v:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn lab_suite() {
    if std::env::var("LBDECK_LAB").as_deref() != Ok("1") {
        eprintln!("lab tests not run: set LBDECK_LAB=1 and run as root (scripts/test does both)");
        return;
    }
    let _lab = Lab::up();
    // From any state: a second `up` over a running lab (daemons, mounts, namespaces)
    // clears it and builds it again.
    lab_ok(&[
        "exec",
        "lb1",
        "sh",
        "-c",
        "kill -9 $(cat /run/keepalived.pid)",
    ]);
    lab_ok(&["up"]);
    lab_ok(&["traffic", "40", "20"]);
    lab_ok(&["traffic", "40", "20", "8000"]);
    status_reports_the_haproxy_pair();
    status_reports_the_nginx_pair();
    a_stopped_backend_flips_to_down_and_back();
    console_on_the_lab_in_a_terminal();
}

fn status_reports_the_haproxy_pair() {
    let v = status("lab-haproxy");
    for b in v["balancers"].as_array().expect("balancers") {
        assert_eq!(b["up"], true, "{b:#}");
        assert!(
            b["version"].as_str().unwrap_or("").starts_with("2."),
            "{b:#}"
        );
        assert!(b["uptime_sec"].as_u64().is_some(), "{b:#}");
    }
    assert!(
        v["balancers"][0]["requests_total"].as_u64().unwrap_or(0) >= 40,
        "real counters from the traffic: {v:#}"
    );
    for name in ["web1", "web2", "web3"] {
        let b = backend(&v, name);
        assert_eq!(b["health"]["state"], "healthy", "{b:#}");
        assert_eq!(b["health"]["status"], 200);
        for lb in ["lb1", "lb2"] {
            assert_eq!(b["balancers"][lb]["state"], "UP", "{lb} {b:#}");
            assert_eq!(b["balancers"][lb]["check"], "L7OK", "{lb} {b:#}");
        }
    }
    assert_eq!(v["vip"]["reachable"], true, "{v:#}");
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(0), "{v:#}");
}

fn status_reports_the_nginx_pair() {
    let v = status("lab");
    for b in v["balancers"].as_array().expect("balancers") {
        assert_eq!(b["up"], true, "{b:#}");
        assert!(
            b["active"].as_u64().is_some() && b["waiting"].as_u64().is_some(),
            "{b:#}"
        );
    }
    let master = v["balancers"][0]["requests_total"].as_u64().unwrap_or(0);
    assert!(master >= 40, "the VIP holder counted the traffic: {v:#}");
    for name in ["web1", "web2", "web3"] {
        assert_eq!(backend(&v, name)["health"]["state"], "healthy");
    }
    assert_eq!(v["vip"]["reachable"], true);
}

fn a_stopped_backend_flips_to_down_and_back() {
    lab_ok(&["exec", "web2", "nginx", "-s", "stop"]);
    // Our own probe: the very next round.
    let v = status("lab-haproxy");
    let web2 = backend(&v, "web2");
    assert_eq!(web2["health"]["state"], "down", "{web2:#}");
    assert!(
        web2["health"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("connect"),
        "{web2:#}"
    );
    assert_eq!(backend(&v, "web1")["health"]["state"], "healthy");
    // HAProxy's checks (inter 1s, fall 2) follow within a few seconds, on both balancers.
    wait_status(
        "lab-haproxy",
        "HAProxy to mark web2 DOWN on both",
        Duration::from_secs(8),
        |v| {
            let b = backend(v, "web2");
            b["balancers"]["lb1"]["state"] == "DOWN" && b["balancers"]["lb2"]["state"] == "DOWN"
        },
    );
    lab_ok(&["exec", "web2", "nginx"]);
    wait_status("lab-haproxy", "web2 back UP", Duration::from_secs(8), |v| {
        let b = backend(v, "web2");
        b["health"]["state"] == "healthy"
            && b["balancers"]["lb1"]["state"] == "UP"
            && b["balancers"]["lb2"]["state"] == "UP"
    });
}

fn console_on_the_lab_in_a_terminal() {
    let home = tempfile::tempdir().expect("tempdir");
    for (profile, w, h) in [("lab-haproxy", 80u16, 24u16), ("lab", 200, 60)] {
        let cmd = format!(
            "cd {} && HOME={1} XDG_CONFIG_HOME={1}/c XDG_STATE_HOME={1}/s ip netns exec lbd-admin {2} --profile {profile}",
            root().display(),
            home.path().display(),
            bin()
        );
        let t = Tmux::start(&cmd, w, h);
        // One poll interval (1 s) plus start-up.
        let s = t.wait_for(
            "every pane with lab data",
            Duration::from_millis(2500),
            |s| {
                [
                    "Balancers (2)",
                    "Backends 3",
                    "Traffic",
                    "Events",
                    "VIP 10.77.0.100",
                    "serving",
                ]
                .iter()
                .all(|n| s.contains(n))
                    && s.lines()
                        .filter(|l| l.contains("lb") && l.contains(" UP "))
                        .count()
                        >= 2
                    && s.lines()
                        .filter(|l| l.contains("web") && l.contains("OK"))
                        .count()
                        == 3
            },
        );
        assert_fits(&s, w as usize, h as usize);
        t.keys(&["/"]);
        t.type_text("web2");
        t.wait_for("filter", Duration::from_secs(2), |s| {
            s.contains("Backends 1/3")
        });
        // Keys go one at a time: ESC followed at once by a key reads as Alt+key.
        t.keys(&["Escape"]);
        t.wait_for("filter closed", Duration::from_secs(2), |s| {
            !s.contains("FILTER")
        });
        t.keys(&["Escape"]);
        t.wait_for("filter cleared", Duration::from_secs(2), |s| {
            s.contains("Backends 3 ·")
        });
        t.keys(&["?"]);
        t.wait_for("help", Duration::from_secs(2), |s| {
            s.contains("cycle_theme")
        });
        t.keys(&["Escape"]);
        t.wait_for("help closed", Duration::from_secs(2), |s| {
            !s.contains("cycle_theme")
        });
        t.keys(&["o"]);
        t.wait_for("sort", Duration::from_secs(2), |s| s.contains("sort name"));
        t.keys(&["q"]);
        t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
    }
}
