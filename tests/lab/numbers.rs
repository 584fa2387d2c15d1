//! Figures against the real lab: what `status` counts and names, checked where a
//! maintenance walk-through takes the pair (every backend drained).

use std::process::Command;
use std::time::Duration;

use super::{backend, console, lab_ok, root, screen_row, status, wait_status};

/// Sets `server`'s operator state on both lab HAProxy balancers over the runtime API.
fn set_state(server: &str, state: &str) {
    for ip in ["10.77.0.11", "10.77.0.12"] {
        let o = Command::new(root().join("scripts/lab"))
            .args([
                "admin",
                "sh",
                "-c",
                &format!(
                    "echo 'set server be_web/{server} state {state}' | socat -t2 - TCP:{ip}:9999"
                ),
            ])
            .output()
            .expect("socat");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

/// Every backend drained on both balancers: all still healthy, none in rotation, and an
/// alert in the JSON (so never "all clear"); back in rotation once undrained. The
/// probe's and the balancers' latencies are fields of their own.
pub fn everything_drained_is_out_of_rotation_in_status() {
    let all = ["web1", "web2", "web3"];
    let v = status("lab-haproxy");
    assert_eq!(v["in_rotation"], 3, "{v:#}");
    let web1 = backend(&v, "web1");
    assert!(web1["health"]["probe_latency_ms"].is_number(), "{web1:#}");
    assert!(
        web1["balancers"]["lb1"]
            .as_object()
            .is_some_and(|o| o.contains_key("balancer_latency_ms") && !o.contains_key("latency_ms")),
        "{web1:#}"
    );
    for s in all {
        set_state(s, "drain");
    }
    let v = wait_status(
        "lab-haproxy",
        "none in rotation",
        Duration::from_secs(10),
        |v| v["in_rotation"] == 0,
    );
    for s in all {
        set_state(s, "ready");
    }
    assert_eq!(v["healthy"], 3, "{v:#}");
    let alerts: Vec<&str> = v["alerts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["text"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        alerts
            .iter()
            .any(|t| t.starts_with("no backend is in rotation")),
        "{alerts:?}"
    );
    let v = wait_status(
        "lab-haproxy",
        "all back in rotation",
        Duration::from_secs(10),
        |v| v["in_rotation"] == 3,
    );
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(0), "{v:#}");
}

/// Four VIP moves with a console open: its VIP probe's kept-alive connection is reset
/// by the old MASTER each time, and a fresh request through the VIP answers at once, so
/// the timeline holds no "stopped serving" (before, every move raised one).
pub fn vip_moves_are_not_outages() {
    let home = tempfile::tempdir().expect("tempdir");
    let t = console("lab-haproxy", 100, 30, &home);
    for i in 0..4 {
        let (from, to) = super::move_vip_by_track_file(i);
        t.wait_for(&format!("{to} MASTER"), Duration::from_secs(10), |s| {
            screen_row(s, to).contains("MASTER") && screen_row(s, from).contains("BACKUP")
        });
        // A few VIP probes after the move (the lab polls every second).
        std::thread::sleep(Duration::from_secs(3));
    }
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
    let timeline = std::fs::read_to_string(home.path().join("s/lbdeck/timeline.jsonl"))
        .expect("timeline.jsonl written");
    let moves = timeline.matches("BACKUP → MASTER").count();
    assert!(moves >= 4, "four moves in the timeline:\n{timeline}");
    let outages: Vec<&str> = timeline
        .lines()
        .filter(|l| l.contains("stopped serving"))
        .collect();
    assert!(outages.is_empty(), "{outages:#?}");
}

/// The req/s the balancer pane shows for `lb`, when it shows one.
fn balancer_rate(screen: &str, lb: &str) -> Option<f64> {
    rate_under(screen, "balancer", lb)
}

/// The req/s a row shows: the word under the `req/s` header of the pane whose header
/// names `pane` (rates of 100 and more are drawn without a decimal point).
fn rate_under(screen: &str, pane: &str, row: &str) -> Option<f64> {
    let header = screen
        .lines()
        .find(|l| l.contains(pane) && l.contains("req/s"))?;
    let column = header[..header.find("req/s")?].chars().count();
    let cells: String = screen_row(screen, row).chars().skip(column).collect();
    cells.split_whitespace().next().and_then(|w| w.parse().ok())
}

/// The access-log lines the balancer pane says `lb`'s format read (`log N/M`).
fn log_lines_read(screen: &str, lb: &str) -> Option<usize> {
    let row = screen_row(screen, lb);
    let after = &row[row.find("log ")? + 4..];
    after.split('/').next()?.parse().ok()
}

/// nginx pair under traffic through the VIP, VIP moved lb1 → lb2: lb2's access log is
/// already followed, so its lines show within a poll of it becoming MASTER, and once
/// lb1's rate window has emptied every backend still shows the traffic lb2 sends it
/// (before, the backends read 0.0 for half a minute until lb2's log was followed again).
pub fn nginx_traffic_follows_the_new_master() {
    let home = tempfile::tempdir().expect("tempdir");
    let t = console("lab", 160, 30, &home);
    let load = std::thread::spawn(|| lab_ok(&["traffic", "100000", "32", "80"]));
    let web = ["web1", "web2", "web3"];
    t.wait_for("every backend's req/s", Duration::from_secs(8), |s| {
        web.iter()
            .all(|w| rate_under(s, "backend", w).is_some_and(|r| r > 0.0))
            && log_lines_read(s, "lb1").is_some_and(|n| n > 0)
    });
    let (from, to) = super::move_vip_by_track_file(0);
    t.wait_for(&format!("{to} MASTER"), Duration::from_secs(10), |s| {
        screen_row(s, to).contains("MASTER") && screen_row(s, from).contains("BACKUP")
    });
    let master = std::time::Instant::now();
    t.wait_for("the new MASTER's log lines", Duration::from_secs(10), |s| {
        log_lines_read(s, to).is_some_and(|n| n > 0)
    });
    let lag = master.elapsed();
    // Past lb1's 10 s rate window: what the backends show now comes from lb2's log.
    std::thread::sleep(Duration::from_secs(11));
    let mut seen = Vec::new();
    for _ in 0..5 {
        let s = t.screen();
        seen.push(web.map(|w| rate_under(&s, "backend", w)));
        std::thread::sleep(Duration::from_millis(400));
    }
    let screen = t.screen();
    super::move_vip_by_track_file(1);
    t.wait_for("lb1 MASTER again", Duration::from_secs(10), |s| {
        screen_row(s, "lb1").contains("MASTER")
    });
    t.keys(&["q"]);
    let _ = load.join();
    eprintln!("{to}'s log lines {lag:?} after MASTER; backends' req/s after: {seen:?}");
    assert!(
        lag <= Duration::from_millis(2500),
        "{to}'s lines took {lag:?}:\n{screen}"
    );
    assert!(
        seen.iter()
            .all(|row| row.iter().all(|r| r.is_some_and(|r| r > 0.0))),
        "{seen:?}\n{screen}"
    );
}

/// Forced polls (Ctrl-R) under steady traffic through the VIP: lb1's req/s never reads
/// 0.0 and never jumps far above its own steady figure (a poll a split second after the
/// previous one once gave a zero or a spike).
pub fn forced_polls_keep_the_rate() {
    let home = tempfile::tempdir().expect("tempdir");
    let t = console("lab-haproxy", 100, 30, &home);
    let load = std::thread::spawn(|| lab_ok(&["traffic", "100000", "14", "8000"]));
    t.wait_for("lb1 req/s under load", Duration::from_secs(8), |s| {
        balancer_rate(s, "lb1").is_some_and(|r| r >= 5.0)
    });
    // Past the ramp-up: the figure a scheduled poll gives under the full load.
    std::thread::sleep(Duration::from_secs(3));
    let steady = balancer_rate(&t.screen(), "lb1").unwrap_or_default();
    let mut seen = Vec::new();
    for _ in 0..15 {
        t.keys(&["C-r"]);
        std::thread::sleep(Duration::from_millis(150));
        let screen = t.screen();
        let rate = balancer_rate(&screen, "lb1");
        if rate.is_none() {
            eprintln!("{screen}");
        }
        seen.push(rate);
    }
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
    let _ = load.join();
    eprintln!("lb1 req/s: steady {steady:.1}, across forced polls {seen:?}");
    assert!(
        seen.iter()
            .all(|r| r.is_some_and(|r| r > 0.0 && r < steady * 3.0 + 10.0)),
        "steady {steady:.1}: {seen:?}"
    );
}
