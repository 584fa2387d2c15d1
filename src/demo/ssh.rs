//! The demo's nodes over SSH (russh's server side, on loopback): they answer the commands
//! the console sends to real nodes — the notify log and the notify FIFO, `ip monitor`, `ip -j addr`, the
//! keepalived JSON dump, `tail -F` of the access log, the track-file write that fails
//! over, the nginx upstream file and its drain edit — and offer a small interactive
//! shell in which `systemctl stop keepalived` or a track-file write moves the VIP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use russh::keys::{PrivateKey, PublicKey};
use russh::server::{self, Auth, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::vrrp::NodeEvent;
use super::Sim;
use crate::sources::vrrp::LOG_MARKER;
use crate::wire::keepalived::DEFAULT_NOTIFY_LOG as NOTIFY_LOG;

/// A demo node: its name, and which balancer it is (None for backends).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Hostname.
    pub name: String,
    /// Balancer index.
    pub lb: Option<usize>,
    /// The VIP address.
    pub vip: String,
}

/// Serves SSH for one node on `listener`, accepting only `client` keys.
pub fn serve(
    listener: TcpListener,
    host_key: PrivateKey,
    client: PublicKey,
    node: NodeInfo,
    sim: Arc<Mutex<Sim>>,
) -> JoinHandle<()> {
    let config = Arc::new(server::Config {
        keys: vec![host_key],
        auth_rejection_time: std::time::Duration::from_millis(100),
        auth_rejection_time_initial: Some(std::time::Duration::ZERO),
        ..server::Config::default()
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = Node {
                node: node.clone(),
                sim: sim.clone(),
                client: client.clone(),
                tasks: HashMap::new(),
                shells: HashMap::new(),
                inputs: HashMap::new(),
            };
            let config = config.clone();
            tokio::spawn(async move {
                if let Ok(session) = server::run_stream(config, stream, handler).await {
                    let _ = session.await;
                }
            });
        }
    })
}

struct Node {
    node: NodeInfo,
    sim: Arc<Mutex<Sim>>,
    client: PublicKey,
    tasks: HashMap<ChannelId, JoinHandle<()>>,
    shells: HashMap<ChannelId, mpsc::UnboundedSender<Vec<u8>>>,
    /// What a command's stdin has received so far; closed at end of file.
    inputs: HashMap<ChannelId, mpsc::UnboundedSender<Vec<u8>>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }
}

impl server::Handler for Node {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if key.public_key.key_data() == self.client.key_data() {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pw: u32,
        _ph: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        let handle = session.handle();
        let node = self.node.clone();
        let sim = self.sim.clone();
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        self.inputs.insert(channel, input_tx);
        let task = tokio::spawn(async move {
            let input = if reads_stdin(&command) {
                stdin(input_rx).await
            } else {
                Vec::new()
            };
            let (out, status) = exec(&node, &sim, &command, &input, &handle, channel).await;
            // A failing command's words go to stderr, where callers look for the reason.
            let _ = match status {
                0 => handle.data(channel, out.into_bytes()).await,
                _ => handle.extended_data(channel, 1, out.into_bytes()).await,
            };
            let _ = handle.exit_status_request(channel, status).await;
            let _ = handle.eof(channel).await;
            let _ = handle.close(channel).await;
        });
        self.tasks.insert(channel, task);
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.shells.insert(channel, tx);
        let handle = session.handle();
        let node = self.node.clone();
        let sim = self.sim.clone();
        self.tasks
            .insert(channel, tokio::spawn(shell(node, sim, handle, channel, rx)));
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(tx) = self.shells.get(&channel).or(self.inputs.get(&channel)) {
            let _ = tx.send(data.to_vec());
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.inputs.remove(&channel);
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(t) = self.tasks.remove(&channel) {
            t.abort();
        }
        self.shells.remove(&channel);
        self.inputs.remove(&channel);
        Ok(())
    }
}

fn addr_line(node: &NodeInfo, added: bool) -> String {
    format!(
        "{}1: lo    inet {}/32 scope global lo\\       valid_lft forever preferred_lft forever",
        if added { "" } else { "Deleted " },
        node.vip
    )
}

/// Whether a command reads what lbdeck sends on its stdin (so it runs once that ends).
fn reads_stdin(cmd: &str) -> bool {
    super::nginx::is_edit(cmd) || cmd == crate::wire::audit::append_command()
}

/// A command's stdin up to end of file; what came within [`STDIN_WAIT`] when the client
/// never ends it.
async fn stdin(mut rx: mpsc::UnboundedReceiver<Vec<u8>>) -> Vec<u8> {
    let mut input = Vec::new();
    let _ = tokio::time::timeout(STDIN_WAIT, async {
        while let Some(chunk) = rx.recv().await {
            input.extend_from_slice(&chunk);
        }
    })
    .await;
    input
}

/// How long a command waits for the end of its stdin: lbdeck sends it at once.
const STDIN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Picks the lines of interest out of the node events.
type EventFilter = Box<dyn Fn(&NodeEvent) -> Option<String> + Send>;

/// Runs a command the console sends. Streaming commands keep sending lines through
/// `handle` until the channel closes; the rest return their output and exit status.
async fn exec(
    node: &NodeInfo,
    sim: &Arc<Mutex<Sim>>,
    cmd: &str,
    input: &[u8],
    handle: &server::Handle,
    channel: ChannelId,
) -> (String, u32) {
    let lb = node.lb;
    let stream = |filter: EventFilter, first: Option<String>| {
        let rx = sim.lock().ok().map(|s| s.pair.events.subscribe());
        async move {
            let Some(mut rx) = rx else { return };
            if let Some(f) = first {
                let _ = handle.data(channel, format!("{f}\r\n").into_bytes()).await;
            }
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        // keepalived gone: its FIFO closes, the log's reader ends.
                        if matches!(e, NodeEvent::FifoClosed { lb: l } if Some(l) == lb)
                            && (cmd_is_fifo(cmd) || cmd_is_log(cmd))
                        {
                            return;
                        }
                        if let Some(line) = filter(&e) {
                            if handle
                                .data(channel, format!("{line}\r\n").into_bytes())
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        }
    };
    let running = |s: &Sim| lb.is_some_and(|l| s.pair.nodes[l].running);
    // The notify log is there once keepalived ran: on every balancer.
    if cmd.starts_with("test -f ") && cmd.contains(NOTIFY_LOG) {
        return (String::new(), if lb.is_some() { 0 } else { 1 });
    }
    if cmd_is_log(cmd) {
        let Some(me) = lb else {
            return (format!("wc: {NOTIFY_LOG}: No such file or directory\n"), 1);
        };
        stream(
            Box::new(move |e| match e {
                NodeEvent::Fifo { lb, line } if *lb == me => notify_log_line(line),
                _ => None,
            }),
            Some(LOG_MARKER.to_string()),
        )
        .await;
        return (String::new(), 0);
    }
    if cmd.contains("test -p") {
        let ok = lb.is_some() && sim.lock().is_ok_and(|s| running(&s));
        return (String::new(), if ok { 0 } else { 1 });
    }
    if cmd_is_fifo(cmd) {
        let Some(me) = lb else {
            return (
                "cat: /run/keepalived.fifo: No such file or directory\n".into(),
                1,
            );
        };
        let marker = cmd
            .split(';')
            .next()
            .and_then(|e| e.trim().strip_prefix("echo "))
            .map(str::to_string);
        stream(
            Box::new(move |e| match e {
                NodeEvent::Fifo { lb, line } if *lb == me => Some(line.clone()),
                _ => None,
            }),
            marker,
        )
        .await;
        return (String::new(), 0);
    }
    if cmd.contains("-o monitor address") {
        let me = lb;
        let n = node.clone();
        // `ip -ts` stamps each line (in UTC: lbdeck runs it with TZ=UTC0).
        let stamps = cmd.contains("-ts");
        stream(
            Box::new(move |e| match e {
                NodeEvent::Addr { lb, added } if Some(*lb) == me => {
                    let line = addr_line(&n, *added);
                    Some(if stamps {
                        format!(
                            "[{}] {line}",
                            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f")
                        )
                    } else {
                        line
                    })
                }
                _ => None,
            }),
            None,
        )
        .await;
        return (String::new(), 0);
    }
    // `tail -F` of the access log, or of the pair's shared audit log.
    let audit = cmd == crate::wire::audit::follow_command();
    if audit || cmd.contains("tail -n0 -F") {
        let me = lb;
        stream(
            Box::new(move |e| match e {
                NodeEvent::Audit { lb, line } if audit && Some(*lb) == me => Some(line.clone()),
                NodeEvent::Log { lb, line } if !audit && Some(*lb) == me => Some(line.clone()),
                _ => None,
            }),
            None,
        )
        .await;
        return (String::new(), 0);
    }
    if let Some(answer) = shared_audit(lb, sim, cmd, input) {
        return answer;
    }
    if let Some(answer) = control(lb, sim, cmd) {
        return answer;
    }
    if let Some(answer) = lock(lb, sim, cmd) {
        return answer;
    }
    let Ok(mut s) = sim.lock() else {
        return ("simulation stopped\n".into(), 1);
    };
    if let Some(answer) = lb.and_then(|l| super::nginx::run(&mut s, l, super::BACKEND, cmd, input))
    {
        return answer;
    }
    if cmd.contains("ip -j") && cmd.contains("addr") {
        let holds = lb.is_some() && s.pair.holder == lb;
        let mut addrs =
            vec![serde_json::json!({"family": "inet", "local": "127.0.0.1", "prefixlen": 8})];
        if holds {
            addrs.push(serde_json::json!({"family": "inet", "local": node.vip, "prefixlen": 32}));
        }
        return (
            serde_json::json!([{"ifindex": 1, "ifname": "lo", "addr_info": addrs}]).to_string()
                + "\n",
            0,
        );
    }
    if cmd.contains("--signum=$s") {
        return ("JSON\n".into(), 0);
    }
    if cmd.contains("keepalived --signum=JSON") {
        return match lb {
            Some(l) if running(&s) => (s.pair.dump(l, &node.vip) + "\n", 0),
            _ => ("KEEPALIVED-DOWN\n".into(), 0),
        };
    }
    (
        format!(
            "demo: {}: not available on the demo nodes\n",
            crate::text::clip(cmd, 60)
        ),
        127,
    )
}

/// The commands `lbdeck failover|failback` send: a track-file write, keepalived stopped
/// or started.
fn control(lb: Option<usize>, sim: &Arc<Mutex<Sim>>, cmd: &str) -> Option<(String, u32)> {
    // Is a failover in effect (the checks `lbdeck failback` makes first)?
    if cmd.starts_with("v=$(cat")
        || cmd.starts_with("! kill -0")
        || cmd.contains("keepalived.conf.lbdeck-bak") && cmd.starts_with("test")
    {
        let in_effect = lb.is_some_and(|l| {
            sim.lock().is_ok_and(|s| {
                let n = &s.pair.nodes[l];
                if cmd.starts_with("v=$(cat") {
                    n.track != 0
                } else {
                    cmd.starts_with("! kill -0") && !n.running
                }
            })
        });
        return Some((String::new(), u32::from(!in_effect)));
    }
    let track = cmd.starts_with("printf") && cmd.contains("/etc/keepalived/maintenance");
    let stop = cmd.contains("stop keepalived");
    let start = cmd.contains("start keepalived");
    if !(track || stop || start) {
        return None;
    }
    let Some(l) = lb else {
        return Some(("keepalived is not installed on this node\n".into(), 1));
    };
    let Ok(mut s) = sim.lock() else {
        return Some(("simulation stopped\n".into(), 1));
    };
    if track {
        // printf '%s\n' VALUE > FILE, or printf '0\n' > FILE
        let value = cmd
            .split_whitespace()
            .nth(2)
            .filter(|w| !w.starts_with('>'))
            .and_then(|w| w.trim_matches('\'').parse::<i32>().ok())
            .unwrap_or(0);
        s.pair.nodes[l].track = value;
    } else if stop {
        s.pair.stop(l);
    } else {
        s.pair.start(l);
    }
    Some((String::new(), 0))
}

/// The pair's shared audit log on a balancer (`ops::audit`): each line on the append's
/// stdin kept in the balancer's file and told to its followers; read back by the viewer.
fn shared_audit(
    lb: Option<usize>,
    sim: &Arc<Mutex<Sim>>,
    cmd: &str,
    input: &[u8],
) -> Option<(String, u32)> {
    use crate::wire::audit::{append_command, read_command, SHARED_LINES, SHARED_LOG};
    let append = cmd == append_command();
    if !append && cmd != read_command() {
        return None;
    }
    let (Some(l), Ok(mut s)) = (lb, sim.lock()) else {
        return Some(("demo: no shared audit log on a backend\n".into(), 1));
    };
    if !append {
        let text = s.files[l].get(SHARED_LOG).cloned().unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let newest = &lines[lines.len().saturating_sub(SHARED_LINES)..];
        return Some((newest.iter().map(|l| format!("{l}\n")).collect(), 0));
    }
    let added = String::from_utf8_lossy(input).into_owned();
    s.files[l]
        .entry(SHARED_LOG.to_string())
        .or_default()
        .push_str(&added);
    for line in added.lines() {
        let _ = s.pair.events.send(NodeEvent::Audit {
            lb: l,
            line: line.to_string(),
        });
    }
    Some((String::new(), 0))
}

/// lbdeck's lock on a balancer (`ops::lock`): taken once, named to whoever finds it
/// held, given back only by its holder.
fn lock(lb: Option<usize>, sim: &Arc<Mutex<Sim>>, cmd: &str) -> Option<(String, u32)> {
    if !cmd.contains(crate::ops::lock::LOCK_DIR) {
        return None;
    }
    let (Some(l), Ok(mut s)) = (lb, sim.lock()) else {
        return Some((String::new(), 0));
    };
    let quoted_after = |marker: &str| {
        cmd.find(marker)
            .map(|i| super::nginx::shell_word(&cmd[i + marker.len()..]).0)
    };
    if cmd.contains("LBDECK-LOCKED") {
        let owner = quoted_after("printf '%s\\n' ").unwrap_or_default();
        return Some(match &s.locks[l] {
            None => {
                s.locks[l] = Some(owner);
                ("LBDECK-LOCKED\n".into(), 0)
            }
            Some(held) => (format!("{held}\nLBDECK-HELD 0\n"), 0),
        });
    }
    if cmd.contains("LBDECK-RELEASED") {
        let owner = quoted_after("\" = ");
        if s.locks[l].is_some() && s.locks[l] == owner {
            s.locks[l] = None;
        }
        return Some(("LBDECK-RELEASED\n".into(), 0));
    }
    Some((String::new(), 0))
}

fn cmd_is_fifo(cmd: &str) -> bool {
    cmd.contains("cat /run/keepalived.fifo")
}

fn cmd_is_log(cmd: &str) -> bool {
    cmd.contains(LOG_MARKER) && cmd.contains(NOTIFY_LOG)
}

/// The line `contrib/lbdeck-notify` appends for a transition the simulated keepalived
/// notified on its FIFO.
fn notify_log_line(fifo_line: &str) -> Option<String> {
    let ev = crate::wire::keepalived::parse_fifo_line(fifo_line).ok()?;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let line = serde_json::json!({
        "time": time,
        "type": if ev.group { "GROUP" } else { "INSTANCE" },
        "name": ev.name,
        "state": ev.role?.label(),
        "priority": ev.priority,
    });
    Some(line.to_string())
}

/// The demo shell: a prompt, line editing, a few commands that act on the simulation.
async fn shell(
    node: NodeInfo,
    sim: Arc<Mutex<Sim>>,
    handle: server::Handle,
    channel: ChannelId,
    mut input: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let prompt = format!("root@{}:~# ", node.name);
    let send = |text: String| {
        let handle = handle.clone();
        async move { handle.data(channel, text.into_bytes()).await.is_ok() }
    };
    // A backend has no keepalived: offer only what works there.
    let tries = if node.lb.is_some() {
        "help, hostname, ip addr, systemctl stop keepalived,\r\n\
         echo -100 > /etc/keepalived/maintenance, exit"
    } else {
        "help, hostname, ip addr, exit"
    };
    let banner = format!(
        "lbdeck demo node {} (simulated). Try: {tries}\r\n{prompt}",
        node.name
    );
    if !send(banner).await {
        return;
    }
    let mut line = String::new();
    while let Some(bytes) = input.recv().await {
        for ch in String::from_utf8_lossy(&bytes).chars() {
            match ch {
                '\r' | '\n' => {
                    let command = std::mem::take(&mut line);
                    let (out, exit) = run_shell_command(&node, &sim, command.trim());
                    let _ = send(format!("\r\n{out}")).await;
                    if exit {
                        let _ = handle.exit_status_request(channel, 0).await;
                        let _ = handle.eof(channel).await;
                        let _ = handle.close(channel).await;
                        return;
                    }
                    let _ = send(prompt.clone()).await;
                }
                '\u{7f}' | '\u{8}' if !line.is_empty() => {
                    line.pop();
                    let _ = send("\u{8} \u{8}".into()).await;
                }
                '\u{3}' => {
                    line.clear();
                    let _ = send(format!("^C\r\n{prompt}")).await;
                }
                '\u{4}' if line.is_empty() => {
                    let _ = send("logout\r\n".into()).await;
                    let _ = handle.exit_status_request(channel, 0).await;
                    let _ = handle.eof(channel).await;
                    let _ = handle.close(channel).await;
                    return;
                }
                c if !c.is_control() => {
                    line.push(c);
                    let _ = send(c.to_string()).await;
                }
                _ => {}
            }
        }
    }
}

/// One demo shell command: its output (CRLF lines) and whether the shell ends.
fn run_shell_command(node: &NodeInfo, sim: &Arc<Mutex<Sim>>, cmd: &str) -> (String, bool) {
    let Ok(mut s) = sim.lock() else {
        return ("simulation stopped\r\n".into(), true);
    };
    let lb = node.lb;
    let out = match cmd.split_whitespace().collect::<Vec<_>>().as_slice() {
        [] => String::new(),
        ["exit"] | ["logout"] => return ("logout\r\n".into(), true),
        ["hostname"] => format!("{}\r\n", node.name),
        ["help"] if lb.is_some() => {
            "hostname, ip addr, systemctl status|stop|start keepalived,\r\n\
                     cat /etc/keepalived/maintenance, echo N > /etc/keepalived/maintenance,\r\n\
                     cat /etc/nginx/conf.d/upstream.conf (nginx), exit\r\n"
                .into()
        }
        ["help"] => {
            "hostname, ip addr, exit (a backend: keepalived runs on the balancers)\r\n".into()
        }
        ["ip", "addr"] | ["ip", "a"] | ["ip", "-br", "addr"] => {
            let vip = if lb.is_some() && s.pair.holder == lb {
                format!(" {}/32", node.vip)
            } else {
                String::new()
            };
            format!("lo               UNKNOWN        127.0.0.1/8{vip}\r\n")
        }
        ["systemctl", verb, "keepalived"] | ["systemctl", verb, "keepalived.service"] => match lb {
            None => "Unit keepalived.service could not be found.\r\n".into(),
            Some(l) => match *verb {
                "stop" => {
                    s.pair.stop(l);
                    String::new()
                }
                "start" => {
                    s.pair.start(l);
                    String::new()
                }
                "status" => {
                    let n = &s.pair.nodes[l];
                    if n.running {
                        format!("● keepalived.service - Keepalive Daemon (LVS and VRRP)\r\n     Active: active (running)\r\n     (VI_1) {} priority {}\r\n", n.role.label(), n.priority())
                    } else {
                        "● keepalived.service - Keepalive Daemon (LVS and VRRP)\r\n     Active: inactive (dead)\r\n".into()
                    }
                }
                other => format!("demo: systemctl {other} is not simulated\r\n"),
            },
        },
        ["cat", "/etc/keepalived/maintenance"] => match lb {
            Some(l) => format!("{}\r\n", s.pair.nodes[l].track),
            None => "cat: /etc/keepalived/maintenance: No such file or directory\r\n".into(),
        },
        ["echo", value, ">", "/etc/keepalived/maintenance"] => match (lb, value.parse::<i32>()) {
            (Some(l), Ok(v)) => {
                s.pair.nodes[l].track = v;
                String::new()
            }
            (None, _) => "sh: /etc/keepalived/maintenance: No such file or directory\r\n".into(),
            (_, Err(_)) => "demo: the track file holds an integer\r\n".into(),
        },
        ["cat", _] if lb.is_some() => {
            let (text, _) = lb
                .and_then(|l| super::nginx::run(&mut s, l, super::BACKEND, cmd, b""))
                .unwrap_or_default();
            text.replace('\n', "\r\n")
        }
        _ => format!(
            "demo: {}: command not simulated (try help)\r\n",
            crate::text::clip(cmd, 60)
        ),
    };
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulated_keepalived_writes_the_notify_log_lbdeck_reads() {
        let line = notify_log_line("INSTANCE \"VI_1\" MASTER 100").expect("a log line");
        let (at, ev) =
            crate::wire::keepalived::parse_notify_log_line(&line).expect("lbdeck reads it");
        assert_eq!(
            (ev.group, ev.name.as_str(), ev.role, ev.priority),
            (false, "VI_1", Some(crate::model::Role::Master), Some(100))
        );
        let age = chrono::Utc::now() - at;
        assert!(age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::seconds(5));
        let cmd = crate::sources::vrrp::log_command(NOTIFY_LOG);
        assert!(cmd_is_log(&cmd) && !cmd_is_fifo(&cmd), "{cmd}");
    }

    #[test]
    fn the_shell_shows_a_balancers_upstream_file() {
        let mut sim = Sim::with_addresses(2);
        sim.files[0].insert(
            super::super::nginx::UPSTREAM_FILE.into(),
            "upstream be_web {\n}\n".into(),
        );
        let sim = Arc::new(Mutex::new(sim));
        let node = |lb| NodeInfo {
            name: "lb1".into(),
            lb,
            vip: "127.0.0.100".into(),
        };
        let cat = "cat /etc/nginx/conf.d/upstream.conf";
        assert_eq!(
            run_shell_command(&node(Some(0)), &sim, cat),
            ("upstream be_web {\r\n}\r\n".into(), false)
        );
        assert_eq!(
            run_shell_command(&node(Some(1)), &sim, cat).0,
            "cat: /etc/nginx/conf.d/upstream.conf: No such file or directory\r\n"
        );
        assert!(run_shell_command(&node(None), &sim, cat)
            .0
            .contains("not simulated"));
    }
}
