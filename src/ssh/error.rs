//! Why an SSH operation failed, as values a caller can act on (a refused host key is
//! never retried fast) and as one sentence an operator can act on: which host, which
//! step, and the reason (key file missing, authentication refused, host key unknown or
//! changed, connection refused, no answer in time) rather than the transport's bare word.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// Why an SSH operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SshError {
    /// The host is not in known_hosts: refused, with what to add.
    #[error(
        "unknown host {host} (key {fingerprint}): refused. If that is the right key, add this line to {file}: {line}"
    )]
    UnknownHost {
        /// `host` or `[host]:port`.
        host: String,
        /// SHA256 fingerprint of the key offered.
        fingerprint: String,
        /// The exact known_hosts line that would accept it.
        line: String,
        /// The known_hosts file consulted.
        file: String,
    },
    /// The host offered a different key than known_hosts records: always refused.
    #[error(
        "HOST KEY CHANGED for {host}: it now offers {fingerprint}, which does not match {file}:{line_no}. \
         Refused. This may be an attack; if the host was really reinstalled, remove that line"
    )]
    KeyChanged {
        /// `host` or `[host]:port`.
        host: String,
        /// The known_hosts file.
        file: String,
        /// The line holding the recorded key.
        line_no: usize,
        /// SHA256 fingerprint of the key now offered.
        fingerprint: String,
    },
    /// The known_hosts file could not be read, so no host key can be trusted.
    #[error("ssh {host}: cannot read {file}: {why}")]
    KnownHosts {
        /// `host` or `[host]:port`.
        host: String,
        /// The known_hosts file.
        file: String,
        /// What reading it said.
        why: String,
    },
    /// The server accepted none of the agent's identities, keys or password offered.
    #[error("ssh {user}@{host}: authentication refused (offered {offered}){}", not_offered(.unusable))]
    AuthRefused {
        /// Remote user.
        user: String,
        /// `host` or `[host]:port`.
        host: String,
        /// What was offered, e.g. "2 keys from ssh-agent, /home/me/.ssh/id_ed25519, a password".
        offered: String,
        /// Key files that could not even be offered, and why: often the real cause.
        unusable: Vec<UnusableKey>,
    },
    /// ssh-agent runs but holds no key, and nothing else could be offered.
    #[error(
        "ssh {user}@{host}: the ssh-agent at {socket} holds no keys and no key file or password \
         was offered: add a key to it with ssh-add, or name one with identity_file in [ssh]"
    )]
    AgentEmpty {
        /// Remote user.
        user: String,
        /// `host` or `[host]:port`.
        host: String,
        /// The agent's socket (SSH_AUTH_SOCK).
        socket: String,
    },
    /// The only key there was stayed locked: its passphrase was wrong.
    #[error(
        "ssh {user}@{host}: wrong passphrase for {}: the key stayed locked and was not offered \
         (start lbdeck again to retype it)", .key.display()
    )]
    WrongPassphrase {
        /// Remote user.
        user: String,
        /// `host` or `[host]:port`.
        host: String,
        /// The key file.
        key: PathBuf,
    },
    /// Nothing lbdeck holds is something the server accepts, or lbdeck holds nothing.
    #[error("ssh {user}@{host}: {why}")]
    NoMethod {
        /// Remote user.
        user: String,
        /// `host` or `[host]:port`.
        host: String,
        /// Which way is missing.
        why: NoMethod,
    },
    /// The link broke off while authenticating.
    #[error("ssh {user}@{host}: {why} while authenticating")]
    Auth {
        /// Remote user.
        user: String,
        /// `host` or `[host]:port`.
        host: String,
        /// Why.
        why: LinkError,
    },
    /// The host could not be reached.
    #[error("ssh {host}: {why}")]
    Connect {
        /// `host` or `[host]:port`.
        host: String,
        /// Why.
        why: LinkError,
    },
    /// A jump host would not forward to the next hop.
    #[error("jump to {host}: {why}")]
    Jump {
        /// The next hop, `host` or `[host]:port`.
        host: String,
        /// Why.
        why: LinkError,
    },
    /// A connection in use broke.
    #[error("{node}: connection lost: {why}")]
    Lost {
        /// The node, as the profile names it.
        node: String,
        /// Why.
        why: LinkError,
    },
    /// The node would not open an interactive shell.
    #[error("{node}: cannot open a shell: {why}")]
    Shell {
        /// The node, as the profile names it.
        node: String,
        /// Why.
        why: LinkError,
    },
    /// No answer in time.
    #[error("{what}: no answer within {}", humantime::format_duration(*.within))]
    Timeout {
        /// What was waited for: `ssh user@host`, or a node and its command.
        what: String,
        /// How long.
        within: Duration,
    },
    /// `sudo -n` refused a command: a password is needed or no rule allows it.
    #[error(
        "{node}: sudo refused `{command}` ({why}); this sudoers rule on {node} allows it: {rule}"
    )]
    SudoRefused {
        /// The node's alias.
        node: String,
        /// The command as given to `sh -c`.
        command: String,
        /// sudo's own words, cut short.
        why: String,
        /// The sudoers line that would allow it (see `lbdeck sudoers`).
        rule: String,
    },
    /// The remote command exited with an error.
    #[error("{what} failed (exit {}){}", exit(.status), first_line(.stderr))]
    Command {
        /// What the command was for.
        what: String,
        /// Its exit status, when the server sent one.
        status: Option<u32>,
        /// The first line of its standard error, cut short.
        stderr: String,
    },
    /// The connection ended before the command did.
    #[error("{what}: the connection ended before the command did")]
    Unfinished {
        /// What the command was for.
        what: String,
    },
    /// A unix socket on the node could not be opened, neither through sshd nor a relay.
    #[error("{node}: cannot open {socket}: {why}")]
    Socket {
        /// The node, as the profile names it.
        node: String,
        /// The socket path (or the paths tried).
        socket: String,
        /// Why, in the operator's words.
        why: String,
    },
    /// The command's output passed lbdeck's cap and was cut off.
    #[error("{node}: output larger than {} MiB, cut off", .limit >> 20)]
    TooLarge {
        /// The node.
        node: String,
        /// The limit, bytes.
        limit: usize,
    },
}

fn not_offered(keys: &[UnusableKey]) -> String {
    keys.iter().map(|k| format!("; not offered: {k}")).collect()
}

fn exit(status: &Option<u32>) -> String {
    status.map_or("?".into(), |s| s.to_string())
}

fn first_line(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Why a connection could not be made, or broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkError {
    /// Nothing listens on the SSH port.
    #[error("connection refused")]
    Refused,
    /// No route to the host or its network.
    #[error("host unreachable")]
    Unreachable,
    /// The host name does not resolve.
    #[error("unknown host name")]
    NoSuchHost,
    /// The server hung up.
    #[error("the server closed the connection")]
    Closed,
    /// The server stopped answering keepalives: the link or the node is gone.
    #[error("the server stopped answering")]
    NoKeepalive,
    /// The connection timed out.
    #[error("timed out")]
    TimedOut,
    /// The server and lbdeck share no algorithm of some kind.
    #[error("no {0} algorithm in common with the server")]
    NoCommonAlgorithm(String),
    /// The server refused a channel or a request on it.
    #[error("the server refused the request")]
    Denied,
    /// Anything else, as the transport says it.
    #[error("{0}")]
    Other(String),
}

impl From<russh::Error> for LinkError {
    fn from(e: russh::Error) -> Self {
        use russh::Error as E;
        match e {
            E::Disconnect | E::HUP | E::RecvError | E::SendError => LinkError::Closed,
            E::KeepaliveTimeout => LinkError::NoKeepalive,
            E::ConnectionTimeout | E::InactivityTimeout | E::Elapsed(_) => LinkError::TimedOut,
            E::NoCommonAlgo { kind, .. } => {
                LinkError::NoCommonAlgorithm(format!("{kind:?}").to_lowercase())
            }
            E::RequestDenied | E::ChannelOpenFailure(_) => LinkError::Denied,
            E::IO(io) => LinkError::from(io),
            other => LinkError::Other(other.to_string()),
        }
    }
}

impl From<std::io::Error> for LinkError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            ErrorKind::ConnectionRefused => LinkError::Refused,
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => LinkError::Unreachable,
            ErrorKind::TimedOut => LinkError::TimedOut,
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof => LinkError::Closed,
            // getaddrinfo failures carry no kind of their own.
            _ if e.to_string().contains("failed to lookup address") => LinkError::NoSuchHost,
            _ => LinkError::Other(e.to_string()),
        }
    }
}

/// A key file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}: {why}", path.display())]
pub struct UnusableKey {
    /// The key file.
    pub path: PathBuf,
    /// Why it was not used.
    pub why: KeyProblem,
}

/// Why a key file was not used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyProblem {
    /// The file does not exist.
    #[error("no such key file")]
    Missing,
    /// Encrypted, and the passphrase cannot be asked for.
    #[error("encrypted, and no terminal to ask its passphrase on")]
    NoTerminal,
    /// The passphrase could not be read from the terminal.
    #[error("cannot read the passphrase: {0}")]
    NoPassphrase(String),
    /// No passphrase typed unlocked it.
    #[error("wrong passphrase, left locked")]
    WrongPassphrase,
    /// An empty passphrase was typed: the key was left locked on purpose.
    #[error("no passphrase typed, left locked")]
    Skipped,
    /// Not a key lbdeck can read.
    #[error("{0}")]
    Unreadable(String),
}

/// Why no authentication could even be tried.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoMethod {
    /// No agent, no usable key file, no password.
    #[error("nothing to log in with: {0}")]
    Nothing(String),
    /// The server takes a password only, and none was asked for.
    #[error(
        "the server accepts only a password and none was given: set password = true in [ssh] \
         to be asked for it at start"
    )]
    PasswordOnly,
    /// The server offers only methods lbdeck does not speak (listed, or "none").
    #[error("the server accepts no method lbdeck can use (it offers: {0})")]
    Unsupported(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_words_become_reasons() {
        assert_eq!(LinkError::from(russh::Error::Disconnect), LinkError::Closed);
        let refused = std::io::Error::from(ErrorKind::ConnectionRefused);
        assert_eq!(
            LinkError::from(russh::Error::IO(refused)),
            LinkError::Refused
        );
        let e = SshError::Auth {
            user: "root".into(),
            host: "10.77.0.11".into(),
            why: russh::Error::HUP.into(),
        };
        assert_eq!(
            e.to_string(),
            "ssh root@10.77.0.11: the server closed the connection while authenticating"
        );
    }

    #[test]
    fn each_way_authentication_fails_has_its_own_sentence() {
        let (user, host) = ("ops".to_string(), "10.77.0.11".to_string());
        let said = [
            SshError::AgentEmpty {
                user: user.clone(),
                host: host.clone(),
                socket: "/tmp/agent.sock".into(),
            },
            SshError::WrongPassphrase {
                user: user.clone(),
                host: host.clone(),
                key: "/home/ops/.ssh/id_ed25519".into(),
            },
            SshError::NoMethod {
                user: user.clone(),
                host: host.clone(),
                why: NoMethod::PasswordOnly,
            },
            SshError::NoMethod {
                user,
                host,
                why: NoMethod::Unsupported("keyboard-interactive".into()),
            },
        ]
        .map(|e| e.to_string());
        assert_eq!(
            said,
            [
                "ssh ops@10.77.0.11: the ssh-agent at /tmp/agent.sock holds no keys and no key \
                 file or password was offered: add a key to it with ssh-add, or name one with \
                 identity_file in [ssh]",
                "ssh ops@10.77.0.11: wrong passphrase for /home/ops/.ssh/id_ed25519: the key \
                 stayed locked and was not offered (start lbdeck again to retype it)",
                "ssh ops@10.77.0.11: the server accepts only a password and none was given: set \
                 password = true in [ssh] to be asked for it at start",
                "ssh ops@10.77.0.11: the server accepts no method lbdeck can use (it offers: \
                 keyboard-interactive)",
            ]
        );
    }

    #[test]
    fn a_refusal_names_the_key_that_could_not_be_offered() {
        let e = SshError::AuthRefused {
            user: "ops".into(),
            host: "[lb1]:2222".into(),
            offered: "1 key from ssh-agent".into(),
            unusable: vec![UnusableKey {
                path: "/keys/lb".into(),
                why: KeyProblem::Missing,
            }],
        };
        assert_eq!(
            e.to_string(),
            "ssh ops@[lb1]:2222: authentication refused (offered 1 key from ssh-agent); \
             not offered: /keys/lb: no such key file"
        );
        let t = SshError::Timeout {
            what: "ssh ops@lb1".into(),
            within: Duration::from_secs(2),
        };
        assert_eq!(t.to_string(), "ssh ops@lb1: no answer within 2s");
    }
}
