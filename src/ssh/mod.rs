//! The SSH transport (russh): one connection per node, reused for every command and
//! stream and re-made with backoff; host keys checked against known_hosts (an unknown
//! host is refused with the line to add, a changed key always refused); authentication
//! by ssh-agent, key file or password; `~/.ssh/config` honoured.

pub mod auth;
pub mod config;
pub mod conn;
pub mod pool;
pub mod shell;

use std::fmt;

pub use auth::Credentials;
pub use config::{NodeAddr, Resolver};
pub use conn::{Output, Ssh};
pub use pool::Pool;

/// Why an SSH operation failed, as something an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshError {
    /// The host is not in known_hosts: refused, with what to add.
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
    /// No accepted authentication method.
    Auth(String),
    /// Could not reach or talk to the host.
    Connect(String),
    /// No answer in time.
    Timeout(String),
    /// The remote command failed.
    Command(String),
}

impl fmt::Display for SshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshError::UnknownHost { host, fingerprint, line, file } => write!(
                f,
                "unknown host {host} (key {fingerprint}): refused. If that is the right key, add this line to {file}: {line}"
            ),
            SshError::KeyChanged { host, file, line_no, fingerprint } => write!(
                f,
                "HOST KEY CHANGED for {host}: it now offers {fingerprint}, which does not match {file}:{line_no}. \
                 Refused. This may be an attack; if the host was really reinstalled, remove that line"
            ),
            SshError::Auth(m) | SshError::Connect(m) | SshError::Timeout(m) | SshError::Command(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SshError {}

/// Quotes a string for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/run/keepalived.fifo"), "/run/keepalived.fifo");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
