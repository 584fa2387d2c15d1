//! One SSH connection: connect (through ProxyJump hosts when configured), verify the host
//! key, authenticate, then run commands or stream their output line by line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{
    check_known_hosts_path, Error as KeyError, HashAlg, PublicKey, PublicKeyOrCertificate,
};
use russh::ChannelMsg;
use tokio::sync::mpsc;

use super::login::authenticate;
use super::{Credentials, LinkError, NodeAddr, SshError};

/// Most output kept from one command (stdout and stderr together): a runaway command
/// cannot fill the console's memory. As large as the biggest HTTP reply the sources read.
const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// What a remote command produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit status (None when the server sent none).
    pub status: Option<u32>,
}

impl Output {
    /// Stdout when the command exited 0, else an error with its stderr.
    pub fn ok(self, what: &str) -> Result<String, SshError> {
        if self.status == Some(0) {
            Ok(self.stdout)
        } else if self.status.is_none() && self.stderr.is_empty() {
            Err(SshError::Unfinished { what: what.into() })
        } else {
            Err(SshError::Command {
                what: what.into(),
                status: self.status,
                stderr: crate::text::clip(self.stderr.lines().next().unwrap_or(""), 160),
            })
        }
    }
}

/// What the host-key check saw, kept to explain a refusal.
#[derive(Debug, Clone)]
enum KeyVerdict {
    Unknown(PublicKey),
    Changed(PublicKey, usize),
    Error(String),
}

struct Verifier {
    host: String,
    port: u16,
    known_hosts: std::path::PathBuf,
    verdict: Arc<Mutex<Option<KeyVerdict>>>,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key().clone().into(),
        };
        let verdict = match check_known_hosts_path(&self.host, self.port, &key, &self.known_hosts) {
            Ok(true) => return Ok(true),
            Ok(false) => KeyVerdict::Unknown(key),
            Err(KeyError::KeyChanged { line }) => KeyVerdict::Changed(key, line),
            Err(e) => KeyVerdict::Error(e.to_string()),
        };
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some(verdict);
        }
        Ok(false)
    }
}

/// An authenticated connection to one node.
pub struct Ssh {
    handle: Handle<Verifier>,
    /// Connections to jump hosts, kept alive as long as this one.
    _jumps: Vec<Handle<Verifier>>,
    /// Where it goes (for messages).
    pub addr: NodeAddr,
}

fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// `direct`: the connection is a TCP stream of its own, watched by the kernel (see
/// [`watch_link`]); through a jump host it is a channel, watched by SSH keepalives.
fn client_config(timeout: Duration, direct: bool) -> Arc<client::Config> {
    let every = timeout.max(Duration::from_millis(500));
    Arc::new(client::Config {
        // Keepalives find a dead link within about two timeouts, without waiting for
        // TCP's own: the followers then report the node stale instead of going quiet.
        // Over a stream of its own the kernel finds a dead link as fast (and wakes no
        // one to do it); SSH's keepalive is then left to a live link whose sshd stopped
        // answering, which the keepalived dump's own timeout also finds.
        keepalive_interval: Some(if direct { every * 10 } else { every }),
        keepalive_max: 1,
        inactivity_timeout: None,
        ..client::Config::default()
    })
}

/// Lets the kernel watch a direct connection: an idle link is probed every `timeout`
/// (at least a second, TCP's unit) and given up when a probe is not answered within one
/// more, and data left unacknowledged for a timeout ends it too (else TCP retransmits
/// for minutes before giving up; the kernel fires its last retransmission at the
/// deadline). Either way a link cut is found within two timeouts, as an answer that
/// does not come is everywhere else. Keepalive probes and their answers stay in the
/// kernel: lbdeck is woken only when the link is gone.
fn watch_link(stream: &tokio::net::TcpStream, timeout: Duration) {
    let every = timeout.max(Duration::from_secs(1));
    let probes = socket2::TcpKeepalive::new()
        .with_time(every)
        .with_interval(every)
        .with_retries(1);
    let socket = socket2::SockRef::from(stream);
    let set = socket
        .set_tcp_keepalive(&probes)
        .and_then(|()| socket.set_tcp_user_timeout(Some(every)))
        .and_then(|()| socket.set_tcp_nodelay(true));
    if let Err(e) = set {
        tracing::warn!(error = %e, "cannot set TCP keepalive on an SSH connection");
    }
}

impl Ssh {
    /// Connects, verifies the host key against `known_hosts`, and authenticates.
    pub async fn connect(
        addr: &NodeAddr,
        creds: &Credentials,
        known_hosts: &std::path::Path,
        timeout: Duration,
    ) -> Result<Ssh, SshError> {
        let work = Self::connect_inner(addr, creds, known_hosts, timeout);
        let within = timeout * (2 + addr.jumps.len() as u32);
        tokio::time::timeout(within, work)
            .await
            .unwrap_or_else(|_| {
                Err(SshError::Timeout {
                    what: format!("ssh {}@{}", addr.user, addr.known_hosts_name()),
                    within,
                })
            })
    }

    async fn connect_inner(
        addr: &NodeAddr,
        creds: &Credentials,
        known_hosts: &std::path::Path,
        timeout: Duration,
    ) -> Result<Ssh, SshError> {
        let mut jumps: Vec<Handle<Verifier>> = Vec::new();
        let mut hops: Vec<&NodeAddr> = addr.jumps.iter().collect();
        hops.push(addr);
        let mut handle: Option<Handle<Verifier>> = None;
        for hop in hops {
            let verdict = Arc::new(Mutex::new(None));
            let verifier = Verifier {
                host: hop.hostname.clone(),
                port: hop.port,
                known_hosts: known_hosts.to_path_buf(),
                verdict: verdict.clone(),
            };
            let connected = match handle.take() {
                None => {
                    match tokio::net::TcpStream::connect((hop.hostname.as_str(), hop.port)).await {
                        Ok(stream) => {
                            watch_link(&stream, timeout);
                            let config = client_config(timeout, true);
                            client::connect_stream(config, stream, verifier).await
                        }
                        Err(e) => Err(russh::Error::from(e)),
                    }
                }
                Some(prev) => {
                    let channel = prev
                        .channel_open_direct_tcpip(
                            hop.hostname.clone(),
                            u32::from(hop.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| SshError::Jump {
                            host: hop.known_hosts_name(),
                            why: e.into(),
                        })?;
                    jumps.push(prev);
                    client::connect_stream(
                        client_config(timeout, false),
                        channel.into_stream(),
                        verifier,
                    )
                    .await
                }
            };
            let mut h = match connected {
                Ok(h) => h,
                Err(e) => {
                    let seen = verdict.lock().ok().and_then(|v| v.clone());
                    return Err(refusal(hop, known_hosts, seen, e));
                }
            };
            authenticate(&mut h, hop, creds).await?;
            handle = Some(h);
        }
        let handle = handle.ok_or_else(|| SshError::Connect {
            host: addr.known_hosts_name(),
            why: LinkError::Other("no host to connect to".into()),
        })?;
        Ok(Ssh {
            handle,
            _jumps: jumps,
            addr: addr.clone(),
        })
    }

    /// True once the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Runs `command` and collects its output, within `timeout`.
    pub async fn exec(&self, command: &str, timeout: Duration) -> Result<Output, SshError> {
        self.exec_fed(command, None, timeout).await
    }

    /// Runs `command` with `input` on its stdin (then end of file), and collects its
    /// output, within `timeout`: the text sent stays out of the command line, so a sudoers
    /// rule can name the command exactly.
    pub async fn exec_with_input(
        &self,
        command: &str,
        input: &[u8],
        timeout: Duration,
    ) -> Result<Output, SshError> {
        self.exec_fed(command, Some(input), timeout).await
    }

    async fn exec_fed(
        &self,
        command: &str,
        input: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        let out = tokio::time::timeout(timeout, self.exec_inner(command, input))
            .await
            .unwrap_or_else(|_| {
                Err(SshError::Timeout {
                    what: format!("{}: `{}`", self.addr.alias, crate::text::clip(command, 40)),
                    within: timeout,
                })
            })?;
        match super::pool::sudo_refusal(&self.addr, command, &out) {
            Some(refused) => Err(refused),
            None => Ok(out),
        }
    }

    /// A session channel running `command`.
    async fn started(&self, command: &str) -> Result<russh::Channel<client::Msg>, SshError> {
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| self.lost(e))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| self.lost(e))?;
        Ok(channel)
    }

    async fn exec_inner(&self, command: &str, input: Option<&[u8]>) -> Result<Output, SshError> {
        let mut channel = self.started(command).await?;
        if let Some(input) = input {
            channel.data(input).await.map_err(|e| self.lost(e))?;
            channel.eof().await.map_err(|e| self.lost(e))?;
        }
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut status = None;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, .. } => err.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                _ => {}
            }
            if out.len() + err.len() > MAX_OUTPUT {
                return Err(SshError::TooLarge {
                    node: self.addr.alias.clone(),
                    limit: MAX_OUTPUT,
                });
            }
        }
        Ok(Output {
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            status,
        })
    }

    /// Starts `command` and sends its stdout line by line; the receiver closes when the
    /// command or the connection ends. Lines over 64 KiB are cut.
    ///
    /// The command runs on a pseudo-terminal so that closing the channel hangs it up: a
    /// blocked reader (`cat` on a FIFO) dies with us instead of lingering on the node and
    /// stealing lines from the next reader.
    pub async fn stream_lines(&self, command: &str) -> Result<mpsc::Receiver<String>, SshError> {
        let mut channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| self.lost(e))?;
        let raw = [(russh::Pty::ECHO, 0), (russh::Pty::OPOST, 0)];
        channel
            .request_pty(false, "dumb", 200, 24, 0, 0, &raw)
            .await
            .map_err(|e| self.lost(e))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| self.lost(e))?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            let mut pending: Vec<u8> = Vec::new();
            while let Some(msg) = channel.wait().await {
                let ChannelMsg::Data { data } = msg else {
                    continue;
                };
                pending.extend_from_slice(&data);
                while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=nl).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1])
                        .trim_end_matches('\r')
                        .to_string();
                    if tx.send(text).await.is_err() {
                        let _ = channel.close().await;
                        return;
                    }
                }
                if pending.len() > 64 * 1024 {
                    pending.clear();
                }
            }
        });
        Ok(rx)
    }

    /// Opens the unix socket `path` on the node through sshd
    /// (`direct-streamlocal@openssh.com`): sshd connects to it as the login user.
    pub async fn open_socket(&self, path: &str) -> Result<super::SocketStream, SshError> {
        let channel = self
            .handle
            .channel_open_direct_streamlocal(path)
            .await
            .map_err(|e| match e {
                russh::Error::ChannelOpenFailure(why) => SshError::Socket {
                    node: self.addr.alias.clone(),
                    socket: path.to_string(),
                    why: super::unix::refusal(why),
                },
                e => self.lost(e),
            })?;
        Ok(channel.into_stream())
    }

    /// Starts `command` and returns its stdin and stdout as one stream (stderr dropped):
    /// a relay such as `socat` joining them to something on the node.
    pub async fn open_exec(&self, command: &str) -> Result<super::SocketStream, SshError> {
        Ok(self.started(command).await?.into_stream())
    }

    fn lost(&self, e: russh::Error) -> SshError {
        SshError::Lost {
            node: self.addr.alias.clone(),
            why: e.into(),
        }
    }

    /// The underlying handle, for interactive shells.
    pub(super) fn handle(&self) -> &Handle<impl client::Handler> {
        &self.handle
    }
}

fn refusal(
    hop: &NodeAddr,
    known_hosts: &std::path::Path,
    seen: Option<KeyVerdict>,
    e: russh::Error,
) -> SshError {
    let file = known_hosts.display().to_string();
    let host = hop.known_hosts_name();
    match seen {
        Some(KeyVerdict::Unknown(key)) => SshError::UnknownHost {
            fingerprint: fingerprint(&key),
            line: format!("{host} {}", key.to_openssh().unwrap_or_default()),
            host,
            file,
        },
        Some(KeyVerdict::Changed(key, line_no)) => SshError::KeyChanged {
            host,
            file,
            line_no,
            fingerprint: fingerprint(&key),
        },
        Some(KeyVerdict::Error(why)) => SshError::KnownHosts { host, file, why },
        None => SshError::Connect {
            host,
            why: e.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_kernel_watches_a_direct_link_and_ssh_keepalives_only_a_jumped_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        watch_link(&stream, Duration::from_millis(300));
        let socket = socket2::SockRef::from(&stream);
        assert!(socket.keepalive().expect("SO_KEEPALIVE"));
        // TCP counts keepalive time in seconds: a shorter timeout is rounded up to one.
        assert_eq!(
            socket.tcp_keepalive_time().expect("idle"),
            Duration::from_secs(1)
        );
        assert_eq!(
            socket.tcp_keepalive_interval().expect("interval"),
            Duration::from_secs(1)
        );
        assert_eq!(socket.tcp_keepalive_retries().expect("count"), 1);
        assert_eq!(
            socket.tcp_user_timeout().expect("user timeout"),
            Some(Duration::from_secs(1))
        );
        let t = Duration::from_secs(2);
        assert_eq!(client_config(t, true).keepalive_interval, Some(t * 10));
        assert_eq!(client_config(t, false).keepalive_interval, Some(t));
    }

    fn local(port: u16) -> NodeAddr {
        NodeAddr {
            alias: "lb1".into(),
            hostname: "127.0.0.1".into(),
            port,
            user: "ops".into(),
            identity_files: Vec::new(),
            identities_only: false,
            jumps: Vec::new(),
        }
    }

    async fn connect(port: u16) -> SshError {
        let known_hosts = std::path::Path::new("/nonexistent/known_hosts");
        match Ssh::connect(
            &local(port),
            &Credentials::default(),
            known_hosts,
            Duration::from_secs(2),
        )
        .await
        {
            Ok(_) => panic!("connected to nothing"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_a_hang_up_is_named() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // Accepts, then hangs up before saying anything, as a dying sshd would.
        let server = tokio::spawn(async move {
            if let Ok((sock, _)) = listener.accept().await {
                drop(sock);
            }
        });
        let hung_up = connect(port).await;
        assert!(
            matches!(
                &hung_up,
                SshError::Connect {
                    why: LinkError::Closed,
                    ..
                }
            ),
            "{hung_up:?}"
        );
        server.await.expect("server");
        let refused = connect(port).await;
        assert_eq!(
            refused.to_string(),
            format!("ssh [127.0.0.1]:{port}: connection refused")
        );
    }
}
