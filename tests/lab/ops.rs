//! The lab run by the non-root operator `ops` (profiles/lab-ops.toml and
//! lab-haproxy-ops.toml: `[ssh] user = "ops"`, `sudo = true`): every privileged command
//! goes through `sudo -n`, allowed only by the rules `lbdeck sudoers` prints for those
//! profiles, installed by `scripts/lab sudoers`; HAProxy's runtime API as root's unix
//! socket is reached through `sudo -n socat`, the API line on its stdin; the nginx
//! drain's edit takes the file's new text on its stdin, so its rule is exact too. A rule
//! taken away gives the refusal that names it.

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::common::bin;
use super::harness::{lab, lab_ok, root, state_dir};
use super::unix::NoTcpApi;
use super::{
    console, drain_and_undrain, drain_from_the_console, failover_and_failback, haproxy_pair_status,
    lbdeck_in_lab, lbdeck_ok, roles_in_status, screen_row,
};

/// The nginx pair as `ops`.
const OPS_NGINX: &str = "lab-ops";
/// The HAProxy pair (runtime API on TCP) as `ops`.
const OPS_HAPROXY: &str = "lab-haproxy-ops";
/// The HAProxy pair (runtime API as the unix socket only) as `ops`.
const OPS_UNIX: &str = "lab-haproxy-unix-ops";

/// The rule that lets `ops` fail over by lb1's and lb2's track file, as printed (a
/// backslash of the command is four in the rule).
const FAILOVER_RULE: &str =
    r"ops ALL=(root) NOPASSWD: /bin/sh -c printf '%s\\\\n' -100 > /etc/keepalived/maintenance";

/// What `lbdeck sudoers` prints for the `ops` profiles.
fn printed_rules() -> String {
    [OPS_NGINX, OPS_HAPROXY, OPS_UNIX]
        .iter()
        .map(|p| {
            let o = Command::new(bin())
                .args(["sudoers", "--profile", p])
                .current_dir(root())
                .output()
                .expect("lbdeck sudoers");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect()
}

/// `rules` as the only sudoers rules of `ops` on every node.
fn install(rules: &str) {
    let mut child = Command::new(root().join("scripts/lab"))
        .arg("sudoers")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scripts/lab sudoers");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(rules.as_bytes())
        .expect("write rules");
    let o = child.wait_with_output().expect("scripts/lab sudoers");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The printed rules installed for `ops` while it lives, and again when it goes (a
/// scenario that took one away leaves them whole).
pub struct Rules;

impl Rules {
    /// The rules `lbdeck sudoers` prints for the `ops` profiles, installed.
    pub fn printed() -> Rules {
        install(&printed_rules());
        Rules
    }
}

impl Drop for Rules {
    fn drop(&mut self) {
        install(&printed_rules());
    }
}

fn node_file(node: &str, path: &str) -> std::path::PathBuf {
    Path::new(state_dir()).join("nodes").join(node).join(path)
}

/// A file's bytes, owner, group and mode.
fn snapshot(path: &Path) -> (Vec<u8>, u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bytes = std::fs::read(path).expect("read");
    (bytes, meta.uid(), meta.gid(), meta.mode())
}

/// lbdeck run with `args` in the lab, failing (exit 1: an action that failed): what it
/// said on stdout and stderr.
fn failed(args: &[&str]) -> String {
    let state = tempfile::tempdir().expect("tempdir");
    let o = lbdeck_in_lab(args, state.path());
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
    out
}

fn vip() -> String {
    String::from_utf8_lossy(&lab(&["vip"]).stdout)
        .trim()
        .to_string()
}

/// `status` reads keepalived's roles (the JSON dump through sudo) on both pairs, and
/// `check` passes on both, logged in as `ops`, sudo answering without a password.
pub fn ops_status_check_and_roles() {
    let _rules = Rules::printed();
    roles_in_status(OPS_HAPROXY);
    roles_in_status(OPS_NGINX);
    let state = tempfile::tempdir().expect("tempdir");
    for profile in [OPS_NGINX, OPS_HAPROXY] {
        let o = lbdeck_in_lab(&["check", "--profile", profile], state.path());
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(o.status.code(), Some(0), "{profile}: {out}");
        assert!(out.contains("every check passed"), "{out}");
        for need in [
            "✓ SSH login as ops@10.77.0.11",
            "✓ SSH login as ops@10.77.0.12",
            "✓ sudo -n works",
            "✓ keepalived can write its JSON dump",
            "✓ notify FIFO /run/keepalived.fifo readable",
        ] {
            assert!(out.contains(need), "{profile} lacks {need:?}:\n{out}");
        }
    }
}

/// Drain and undrain on the HAProxy pair as `ops`: the runtime API is on TCP (no sudo),
/// the pair's lock in /run/lock and keepalived's dump through sudo.
pub fn ops_drain_and_undrain_on_the_haproxy_pair() {
    let _rules = Rules::printed();
    drain_and_undrain(OPS_HAPROXY);
}

/// With the TCP listeners cut, `ops` reads both balancers' runtime API through root's
/// unix socket by `sudo -n socat` (its own login may not open it, so sshd's forwarding
/// cannot), roles too, and drains and undrains through it.
pub fn ops_unix_socket_through_sudo_socat() {
    let _rules = Rules::printed();
    let _cut = NoTcpApi::cut();
    let v = haproxy_pair_status(OPS_UNIX);
    for i in 0..2 {
        assert_eq!(
            v["balancers"][i]["runtime_api"],
            serde_json::json!({"reach": "sudo socat", "socket": "/run/haproxy/admin.sock", "level": "admin"}),
            "{v:#}"
        );
    }
    roles_in_status(OPS_UNIX);
    drain_and_undrain(OPS_UNIX);
}

/// The console as `ops`: keepalived's roles on screen, its notify FIFO followed through
/// `sudo -n` (ops' sudo runs the reader), a VIP move made on the node seen (and back),
/// then a drain and an undrain from the keyboard.
pub fn ops_console_follows_the_vip_and_drains() {
    let _rules = Rules::printed();
    {
        let home = tempfile::tempdir().expect("tempdir");
        let t = console(OPS_HAPROXY, 200, 30, &home);
        let roles = |s: &str, master: &str, backup: &str| {
            screen_row(s, master).contains("MASTER") && screen_row(s, backup).contains("BACKUP")
        };
        t.wait_for("lb1 MASTER, lb2 BACKUP", Duration::from_secs(5), |s| {
            roles(s, "lb1", "lb2")
        });
        let fifo_reader = || {
            Command::new("pgrep")
                .args(["-U", "ops", "-f", "^sudo -n sh -c echo LBDECK-FIFO-OPEN"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let started = std::time::Instant::now();
        while !fifo_reader() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no FIFO reader through sudo"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let track = "echo {} > /etc/keepalived/maintenance";
        lab_ok(&["exec", "lb1", "sh", "-c", &track.replace("{}", "-100")]);
        t.wait_for("lb2 MASTER", Duration::from_secs(10), |s| {
            roles(s, "lb2", "lb1")
        });
        lab_ok(&["exec", "lb1", "sh", "-c", &track.replace("{}", "0")]);
        t.wait_for("lb1 MASTER again", Duration::from_secs(10), |s| {
            roles(s, "lb1", "lb2")
        });
        t.keys(&["q"]);
    }
    drain_from_the_console(OPS_HAPROXY);
}

/// Failover and failback by the track file as `ops`: the file written through sudo keeps
/// its owner and mode.
pub fn ops_failover_and_failback_by_the_track_file() {
    let _rules = Rules::printed();
    let track = node_file("lb1", "etc/keepalived/maintenance");
    let before = snapshot(&track);
    failover_and_failback(OPS_HAPROXY);
    assert_eq!(snapshot(&track), before, "{}", track.display());
}

/// The nginx drain's edit takes the file's new text on stdin, so its command line is
/// fixed and `lbdeck sudoers` prints its exact rule: with only the printed rules, `ops`
/// drains web2 (`down` in both upstream files, owner and mode kept) and undrains it (both
/// files byte for byte as they were).
pub fn ops_nginx_drain_and_undrain_by_the_printed_rules() {
    let _rules = Rules::printed();
    assert!(
        printed_rules().lines().any(|l| l == nginx_edit_rule()),
        "lbdeck sudoers prints the edit's rule"
    );
    let files = ["lb1", "lb2"].map(|lb| node_file(lb, UPSTREAM));
    let before = files.clone().map(|f| snapshot(&f));
    let state = tempfile::tempdir().expect("tempdir");
    lbdeck_ok(
        &["drain", "--profile", OPS_NGINX, "web2", "--yes"],
        state.path(),
    );
    for (f, (_, uid, gid, mode)) in files.iter().zip(&before) {
        let (bytes, u, g, m) = snapshot(f);
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.lines()
                .any(|l| l.contains("10.77.0.22:80") && l.contains(" down")),
            "{}: {text}",
            f.display()
        );
        assert_eq!((u, g, m), (*uid, *gid, *mode), "{}", f.display());
    }
    lbdeck_ok(
        &["undrain", "--profile", OPS_NGINX, "web2", "--yes"],
        state.path(),
    );
    assert_eq!(
        files.map(|f| snapshot(&f)),
        before,
        "put back byte for byte"
    );
}

/// With the nginx edit's rule taken away, the drain is refused on both balancers with
/// the sentence naming the node, the command and exactly that rule; both upstream files
/// are as they were, bytes, owner and mode.
pub fn ops_the_nginx_edit_rule_removed_is_named_and_nothing_changes() {
    let _rules = Rules::printed();
    let rule = nginx_edit_rule();
    let less: String = printed_rules()
        .lines()
        .filter(|l| *l != rule)
        .map(|l| format!("{l}\n"))
        .collect();
    install(&less);
    let files = ["lb1", "lb2"].map(|lb| node_file(lb, UPSTREAM));
    let before = files.clone().map(|f| snapshot(&f));
    let out = failed(&["drain", "--profile", OPS_NGINX, "web2", "--yes"]);
    // The SSH node is named by its host; sudo -n says a password is required for a
    // command no rule allows (it asks before it refuses).
    for (lb, host) in [("lb1", "10.77.0.11"), ("lb2", "10.77.0.12")] {
        for said in [
            format!("{lb}: {host}: sudo refused `f=/etc/nginx/conf.d/upstream.conf; d=/var/backups/lbdeck;"),
            "(a password is required); ".to_string(),
            format!("this sudoers rule on {host} allows it: {rule}"),
        ] {
            assert!(out.contains(&said), "{said:?} not in:\n{out}");
        }
    }
    assert!(
        out.contains("after: UP on lb1, UP on lb2"),
        "read back unchanged: {out}"
    );
    assert_eq!(files.map(|f| snapshot(&f)), before, "nothing changed");
}

/// The lab's nginx upstream file, on each node.
const UPSTREAM: &str = "etc/nginx/conf.d/upstream.conf";

/// The printed rule that lets `ops` put a new upstream file in place on lb1 and lb2.
fn nginx_edit_rule() -> String {
    let printed = printed_rules();
    let rules: Vec<&str> = printed
        .lines()
        .filter(|l| {
            l.starts_with(
                "ops ALL=(root) NOPASSWD: /bin/sh -c f\\=/etc/nginx/conf.d/upstream.conf;",
            )
        })
        .collect();
    assert!(!rules.is_empty(), "no edit rule in:\n{printed}");
    assert!(
        rules.iter().all(|r| *r == rules[0]),
        "one rule for both nodes"
    );
    assert!(
        rules[0].contains("cat > "),
        "the new text comes on stdin: {}",
        rules[0]
    );
    rules[0].to_string()
}

/// With the track file's failover rule taken away, a failover is refused with the
/// sentence naming lb1 (by its host), the command and exactly the rule that was removed; the VIP and
/// the track file stay as they were.
pub fn ops_a_removed_rule_is_named_and_nothing_changes() {
    let _rules = Rules::printed();
    let printed = printed_rules();
    assert!(
        printed.lines().any(|l| l == FAILOVER_RULE),
        "{FAILOVER_RULE} in:\n{printed}"
    );
    let less: String = printed
        .lines()
        .filter(|l| *l != FAILOVER_RULE)
        .map(|l| format!("{l}\n"))
        .collect();
    install(&less);
    let track = node_file("lb1", "etc/keepalived/maintenance");
    let before = snapshot(&track);
    let out = failed(&["failover", "--profile", OPS_HAPROXY, "--yes"]);
    let sentence = format!(
        "failover: failed: 10.77.0.11: sudo refused \
         `printf '%s\\n' -100 > /etc/keepalived/maintenance` (a password is required); \
         this sudoers rule on 10.77.0.11 allows it: {FAILOVER_RULE}"
    );
    assert!(out.contains(&sentence), "{sentence:?} not in:\n{out}");
    assert!(!out.contains("unable to resolve host"), "{out}");
    assert_eq!(vip(), "lb1", "the VIP stayed");
    assert_eq!(snapshot(&track), before, "the track file is as it was");
}

/// An action as one operator (the CLI, logged in as `ops`, appending through sudo) is in
/// the pair's shared audit log on both balancers — the same line as the local one, naming
/// the operator — and a console open on the pair meanwhile shows it in Events.
pub fn ops_an_action_is_in_the_pairs_shared_audit_and_a_console_shows_it() {
    let _rules = Rules::printed();
    let home = tempfile::tempdir().expect("tempdir");
    let t = console(OPS_HAPROXY, 200, 40, &home);
    let followers = || {
        Command::new("pgrep")
            .args(["-c", "-f", "^tail -n0 -F /var/log/lbdeck/audit.jsonl"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let started = std::time::Instant::now();
    while followers() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the console follows both balancers' shared audit log:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = tempfile::tempdir().expect("tempdir");
    let out = lbdeck_ok(
        &["drain", "--profile", OPS_HAPROXY, "web2", "--yes"],
        state.path(),
    );
    assert!(out.contains("shared on lb1, lb2"), "{out}");
    let local = std::fs::read_to_string(state.path().join("lbdeck/audit.jsonl")).expect("local");
    let local = local.lines().last().expect("a local line").to_string();
    for lb in ["lb1", "lb2"] {
        let shared = std::fs::read_to_string(node_file(lb, "var/log/lbdeck/audit.jsonl"))
            .unwrap_or_else(|e| panic!("{lb}: {e}"));
        assert_eq!(shared.lines().last(), Some(local.as_str()), "{lb}");
    }
    let v: serde_json::Value = serde_json::from_str(&local).expect("JSON");
    assert_eq!(v["operator"]["ssh_user"], "ops");
    let (user, host) = (
        v["operator"]["user"].as_str().expect("user"),
        v["operator"]["host"].as_str().expect("host"),
    );
    assert!(!user.is_empty() && !host.is_empty(), "{local}");
    let who = format!("{user}@{host}");
    let drained = format!("{who} drained web2 (done)");
    t.wait_for(&drained, Duration::from_secs(10), |s| s.contains(&drained));
    lbdeck_ok(
        &["undrain", "--profile", OPS_HAPROXY, "web2", "--yes"],
        state.path(),
    );
    let back = format!("{who} put web2 back in rotation (done)");
    t.wait_for(&back, Duration::from_secs(10), |s| s.contains(&back));
    // The audit viewer's pair view reads both balancers' copies (through sudo): each
    // action once, naming its operator; the drain and the undrain are the newest rows
    // (earlier scenarios' actions may be above them).
    t.keys(&["A"]);
    t.wait_for("the audit viewer", Duration::from_secs(5), |s| {
        s.contains("Audit log")
    });
    t.keys(&["p"]);
    let newest = |s: &str| -> Vec<String> {
        let rows: Vec<&str> = s.lines().filter(|l| l.contains(&who)).collect();
        rows[rows.len().saturating_sub(2)..]
            .iter()
            .map(|l| l.to_string())
            .collect()
    };
    let s = t.wait_for("the pair's shared log", Duration::from_secs(5), |s| {
        s.contains("the pair's shared log (p: local)")
            && newest(s).last().is_some_and(|l| l.contains(" undrain "))
    });
    let rows = newest(&s);
    assert!(
        rows.len() == 2 && rows[0].contains(" drain ") && rows[0].contains(" web2 "),
        "{s}"
    );
    assert!(!s.contains("not read:"), "{s}");
    t.keys(&["Escape"]);
    t.wait_for("the viewer closed", Duration::from_secs(5), |s| {
        !s.contains("Audit log")
    });
    t.keys(&["q"]);
}
