//! One SSH connection: connect (through ProxyJump hosts when configured), verify the host
//! key, authenticate, then run commands or stream their output line by line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{
    check_known_hosts_path, Error as KeyError, HashAlg, PrivateKeyWithHashAlg, PublicKey,
    PublicKeyOrCertificate,
};
use russh::ChannelMsg;
use russh::MethodKind;
use tokio::sync::mpsc;

use super::{Credentials, LinkError, NoMethod, NodeAddr, SshError};

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

fn client_config(timeout: Duration) -> Arc<client::Config> {
    Arc::new(client::Config {
        // Keepalives find a dead link within about two timeouts, without waiting for
        // TCP's own: the followers then report the node stale instead of going quiet.
        keepalive_interval: Some(timeout.max(Duration::from_millis(500))),
        keepalive_max: 1,
        inactivity_timeout: None,
        ..client::Config::default()
    })
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
                    client::connect(
                        client_config(timeout),
                        (hop.hostname.as_str(), hop.port),
                        verifier,
                    )
                    .await
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
                    client::connect_stream(client_config(timeout), channel.into_stream(), verifier)
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
    /// Not asked: the server takes no keys.
    NotAsked,
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
    fn nothing(&self, unusable: &[super::UnusableKey], server_takes_password: bool) -> String {
        let agent = match &self.agent {
            AgentSeen::Unset | AgentSeen::NotAsked => {
                "no ssh-agent (SSH_AUTH_SOCK is not set)".to_string()
            }
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
async fn authenticate(
    h: &mut Handle<Verifier>,
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
    } else if creds.agent.is_some() {
        offered.agent = AgentSeen::NotAsked;
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
        NoMethod::Unsupported(
            accepts
                .iter()
                .map(<&str>::from)
                .filter(|m| *m != "none")
                .collect::<Vec<_>>()
                .join(", "),
        )
    } else if !takes_keys {
        NoMethod::PasswordOnly
    } else if let Some(k) = unusable
        .iter()
        .find(|k| k.why == super::KeyProblem::WrongPassphrase)
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
fn host_key_files(addr: &NodeAddr) -> Vec<std::path::PathBuf> {
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
async fn agent_login(
    h: &mut Handle<Verifier>,
    addr: &NodeAddr,
    creds: &Credentials,
    files: &[std::path::PathBuf],
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
