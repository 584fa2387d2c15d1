//! keepalived roles, followed over SSH. Transitions are pushed: the notify log that
//! `contrib/lbdeck-notify` appends to where the node has one (any number of readers), else
//! the notify FIFO when the profile names one (one reader per line), and `ip -o monitor
//! address` for the VIP in any case. keepalived's
//! dump — JSON where the build has it, else the text dump — is read only slowly, for
//! priorities and to correct anything a stream missed. Which dump a node writes is asked
//! once per node; where neither can be read, roles come from the VIP and the FIFO.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::SourceUpdate;
use crate::config::profile::KeepalivedSettings;
use crate::ssh::{shell_quote, Pool, Ssh, SshError};
use crate::wire::keepalived::{self, DumpInstance, DumpKind, FifoEvent, VrrpTarget};
use crate::wire::{ParseError, SourceError};

/// How often the dump is read while following: keepalived writes it asynchronously
/// and upstream discourages frequent dumps.
pub const DUMP_EVERY: Duration = Duration::from_secs(10);

/// FIFO lines buffered before we started reading are history, not news. They arrive in
/// one burst right after the FIFO opens; the burst is over when the FIFO has been quiet
/// this long (the dump that follows gives the current state).
const BACKLOG_QUIET: Duration = Duration::from_millis(200);

/// While keepalived is down, how often to look for it coming back.
const KEEPALIVED_DOWN_RECHECK: Duration = Duration::from_secs(2);

/// After the VIP moves, when to read the dump to confirm both roles.
const CONFIRM_AFTER_VIP_MOVE: Duration = Duration::from_millis(300);

/// Printed by the remote shell just before it opens the FIFO.
pub(crate) const FIFO_MARKER: &str = "LBDECK-FIFO-OPEN";

/// Printed by the remote shell once it knows where the notify log ends: every line
/// after it is news.
pub(crate) const LOG_MARKER: &str = "LBDECK-LOG-OPEN";

/// How often `tail` looks whether keepalived still runs: a killed keepalived writes no
/// last line, so the stream's end is what says it is gone.
const LOG_PID_CHECK: &str = "0.2";

/// What the VRRP follower learned.
#[derive(Debug, Clone, PartialEq)]
pub enum VrrpSample {
    /// Following started: how transitions reach us ("notify FIFO …", "ip monitor"),
    /// with the dump that is read, and which dump that is.
    Following {
        /// In the operator's words, the dump first ("text dump, notify FIFO
        /// /run/keepalived.fifo").
        method: String,
        /// The dump read on this node.
        dump: DumpKind,
    },
    /// A transition keepalived notified (a notify-FIFO or notify-log line).
    Fifo(FifoEvent),
    /// Whether the VIP is on this node (initial check or an `ip monitor` change).
    Vip(bool),
    /// The instance from the dump; None when keepalived is not running.
    Dump(Option<DumpInstance>),
    /// keepalived runs on a node where no dump can be read.
    Running,
}

impl VrrpTarget {
    fn update(&self, result: Result<VrrpSample, SourceError>) -> SourceUpdate {
        self.update_at(result, Instant::now())
    }

    /// An update that happened at `at` (a node's own stamp), not when it was read.
    fn update_at(&self, result: Result<VrrpSample, SourceError>, at: Instant) -> SourceUpdate {
        SourceUpdate::Vrrp {
            index: self.index,
            at,
            result,
        }
    }

    /// The dump command for this node (see [`dump_command`]).
    fn dump_command(&self, kind: DumpKind) -> String {
        dump_command(&self.keepalived, kind)
    }

    /// Which dump this node's keepalived writes, and the first reading of it. A dump
    /// the build offers that still cannot be read (its file elsewhere, unreadable) leaves
    /// the VIP and the FIFO, and says why.
    async fn detect(
        &self,
        conn: &Ssh,
        pool: &Pool,
    ) -> Result<(DumpKind, Option<String>, VrrpSample), SourceError> {
        let probe = conn
            .exec(&pool.privileged(keepalived::DUMP_PROBE), pool.timeout())
            .await?
            .ok("keepalived dump probe")?;
        let kind = keepalived::parse_dump_probe(&probe)?;
        match self.read(conn, pool, kind).await {
            Ok(first) => Ok((kind, None, first)),
            Err(e @ (SourceError::Parse(_) | SourceError::Ssh(SshError::Command { .. }))) => {
                let why = format!("{}: {e}", kind.label());
                let first = self.read(conn, pool, DumpKind::IpAddrOnly).await?;
                Ok((DumpKind::IpAddrOnly, Some(why), first))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads keepalived's state by `kind`, retrying once a dump caught half-written.
    async fn read(
        &self,
        conn: &Ssh,
        pool: &Pool,
        kind: DumpKind,
    ) -> Result<VrrpSample, SourceError> {
        let what = format!("keepalived {}", kind.label());
        let mut retried = false;
        loop {
            let out = conn
                .exec(
                    &pool.privileged(&self.dump_command(kind)),
                    pool.timeout() * 2,
                )
                .await?
                .ok(&what)?;
            let parsed = match out.trim() {
                "KEEPALIVED-DOWN" => return Ok(VrrpSample::Dump(None)),
                "KEEPALIVED-UP" if kind == DumpKind::IpAddrOnly => return Ok(VrrpSample::Running),
                _ if kind == DumpKind::Json => keepalived::parse_dump(&out),
                _ => keepalived::parse_data(&out),
            };
            match parsed {
                Ok(all) => {
                    return all
                        .into_iter()
                        .find(|i| i.name == self.keepalived.instance)
                        .map(|i| VrrpSample::Dump(Some(i)))
                        .ok_or_else(|| SourceError::NoInstance(self.keepalived.instance.clone()))
                }
                Err(e) if retried => return Err(e.into()),
                Err(_) => retried = true,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether the VIP is on this node now (None without a VIP in the profile).
    pub async fn vip_present(&self, conn: &Ssh, pool: &Pool) -> Result<Option<bool>, SourceError> {
        let Some(vip) = &self.vip else {
            return Ok(None);
        };
        let out = conn
            .exec("ip -j -4 addr show", pool.timeout())
            .await?
            .ok("ip addr")?;
        Ok(Some(keepalived::vip_in_addr_json(&out, vip)?))
    }

    /// Which stream pushes this node's transitions: the notify log where it is readable
    /// (as the operator, no sudo), else the FIFO where the profile names one and it
    /// exists.
    async fn pushed(&self, conn: &Ssh, pool: &Pool) -> Result<Pushed, SourceError> {
        if let Some(p) = self.keepalived.notify_log() {
            let check = conn.exec(&log_check(p), pool.timeout()).await?;
            if check.status == Some(0) {
                return Ok(Pushed::Log(p.to_string()));
            }
        }
        if let Some(p) = &self.keepalived.notify_fifo {
            let check = conn
                .exec(&pool.privileged(&fifo_check(p)), pool.timeout())
                .await?;
            if check.status == Some(0) {
                return Ok(Pushed::Fifo(p.clone()));
            }
        }
        Ok(Pushed::Nothing)
    }

    /// One look (for `lbdeck status`): VIP presence and the dump.
    pub async fn once(&self, pool: &Pool) -> Vec<SourceUpdate> {
        let conn = match pool.get(&self.addr).await {
            Ok(c) => c,
            Err(e) => return vec![self.update(Err(e.into()))],
        };
        let (kind, why, first) = match self.detect(&conn, pool).await {
            Ok(d) => d,
            Err(e) => return vec![self.update(Err(e))],
        };
        let method = match (kind, why) {
            (DumpKind::IpAddrOnly, Some(why)) => format!("ip addr only, one look ({why})"),
            (DumpKind::IpAddrOnly, None) => "ip addr only, one look".to_string(),
            (k, _) => format!("{} and ip addr, one look", k.label()),
        };
        let mut out = vec![self.update(Ok(VrrpSample::Following { method, dump: kind }))];
        match self.vip_present(&conn, pool).await {
            Ok(Some(p)) => out.push(self.update(Ok(VrrpSample::Vip(p)))),
            Ok(None) => {}
            Err(e) => out.push(self.update(Err(e))),
        }
        out.push(self.update(Ok(first)));
        out
    }

    /// Follows this node until the receiver goes away, reconnecting as needed.
    pub async fn follow(self, pool: Arc<Pool>, tx: mpsc::Sender<SourceUpdate>) {
        let mut dump = None;
        loop {
            match self.follow_once(&pool, &tx, &mut dump).await {
                Ok(Followed::AppGone) => return,
                Ok(Followed::Again) => {}
                Err(e) => {
                    if tx.send(self.update(Err(e))).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Follows until the connection or a stream ends (Err), the app is gone, or
    /// keepalived came back and its FIFO is to be opened again. `dump` keeps which dump
    /// the node writes (and why not the one its build offers) from the first follow on.
    async fn follow_once(
        &self,
        pool: &Pool,
        tx: &mpsc::Sender<SourceUpdate>,
        dump: &mut Option<(DumpKind, Option<String>)>,
    ) -> Result<Followed, SourceError> {
        let conn = pool.get(&self.addr).await?;
        let pushed = self.pushed(&conn, pool).await?;
        let mut fifo = match &pushed {
            Pushed::Log(p) => Some(conn.stream_lines(&log_command(p)).await?),
            Pushed::Fifo(p) => Some(
                conn.stream_lines(&pool.privileged(&fifo_command(p)))
                    .await?,
            ),
            Pushed::Nothing => None,
        };
        let mut monitor = match &self.vip {
            // Stamped by the node in UTC, so the VIP's comings and goings carry their own
            // time (an `ip` without -ts prints unstamped lines, read all the same).
            Some(_) => Some(
                conn.stream_lines("TZ=UTC0 exec ip -ts -o monitor address")
                    .await?,
            ),
            None => None,
        };
        if let Some(f) = fifo.as_mut() {
            let (marker, unopened) = match pushed {
                Pushed::Log(_) => (LOG_MARKER, SourceError::NotifyLogUnopened as fn(_) -> _),
                _ => (FIFO_MARKER, SourceError::FifoUnopened as fn(_) -> _),
            };
            let seen = tokio::time::timeout(pool.timeout(), async {
                while let Some(l) = f.recv().await {
                    if l == marker {
                        return true;
                    }
                }
                false
            });
            if !matches!(seen.await, Ok(true)) {
                return Err(unopened(self.addr.alias.clone()));
            }
            // The FIFO hands over what it buffered before we opened it in one burst; the
            // log is read from its end on.
            if matches!(pushed, Pushed::Fifo(_)) {
                while let Ok(Some(_)) = tokio::time::timeout(BACKLOG_QUIET, f.recv()).await {}
            }
        }
        // Read after the FIFO opened: a transition since is in the FIFO, one before in
        // this first reading.
        let (kind, first) = match dump.clone() {
            Some((kind, _)) => (kind, self.read(&conn, pool, kind).await),
            None => {
                let (kind, why, first) = self.detect(&conn, pool).await?;
                *dump = Some((kind, why));
                (kind, Ok(first))
            }
        };
        let why = dump.as_ref().and_then(|(_, why)| why.clone());
        let transitions = match (&pushed, &self.keepalived.notify_fifo) {
            (Pushed::Log(p), _) => format!("notify log {p}"),
            (Pushed::Fifo(p), _) => format!("notify FIFO {p}"),
            (Pushed::Nothing, Some(p)) => format!("ip monitor (no FIFO at {p})"),
            (Pushed::Nothing, None) => "ip monitor".to_string(),
        };
        // The dump first: a narrow column cuts the end.
        let method = match why {
            Some(why) => format!("{}, {transitions} ({why})", kind.label()),
            None => format!("{}, {transitions}", kind.label()),
        };
        // Method, VIP and roles sent together: the console's first frame that knows
        // anything of keepalived here shows the role too.
        let vip = self.vip_present(&conn, pool).await?;
        let send = |r: Result<VrrpSample, SourceError>| tx.send(self.update(r));
        if send(Ok(VrrpSample::Following { method, dump: kind }))
            .await
            .is_err()
        {
            return Ok(Followed::AppGone);
        }
        if let Some(p) = vip {
            if send(Ok(VrrpSample::Vip(p))).await.is_err() {
                return Ok(Followed::AppGone);
            }
        }
        if send(first).await.is_err() {
            return Ok(Followed::AppGone);
        }
        let mut tick = tokio::time::interval(DUMP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tick.tick().await;
        loop {
            let mut at = None;
            let sample = tokio::select! {
                line = recv(&mut fifo) => match line {
                    Some(l) => match pushed.parse(&l, &mut at) {
                        Ok(ev) if ev.name == self.keepalived.instance && !ev.group => Ok(VrrpSample::Fifo(ev)),
                        Ok(_) => continue,
                        Err(e) => Err(e.into()),
                    },
                    // keepalived closed the FIFO, or the log's reader saw it gone: it
                    // stopped. Say so now; the stream is opened again once a dump finds
                    // keepalived running again.
                    None => {
                        fifo = None;
                        tick.reset_after(KEEPALIVED_DOWN_RECHECK);
                        self.read(&conn, pool, kind).await
                    }
                },
                line = recv(&mut monitor) => match line {
                    Some(l) => match stamped(&l, &mut at) {
                        Some(ch) if Some(&ch.address) == self.vip.as_ref() => {
                            // Confirm the roles soon: a FIFO line may have gone to another
                            // reader (only one reader gets each line).
                            tick.reset_after(CONFIRM_AFTER_VIP_MOVE);
                            Ok(VrrpSample::Vip(ch.added))
                        }
                        _ => continue,
                    },
                    None => return Err(SourceError::StreamEnded { node: self.addr.alias.clone(), stream: "ip monitor" }),
                },
                _ = tick.tick() => {
                    let state = self.read(&conn, pool, kind).await;
                    if fifo.is_none() && !matches!(pushed, Pushed::Nothing) {
                        if matches!(state, Ok(VrrpSample::Dump(Some(_)) | VrrpSample::Running)) {
                            return Ok(Followed::Again);
                        }
                        tick.reset_after(KEEPALIVED_DOWN_RECHECK);
                    }
                    state
                }
            };
            let at = at.unwrap_or_else(Instant::now);
            if tx.send(self.update_at(sample, at)).await.is_err() {
                return Ok(Followed::AppGone);
            }
        }
    }
}

/// An `ip monitor` line's address change; a stamped line also sets `at` to the moment the
/// node stamped it.
fn stamped(line: &str, at: &mut Option<Instant>) -> Option<keepalived::AddrChange> {
    match keepalived::parse_stamped_monitor_line(line) {
        Some((when, change)) => {
            *at = instant_of(when);
            Some(change)
        }
        None => keepalived::parse_monitor_line(line),
    }
}

/// The moment a node stamped, on this machine's clock (now, for a stamp from its future).
fn instant_of(when: chrono::DateTime<chrono::Utc>) -> Option<Instant> {
    let ago = (chrono::Utc::now() - when).to_std().unwrap_or_default();
    Instant::now().checked_sub(ago)
}

/// Where a node's transitions are pushed from, as found when following starts.
enum Pushed {
    /// The notify log at this path (any number of readers).
    Log(String),
    /// The notify FIFO at this path (one reader per line).
    Fifo(String),
    /// Neither: the VIP and the dump alone.
    Nothing,
}

impl Pushed {
    /// One line of the stream; a notify-log line also sets `at` to when the node wrote it.
    fn parse(&self, line: &str, at: &mut Option<Instant>) -> Result<FifoEvent, ParseError> {
        match self {
            Pushed::Log(_) => {
                let (when, ev) = keepalived::parse_notify_log_line(line)?;
                *at = instant_of(when);
                Ok(ev)
            }
            _ => keepalived::parse_fifo_line(line),
        }
    }
}

/// How one follow of a node ended without an error.
enum Followed {
    /// The console is gone.
    AppGone,
    /// keepalived is running again: open its FIFO anew.
    Again,
}

/// Next line of an optional stream; pending forever when there is none.
async fn recv(rx: &mut Option<mpsc::Receiver<String>>) -> Option<String> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// The dump command: signal keepalived, wait for a complete file, print it. Prints
/// `KEEPALIVED-DOWN` when keepalived is not running; with no dump to read, only
/// whether it runs (`KEEPALIVED-UP`).
pub(crate) fn dump_command(keepalived: &KeepalivedSettings, kind: DumpKind) -> String {
    let running = "pid=$(cat /run/keepalived.pid 2>/dev/null); \
         if [ -z \"$pid\" ] || ! kill -0 \"$pid\" 2>/dev/null; then echo KEEPALIVED-DOWN; exit 0; fi";
    let (Some(signal), Some(file)) = (kind.signal(), dump_file(keepalived, kind)) else {
        return format!("{running}; echo KEEPALIVED-UP");
    };
    let dump = shell_quote(file);
    format!(
        "{running}; \
         rm -f {dump}; kill -s {signal} \"$pid\" || exit 1; \
         for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 0.05; [ -s {dump} ] && break; done; \
         sleep 0.05; cat {dump}"
    )
}

/// Where keepalived writes the dump of that kind.
fn dump_file(keepalived: &KeepalivedSettings, kind: DumpKind) -> Option<&str> {
    match kind {
        DumpKind::Json => Some(&keepalived.json_dump),
        DumpKind::Text { .. } => Some(&keepalived.text_dump),
        DumpKind::IpAddrOnly => None,
    }
}

/// Whether the notify FIFO exists (a missing one leaves the dump alone to follow).
pub(crate) fn fifo_check(path: &str) -> String {
    format!("test -p {}", shell_quote(path))
}

/// Reads the notify FIFO, after a marker saying it is open.
pub(crate) fn fifo_command(path: &str) -> String {
    format!("echo {FIFO_MARKER}; exec cat {}", shell_quote(path))
}

/// Whether the notify log is there for the operator to read.
pub(crate) fn log_check(path: &str) -> String {
    let f = shell_quote(path);
    format!("test -f {f} && test -r {f}")
}

/// Follows the notify log from where it ends when the marker is printed (a line written
/// between the marker and `tail` opening the file is not lost), across rotation, and ends
/// when keepalived does (GNU tail's `--pid`; elsewhere it follows on, and the slow dump
/// says keepalived is gone). tail's notes on a rotated file would read as bad lines.
pub(crate) fn log_command(path: &str) -> String {
    let f = shell_quote(path);
    format!(
        "n=$(wc -c < {f}) || exit 1; p=$(cat /run/keepalived.pid 2>/dev/null); \
         tail --pid=$$ -n 0 /dev/null 2>/dev/null || p=; echo {LOG_MARKER}; \
         exec tail -c +$((n + 1)) -F -s {LOG_PID_CHECK} ${{p:+--pid=$p}} {f} 2>/dev/null"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::NodeAddr;

    fn target() -> VrrpTarget {
        VrrpTarget {
            index: 0,
            addr: NodeAddr {
                alias: "lb1".into(),
                hostname: "10.77.0.11".into(),
                port: 22,
                user: "root".into(),
                identity_files: Vec::new(),
                identities_only: false,
                jumps: Vec::new(),
            },
            keepalived: toml::from_str("").expect("keepalived defaults"),
            vip: None,
        }
    }

    /// The notify-log reader, run by a local shell on a file holding two lines already:
    /// the marker first, then exactly the line appended after it, whole.
    #[test]
    fn the_notify_log_is_followed_from_its_end_at_the_marker() {
        use std::io::{BufRead, Write};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("vrrp.jsonl");
        let old = include_str!("../../tests/fixtures/keepalived/notify_log_lb1.jsonl");
        std::fs::write(
            &path,
            old.lines()
                .take(2)
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        )
        .expect("write");
        let path = path.display().to_string();
        assert!(std::process::Command::new("sh")
            .args(["-c", &log_check(&path)])
            .status()
            .is_ok_and(|s| s.success()));
        let mut child = std::process::Command::new("sh")
            .args(["-c", &log_command(&path)])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let next = || rx.recv_timeout(Duration::from_secs(5));
        assert_eq!(next().as_deref(), Ok(LOG_MARKER));
        let new = old.lines().nth(2).expect("a third line");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        writeln!(f, "{new}").expect("append");
        let got = next();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(got.as_deref(), Ok(new));
    }

    #[test]
    fn each_dump_is_asked_for_by_its_signal_and_read_from_its_file() {
        let t = target();
        let json = t.dump_command(DumpKind::Json);
        assert!(
            json.contains("kill -s $(keepalived --signum=JSON) \"$pid\"")
                && json.ends_with("cat /tmp/keepalived.json"),
            "{json}"
        );
        let text = t.dump_command(DumpKind::Text { signum: true });
        assert!(
            text.contains("kill -s $(keepalived --signum=DATA) \"$pid\"")
                && text.ends_with("cat /tmp/keepalived.data"),
            "{text}"
        );
        // keepalived before --signum: SIGUSR1 is its data dump.
        let old = t.dump_command(DumpKind::Text { signum: false });
        assert!(old.contains("kill -s USR1 \"$pid\""), "{old}");
        let none = t.dump_command(DumpKind::IpAddrOnly);
        assert!(
            !none.contains("kill -s") && none.ends_with("echo KEEPALIVED-UP"),
            "{none}"
        );
        for cmd in [json, text, old, none] {
            assert!(cmd.contains("echo KEEPALIVED-DOWN"), "{cmd}");
        }
    }
}
