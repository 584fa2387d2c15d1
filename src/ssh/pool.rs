//! One connection per node, shared by every command and stream, re-made with backoff when
//! it drops. A node that keeps failing is not hammered: callers get the last error until
//! the backoff has passed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::{Credentials, NodeAddr, Resolver, Ssh, SshError};

/// First retry delay after a failed connection.
const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest delay between retries.
const BACKOFF_MAX: Duration = Duration::from_secs(15);

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Ssh>>,
    failed: Option<(Instant, Duration, SshError)>,
}

/// Shared SSH connections, keyed by node alias.
pub struct Pool {
    resolver: Resolver,
    creds: Credentials,
    known_hosts: PathBuf,
    timeout: Duration,
    /// Prefix privileged commands with `sudo -n`.
    pub sudo: bool,
    slots: Mutex<HashMap<String, Arc<Mutex<Slot>>>>,
    /// The unix socket found on each node and the way to it, by node alias and the paths
    /// asked for: found once, used until it fails.
    pub(super) sockets: std::sync::Mutex<HashMap<(String, Vec<PathBuf>), super::Socket>>,
}

impl Pool {
    /// The pool for a profile's nodes: credentials for every key they name (passphrases
    /// asked now, once, when `prompt` allows), the profile's known_hosts and timeout, and
    /// `resolver` to reach other hosts by name later (a shell, an action).
    pub fn for_profile<'a>(
        profile: &crate::config::profile::Profile,
        resolver: Resolver,
        nodes: impl Iterator<Item = &'a NodeAddr>,
        prompt: bool,
    ) -> Arc<Pool> {
        Pool::for_nodes(&profile.ssh, profile.timeout, resolver, nodes, prompt)
    }

    /// The pool for these nodes under these `[ssh]` settings, as [`Pool::for_profile`]
    /// (used before there is a profile: `init`).
    pub fn for_nodes<'a>(
        ssh: &crate::config::profile::SshSettings,
        timeout: Duration,
        resolver: Resolver,
        nodes: impl Iterator<Item = &'a NodeAddr>,
        prompt: bool,
    ) -> Arc<Pool> {
        let mut keys: Vec<PathBuf> = Vec::new();
        // OpenSSH's default keys are for the hosts that name none.
        let mut defaults = false;
        for n in nodes {
            for hop in n.jumps.iter().chain(std::iter::once(n)) {
                defaults |= hop.identity_files.is_empty();
                for k in &hop.identity_files {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
        }
        let creds = Credentials::load(&keys, defaults, ssh.password, prompt);
        Arc::new(Pool::new(
            resolver,
            creds,
            crate::config::expand_home(&ssh.known_hosts),
            timeout,
            ssh.sudo,
        ))
    }

    /// A pool resolving hosts with `resolver`, using these credentials and known_hosts.
    pub fn new(
        resolver: Resolver,
        creds: Credentials,
        known_hosts: PathBuf,
        timeout: Duration,
        sudo: bool,
    ) -> Pool {
        Pool {
            resolver,
            creds,
            known_hosts,
            timeout,
            sudo,
            slots: Mutex::new(HashMap::new()),
            sockets: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// How hosts are reached in this run (the profile's `[ssh]` and `~/.ssh/config`).
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// How to reach `host`, through the ssh_config read when the pool was made.
    pub fn node(&self, host: &str) -> NodeAddr {
        self.resolver.resolve(host)
    }

    /// The live connection to `addr`, connecting if needed.
    pub async fn get(&self, addr: &NodeAddr) -> Result<Arc<Ssh>, SshError> {
        let slot = {
            let mut slots = self.slots.lock().await;
            slots.entry(addr.alias.clone()).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(c) = slot.conn.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        slot.conn = None;
        if let Some((at, wait, err)) = &slot.failed {
            // Host-key refusals are final until the operator acts: never retry them fast.
            if at.elapsed() < *wait {
                return Err(err.clone());
            }
        }
        match Ssh::connect(addr, &self.creds, &self.known_hosts, self.timeout).await {
            Ok(c) => {
                let c = Arc::new(c);
                slot.conn = Some(c.clone());
                slot.failed = None;
                Ok(c)
            }
            Err(e) => {
                let wait = match (&e, &slot.failed) {
                    (SshError::UnknownHost { .. } | SshError::KeyChanged { .. }, _) => BACKOFF_MAX,
                    (_, Some((_, w, _))) => (*w * 2).min(BACKOFF_MAX),
                    (_, None) => BACKOFF_START,
                };
                slot.failed = Some((Instant::now(), wait, e.clone()));
                Err(e)
            }
        }
    }

    /// Wraps a command for privileged execution (`sudo -n sh -c '…'` when configured).
    pub fn privileged(&self, command: &str) -> String {
        if self.sudo {
            format!("sudo -n sh -c {}", super::shell_quote(command))
        } else {
            command.to_string()
        }
    }

    /// Runs a command on `addr` with the pool's timeout.
    pub async fn exec(&self, addr: &NodeAddr, command: &str) -> Result<super::Output, SshError> {
        let conn = self.get(addr).await?;
        conn.exec(command, self.timeout).await
    }

    /// Runs a command on `addr` with `input` on its stdin, with the pool's timeout: what
    /// varies from run to run stays out of the command line (and its sudoers rule).
    pub async fn exec_with_input(
        &self,
        addr: &NodeAddr,
        command: &str,
        input: &[u8],
    ) -> Result<super::Output, SshError> {
        let conn = self.get(addr).await?;
        conn.exec_with_input(command, input, self.timeout).await
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// The words `sudo -n` prints when it will not run a command without asking: a password
/// is needed, or no rule allows it (sudo 1.8 and 1.9).
const SUDO_REFUSALS: [&str; 4] = [
    "a password is required",
    "is not allowed to execute",
    "a terminal is required",
    "no tty present",
];

/// `out` as the refusal of a privileged `command` by `sudo -n`, naming the node, the
/// command and the rule that would allow it; every exec passes through it, so a refusal
/// is never read as the command's own failure (a failback check's "nothing to undo").
pub(super) fn sudo_refusal(
    addr: &NodeAddr,
    command: &str,
    out: &super::Output,
) -> Option<SshError> {
    let inner = unwrap_privileged(command)?;
    if out.status == Some(0) {
        return None;
    }
    // sudo may warn first ("unable to resolve host lb1" where the node's name is not in
    // its /etc/hosts): the refusal is whichever of its lines says so.
    let line = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("sudo:"))
        .find(|l| SUDO_REFUSALS.iter().any(|w| l.contains(w)))?;
    Some(SshError::SudoRefused {
        node: addr.alias.clone(),
        rule: crate::sudoers::rule(&addr.user, &inner),
        why: crate::text::clip(line.trim_start_matches("sudo:").trim(), 120),
        command: inner,
    })
}

/// The command inside `sudo -n sh -c '…'` as [`Pool::privileged`] wrote it.
fn unwrap_privileged(command: &str) -> Option<String> {
    let quoted = command.strip_prefix("sudo -n sh -c ")?;
    match quoted.strip_prefix('\'').and_then(|q| q.strip_suffix('\'')) {
        Some(inner) => Some(inner.replace(r"'\''", "'")),
        None => Some(quoted.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use ssh2_config::{ParseRule, SshConfig};

    use super::*;

    fn refused(command: &str, stderr: &str, status: Option<u32>) -> Option<SshError> {
        let addr = NodeAddr {
            alias: "lb1".into(),
            hostname: "10.0.0.1".into(),
            port: 22,
            user: "ops".into(),
            identity_files: Vec::new(),
            identities_only: false,
            jumps: Vec::new(),
        };
        let out = crate::ssh::Output {
            stdout: String::new(),
            stderr: stderr.into(),
            status,
        };
        sudo_refusal(&addr, command, &out)
    }

    #[test]
    fn a_sudo_refusal_names_the_node_the_command_and_the_rule() {
        let command = "sudo -n sh -c 'printf '\\''0\\n'\\'' > /etc/keepalived/maintenance'";
        let e = refused(command, "sudo: a password is required\n", Some(1)).expect("refused");
        assert_eq!(
            e.to_string(),
            "lb1: sudo refused `printf '0\\n' > /etc/keepalived/maintenance` (a password is required); \
             this sudoers rule on lb1 allows it: \
             ops ALL=(root) NOPASSWD: /bin/sh -c printf '0\\\\\\\\n' > /etc/keepalived/maintenance"
        );
        let no_rule =
            "sudo: sorry, user ops is not allowed to execute '/bin/sh -c nginx -T' as root on lb1.";
        assert!(matches!(
            refused("sudo -n sh -c 'nginx -T'", no_rule, Some(1)),
            Some(SshError::SudoRefused { command, .. }) if command == "nginx -T"
        ));
    }

    #[test]
    fn a_refusal_after_a_warning_from_sudo_is_still_a_refusal() {
        let stderr = "sudo: unable to resolve host lb1: Temporary failure in name resolution\n\
                      sudo: a password is required\n";
        let e = refused("sudo -n sh -c 'nginx -T'", stderr, Some(1)).expect("refused");
        assert!(
            e.to_string()
                .starts_with("lb1: sudo refused `nginx -T` (a password is required);"),
            "{e}"
        );
        let warned_only =
            "sudo: unable to resolve host lb1: Temporary failure in name resolution\n\
                           nginx: [emerg] unknown directive\n";
        assert!(refused("sudo -n sh -c 'nginx -T'", warned_only, Some(1)).is_none());
    }

    #[test]
    fn a_command_failing_on_its_own_is_no_sudo_refusal() {
        assert!(refused(
            "sudo -n sh -c 'nginx -T'",
            "nginx: [emerg] unknown directive",
            Some(1)
        )
        .is_none());
        assert!(refused("nginx -T", "sudo: a password is required", Some(1)).is_none());
        assert!(refused("sudo -n sh -c 'nginx -T'", "", Some(0)).is_none());
    }
    use crate::config::profile::SshSettings;

    #[test]
    fn the_pool_resolves_hosts_through_the_ssh_config_it_was_given() {
        let cfg = SshConfig::default()
            .parse(
                &mut "Host lb1\n  HostName 10.0.0.11\n  User admin\n".as_bytes(),
                ParseRule::ALLOW_UNKNOWN_FIELDS,
            )
            .expect("ssh config");
        let pool = Pool::new(
            Resolver::new(SshSettings::default(), Some(cfg)),
            Credentials::default(),
            PathBuf::from("/nonexistent/known_hosts"),
            Duration::from_secs(1),
            false,
        );
        let node = pool.node("lb1");
        assert_eq!(
            (node.hostname.as_str(), node.user.as_str()),
            ("10.0.0.11", "admin")
        );
        assert_eq!(pool.node("10.0.0.12").hostname, "10.0.0.12");
    }
}
