//! `lbdeck init` on the lab's pairs: the profile written from the balancers' own
//! configuration is checked, read completely by `status`, and opens in the console, with
//! no hand edit — for the HAProxy and the nginx configuration of lb1/lb2, and for the
//! CentOS-like pair changed to keep its upstream inside nginx.conf and run keepalived
//! without a track file or a notify FIFO. SSH comes from ~/.ssh/config as an operator
//! would have it, so the command line is the documented one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use super::common::bin;
use super::harness::{centos_pair, lab_ok, root, state_dir};
use super::{console_cmd, screen_row};

/// A HOME whose ~/.ssh names the lab's key and knows its hosts.
fn operator_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("home");
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).expect(".ssh");
    let admin = Path::new(state_dir()).join("admin");
    std::fs::copy(admin.join("known_hosts"), ssh.join("known_hosts")).expect("known_hosts");
    std::fs::write(
        ssh.join("config"),
        format!(
            "Host 10.77.0.*\n  User root\n  IdentityFile {}\n",
            admin.join("id_ed25519").display()
        ),
    )
    .expect("ssh config");
    home
}

/// `lbdeck ARGS` in the lab's admin node as the operator of `home`.
fn lbdeck(home: &Path, args: &[&str]) -> Output {
    Command::new(root().join("scripts/lab"))
        .arg("admin")
        .arg(bin())
        .args(args)
        .current_dir(root())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("c"))
        .env("XDG_STATE_HOME", home.join("s"))
        .output()
        .expect("lbdeck")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs init for `hosts` into a file and returns it with init's output.
fn init(home: &Path, hosts: [&str; 2], extra: &[&str], want: &[i32]) -> (PathBuf, String) {
    let out = home.join("p.toml");
    let _ = std::fs::remove_file(&out);
    let mut args = vec!["init", hosts[0], hosts[1], "--out"];
    let path = out.display().to_string();
    args.push(&path);
    args.extend_from_slice(extra);
    let o = lbdeck(home, &args);
    let said = text(&o);
    assert!(
        o.status.code().is_some_and(|c| want.contains(&c)),
        "init {args:?}: exit {:?}, wanted one of {want:?}:\n{said}",
        o.status.code()
    );
    (out, said)
}

fn status(home: &Path, profile: &Path) -> Value {
    let o = lbdeck(
        home,
        &[
            "status",
            "--json",
            "--profile",
            &profile.display().to_string(),
        ],
    );
    assert!(o.status.success(), "status: {}", text(&o));
    serde_json::from_slice(&o.stdout).expect("status JSON")
}

/// Roles, the VIP holder and every backend's state on both balancers, with no alert.
fn assert_complete(v: &Value, names: [&str; 2], backends: usize) {
    for (i, role) in [(0, "MASTER"), (1, "BACKUP")] {
        let b = &v["balancers"][i];
        assert_eq!(b["name"], names[i], "{v:#}");
        assert_eq!(b["up"], true, "{b:#}");
        assert_eq!(b["vrrp"]["role"], role, "{v:#}");
    }
    assert_eq!(v["vip"]["holders"], serde_json::json!([names[0]]), "{v:#}");
    assert_eq!(v["vip"]["reachable"], true, "{v:#}");
    let all = v["backends"].as_array().expect("backends");
    assert_eq!(all.len(), backends, "{v:#}");
    for b in all {
        for lb in names {
            // HAProxy reports the server's state; nginx open source what its upstream
            // file sets (the admin state).
            let on = &b["balancers"][lb];
            let state = on["state"].as_str().or(on["admin"].as_str());
            assert_eq!(state, Some("UP"), "{lb}: {b:#}");
        }
    }
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(0), "{v:#}");
}

/// The console on the profile shows both roles and every backend.
fn assert_console(home: &Path, profile: &Path, names: [&str; 2], backends: &[&str]) {
    let t = super::common::Tmux::start(
        &console_cmd(&profile.display().to_string(), home, ""),
        160,
        40,
    );
    t.wait_for("roles and backends", Duration::from_secs(8), |s| {
        screen_row(s, names[0]).contains("MASTER")
            && screen_row(s, names[1]).contains("BACKUP")
            && backends.iter().all(|b| s.contains(b))
    });
}

/// HAProxy and nginx on lb1/lb2: `init --kind K` writes a profile `check` passes (exit
/// 0), status reads it completely and the console shows it; without `--kind` init says
/// both run and how to pick.
pub fn init_writes_profiles_for_both_lab_pairs() {
    let home = operator_home();
    let hosts = ["10.77.0.11", "10.77.0.12"];
    let (_, said) = init(home.path(), hosts, &[], &[2]);
    assert!(
        said.contains(
            "both haproxy and nginx run on these nodes: pick one with --kind haproxy|nginx"
        ),
        "{said}"
    );
    lab_ok(&["traffic", "20", "10", "8000"]);
    let (p, said) = init(home.path(), hosts, &["--kind", "haproxy"], &[0]);
    assert!(said.contains("every check passed"), "{said}");
    let written = std::fs::read_to_string(&p).expect("profile");
    for line in [
        "runtime_api = \"tcp://10.77.0.11:9999\"   # /etc/haproxy/haproxy.cfg:",
        "failover = { method = \"track_file\", path = \"/etc/keepalived/maintenance\", value = \"-100\" }",
        "notify_fifo = \"/run/keepalived.fifo\"",
        "# notify log: /usr/local/libexec/lbdeck-notify appends each transition to /run/lbdeck/vrrp.jsonl",
        "name = \"web2\"   # /etc/haproxy/haproxy.cfg:",
    ] {
        assert!(written.contains(line), "{line} in:\n{written}");
    }
    assert_complete(&status(home.path(), &p), ["lb1", "lb2"], 3);
    assert_console(home.path(), &p, ["lb1", "lb2"], &["web1", "web2", "web3"]);

    lab_ok(&["traffic", "20", "10"]);
    let (p, said) = init(home.path(), hosts, &["--kind", "nginx"], &[0]);
    assert!(said.contains("every check passed"), "{said}");
    let written = std::fs::read_to_string(&p).expect("profile");
    assert!(
        written.contains("upstream_file = \"/etc/nginx/conf.d/upstream.conf\""),
        "{written}"
    );
    assert_complete(&status(home.path(), &p), ["lb1", "lb2"], 3);
    assert_console(
        home.path(),
        &p,
        ["lb1", "lb2"],
        &["10.77.0.21", "10.77.0.22", "10.77.0.23"],
    );
}

/// The files the scenario edits on the CentOS-like pair.
const EDITED: [&str; 3] = [
    "etc/nginx/nginx.conf",
    "etc/nginx/conf.d/lb.conf",
    "etc/keepalived/keepalived.conf",
];

/// Puts the CentOS-like pair's files back as they were, and nginx and keepalived on them,
/// also after a failure.
struct CentosBack(Vec<(PathBuf, Vec<u8>)>);

impl CentosBack {
    fn take() -> CentosBack {
        CentosBack(
            ["lb3", "lb4"]
                .iter()
                .flat_map(|node| EDITED.iter().map(move |p| node_path(node, p)))
                .map(|p| {
                    let bytes =
                        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    (p, bytes)
                })
                .collect(),
        )
    }
}

impl Drop for CentosBack {
    fn drop(&mut self) {
        for (p, bytes) in &self.0 {
            std::fs::write(p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
        for node in ["lb3", "lb4"] {
            reload(node);
        }
    }
}

/// nginx and keepalived on `node` read their files again.
fn reload(node: &str) {
    lab_ok(&["exec", node, "nginx", "-s", "reload"]);
    lab_ok(&[
        "exec",
        node,
        "sh",
        "-c",
        "kill -HUP $(cat /run/keepalived.pid)",
    ]);
}

fn node_path(node: &str, path: &str) -> PathBuf {
    Path::new(state_dir()).join("nodes").join(node).join(path)
}

fn edit(node: &str, path: &str, f: impl Fn(String) -> String) {
    let p = node_path(node, path);
    let before = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    std::fs::write(&p, f(before)).expect("write");
}

/// The CentOS-like pair with its upstream moved into nginx.conf and keepalived without a
/// track file, notify FIFO or notify script: init picks `stop_daemon`, names nginx.conf as the upstream
/// file, and the profile reads completely. Then lb4 without a stub_status location and
/// without web3: init says how to add the location and that web3 is on lb3 only.
pub fn init_on_a_pair_with_the_upstream_in_nginx_conf_and_no_track_file() {
    centos_pair();
    let _back = CentosBack::take();
    for node in ["lb3", "lb4"] {
        let upstream = std::fs::read_to_string(node_path(node, "etc/nginx/upstreams/web.conf"))
            .expect("upstream");
        edit(node, "etc/nginx/nginx.conf", |t| {
            t.replacen("http {", &format!("http {{\n{upstream}"), 1)
        });
        edit(node, "etc/nginx/conf.d/lb.conf", |t| {
            t.replace("include /etc/nginx/upstreams/*.conf;\n", "")
        });
        edit(node, "etc/keepalived/keepalived.conf", |t| {
            let t = t.replace("    notify_fifo /run/keepalived.fifo\n", "");
            let t = t.replace("    notify /usr/local/libexec/lbdeck-notify root\n", "");
            let t = t.replace(
                "vrrp_track_file maint {\n    file /etc/keepalived/maintenance\n    weight 1\n}\n",
                "",
            );
            t.replace("    track_file {\n        maint\n    }\n", "")
        });
        reload(node);
    }
    std::thread::sleep(Duration::from_secs(2));
    let home = operator_home();
    let hosts = ["10.77.0.13", "10.77.0.14"];
    let (p, said) = init(home.path(), hosts, &["--kind", "nginx"], &[0]);
    let written = std::fs::read_to_string(&p).expect("profile");
    assert!(
        written.contains("upstream_file = \"/etc/nginx/nginx.conf\""),
        "{written}"
    );
    assert!(
        written.contains("failover = { method = \"stop_daemon\" }"),
        "{written}"
    );
    assert!(!written.contains("notify_fifo ="), "{written}");
    assert!(
        said.contains("keepalived pushes no transitions lbdeck can follow"),
        "{said}"
    );
    assert!(said.contains("every check passed"), "{said}");
    assert_complete(&status(home.path(), &p), ["lb3", "lb4"], 3);
    assert_console(
        home.path(),
        &p,
        ["lb3", "lb4"],
        &["10.77.0.21", "web2", "10.77.0.23"],
    );

    edit("lb4", "etc/nginx/conf.d/lb.conf", |t| {
        t.replace("    location = /nginx_status { stub_status; }\n", "")
    });
    edit("lb4", "etc/nginx/nginx.conf", |t| {
        t.replace("    server 10.77.0.23:80 backup;\n", "")
    });
    lab_ok(&["exec", "lb4", "nginx", "-s", "reload"]);
    let (_, said) = init(
        home.path(),
        hosts,
        &["--kind", "nginx", "--dry-run"],
        &[0, 1],
    );
    assert!(
        said.contains("lb4: no stub_status location: add `server { listen 8080; location = /nginx_status { stub_status;"),
        "{said}"
    );
    assert!(
        said.contains("differs: 10.77.0.23 10.77.0.23:80 is on lb3 only"),
        "{said}"
    );
}
