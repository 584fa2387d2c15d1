//! The HAProxy runtime API wherever it listens: a TCP address, or a unix socket on the
//! balancer reached over the node's SSH connection (sshd's socket forwarding, else a relay
//! on the node). Also what the API lets lbdeck do: its CLI level.

use std::path::PathBuf;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{SourceError, MAX_REPLY};
use crate::config::profile::RuntimeApi;
use crate::ssh::{NodeAddr, Pool};

/// A connection to the API, whatever carries it.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Asks the session's level (HAProxy 2.0 and later).
pub const LEVEL_PROBE: &str = "show cli level";

/// For versions without `show cli level`: an admin-only command that changes nothing,
/// refused with `Permission denied` below admin and an argument error at admin. Sent only
/// when the level could not be named, so a modern HAProxy is asked nothing but reads.
pub const ADMIN_PROBE: &str = "set server";

/// What a runtime-API socket lets its client do (`stats socket … level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Everything, server changes included.
    Admin,
    /// Reads and a few harmless changes; no server state changes.
    Operator,
    /// Reads only.
    User,
    /// Below admin: HAProxy refused an admin command and is too old to name the level.
    BelowAdmin,
}

impl Level {
    /// The level as HAProxy's configuration spells it.
    pub fn word(self) -> &'static str {
        match self {
            Level::Admin => "admin",
            Level::Operator => "operator",
            Level::User => "user",
            Level::BelowAdmin => "below admin",
        }
    }

    /// Why servers cannot be changed through a socket at this level (None at admin).
    pub fn refusal(self) -> Option<String> {
        (self != Level::Admin).then(|| {
            format!(
                "its runtime API socket is at level {}: changing servers needs level admin",
                self.word()
            )
        })
    }
}

/// The level an answer to [`LEVEL_PROBE`] names, if it names one (older versions answer
/// with their help text, where `operator` and `user` are commands, never alone on a line).
pub fn parse_level(reply: &str) -> Option<Level> {
    reply.lines().find_map(|line| match line.trim() {
        "admin" => Some(Level::Admin),
        "operator" => Some(Level::Operator),
        "user" => Some(Level::User),
        _ => None,
    })
}

/// The level an answer to [`ADMIN_PROBE`] shows.
pub fn probed_level(reply: &str) -> Level {
    if reply.contains("Permission denied") {
        Level::BelowAdmin
    } else {
        Level::Admin
    }
}

/// How a balancer's runtime API was reached and what it allows: for the balancer pane
/// and `status --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// "tcp", "ssh-socket" (sshd forwards the socket), "sudo socat", "socat", "nc -U".
    pub reach: String,
    /// The socket on the balancer (unix sockets only).
    pub socket: Option<String>,
    /// The socket's CLI level, once learned.
    pub level: Option<Level>,
}

impl Access {
    fn tcp() -> Access {
        Access {
            reach: "tcp".into(),
            socket: None,
            level: None,
        }
    }

    fn socket(s: &crate::ssh::Socket) -> Access {
        Access {
            reach: s.way.label(),
            socket: Some(s.path.display().to_string()),
            level: None,
        }
    }
}

/// One balancer's runtime API and what reaching it needs.
pub struct ApiTarget<'a> {
    api: &'a RuntimeApi,
    /// The balancer's host, for SSH.
    host: &'a str,
    pool: Option<&'a Pool>,
}

/// A unix socket over SSH: the node, the paths to try, the pool.
struct OverSsh<'a> {
    pool: &'a Pool,
    node: NodeAddr,
    paths: Vec<PathBuf>,
}

impl<'a> ApiTarget<'a> {
    /// `api` on balancer `host`; a unix socket is reached through `pool`.
    pub fn new(api: &'a RuntimeApi, host: &'a str, pool: Option<&'a Pool>) -> Self {
        ApiTarget { api, host, pool }
    }

    async fn tcp(&self, addr: &str) -> Result<tokio::net::TcpStream, SourceError> {
        tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| SourceError::RuntimeConnect {
                api: self.api.to_string(),
                reason: e.to_string(),
            })
    }

    fn over_ssh(&self) -> Result<OverSsh<'a>, SourceError> {
        let Some(pool) = self.pool else {
            return Err(SourceError::RuntimeConnect {
                api: self.api.to_string(),
                reason: "a socket on the balancer is reached over SSH, not set up here".into(),
            });
        };
        Ok(OverSsh {
            pool,
            node: pool.node(self.host),
            paths: self.api.socket_paths(),
        })
    }

    /// Sends one command line (several commands joined by `;`) on a connection of its
    /// own; returns the whole answer and how the API was reached.
    pub async fn ask(&self, command: &str) -> Result<(String, Access), SourceError> {
        if let RuntimeApi::Tcp(addr) = self.api {
            let stream = self.tcp(addr).await?;
            return Ok((exchange(stream, command).await?, Access::tcp()));
        }
        let ssh = self.over_ssh()?;
        let socket = ssh.pool.find_socket(&ssh.node, &ssh.paths).await?;
        match ssh.pool.ask_socket(&ssh.node, &socket, command).await {
            Ok(text) => Ok((text, Access::socket(&socket))),
            Err(e) => {
                ssh.pool.forget_socket(&ssh.node, &ssh.paths);
                Err(e.into())
            }
        }
    }

    /// How the API is reached and its level, on connections of their own.
    pub async fn access(&self) -> Result<Access, SourceError> {
        let (text, access) = self.ask(LEVEL_PROBE).await?;
        let level = match parse_level(&text) {
            Some(level) => level,
            None => probed_level(&self.ask(ADMIN_PROBE).await?.0),
        };
        Ok(Access {
            level: Some(level),
            ..access
        })
    }

    /// A connection to keep open, and how it was made.
    pub(crate) async fn open(&self) -> Result<(Box<dyn Stream>, Access), SourceError> {
        if let RuntimeApi::Tcp(addr) = self.api {
            let stream = self.tcp(addr).await?;
            return Ok((Box::new(stream), Access::tcp()));
        }
        let ssh = self.over_ssh()?;
        let socket = ssh.pool.find_socket(&ssh.node, &ssh.paths).await?;
        match ssh.pool.open_socket(&ssh.node, &socket).await {
            Ok(stream) => Ok((Box::new(stream), Access::socket(&socket))),
            Err(e) => {
                ssh.pool.forget_socket(&ssh.node, &ssh.paths);
                Err(e.into())
            }
        }
    }
}

/// Writes one command line and reads the answer until the API closes the connection.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    command: &str,
) -> Result<String, SourceError> {
    let io = |e: std::io::Error| SourceError::RuntimeIo(e.to_string());
    stream
        .write_all(format!("{command}\n").as_bytes())
        .await
        .map_err(io)?;
    match crate::ssh::unix::read_capped(&mut stream, MAX_REPLY)
        .await
        .map_err(io)?
    {
        Some(body) => Ok(String::from_utf8_lossy(&body).into_owned()),
        None => Err(SourceError::TooBig),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_read_from_show_cli_level_or_from_a_refusal() {
        assert_eq!(parse_level("admin\n\n"), Some(Level::Admin));
        assert_eq!(parse_level("operator\n\n"), Some(Level::Operator));
        assert_eq!(parse_level("user\n"), Some(Level::User));
        // Older versions without `show cli level` answer with their help text, which lists
        // `operator` and `user` as commands: no level is named, the probe decides.
        let old = "Unknown command. Please enter one of the following commands only :\n  \
                   operator       : lower the level of the current CLI session to operator\n  \
                   user           : lower the level of the current CLI session to user\n\n";
        assert_eq!(parse_level(old), None);
        assert_eq!(probed_level("Permission denied\n\n"), Level::BelowAdmin);
        assert_eq!(probed_level("Require 'backend/server'.\n\n"), Level::Admin);
    }

    #[test]
    fn only_admin_may_change_servers() {
        assert_eq!(Level::Admin.refusal(), None);
        assert_eq!(
            Level::User.refusal().as_deref(),
            Some("its runtime API socket is at level user: changing servers needs level admin")
        );
        assert!(Level::BelowAdmin
            .refusal()
            .is_some_and(|r| r.contains("below admin")));
    }

    #[tokio::test]
    async fn a_socket_on_the_balancer_without_ssh_says_so() {
        let api = RuntimeApi::Unix("/run/haproxy/admin.sock".into());
        let err = ApiTarget::new(&api, "lb1", None)
            .ask("show info")
            .await
            .expect_err("no SSH");
        assert_eq!(
            err.to_string(),
            "cannot connect to unix:///run/haproxy/admin.sock: a socket on the balancer is \
             reached over SSH, not set up here"
        );
    }
}
