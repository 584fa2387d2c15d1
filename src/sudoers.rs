//! The least sudoers rules a non-root operator needs on each balancer for a profile:
//! one exact rule per shell command lbdeck runs there through `sudo -n sh -c`, built by
//! the same functions that build the commands, so a rule cannot drift from what is sent.
//! What changes from run to run (an upstream file's new contents, an audit line) goes on
//! the command's stdin, so the command line and its rule stay fixed. A command whose
//! text only the node knows (a file found through `nginx -T`) has no rule here; it is
//! listed with the reason instead.

use std::fmt::Write as _;

use crate::config::profile::{
    BalancerKind, BalancerSettings, Profile, StatusEndpoint, DEFAULT_UPSTREAM_FILE,
};
use crate::ops::failover::{failback_check, trigger};
use crate::ops::operation::Direction;
use crate::sources::access_log::RECENT_LINES;
use crate::ssh::shell_quote;
use crate::ssh::unix::Relay;
use crate::wire::keepalived::{DumpKind, DUMP_PROBE};

/// The shell every privileged command runs in (`sudo -n sh -c '…'`); sudo matches
/// `/usr/bin/sh` too where /bin is a link to it, as it compares the files.
const SHELL: &str = "/bin/sh";

/// One command lbdeck runs as root on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// What lbdeck does with it, in the operator's words.
    pub purpose: String,
    /// The command as given to `sh -c`.
    pub command: String,
    /// Why no narrow rule can allow it, when none can.
    pub unnarrowable: Option<&'static str>,
}

/// The commands one balancer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNeeds {
    /// The balancer's name in the profile.
    pub node: String,
    /// Its commands, in the order lbdeck first runs them.
    pub needs: Vec<Need>,
}

/// Why reading or editing an upstream file found through `nginx -T` has no rule here.
const FILE_UNKNOWN: &str = "its name is only known on the node: set upstream_file in the profile";

/// The commands lbdeck runs as root on each balancer of `profile`.
pub fn needs(profile: &Profile) -> Vec<NodeNeeds> {
    profile
        .balancers()
        .map(|b| NodeNeeds {
            node: b.name.clone(),
            needs: node_needs(b),
        })
        .collect()
}

fn node_needs(b: &BalancerSettings) -> Vec<Need> {
    let mut out = Vec::new();
    if let Some(k) = &b.keepalived {
        out.push(exact("which dump keepalived writes", DUMP_PROBE.into()));
        // The dump kind is found on the node at run time, so every kind's command is allowed.
        for (kind, what) in [
            (DumpKind::Json, "keepalived JSON dump"),
            (DumpKind::Text { signum: true }, "keepalived text dump"),
            (
                DumpKind::Text { signum: false },
                "keepalived text dump (SIGUSR1)",
            ),
            (DumpKind::IpAddrOnly, "whether keepalived runs"),
        ] {
            out.push(exact(what, crate::sources::vrrp::dump_command(k, kind)));
        }
        // The notify log is read as the operator (contrib/lbdeck-notify makes it
        // world-readable): it needs no rule.
        if let Some(fifo) = &k.notify_fifo {
            out.push(exact(
                "notify FIFO present",
                crate::sources::vrrp::fifo_check(fifo),
            ));
            out.push(exact(
                "notify FIFO",
                crate::sources::vrrp::fifo_command(fifo),
            ));
        }
        if let Some(method) = &k.failover {
            out.push(exact("failover", trigger(method, Direction::Failover)));
            out.push(exact("failback", trigger(method, Direction::Failback)));
            out.push(exact(
                "whether a failover is in effect",
                failback_check(method),
            ));
        }
    }
    if b.kind == BalancerKind::Nginx {
        // Without upstream_file, the stock file is read first and nginx -T shows the one
        // defining the upstream: that file's name is only known on the node.
        let file = b.upstream_file.as_deref().unwrap_or(DEFAULT_UPSTREAM_FILE);
        out.push(exact("upstream file", format!("cat {}", shell_quote(file))));
        out.push(exact("nginx configuration", "nginx -T".into()));
        let edit = |file: &str| crate::ops::drain::edit_script(file, crate::ops::drain::BACKUP_DIR);
        out.push(exact(
            "drain: the upstream file's new text (on stdin) in place, nginx -t, reload",
            edit(file),
        ));
        if b.upstream_file.is_none() {
            out.push(Need {
                purpose: "the file nginx -T shows defining the upstream".into(),
                command: "cat FILE".into(),
                unnarrowable: Some(FILE_UNKNOWN),
            });
            out.push(Need {
                purpose: "drain: that file's new text in place".into(),
                command: edit("FILE"),
                unnarrowable: Some(FILE_UNKNOWN),
            });
        }
    }
    if let Some(log) = &b.access_log {
        out.push(exact(
            "access log",
            format!("exec tail -n0 -F {}", shell_quote(log)),
        ));
        out.push(exact(
            "access log format check",
            format!("tail -n {} {}", RECENT_LINES, shell_quote(log)),
        ));
    }
    if let StatusEndpoint::RuntimeApi(api) = b.status_endpoint() {
        let paths = api.socket_paths();
        if !paths.is_empty() {
            out.push(exact("runtime API socket", crate::ssh::unix::probe(&paths)));
        }
        for path in &paths {
            for relay in [Relay::Socat, Relay::Nc] {
                // Commands and the kept-open stream alike: the API line goes on stdin.
                out.push(exact(
                    "runtime API relay",
                    format!("exec {}", relay.command(path)),
                ));
            }
        }
    }
    out.push(exact(
        "the pair's shared audit log: an action's line (on stdin) appended",
        crate::wire::audit::append_command(),
    ));
    out.push(exact(
        "the pair's shared audit log: others' actions followed",
        crate::wire::audit::follow_command(),
    ));
    out.push(exact(
        "the pair's shared audit log: its newest lines for the viewer",
        crate::wire::audit::read_command(),
    ));
    out.push(exact(
        "lbdeck check: sudo -n works",
        crate::check::SUDO_PROBE.into(),
    ));
    for (need, command) in crate::check::remote_checks(b) {
        out.push(exact(&format!("lbdeck check: {need}"), command));
    }
    if b.keepalived.is_some() {
        out.push(exact(
            "lbdeck check: how keepalived is started and stopped",
            crate::ops::daemon::keepalived_control(),
        ));
    }
    out
}

fn exact(purpose: &str, command: String) -> Need {
    Need {
        purpose: purpose.into(),
        command,
        unnarrowable: None,
    }
}

/// `command` as a sudoers command specification: `/bin/sh -c` and the command, with
/// the characters sudoers reads as syntax (`, : = #`) or as wildcards (`* ? [ ] !`)
/// escaped, so the rule matches that exact text and nothing else. A backslash is four:
/// sudoers reads `\\` as one, and sudo matches the arguments as an fnmatch pattern, where
/// a backslash escapes again (sudo 1.9.13 in the lab: `'0\\\\n'` allows `printf '0\n'`,
/// `'0\\n'` only `printf '0n'`).
pub fn command_spec(command: &str) -> String {
    let mut out = format!("{SHELL} -c ");
    for c in command.chars() {
        if c == '\\' {
            out.push_str(r"\\\\");
            continue;
        }
        if ",:=#*?[]!".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The sudoers rule letting `user` run `command` as lbdeck does.
pub fn rule(user: &str, command: &str) -> String {
    format!("{user} ALL=(root) NOPASSWD: {}", command_spec(command))
}

/// The sudoers file for `profile`'s SSH user: per node, one rule per exact command, and
/// the commands no narrow rule can allow, with the reason, as comments.
pub fn render(profile: &Profile) -> String {
    let user = &profile.ssh.user;
    let mut out = format!(
        "# lbdeck sudoers rules for profile {} (user {user}).\n\
         # Install on each node with: visudo -f /etc/sudoers.d/lbdeck\n",
        profile.name
    );
    for node in needs(profile) {
        let _ = writeln!(out, "\n# --- {} ---", node.node);
        let mut seen = Vec::new();
        for need in &node.needs {
            if seen.contains(&&need.command) {
                continue;
            }
            seen.push(&need.command);
            match need.unnarrowable {
                None => {
                    let _ = writeln!(out, "# {}\n{}", need.purpose, rule(user, &need.command));
                }
                Some(why) => {
                    let _ = writeln!(
                        out,
                        "# {}: no narrow rule ({why}); it needs {user} ALL=(root) NOPASSWD: {SHELL}\n#   {}",
                        need.purpose, need.command
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(file: &str) -> Profile {
        let path = format!("{}/profiles/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("profile");
        Profile::parse(&path, &text).expect("parses")
    }

    fn commands(p: &Profile, node: usize) -> Vec<String> {
        needs(p)[node]
            .needs
            .iter()
            .filter(|n| n.unnarrowable.is_none())
            .map(|n| n.command.clone())
            .collect()
    }

    #[test]
    fn nginx_track_file_pair_needs_its_file_log_and_trigger() {
        let p = profile("lab.toml");
        let c = commands(&p, 0);
        assert!(c.contains(&"cat /etc/nginx/conf.d/upstream.conf".to_string()));
        assert!(c.contains(&"nginx -T".to_string()));
        assert!(c.contains(&"exec tail -n0 -F /var/log/nginx/access.log".to_string()));
        assert!(c.contains(&"printf '%s\\n' -100 > /etc/keepalived/maintenance".to_string()));
        assert!(c.contains(&"printf '0\\n' > /etc/keepalived/maintenance".to_string()));
        assert!(
            !c.iter().any(|c| c.contains("socat")),
            "no runtime API on nginx"
        );
        assert!(
            c.contains(&crate::ops::drain::edit_script(
                "/etc/nginx/conf.d/upstream.conf",
                crate::ops::drain::BACKUP_DIR
            )),
            "the drain's edit has its exact rule: the new text goes on stdin"
        );
        assert!(needs(&p)[0].needs.iter().all(|n| n.unnarrowable.is_none()));
    }

    #[test]
    fn every_balancer_may_append_to_follow_and_read_the_shared_audit_log() {
        for file in ["lab.toml", "lab-haproxy.toml"] {
            let p = profile(file);
            for node in 0..2 {
                let c = commands(&p, node);
                for need in [
                    "mkdir -p /var/log/lbdeck && cat >> /var/log/lbdeck/audit.jsonl",
                    "exec tail -n0 -F /var/log/lbdeck/audit.jsonl",
                    "test ! -e /var/log/lbdeck/audit.jsonl || tail -n 200 /var/log/lbdeck/audit.jsonl",
                ] {
                    assert!(c.contains(&need.to_string()), "{file} {node}: {need}");
                }
            }
        }
    }

    #[test]
    fn haproxy_over_tcp_needs_no_socket_and_no_nginx() {
        let p = profile("lab-haproxy.toml");
        for node in 0..2 {
            let c = commands(&p, node);
            assert!(!c.iter().any(|c| c.contains("nginx") || c.contains("socat")));
            assert!(c.contains(&"test -p /run/keepalived.fifo".to_string()));
        }
    }

    #[test]
    fn haproxy_over_a_unix_socket_needs_its_relays() {
        let p = profile("lab-haproxy-unix.toml");
        let c = commands(&p, 0);
        assert!(c.contains(&"exec socat stdio UNIX-CONNECT:/run/haproxy/admin.sock".to_string()));
        assert!(c.contains(&"exec nc -U /run/haproxy/admin.sock".to_string()));
    }

    #[test]
    fn the_stop_daemon_method_needs_start_and_stop() {
        let path = format!("{}/profiles/lab.toml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path)
            .expect("profile")
            .replace(
                r#"failover = { method = "track_file", path = "/etc/keepalived/maintenance", value = "-100" }"#,
                r#"failover = { method = "stop_daemon" }"#,
            );
        let p = Profile::parse(&path, &text).expect("parses");
        let c = commands(&p, 1);
        assert!(c.contains(&crate::ops::daemon::keepalived(false)));
        assert!(c.contains(&crate::ops::daemon::keepalived(true)));
        assert!(!c.iter().any(|c| c.contains("maintenance")));
        assert!(c.contains(&crate::ops::daemon::keepalived_control()));
    }

    /// sudoers joins a rule's arguments with single spaces, so a command holding a run
    /// of blanks, a tab or a newline could never match its own rule.
    #[test]
    fn every_exact_command_of_every_bundled_profile_can_match_its_rule() {
        let dir = format!("{}/profiles", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("profiles") {
            let path = entry.expect("entry").path();
            let p = profile(&path.file_name().expect("name").to_string_lossy());
            for node in 0..p.balancers.len() {
                for c in commands(&p, node) {
                    assert!(
                        !c.contains("  ") && !c.contains(['\t', '\n']),
                        "{}: {c:?}",
                        path.display()
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen > 50, "only {seen} commands");
    }

    #[test]
    fn a_backslash_is_written_so_that_sudo_matches_one() {
        assert_eq!(
            rule("ops", "printf '0\\n' > /etc/keepalived/maintenance"),
            r"ops ALL=(root) NOPASSWD: /bin/sh -c printf '0\\\\n' > /etc/keepalived/maintenance"
        );
    }

    #[test]
    fn a_rule_escapes_what_sudoers_reads_as_syntax_or_wildcards() {
        assert_eq!(
            rule("ops", "v=$(cat f); [ \"$v\" != 0 ] # a, b: *?"),
            "ops ALL=(root) NOPASSWD: /bin/sh -c v\\=$(cat f); \\[ \"$v\" \\!\\= 0 \\] \\# a\\, b\\: \\*\\?"
        );
    }

    #[test]
    fn the_file_names_each_node_and_the_user() {
        let text = render(&profile("lab-haproxy.toml"));
        assert!(text.contains("# --- lb1 ---") && text.contains("# --- lb2 ---"));
        assert!(text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(|l| l.starts_with("root ALL=(root) NOPASSWD: /bin/sh -c ")));
    }
}
