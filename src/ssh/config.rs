//! Where a node is reached: the profile's host and `[ssh]` block, with `~/.ssh/config`
//! applied as OpenSSH would (Host aliases, HostName, User, Port, IdentityFile,
//! IdentitiesOnly, ProxyJump), parsed by the maintained `ssh2-config` crate.

use std::path::{Path, PathBuf};

use ssh2_config::{ParseRule, SshConfig};

use crate::config::expand_home;
use crate::config::profile::SshSettings;

/// Unknown and unsupported keywords are kept, not refused: a real ssh_config is full of
/// them, and IdentitiesOnly is one the crate leaves to its caller.
const PARSE_RULES: ParseRule =
    ParseRule::ALLOW_UNKNOWN_FIELDS.union(ParseRule::ALLOW_UNSUPPORTED_FIELDS);

/// How to reach one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    /// The name the profile (or ProxyJump) used.
    pub alias: String,
    /// The address actually dialled (HostName, or the alias).
    pub hostname: String,
    /// Port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Keys to try, in order.
    pub identity_files: Vec<PathBuf>,
    /// Offer only `identity_files`, not every key ssh-agent holds (`IdentitiesOnly yes`).
    pub identities_only: bool,
    /// Hosts to hop through, outermost first.
    pub jumps: Vec<NodeAddr>,
}

impl NodeAddr {
    /// `host` or `[host]:port`, as known_hosts writes it.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.hostname.clone()
        } else {
            format!("[{}]:{}", self.hostname, self.port)
        }
    }
}

/// How a profile's hosts are reached: its `[ssh]` settings with `~/.ssh/config` applied.
/// The file is read once, when this is built, so every follower, action and shell of a
/// run resolves hosts the same way; reading it again means building a new one.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    settings: SshSettings,
    user_config: Option<SshConfig>,
}

impl Resolver {
    /// Reads `~/.ssh/config`, when there is one, for a profile's `[ssh]` settings.
    pub fn load(settings: &SshSettings) -> Resolver {
        Resolver::new(settings.clone(), load_user_config())
    }

    /// From the settings and an ssh_config already read (None: the profile alone decides).
    pub fn new(settings: SshSettings, user_config: Option<SshConfig>) -> Resolver {
        Resolver {
            settings,
            user_config,
        }
    }

    /// How to reach `host`: an ssh_config alias, a name or address, or `user@host:port`.
    pub fn resolve(&self, host: &str) -> NodeAddr {
        resolve(host, &self.settings, self.user_config.as_ref())
    }
}

/// Reads `~/.ssh/config` when it exists; an unreadable file is ignored (OpenSSH would
/// complain, but the profile alone still works).
fn load_user_config() -> Option<SshConfig> {
    let path = expand_home("~/.ssh/config");
    load_config(&path)
}

/// Reads an ssh_config file.
pub fn load_config(path: &Path) -> Option<SshConfig> {
    let file = std::fs::File::open(path).ok()?;
    let mut reader = std::io::BufReader::new(file);
    SshConfig::default().parse(&mut reader, PARSE_RULES).ok()
}

/// Resolves `host` for SSH: the profile's `[ssh]` settings win over ssh_config for the
/// user and key only when set explicitly there; ssh_config supplies the rest.
fn resolve(host: &str, settings: &SshSettings, ssh_config: Option<&SshConfig>) -> NodeAddr {
    resolve_depth(host, settings, ssh_config, 0)
}

fn resolve_depth(
    host: &str,
    settings: &SshSettings,
    cfg: Option<&SshConfig>,
    depth: usize,
) -> NodeAddr {
    // user@host:port in a ProxyJump entry.
    let (user_part, host_part) = match host.split_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, host),
    };
    let (name, port_part) = match host_part.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && !h.contains(':') => (h, p.parse::<u16>().ok()),
        _ => (host_part, None),
    };
    let params = cfg.map(|c| c.query(name));
    let hostname = params
        .as_ref()
        .and_then(|p| p.host_name.clone())
        .unwrap_or_else(|| name.to_string());
    let port = port_part
        .or(settings.port)
        .or(params.as_ref().and_then(|p| p.port))
        .unwrap_or(22);
    let user = user_part
        .or_else(|| params.as_ref().and_then(|p| p.user.clone()))
        .unwrap_or_else(|| settings.user.clone());
    let mut identity_files: Vec<PathBuf> = Vec::new();
    if let Some(f) = &settings.identity_file {
        identity_files.push(expand_home(f));
    }
    if let Some(files) = params.as_ref().and_then(|p| p.identity_file.clone()) {
        identity_files.extend(files.iter().map(|f| expand_home(&f.to_string_lossy())));
    }
    let identities_only = params
        .as_ref()
        .and_then(|p| p.unsupported_fields.get("identitiesonly"))
        .and_then(|args| args.first())
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let jumps = if depth < 4 {
        params
            .as_ref()
            .and_then(|p| p.proxy_jump.clone())
            .unwrap_or_default()
            .iter()
            .filter(|j| j.as_str() != "none")
            .map(|j| resolve_depth(j, settings, cfg, depth + 1))
            .collect()
    } else {
        Vec::new()
    };
    NodeAddr {
        alias: host.to_string(),
        hostname,
        port,
        user,
        identity_files,
        identities_only,
        jumps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> SshConfig {
        SshConfig::default()
            .parse(&mut text.as_bytes(), PARSE_RULES)
            .expect("ssh config")
    }

    #[test]
    fn aliases_user_port_identity_and_proxyjump_are_honoured() {
        let c = cfg(
            "Host lb1\n  HostName 10.0.0.11\n  User admin\n  Port 2222\n  IdentityFile /keys/lb\n  ProxyJump bastion\n\
             Host bastion\n  HostName 203.0.113.9\n  User jump\n",
        );
        let a = Resolver::new(SshSettings::default(), Some(c)).resolve("lb1");
        assert_eq!(a.hostname, "10.0.0.11");
        assert_eq!(a.port, 2222);
        assert_eq!(a.user, "admin");
        assert_eq!(a.identity_files, vec![PathBuf::from("/keys/lb")]);
        assert_eq!(a.known_hosts_name(), "[10.0.0.11]:2222");
        assert_eq!(a.jumps.len(), 1);
        assert_eq!(a.jumps[0].hostname, "203.0.113.9");
        assert_eq!(a.jumps[0].user, "jump");
        assert!(!a.identities_only);
    }

    #[test]
    fn identities_only_and_unsupported_keywords_keep_the_rest_of_the_file() {
        let c = cfg(
            "Host 10.77.*\n  User ops\n  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n  IdentityFile /keys/ops\n\
             Host *\n  IdentitiesOnly no\n  ForwardAgent no\n  Port 2200\n",
        );
        let r = Resolver::new(SshSettings::default(), Some(c));
        let a = r.resolve("10.77.0.11");
        assert_eq!((a.user.as_str(), a.port), ("ops", 2200));
        assert!(a.identities_only, "the first value found wins");
        assert_eq!(a.identity_files, vec![PathBuf::from("/keys/ops")]);
        assert!(!r.resolve("192.0.2.1").identities_only);
    }

    #[test]
    fn without_ssh_config_the_profile_decides() {
        let settings = SshSettings {
            user: "ops".into(),
            port: Some(2200),
            ..SshSettings::default()
        };
        let a = Resolver::new(settings, None).resolve("10.0.0.12");
        assert_eq!(
            (a.hostname.as_str(), a.port, a.user.as_str()),
            ("10.0.0.12", 2200, "ops")
        );
        let j = resolve("root@gw:2022", &SshSettings::default(), None);
        assert_eq!(
            (j.hostname.as_str(), j.port, j.user.as_str()),
            ("gw", 2022, "root")
        );
    }
}
