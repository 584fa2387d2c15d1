//! The SSH transport (russh): one connection per node, reused for every command and
//! stream and re-made with backoff; host keys checked against known_hosts (an unknown
//! host is refused with the line to add, a changed key always refused); authentication
//! by ssh-agent, key file or password; `~/.ssh/config` honoured; unix sockets on a node
//! opened through sshd or a relay.

pub mod auth;
pub mod config;
pub mod conn;
mod error;
mod login;
pub mod pool;
pub mod shell;
pub mod unix;

pub use auth::Credentials;
pub use config::{NodeAddr, Resolver};
pub use conn::{Output, Ssh};
pub use error::{KeyProblem, LinkError, NoMethod, SshError, UnusableKey};
pub use pool::Pool;
pub use unix::{Relay, Socket, SocketStream, SocketWay};

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

/// The host part of a `host:port` (brackets of an IPv6 address dropped): what SSH
/// connects to for a backend.
pub fn host_of(address: &str) -> String {
    address
        .rsplit_once(':')
        .map_or(address, |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_string()
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
