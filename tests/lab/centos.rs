//! Lab scenarios on the CentOS-like pair (lb3, lb4: `scripts/lab centos up`): keepalived
//! built without JSON, so lbdeck reads its text dump; nginx's upstream in an included
//! file with a backup server and one given by host name. The pair is added to the lab
//! once for all of them (harness::centos_pair).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::common::Tmux;
use super::harness::{centos_pair, lab, lab_ok, root, state_dir};
use super::{
    backend_log_counts_from, console_cmd, entered_master, lbdeck_ok, quantile, screen_row,
    screen_time, status, unix_now, ON_SCREEN_P95,
};

/// VIP moves timed on the CentOS-like pair: two failovers, two failbacks.
const CENTOS_MOVES: usize = 4;

/// `status --json`: lb3 MASTER and lb4 BACKUP with their configured priorities, read from
/// the text dump (and said so), where keepalived itself refuses the JSON dump.
pub fn centos_status_reads_roles_and_priorities_from_the_text_dump() {
    centos_pair();
    let refused = lab(&["exec", "lb3", "keepalived", "--signum=JSON"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Unknown sigfunc JSON"),
        "{refused:?}"
    );
    let v = status("lab-centos");
    let lb = |i: usize| &v["balancers"][i]["vrrp"];
    for (i, role, priority, vip) in [(0, "MASTER", 150, true), (1, "BACKUP", 100, false)] {
        assert_eq!(lb(i)["role"], role, "{v:#}");
        assert_eq!(lb(i)["priority"], priority, "{v:#}");
        assert_eq!(lb(i)["base_priority"], priority, "{v:#}");
        assert_eq!(lb(i)["holds_vip"], vip, "{v:#}");
        assert_eq!(lb(i)["role_from_vip"], false, "{v:#}");
        assert_eq!(lb(i)["dump"], "text dump", "{v:#}");
        assert!(
            lb(i)["method"]
                .as_str()
                .is_some_and(|m| m.starts_with("text dump")),
            "{v:#}"
        );
    }
    assert_eq!(v["vip"]["holders"], serde_json::json!(["lb3"]));
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(0), "{v:#}");
    // Built like RHEL: HAProxy's admin socket where RHEL puts it.
    for lb in ["lb3", "lb4"] {
        let o = lab(&[
            "exec",
            lb,
            "sh",
            "-c",
            "echo 'show servers state be_web' | socat -t2 - UNIX-CONNECT:/var/lib/haproxy/stats",
        ]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && out.contains("be_web"), "{lb}: {out}");
    }
    // `check` accepts a keepalived that writes only the text dump.
    let state = tempfile::tempdir().expect("tempdir");
    let out = lbdeck_ok(&["check", "--profile", "lab-centos"], state.path());
    assert!(out.contains("every check passed"), "{out}");
}

/// The console on the pair: the first screen that shows anything of keepalived (who
/// holds the VIP) shows the roles and priorities too — no transition needed to learn them.
fn centos_console(home: &tempfile::TempDir) -> Tmux {
    let started = Instant::now();
    let t = Tmux::start(&console_cmd("lab-centos", home.path(), ""), 140, 30);
    // The VIP column (before the status): ● or ·, once keepalived is known.
    let seen = |row: &str| {
        let vip: String = row.chars().take(40).collect();
        vip.contains('●') || vip.contains(" · ")
    };
    let s = t.wait_for("keepalived on screen", Duration::from_secs(5), |s| {
        seen(screen_row(s, "lb3")) || seen(screen_row(s, "lb4"))
    });
    eprintln!(
        "CentOS-like pair: keepalived on screen {:.0} ms after the console started",
        started.elapsed().as_secs_f64() * 1000.0
    );
    for (lb, role) in [("lb3", "MASTER  150 "), ("lb4", "BACKUP  100 ")] {
        let row = screen_row(&s, lb);
        assert!(!seen(row) || row.contains(role), "{lb}: {row}\n{s}");
    }
    let s = t.wait_for("roles on screen", Duration::from_secs(5), |s| {
        screen_row(s, "lb3").contains("MASTER") && screen_row(s, "lb4").contains("BACKUP")
    });
    assert!(screen_row(&s, "lb3").contains("MASTER  150 "), "{s}");
    assert!(screen_row(&s, "lb4").contains("BACKUP  100 "), "{s}");
    t
}

/// Roles from the first look, not from a transition: the console shows lb3 MASTER and
/// lb4 BACKUP with their priorities while the VIP stays where it is, and names the text
/// dump in the balancer pane.
pub fn centos_console_shows_roles_without_a_transition() {
    centos_pair();
    let home = tempfile::tempdir().expect("tempdir");
    let t = centos_console(&home);
    let s = t.wait_for("the text dump named", Duration::from_secs(3), |s| {
        screen_row(s, "lb3").contains("text dump") && screen_row(s, "lb4").contains("text dump")
    });
    assert!(!s.contains("→ MASTER"), "no transition was needed:\n{s}");
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
}

/// Four VIP moves by lb3's track file with the console open: each new MASTER on screen
/// within the failover lag budget of keepalived's "Entering MASTER STATE".
pub fn centos_failover_on_screen_within_the_lag_budget() {
    centos_pair();
    let home = tempfile::tempdir().expect("tempdir");
    let t = centos_console(&home);
    let mut lags = Vec::with_capacity(CENTOS_MOVES);
    for i in 0..CENTOS_MOVES {
        let (from, to, track) = if i.is_multiple_of(2) {
            ("lb3", "lb4", "-100")
        } else {
            ("lb4", "lb3", "0")
        };
        let t0 = unix_now();
        lab_ok(&[
            "exec",
            "lb3",
            "sh",
            "-c",
            &format!("echo {track} > /etc/keepalived/maintenance"),
        ]);
        let seen = screen_time(&t, &format!("{to} MASTER"), Duration::from_secs(10), |s| {
            screen_row(s, to).contains("MASTER")
        });
        let entered = entered_master(to, t0)
            .unwrap_or_else(|| panic!("{to} logged no Entering MASTER STATE"));
        eprintln!(
            "CentOS-like pair, move {} {from} → {to}: on screen {:.0} ms after keepalived entered MASTER",
            i + 1,
            (seen - entered) * 1000.0
        );
        lags.push(seen - entered);
        t.wait_for(&format!("{from} BACKUP"), Duration::from_secs(5), |s| {
            screen_row(s, from).contains("BACKUP")
        });
    }
    t.wait_for("lb3's priority back", Duration::from_secs(15), |s| {
        screen_row(s, "lb3").contains("MASTER  150 ")
    });
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
    lags.sort_by(f64::total_cmp);
    assert!(
        quantile(&lags, 0.95) <= ON_SCREEN_P95,
        "p95 {:.0} ms over the {:.0} ms budget ({lags:?})",
        quantile(&lags, 0.95) * 1000.0,
        ON_SCREEN_P95 * 1000.0
    );
}

/// The upstream file lb3 or lb4 includes.
fn included_upstream(lb: &str) -> PathBuf {
    PathBuf::from(state_dir()).join(format!("nodes/{lb}/etc/nginx/upstreams/web.conf"))
}

/// `count` requests through the pair's VIP.
fn traffic_through_the_vip(count: usize) {
    lab_ok(&[
        "admin",
        "sh",
        "-c",
        &format!("for i in $(seq {count}); do curl -s -m 2 -o /dev/null http://10.77.0.101/; done"),
    ]);
}

/// nginx's worker processes on `node` (the master's children).
fn workers(node: &str) -> Vec<String> {
    let o = lab(&[
        "exec",
        node,
        "sh",
        "-c",
        "pgrep -P \"$(cat /run/nginx.pid)\"",
    ]);
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The CentOS-like pair's addresses, as the backends log them: the backends are the
/// Debian pair's too, and a console or check elsewhere in the lab sends its own `GET /`
/// through 10.77.0.100.
const CENTOS_PAIR: &[&str] = &["10.77.0.13", "10.77.0.14"];

/// Drain and undrain through the included upstream file: the server given by address and
/// the one given by host name each gain `down` on both balancers (nginx -t passes,
/// traffic skips it, the backup line is untouched) and lose it again, leaving the file
/// byte for byte as it was.
pub fn centos_drain_and_undrain_through_the_included_upstream_file() {
    centos_pair();
    let state = tempfile::tempdir().expect("tempdir");
    let original = std::fs::read_to_string(included_upstream("lb3")).expect("lb3 upstream");
    assert!(original.contains("server web2.lab:80 ") && original.contains(" backup;"));
    for (name, line, index) in [
        (
            "web1",
            "server 10.77.0.21:80 max_fails=1 fail_timeout=2s",
            0,
        ),
        ("web2", "server web2.lab:80 max_fails=1 fail_timeout=2s", 1),
    ] {
        let old = [workers("lb3"), workers("lb4")].concat();
        let out = lbdeck_ok(
            &["drain", "--profile", "lab-centos", name, "--yes"],
            state.path(),
        );
        assert!(out.contains(&format!("drain {name}: done")), "{out}");
        // After a reload nginx's old workers finish what they hold (a request on a kept-
        // alive connection still goes by the old file): traffic is judged once they left.
        let t0 = Instant::now();
        while [workers("lb3"), workers("lb4")]
            .concat()
            .iter()
            .any(|w| old.contains(w))
        {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "old workers still run"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        for lb in ["lb3", "lb4"] {
            let text = std::fs::read_to_string(included_upstream(lb)).expect("upstream");
            assert!(text.contains(&format!("{line} down;")), "{lb}: {text}");
            assert!(
                text.contains("server 10.77.0.23:80 backup;"),
                "{lb}: {text}"
            );
            lab_ok(&["exec", lb, "nginx", "-t"]);
        }
        let before = backend_log_counts_from(CENTOS_PAIR);
        traffic_through_the_vip(20);
        let after = backend_log_counts_from(CENTOS_PAIR);
        assert_eq!(after[index], before[index], "no request reached {name}");
        assert!(
            after.iter().sum::<usize>() >= before.iter().sum::<usize>() + 20,
            "the others served: {before:?} → {after:?}"
        );
        let out = lbdeck_ok(
            &["undrain", "--profile", "lab-centos", name, "--yes"],
            state.path(),
        );
        assert!(out.contains(&format!("undrain {name}: done")), "{out}");
        for lb in ["lb3", "lb4"] {
            assert_eq!(
                std::fs::read_to_string(included_upstream(lb)).expect("upstream"),
                original,
                "{lb}: undrained, the file is as it was"
            );
        }
    }
}

/// A text dump that cannot be read (the profile points elsewhere): `status` still names
/// lb3 MASTER and lb4 BACKUP, from the VIP, marked so, with the reason in `method`.
pub fn centos_without_a_readable_dump_roles_come_from_the_vip() {
    centos_pair();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("profiles/lab-centos.toml")).expect("profile");
    let elsewhere = text.replace(
        "instance = \"VI_1\"",
        "instance = \"VI_1\"\ntext_dump = \"/tmp/elsewhere/keepalived.data\"",
    );
    assert_ne!(elsewhere, text);
    let p = dir.path().join("elsewhere.toml");
    std::fs::write(&p, elsewhere).expect("write");
    let v = status(&p.display().to_string());
    let lb = |i: usize| &v["balancers"][i]["vrrp"];
    for (i, role) in [(0, "MASTER"), (1, "BACKUP")] {
        assert_eq!(lb(i)["role"], role, "{v:#}");
        assert_eq!(lb(i)["role_from_vip"], true, "{v:#}");
        assert_eq!(lb(i)["dump"], "ip addr only", "{v:#}");
        assert_eq!(lb(i)["priority"], serde_json::Value::Null, "{v:#}");
        let method = lb(i)["method"].as_str().unwrap_or_default();
        assert!(
            method.starts_with("ip addr only") && method.contains("text dump"),
            "{method}"
        );
    }
    assert_eq!(v["vip"]["holders"], serde_json::json!(["lb3"]));
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(0), "{v:#}");
}

/// HAProxy on the pair, the profile naming no runtime API: lbdeck finds RHEL's stock
/// socket (/var/lib/haproxy/stats) on each balancer over SSH, reads it, and drains and
/// undrains a server through it on both.
pub fn centos_haproxy_through_rhels_stock_socket() {
    centos_pair();
    const PROFILE: &str = "lab-centos-haproxy";
    let v = status(PROFILE);
    for i in 0..2 {
        let b = &v["balancers"][i];
        assert_eq!(b["up"], true, "{v:#}");
        assert_eq!(
            b["runtime_api"]["socket"], "/var/lib/haproxy/stats",
            "{v:#}"
        );
        assert_eq!(b["runtime_api"]["level"], "admin", "{v:#}");
        assert_eq!(b["vrrp"]["dump"], "text dump", "{v:#}");
    }
    let admin = |v: &serde_json::Value| -> Vec<String> {
        ["lb3", "lb4"]
            .iter()
            .map(|lb| super::backend(v, "web2")["balancers"][lb]["admin"].to_string())
            .collect()
    };
    assert_eq!(admin(&v), vec!["\"UP\"", "\"UP\""], "{v:#}");
    let state = tempfile::tempdir().expect("tempdir");
    lbdeck_ok(
        &["drain", "--profile", PROFILE, "web2", "--yes"],
        state.path(),
    );
    assert_eq!(admin(&status(PROFILE)), vec!["\"DRAIN\"", "\"DRAIN\""]);
    lbdeck_ok(
        &["undrain", "--profile", PROFILE, "web2", "--yes"],
        state.path(),
    );
    assert_eq!(admin(&status(PROFILE)), vec!["\"UP\"", "\"UP\""]);
}
