//! The HAProxy scenarios again with the runtime API reached only as the unix socket on
//! each balancer, over SSH (profiles/lab-haproxy-unix.toml): the TCP listeners are cut for
//! the scenario, lb1's socket is forwarded by sshd and lb2's (whose sshd does not forward
//! sockets) is relayed by socat. And a socket that allows only `level user`.

use std::time::Duration;

use super::{
    admin_bits, console, drain_and_undrain, drain_from_the_console, failover_and_failback,
    haproxy_pair_status, lab, lab_ok, lbdeck_in_lab, roles_in_status, root, screen_row, status,
};

/// The profile that reads both balancers' runtime API as a unix socket over SSH.
pub const UNIX: &str = "lab-haproxy-unix";

/// The lab's TCP runtime-API listeners cut on both balancers while it lives: whatever
/// works then went through the unix sockets.
pub struct NoTcpApi;

impl NoTcpApi {
    pub fn cut() -> NoTcpApi {
        for lb in ["lb1", "lb2"] {
            lab_ok(&["fault", "cut-runtime-api", lb]);
        }
        NoTcpApi
    }
}

impl Drop for NoTcpApi {
    fn drop(&mut self) {
        for lb in ["lb1", "lb2"] {
            let _ = lab(&["lift", "cut-runtime-api", lb]);
        }
    }
}

/// `status` reads both balancers through their sockets (sshd's forwarding on lb1, socat
/// on lb2 at the stock path), with the same numbers and roles as over TCP.
pub fn unix_socket_status_and_roles() {
    let _cut = NoTcpApi::cut();
    for ip in ["10.77.0.11", "10.77.0.12"] {
        let o = lab(&[
            "admin",
            "sh",
            "-c",
            &format!("echo 'show info' | socat -t1 - TCP:{ip}:9999,connect-timeout=1"),
        ]);
        assert!(o.stdout.is_empty(), "TCP to {ip}:9999 is cut");
    }
    let v = haproxy_pair_status(UNIX);
    let api = |i: usize| &v["balancers"][i]["runtime_api"];
    assert_eq!(
        api(0),
        &serde_json::json!({"reach": "ssh-socket", "socket": "/run/haproxy/admin.sock", "level": "admin"}),
        "{v:#}"
    );
    assert_eq!(
        api(1),
        &serde_json::json!({"reach": "socat", "socket": "/run/haproxy/admin.sock", "level": "admin"}),
        "{v:#}"
    );
    roles_in_status(UNIX);
}

pub fn unix_socket_drain_and_undrain() {
    let _cut = NoTcpApi::cut();
    drain_and_undrain(UNIX);
}

pub fn unix_socket_failover_and_failback() {
    let _cut = NoTcpApi::cut();
    failover_and_failback(UNIX);
}

/// The console reads both sockets over kept-open SSH channels, says how in the balancer
/// pane, and drains and undrains through them.
pub fn unix_socket_drain_from_the_console() {
    let _cut = NoTcpApi::cut();
    {
        let home = tempfile::tempdir().expect("tempdir");
        let t = console(UNIX, 200, 30, &home);
        t.wait_for("how each API is reached", Duration::from_secs(5), |s| {
            screen_row(s, "lb1").contains("api ssh-socket")
                && screen_row(s, "lb2").contains("api socat")
        });
        t.keys(&["q"]);
    }
    drain_from_the_console(UNIX);
}

/// The UNIX profile with lb2's runtime API on its `level user` socket.
fn user_level_profile(dir: &tempfile::TempDir) -> String {
    let text =
        std::fs::read_to_string(root().join(format!("profiles/{UNIX}.toml"))).expect("profile");
    let lb2 = "name = \"lb2\"\nhost = \"10.77.0.12\"\nkind = \"haproxy\"\n";
    assert!(text.contains(lb2), "lb2 in {UNIX}");
    let text = text.replace(
        lb2,
        &format!("{lb2}runtime_api = \"unix:///run/haproxy/user.sock\"\n"),
    );
    let path = dir.path().join("lab-haproxy-user.toml");
    std::fs::write(&path, text).expect("write profile");
    path.display().to_string()
}

/// A balancer whose socket allows only `level user` is read like the other, its level
/// shown, and a drain is refused before anything changes, saying why.
pub fn a_socket_at_level_user_is_read_but_not_acted_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = user_level_profile(&dir);
    let v = status(&profile);
    let lb2 = &v["balancers"][1];
    assert_eq!(lb2["up"], true, "{lb2:#}");
    assert_eq!(lb2["runtime_api"]["level"], "user", "{lb2:#}");
    assert_eq!(lb2["runtime_api"]["socket"], "/run/haproxy/user.sock");
    assert_eq!(v["balancers"][0]["runtime_api"]["level"], "admin");
    let web2 = super::backend(&v, "web2");
    assert_eq!(web2["balancers"]["lb2"]["state"], "UP", "{web2:#}");
    let o = lbdeck_in_lab(
        &["drain", "--profile", &profile, "web2", "--yes"],
        dir.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(
            "lb2: its runtime API socket is at level user: changing servers needs level admin"
        ),
        "{out}"
    );
    assert_eq!(admin_bits("web2"), vec!["0", "0"], "nothing changed");
    let home = tempfile::tempdir().expect("tempdir");
    let t = console(&profile, 200, 30, &home);
    t.wait_for("lb2's level on screen", Duration::from_secs(5), |s| {
        screen_row(s, "lb2").contains("api socat (user)")
    });
    t.keys(&["q"]);
}
