//! The fleet overview in a real terminal (tmux): plain `lbdeck` on a profile directory,
//! and `lbdeck demo --fleet`; Enter, Esc and the picker switch clusters.

mod common;

use std::time::{Duration, Instant};

use common::{assert_fits, bin, Tmux};

/// An nginx pair and an HAProxy pair on loopback ports where nothing listens, and a
/// profile that does not parse.
const PROFILES: [(&str, &str); 3] = [
    (
        "web.toml",
        "name = \"web-nginx\"\nenvironment = \"staging\"\ntimeout = \"200ms\"\n\
         [[balancers]]\nname = \"n1\"\nhost = \"127.0.0.1\"\nkind = \"nginx\"\n\
         status_url = \"http://127.0.0.1:9/nginx_status\"\n\
         [[balancers]]\nname = \"n2\"\nhost = \"127.0.0.1\"\nkind = \"nginx\"\n\
         status_url = \"http://127.0.0.1:9/nginx_status\"\n",
    ),
    (
        "shop.toml",
        "name = \"shop-haproxy\"\nenvironment = \"production\"\ntimeout = \"200ms\"\n\
         [[balancers]]\nname = \"h1\"\nhost = \"127.0.0.1\"\nkind = \"haproxy\"\n\
         status_url = \"http://127.0.0.1:9/stats\"\n\
         [[balancers]]\nname = \"h2\"\nhost = \"127.0.0.1\"\nkind = \"haproxy\"\n\
         status_url = \"http://127.0.0.1:9/stats\"\n",
    ),
    ("zz-broken.toml", "name = \"broken\"\nbalancers = 3\n"),
];

#[test]
fn three_profiles_give_three_rows_and_enter_esc_and_the_picker_switch() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join("config/lbdeck/profiles");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (file, text) in PROFILES {
        std::fs::write(dir.join(file), text).expect("write");
    }
    let cmd = format!(
        "cd {0} && HOME={0} XDG_CONFIG_HOME={0}/config XDG_STATE_HOME={0}/state {1}",
        home.path().display(),
        bin()
    );
    let t = Tmux::start(&cmd, 120, 24);
    let s = t.wait_for("three rows", Duration::from_secs(5), |s| {
        s.contains("fleet · 3 clusters") && s.contains("zz-broken.toml:2:")
    });
    assert_fits(&s, 120, 24);
    let rows: Vec<&str> = s
        .lines()
        .filter(|l| {
            l.contains("shop-haproxy") || l.contains("web-nginx") || l.contains("zz-broken")
        })
        .collect();
    assert_eq!(rows.len(), 3, "{s}");
    assert!(
        rows[0].contains("shop-haproxy") && rows[0].contains("PROD"),
        "{s}"
    );
    assert!(rows[2].contains("BROKEN"), "{s}");

    let started = Instant::now();
    t.keys(&["Enter"]);
    t.wait_for("the production cluster", Duration::from_secs(2), |s| {
        s.lines()
            .next()
            .is_some_and(|l| l.contains("shop-haproxy") && l.contains("PRODUCTION"))
    });
    let open = started.elapsed();
    let started = Instant::now();
    t.keys(&["Escape"]);
    t.wait_for("the overview again", Duration::from_secs(2), |s| {
        s.contains("fleet · 3 clusters")
    });
    let back = started.elapsed();
    eprintln!("through tmux (50 ms screen polls included): open {open:?}, back {back:?}");

    t.keys(&["C"]);
    t.type_text("web");
    t.wait_for("the picker", Duration::from_secs(2), |s| {
        s.contains("switch cluster") && s.contains("> web")
    });
    t.keys(&["Enter"]);
    t.wait_for("the nginx cluster", Duration::from_secs(2), |s| {
        s.lines().next().is_some_and(|l| l.contains("web-nginx"))
    });
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
}

#[test]
fn the_demo_fleet_shows_three_simulated_pairs_with_their_roles() {
    let home = tempfile::tempdir().expect("tempdir");
    let cmd = format!(
        "HOME={0} XDG_CONFIG_HOME={0}/config XDG_STATE_HOME={0}/state {1} demo --fleet",
        home.path().display(),
        bin()
    );
    let t = Tmux::start(&cmd, 120, 24);
    let s = t.wait_for(
        "three pairs, each with a MASTER",
        Duration::from_secs(6),
        |s| {
            ["demo-haproxy", "demo-nginx ", "demo-nginx-plus"]
                .iter()
                .all(|n| s.lines().any(|l| l.contains(n) && l.contains("M B")))
        },
    );
    assert!(s.contains("fleet · 3 clusters"), "{s}");
    t.keys(&["Enter"]);
    t.wait_for("a demo cluster in front", Duration::from_secs(3), |s| {
        s.contains("DEMO") && s.contains("Balancers · VRRP (2)")
    });
    t.keys(&["Escape"]);
    t.wait_for("the overview again", Duration::from_secs(2), |s| {
        s.contains("fleet · 3 clusters")
    });
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(3), |s| s.contains("EXITED 0"));
}

#[test]
fn status_all_prints_one_compact_json_line_per_cluster_of_profiles_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (file, text) in PROFILES {
        std::fs::write(dir.path().join(file), text).expect("write");
    }
    let o = std::process::Command::new(bin())
        .args(["status", "--all", "--json", "--profiles"])
        .arg(dir.path())
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("none"))
        .env_remove("LBDECK_PROFILE")
        .output()
        .expect("run lbdeck");
    assert_eq!(
        o.status.code(),
        Some(1),
        "alerts and a broken profile → exit 1"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON value a line"))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    let names: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["profile"]["name"].as_str())
        .collect();
    assert_eq!(names, ["shop-haproxy", "web-nginx"], "{out}");
    let error = lines[2]["error"].as_str().unwrap_or_default();
    assert!(error.contains("zz-broken.toml:2:"), "{out}");
    assert!(lines[0]["alerts"][0]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("no balancer answers")));
}
