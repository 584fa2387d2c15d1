//! Logging in as OpenSSH does: ask the server which methods it takes, then offer
//! ssh-agent's keys, the host's key files and the password; when all fail, say which way
//! was missing or refused.

use std::path::PathBuf;

use russh::client::{self, AuthResult, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};
use russh::MethodKind;

use super::{Credentials, KeyProblem, NoMethod, NodeAddr, SshError, UnusableKey};

/// What was offered to one server, to say why it refused.
#[derive(Debug, Default)]
struct Offered {
    /// What became of ssh-agent: how many of its keys were offered, or why none.
    agent: AgentSeen,
    /// Key files offered.
    keys: Vec<String>,
    /// The password was offered.
    password: bool,
}

/// ssh-agent as one connection saw it.
#[derive(Debug, Default)]
enum AgentSeen {
    /// `SSH_AUTH_SOCK` is not set.
    #[default]
    Unset,
    /// Its socket would not answer.
    Unreachable(String, String),
    /// It holds no key.
    Empty(String),
    /// It holds keys, and IdentitiesOnly lets none of them through.
    Filtered(usize),
    /// This many of its keys were offered.
    Offered(usize),
}

impl Offered {
    fn anything(&self) -> bool {
        matches!(self.agent, AgentSeen::Offered(n) if n > 0)
            || !self.keys.is_empty()
            || self.password
    }

    /// "2 keys from ssh-agent, /home/me/.ssh/id_ed25519, a password".
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.agent {
            AgentSeen::Offered(n) if n > 0 => parts.push(format!("{} from ssh-agent", keys(n))),
            _ => {}
        }
        parts.extend(self.keys.iter().cloned());
        if self.password {
            parts.push("a password".into());
        }
        let mut said = parts.join(", ");
        if let AgentSeen::Filtered(n) = self.agent {
            said.push_str(&format!(
                "; IdentitiesOnly yes kept ssh-agent's {} back",
                keys(n)
            ));
        }
        said
    }

    /// Why nothing could be offered, one clause per way.
    fn nothing(&self, unusable: &[UnusableKey], server_takes_password: bool) -> String {
        let agent = match &self.agent {
            AgentSeen::Unset => "no ssh-agent (SSH_AUTH_SOCK is not set)".to_string(),
            AgentSeen::Unreachable(socket, why) => {
                format!("the ssh-agent at {socket} does not answer ({why})")
            }
            AgentSeen::Empty(socket) => format!("the ssh-agent at {socket} holds no keys"),
            AgentSeen::Filtered(n) | AgentSeen::Offered(n) => format!(
                "IdentitiesOnly yes lets none of ssh-agent's {} through",
                keys(*n)
            ),
        };
        let files = if unusable.is_empty() {
            "no key file (none named by identity_file or IdentityFile, and no ~/.ssh/id_ed25519, \
             id_ecdsa or id_rsa)"
                .to_string()
        } else {
            unusable
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut clauses = vec![agent, files];
        if server_takes_password {
            clauses.push("no password (password = true in [ssh] asks for one)".into());
        }
        clauses.join("; ")
    }
}

fn keys(n: usize) -> String {
    if n == 1 {
        "1 key".into()
    } else {
        format!("{n} keys")
    }
}

/// Logs in as OpenSSH does: first with nothing, to hear which methods the server
/// takes; then ssh-agent's keys (only those named for the host under IdentitiesOnly),
/// the host's key files (OpenSSH's defaults when it names none), and the password.
/// A refusal says which of them was missing or refused.
pub(super) async fn authenticate<H: client::Handler>(
    h: &mut Handle<H>,
    addr: &NodeAddr,
    creds: &Credentials,
) -> Result<(), SshError> {
    let user = addr.user.clone();
    let host = addr.known_hosts_name();
    let fail = |e: russh::Error| SshError::Auth {
        user: addr.user.clone(),
        host: addr.known_hosts_name(),
        why: e.into(),
    };
    let accepts = match h.authenticate_none(user.clone()).await.map_err(fail)? {
        AuthResult::Success => return Ok(()),
        AuthResult::Failure {
            remaining_methods, ..
        } => remaining_methods,
    };
    let takes_keys = accepts.contains(&MethodKind::PublicKey);
    let takes_password = accepts.contains(&MethodKind::Password);
    let files = host_key_files(addr);
    let mut offered = Offered::default();
    if takes_keys {
        let rsa_hash = h.best_supported_rsa_hash().await.map_err(fail)?.flatten();
        if agent_login(h, addr, creds, &files, rsa_hash, &mut offered).await? {
            return Ok(());
        }
        for (path, key) in creds.keys.iter().filter(|(p, _)| files.contains(p)) {
            offered.keys.push(path.display().to_string());
            let r = h
                .authenticate_publickey(
                    user.clone(),
                    PrivateKeyWithHashAlg::new(key.clone(), rsa_hash),
                )
                .await
                .map_err(fail)?;
            if r.success() {
                return Ok(());
            }
        }
    }
    if let Some(pw) = creds.password.as_ref().filter(|_| takes_password) {
        offered.password = true;
        let pw: String = pw.as_str().to_owned();
        if h.authenticate_password(user.clone(), pw)
            .await
            .map_err(fail)?
            .success()
        {
            return Ok(());
        }
    }
    let unusable: Vec<_> = creds
        .notes
        .iter()
        .filter(|n| files.contains(&n.path))
        .cloned()
        .collect();
    if offered.anything() {
        return Err(SshError::AuthRefused {
            user,
            host,
            offered: offered.describe(),
            unusable,
        });
    }
    let why = if !takes_keys && !takes_password {
        let offers: Vec<&str> = accepts
            .iter()
            .map(<&str>::from)
            .filter(|m| *m != "none")
            .collect();
        NoMethod::Unsupported(if offers.is_empty() {
            "none".into()
        } else {
            offers.join(", ")
        })
    } else if !takes_keys {
        NoMethod::PasswordOnly
    } else if let Some(k) = unusable
        .iter()
        .find(|k| k.why == KeyProblem::WrongPassphrase)
    {
        return Err(SshError::WrongPassphrase {
            user,
            host,
            key: k.path.clone(),
        });
    } else if let (AgentSeen::Empty(socket), true) = (&offered.agent, unusable.is_empty()) {
        return Err(SshError::AgentEmpty {
            user,
            host,
            socket: socket.clone(),
        });
    } else {
        NoMethod::Nothing(offered.nothing(&unusable, takes_password))
    };
    Err(SshError::NoMethod { user, host, why })
}

/// The key files for `addr`: those it names, or OpenSSH's defaults when it names none.
fn host_key_files(addr: &NodeAddr) -> Vec<PathBuf> {
    if addr.identity_files.is_empty() {
        super::auth::DEFAULT_KEYS
            .iter()
            .map(|p| crate::config::expand_home(p))
            .collect()
    } else {
        addr.identity_files.clone()
    }
}

/// Offers ssh-agent's keys (under IdentitiesOnly, those of `files` only); true once one
/// is accepted. An agent that cannot be asked is noted, not an error: keys and password
/// come next.
async fn agent_login<H: client::Handler>(
    h: &mut Handle<H>,
    addr: &NodeAddr,
    creds: &Credentials,
    files: &[PathBuf],
    rsa_hash: Option<HashAlg>,
    offered: &mut Offered,
) -> Result<bool, SshError> {
    let Some(socket) = &creds.agent else {
        return Ok(false);
    };
    let shown = socket.display().to_string();
    let listed = match AgentClient::connect_uds(socket).await {
        Ok(mut agent) => agent.request_identities().await.map(|ids| (agent, ids)),
        Err(e) => Err(e),
    };
    let (mut agent, ids) = match listed {
        Ok(found) => found,
        Err(e) => {
            offered.agent = AgentSeen::Unreachable(shown, e.to_string());
            return Ok(false);
        }
    };
    if ids.is_empty() {
        offered.agent = AgentSeen::Empty(shown);
        return Ok(false);
    }
    let allowed: Vec<&PublicKey> = creds
        .publics
        .iter()
        .filter(|(p, _)| files.contains(p))
        .map(|(_, k)| k)
        .collect();
    let held = ids.len();
    let usable: Vec<PublicKey> = ids
        .iter()
        .map(|id| id.public_key().into_owned())
        .filter(|k| !addr.identities_only || allowed.iter().any(|a| a.key_data() == k.key_data()))
        .collect();
    offered.agent = if usable.is_empty() {
        AgentSeen::Filtered(held)
    } else {
        AgentSeen::Offered(usable.len())
    };
    for key in usable {
        let r = h
            .authenticate_publickey_with(addr.user.clone(), key, rsa_hash, &mut agent)
            .await;
        if r.is_ok_and(|r| r.success()) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_offered_reads_as_a_list() {
        let offered = Offered {
            agent: AgentSeen::Offered(2),
            keys: vec!["/home/ops/.ssh/id_ed25519".into()],
            password: true,
        };
        assert!(offered.anything());
        assert_eq!(
            offered.describe(),
            "2 keys from ssh-agent, /home/ops/.ssh/id_ed25519, a password"
        );
        let held_back = Offered {
            agent: AgentSeen::Filtered(1),
            keys: vec!["/keys/ops".into()],
            password: false,
        };
        assert_eq!(
            held_back.describe(),
            "/keys/ops; IdentitiesOnly yes kept ssh-agent's 1 key back"
        );
    }

    #[test]
    fn nothing_offered_says_why_for_each_way() {
        let silent = Offered {
            agent: AgentSeen::Unreachable("/tmp/agent.sock".into(), "connection refused".into()),
            ..Offered::default()
        };
        assert!(!silent.anything());
        let locked = UnusableKey {
            path: "/keys/ops".into(),
            why: KeyProblem::NoTerminal,
        };
        assert_eq!(
            silent.nothing(&[locked], true),
            "the ssh-agent at /tmp/agent.sock does not answer (connection refused); \
             /keys/ops: encrypted, and no terminal to ask its passphrase on; \
             no password (password = true in [ssh] asks for one)"
        );
        let filtered = Offered {
            agent: AgentSeen::Filtered(3),
            ..Offered::default()
        };
        assert!(!filtered.anything());
        assert!(filtered.nothing(&[], false).starts_with(
            "IdentitiesOnly yes lets none of ssh-agent's 3 keys through; no key file"
        ));
    }
}
