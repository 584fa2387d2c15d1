//! A unix socket on a node, reached over the node's SSH connection: OpenSSH's
//! `direct-streamlocal@openssh.com` channel where sshd allows it and the login may open
//! the socket, else a relay (`socat`, or `nc -U`) run on the node, through `sudo -n` when
//! the profile says so. The socket found and the way to it are remembered per node until
//! they fail.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::{shell_quote, LinkError, NodeAddr, Pool, SshError};

/// A socket opened on a node: bytes both ways.
pub type SocketStream = russh::ChannelStream<russh::client::Msg>;

/// Most bytes one answer through a forwarded socket may bring: as much as any remote
/// command's output.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// A program on the node that joins its stdin and stdout to a unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// `socat stdio UNIX-CONNECT:path`.
    Socat,
    /// `nc -U path` (OpenBSD netcat).
    Nc,
}

impl Relay {
    /// The command that joins stdin and stdout to `path`.
    /// The relay's command line joined to the socket at `path`.
    pub fn command(self, path: &Path) -> String {
        let path = path.display().to_string();
        match self {
            Relay::Socat => format!(
                "socat stdio {}",
                shell_quote(&format!("UNIX-CONNECT:{path}"))
            ),
            Relay::Nc => format!("nc -U {}", shell_quote(&path)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Relay::Socat => "socat",
            Relay::Nc => "nc -U",
        }
    }
}

/// How a socket on a node is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketWay {
    /// sshd connects to the socket itself (direct-streamlocal).
    Forward,
    /// A relay program on the node.
    Relay {
        /// Which program.
        tool: Relay,
        /// Run through `sudo -n`.
        sudo: bool,
    },
}

impl SocketWay {
    /// A few words for the balancer pane and `status --json`: "ssh-socket", "sudo socat".
    pub fn label(&self) -> String {
        match self {
            SocketWay::Forward => "ssh-socket".into(),
            SocketWay::Relay { tool, sudo: true } => format!("sudo {}", tool.name()),
            SocketWay::Relay { tool, sudo: false } => tool.name().into(),
        }
    }
}

/// A socket found on a node and the way to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// Where it is on the node.
    pub path: PathBuf,
    /// How it is reached.
    pub way: SocketWay,
}

/// Why sshd would not open a socket, in the operator's words.
pub(super) fn refusal(why: russh::ChannelOpenFailure) -> String {
    use russh::ChannelOpenFailure as F;
    match why {
        F::AdministrativelyProhibited => {
            "sshd does not forward unix sockets (AllowStreamLocalForwarding)".into()
        }
        F::ConnectFailed => {
            "sshd could not connect to it (missing, or closed to this login)".into()
        }
        F::UnknownChannelType => "sshd does not know socket forwarding".into(),
        F::ResourceShortage => "sshd is short of resources".into(),
        F::Other { reason, .. } => reason,
    }
}

/// The shell probe run when sshd does not open the socket: the first of `paths` that is a
/// socket, then the relay installed. It ends with `true`, so only a failing `sudo -n`
/// makes it fail.
pub(crate) fn probe(paths: &[PathBuf]) -> String {
    let quoted: Vec<String> = paths
        .iter()
        .map(|p| shell_quote(&p.display().to_string()))
        .collect();
    format!(
        "for p in {}; do if [ -S \"$p\" ]; then echo \"socket $p\"; break; fi; done; \
         command -v socat || command -v nc; true",
        quoted.join(" ")
    )
}

/// What [`probe`] found: the socket among `paths`, and the relay (socat preferred).
fn parse_probe(out: &str, paths: &[PathBuf]) -> (Option<PathBuf>, Option<Relay>) {
    let mut found = None;
    let mut tool = None;
    for line in out.lines().map(str::trim) {
        if let Some(p) = line.strip_prefix("socket ") {
            found = paths.iter().find(|c| c.as_os_str() == p).cloned();
        } else if line == "socat" || line.ends_with("/socat") {
            tool = Some(Relay::Socat);
        } else if (line == "nc" || line.ends_with("/nc")) && tool.is_none() {
            tool = Some(Relay::Nc);
        }
    }
    (found, tool)
}

fn names(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Reads until the end; None when more than `cap` bytes come.
pub async fn read_capped<R: AsyncRead + Unpin>(
    r: &mut R,
    cap: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(Some(body));
        }
        if body.len() + n > cap {
            return Ok(None);
        }
        body.extend_from_slice(&buf[..n]);
    }
}

impl Pool {
    /// The first of `paths` that is a socket on `addr`, and the way to it: sshd's own
    /// forwarding when it opens the socket, else a relay on the node. Remembered until
    /// [`Pool::forget_socket`].
    pub async fn find_socket(
        &self,
        addr: &NodeAddr,
        paths: &[PathBuf],
    ) -> Result<Socket, SshError> {
        let key = (addr.alias.clone(), paths.to_vec());
        if let Some(s) = self.sockets.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(s);
        }
        let conn = self.get(addr).await?;
        let mut refused = Vec::new();
        for path in paths {
            match conn.open_socket(&path.display().to_string()).await {
                Ok(mut s) => {
                    let _ = s.shutdown().await;
                    let found = Socket {
                        path: path.clone(),
                        way: SocketWay::Forward,
                    };
                    return Ok(self.remember(key, found));
                }
                Err(SshError::Socket { why, .. }) => refused.push(why),
                Err(e) => return Err(e),
            }
        }
        let out = conn
            .exec(&self.privileged(&probe(paths)), self.timeout())
            .await?
            .ok("looking for the socket")?;
        let fail = |why: String| SshError::Socket {
            node: addr.alias.clone(),
            socket: names(paths),
            why,
        };
        let forward = refused.first().cloned().unwrap_or_default();
        match parse_probe(&out, paths) {
            (None, _) => Err(fail(if self.sudo {
                "no socket there".into()
            } else {
                format!("no socket there that this login can see ({forward})")
            })),
            (Some(_), None) => Err(fail(format!(
                "{forward}, and neither socat nor nc is installed there"
            ))),
            (Some(path), Some(tool)) => {
                let found = Socket {
                    path,
                    way: SocketWay::Relay {
                        tool,
                        sudo: self.sudo,
                    },
                };
                Ok(self.remember(key, found))
            }
        }
    }

    fn remember(&self, key: (String, Vec<PathBuf>), found: Socket) -> Socket {
        if let Ok(mut m) = self.sockets.lock() {
            m.insert(key, found.clone());
        }
        found
    }

    /// Forgets the socket found for `paths` on `addr` (it failed): the next use looks again.
    pub fn forget_socket(&self, addr: &NodeAddr, paths: &[PathBuf]) {
        if let Ok(mut m) = self.sockets.lock() {
            m.remove(&(addr.alias.clone(), paths.to_vec()));
        }
    }

    /// Opens a socket found by [`Pool::find_socket`] as a stream kept open.
    pub async fn open_socket(
        &self,
        addr: &NodeAddr,
        socket: &Socket,
    ) -> Result<SocketStream, SshError> {
        let conn = self.get(addr).await?;
        match socket.way {
            SocketWay::Forward => conn.open_socket(&socket.path.display().to_string()).await,
            SocketWay::Relay { tool, .. } => {
                let relay = format!("exec {}", tool.command(&socket.path));
                conn.open_exec(&self.privileged(&relay)).await
            }
        }
    }

    /// Sends `line` to a socket found by [`Pool::find_socket`] and returns all it answers
    /// until it closes the connection.
    pub async fn ask_socket(
        &self,
        addr: &NodeAddr,
        socket: &Socket,
        line: &str,
    ) -> Result<String, SshError> {
        let SocketWay::Relay { tool, .. } = socket.way else {
            let lost = |e: std::io::Error| SshError::Lost {
                node: addr.alias.clone(),
                why: LinkError::from(e),
            };
            let mut s = self.open_socket(addr, socket).await?;
            s.write_all(format!("{line}\n").as_bytes())
                .await
                .map_err(lost)?;
            return match read_capped(&mut s, MAX_ANSWER).await.map_err(lost)? {
                Some(body) => Ok(String::from_utf8_lossy(&body).into_owned()),
                None => Err(SshError::TooLarge {
                    node: addr.alias.clone(),
                    limit: MAX_ANSWER,
                }),
            };
        };
        // The line goes on the relay's stdin, not in its command line: the command is the
        // same as the kept-open stream's, so one exact sudoers rule allows both.
        let command = format!("exec {}", tool.command(&socket.path));
        let what = format!("{} {}", tool.name(), socket.path.display());
        let conn = self.get(addr).await?;
        conn.exec_with_input(
            &self.privileged(&command),
            format!("{line}\n").as_bytes(),
            self.timeout(),
        )
        .await?
        .ok(&what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock() -> Vec<PathBuf> {
        vec![
            PathBuf::from("/run/haproxy/admin.sock"),
            PathBuf::from("/var/lib/haproxy/stats"),
        ]
    }

    #[test]
    fn the_probe_finds_the_first_socket_and_prefers_socat() {
        let out = "socket /var/lib/haproxy/stats\n/usr/bin/socat\n";
        assert_eq!(
            parse_probe(out, &stock()),
            (Some(stock()[1].clone()), Some(Relay::Socat))
        );
        let nc_only = "socket /run/haproxy/admin.sock\n/bin/nc\n";
        assert_eq!(
            parse_probe(nc_only, &stock()),
            (Some(stock()[0].clone()), Some(Relay::Nc))
        );
        // A path the profile did not ask for is not taken, whatever prints it.
        assert_eq!(parse_probe("socket /tmp/other\n", &stock()), (None, None));
        assert_eq!(parse_probe("", &stock()), (None, None));
    }

    #[test]
    fn the_probe_tries_the_paths_in_order_and_fails_only_with_sudo() {
        let p = probe(&stock());
        assert!(
            p.starts_with("for p in /run/haproxy/admin.sock /var/lib/haproxy/stats;"),
            "{p}"
        );
        assert!(p.ends_with("; true"), "{p}");
        assert_eq!(
            probe(&[PathBuf::from("/run/my sock")]).split(';').next(),
            Some("for p in '/run/my sock'")
        );
    }

    #[test]
    fn ways_are_named_briefly() {
        assert_eq!(SocketWay::Forward.label(), "ssh-socket");
        let sudo = SocketWay::Relay {
            tool: Relay::Socat,
            sudo: true,
        };
        assert_eq!(sudo.label(), "sudo socat");
        let plain = SocketWay::Relay {
            tool: Relay::Nc,
            sudo: false,
        };
        assert_eq!(plain.label(), "nc -U");
        assert_eq!(
            Relay::Socat.command(Path::new("/run/haproxy/admin.sock")),
            "socat stdio UNIX-CONNECT:/run/haproxy/admin.sock"
        );
        assert_eq!(
            refusal(russh::ChannelOpenFailure::AdministrativelyProhibited),
            "sshd does not forward unix sockets (AllowStreamLocalForwarding)"
        );
    }
}
