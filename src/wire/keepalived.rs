//! keepalived, read from the node itself: pushed transitions (notify FIFO lines, and the
//! notify log's JSON lines that `contrib/lbdeck-notify` appends), the JSON dump or, on builds without JSON, the text dump (priorities; written
//! asynchronously, so a half-written file is an error, never a value), and the
//! zero-cooperation signals — `ip -o monitor address` lines and `ip -j addr` — for whether
//! the VIP is on the node.

mod text;

use serde::{Deserialize, Serialize};

pub use text::parse_data;

use super::ParseError;
use crate::config::profile::KeepalivedSettings;
use crate::ssh::NodeAddr;
use crate::state::Role;

/// keepalived's word for a state (the notify FIFO).
fn role_from_word(w: &str) -> Option<Role> {
    Some(match w {
        "INIT" => Role::Init,
        "BACKUP" => Role::Backup,
        "MASTER" => Role::Master,
        "FAULT" => Role::Fault,
        "STOP" => Role::Stop,
        "DELETED" => Role::Deleted,
        _ => return None,
    })
}

/// keepalived's numeric state in the JSON dump.
pub(crate) fn role_from_number(n: i64) -> Option<Role> {
    Some(match n {
        0 => Role::Init,
        1 => Role::Backup,
        2 => Role::Master,
        3 => Role::Fault,
        97 => Role::Deleted,
        98 => Role::Stop,
        _ => return None,
    })
}

/// One transition keepalived notified: a notify-FIFO line (`INSTANCE "VI_1" MASTER 150`)
/// or a notify-log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FifoEvent {
    /// INSTANCE or GROUP.
    pub group: bool,
    /// The instance (or group) name.
    pub name: String,
    /// The new state; None for priority-only notifications.
    pub role: Option<Role>,
    /// The effective priority at the time.
    pub priority: Option<u16>,
}

/// Parses a notify-FIFO line. Priority-change notifications (MASTER_PRIORITY…) carry a
/// priority and no state.
pub fn parse_fifo_line(line: &str) -> Result<FifoEvent, ParseError> {
    let bad = || ParseError::expected("notify FIFO", "TYPE \"NAME\" STATE PRIORITY", line);
    let line = line.trim();
    let (kind, rest) = line.split_once(' ').ok_or_else(bad)?;
    let group = match kind {
        "INSTANCE" => false,
        "GROUP" => true,
        _ => return Err(bad()),
    };
    let rest = rest.trim_start().strip_prefix('"').ok_or_else(bad)?;
    let (name, rest) = rest.split_once('"').ok_or_else(bad)?;
    let mut words = rest.split_whitespace();
    let role = words.next().and_then(notified_state).ok_or_else(bad)?;
    let priority = match words.next() {
        Some(p) => Some(p.parse().map_err(|_| bad())?),
        None => None,
    };
    Ok(FifoEvent {
        group,
        name: name.to_string(),
        role,
        priority,
    })
}

/// A state word keepalived notifies: Some(role), or Some(None) for a priority-only
/// notification (MASTER_PRIORITY…); None for a word it never sends.
fn notified_state(word: &str) -> Option<Option<Role>> {
    match role_from_word(word) {
        Some(role) => Some(Some(role)),
        None => matches!(
            word,
            "MASTER_PRIORITY" | "BACKUP_PRIORITY" | "MASTER_RX_LOWER_PRI"
        )
        .then_some(None),
    }
}

/// Where `contrib/lbdeck-notify` appends by default, and so where lbdeck looks when the
/// profile names no notify log.
pub const DEFAULT_NOTIFY_LOG: &str = "/run/lbdeck/vrrp.jsonl";

#[derive(Deserialize)]
struct RawNotice {
    time: f64,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    state: String,
    #[serde(default)]
    priority: Option<u16>,
}

/// Parses one notify-log line, as `contrib/lbdeck-notify` writes it:
/// `{"time":1764209000.123456789,"type":"INSTANCE","name":"VI_1","state":"MASTER",
/// "priority":150}`; returns the transition and when the node wrote it.
pub fn parse_notify_log_line(
    line: &str,
) -> Result<(chrono::DateTime<chrono::Utc>, FifoEvent), ParseError> {
    const WHAT: &str = "notify log";
    let raw: RawNotice = serde_json::from_str(line.trim()).map_err(|e| ParseError::Json {
        what: WHAT,
        detail: e.to_string(),
    })?;
    let invalid = |message: String| ParseError::Invalid {
        what: WHAT,
        message,
    };
    let group = match raw.kind.as_str() {
        "INSTANCE" => false,
        "GROUP" => true,
        other => return Err(invalid(format!("type {other:?}, not INSTANCE or GROUP"))),
    };
    let role = notified_state(&raw.state)
        .ok_or_else(|| invalid(format!("unknown state {:?}", raw.state)))?;
    let at = (raw.time.is_finite() && raw.time >= 0.0)
        .then(|| {
            let micros = (raw.time * 1e6).round() as i64;
            chrono::DateTime::from_timestamp_micros(micros)
        })
        .flatten()
        .ok_or_else(|| invalid(format!("time {} is no Unix time", raw.time)))?;
    Ok((
        at,
        FifoEvent {
            group,
            name: raw.name,
            role,
            priority: raw.priority,
        },
    ))
}

/// One instance from keepalived's JSON or text dump.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DumpInstance {
    /// Instance name.
    pub name: String,
    /// Virtual router id.
    pub vrid: u8,
    /// Current state.
    pub role: Role,
    /// The state keepalived is heading for (differs from `role` mid-transition).
    pub wantstate: Option<Role>,
    /// Configured priority.
    pub base_priority: u16,
    /// Priority after tracking adjustments.
    pub effective_priority: u16,
    /// `nopreempt` set.
    pub nopreempt: bool,
    /// Unix time of the last state change.
    pub last_transition: f64,
    /// The virtual addresses, as keepalived prints them (`10.0.0.100/24 dev eth0 …`).
    pub vips: Vec<String>,
    /// Times it became MASTER (the JSON dump only: the text dump has no counters).
    pub become_master: Option<u64>,
    /// Times it left MASTER (the JSON dump only).
    pub release_master: Option<u64>,
}

#[derive(Deserialize)]
struct RawEntry {
    data: RawData,
    #[serde(default)]
    stats: RawStats,
}

#[derive(Deserialize)]
struct RawData {
    iname: String,
    vrid: u8,
    state: i64,
    #[serde(default)]
    wantstate: Option<i64>,
    base_priority: u16,
    effective_priority: u16,
    #[serde(default)]
    nopreempt: serde_json::Value,
    #[serde(default)]
    last_transition: f64,
    #[serde(default)]
    vips: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RawStats {
    #[serde(default)]
    become_master: u64,
    #[serde(default)]
    release_master: u64,
}

/// Parses `keepalived.json`. A truncated (half-written) file is an error.
pub fn parse_dump(text: &str) -> Result<Vec<DumpInstance>, ParseError> {
    let raw: Vec<RawEntry> = serde_json::from_str(text).map_err(|e| ParseError::HalfWritten {
        what: "keepalived JSON dump",
        detail: e.to_string(),
    })?;
    raw.into_iter()
        .map(|e| {
            let role =
                role_from_number(e.data.state).ok_or(ParseError::UnknownState(e.data.state))?;
            Ok(DumpInstance {
                name: e.data.iname,
                vrid: e.data.vrid,
                role,
                wantstate: e.data.wantstate.and_then(role_from_number),
                base_priority: e.data.base_priority,
                effective_priority: e.data.effective_priority,
                nopreempt: matches!(e.data.nopreempt, serde_json::Value::Bool(true))
                    || e.data.nopreempt.as_i64().is_some_and(|n| n != 0),
                last_transition: e.data.last_transition,
                vips: e.data.vips,
                become_master: Some(e.stats.become_master),
                release_master: Some(e.stats.release_master),
            })
        })
        .collect()
}

/// Which of keepalived's dumps a node's build writes, found once per node. Serialized
/// as its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// `keepalived --signum=JSON` answers: the JSON dump.
    Json,
    /// A build without JSON: the text dump, by `--signum=DATA` or, where keepalived has
    /// no `--signum` (before 1.3.8), by SIGUSR1 directly.
    Text {
        /// Whether the build has `--signum`.
        signum: bool,
    },
    /// Neither dump can be read: roles come from the VIP on the interface and the FIFO.
    IpAddrOnly,
}

impl Serialize for DumpKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl DumpKind {
    /// The operator's words for it, as the balancer pane shows them.
    pub fn label(self) -> &'static str {
        match self {
            DumpKind::Json => "JSON dump",
            DumpKind::Text { .. } => "text dump",
            DumpKind::IpAddrOnly => "ip addr only",
        }
    }

    /// The signal that makes keepalived write this dump, as a shell word; None for
    /// [`DumpKind::IpAddrOnly`].
    pub fn signal(self) -> Option<&'static str> {
        match self {
            DumpKind::Json => Some("$(keepalived --signum=JSON)"),
            DumpKind::Text { signum: true } => Some("$(keepalived --signum=DATA)"),
            DumpKind::Text { signum: false } => Some("USR1"),
            DumpKind::IpAddrOnly => None,
        }
    }
}

/// Asks a node which dump its keepalived writes: prints `JSON`, `DATA` (text dump by
/// `--signum`), `USR1` (a keepalived without `--signum`) or `NONE` (no keepalived on the
/// PATH). A build without JSON answers `--signum=JSON` with `Unknown sigfunc JSON` and
/// exit 1; one without `--signum` prints no number at all.
pub const DUMP_PROBE: &str =
    "for s in JSON DATA; do case $(keepalived --signum=$s 2>/dev/null) in \
     ''|*[!0-9]*) ;; *) echo $s; exit 0;; esac; done; \
     if command -v keepalived >/dev/null 2>&1; then echo USR1; else echo NONE; fi";

/// Reads [`DUMP_PROBE`]'s answer.
pub fn parse_dump_probe(text: &str) -> Result<DumpKind, ParseError> {
    Ok(match text.trim() {
        "JSON" => DumpKind::Json,
        "DATA" => DumpKind::Text { signum: true },
        "USR1" => DumpKind::Text { signum: false },
        "NONE" => DumpKind::IpAddrOnly,
        other => {
            return Err(ParseError::expected(
                "keepalived dump probe",
                "JSON, DATA, USR1 or NONE",
                other,
            ))
        }
    })
}

/// An address appearing on or leaving an interface (`ip -o monitor address`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddrChange {
    /// Added (true) or deleted.
    pub added: bool,
    /// Interface.
    pub ifname: String,
    /// The address without its prefix length.
    pub address: String,
}

/// Parses one `ip -o monitor address` line; None for lines about other things.
pub fn parse_monitor_line(line: &str) -> Option<AddrChange> {
    let (added, rest) = match line.strip_prefix("Deleted ") {
        Some(r) => (false, r),
        None => (true, line),
    };
    let mut words = rest.split_whitespace();
    let _index = words.next().filter(|w| w.ends_with(':'))?;
    let ifname = words.next()?.to_string();
    let family = words.next()?;
    if family != "inet" && family != "inet6" {
        return None;
    }
    let cidr = words.next()?;
    let address = cidr.split('/').next()?.to_string();
    Some(AddrChange {
        added,
        ifname,
        address,
    })
}

/// Parses one `ip -ts -o monitor address` line, run with `TZ=UTC0` so its stamp is UTC:
/// `[2026-11-26T17:42:46.289392] 1: lo    inet 10.99.0.1/32 …`. None for other lines.
pub fn parse_stamped_monitor_line(
    line: &str,
) -> Option<(chrono::DateTime<chrono::Utc>, AddrChange)> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (stamp, rest) = rest.split_once(']')?;
    let at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some((at.and_utc(), parse_monitor_line(rest.trim_start())?))
}

/// Whether `vip` is among the addresses in `ip -j addr show` output.
pub fn vip_in_addr_json(text: &str, vip: &str) -> Result<bool, ParseError> {
    #[derive(Deserialize)]
    struct Link {
        #[serde(default)]
        addr_info: Vec<AddrInfo>,
    }
    #[derive(Deserialize)]
    struct AddrInfo {
        #[serde(default)]
        local: String,
    }
    let links: Vec<Link> = serde_json::from_str(text).map_err(|e| ParseError::Json {
        what: "ip -j addr",
        detail: e.to_string(),
    })?;
    Ok(links
        .iter()
        .flat_map(|l| &l.addr_info)
        .any(|a| a.local == vip))
}

/// Where and how to reach one balancer's keepalived (followed by `sources::vrrp`, driven by `ops::failover`).
#[derive(Debug, Clone)]
pub struct VrrpTarget {
    /// Balancer index (profile order).
    pub index: usize,
    /// SSH address.
    pub addr: NodeAddr,
    /// The profile's keepalived block.
    pub keepalived: KeepalivedSettings,
    /// The VIP address, when the profile has one.
    pub vip: Option<String>,
}

/// The keepalived followers a profile asks for, with SSH addresses resolved through the
/// run's `resolver` (its `~/.ssh/config`, read once).
pub fn targets(
    profile: &crate::config::profile::Profile,
    resolver: &crate::ssh::Resolver,
) -> Vec<VrrpTarget> {
    profile
        .balancers()
        .enumerate()
        .filter_map(|(index, b)| {
            b.keepalived.as_ref().map(|k| VrrpTarget {
                index,
                addr: resolver.resolve(&b.host),
                keepalived: k.clone(),
                vip: profile.vip.as_ref().map(|v| v.address.clone()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lb1's roles and priorities through a track-file failover (-100) and back.
    const FAILOVER_AND_BACK: [(Option<Role>, Option<u16>); 4] = [
        (Some(Role::Backup), Some(150)),
        (Some(Role::Master), Some(150)),
        (Some(Role::Backup), Some(50)),
        (Some(Role::Master), Some(150)),
    ];

    #[test]
    fn fifo_lines_captured_during_a_track_file_failover() {
        let lines: Vec<FifoEvent> =
            include_str!("../../tests/fixtures/keepalived/fifo_failover_lb1.txt")
                .lines()
                .map(|l| parse_fifo_line(l).expect("parses"))
                .collect();
        let seen: Vec<(Option<Role>, Option<u16>)> =
            lines.iter().map(|e| (e.role, e.priority)).collect();
        assert_eq!(seen, FAILOVER_AND_BACK);
        assert!(lines.iter().all(|e| e.name == "VI_1" && !e.group));
    }

    #[test]
    fn fifo_variants_and_garbage() {
        let e = parse_fifo_line("GROUP \"G 1\" FAULT 0").expect("group");
        assert!(e.group);
        assert_eq!(e.name, "G 1");
        assert_eq!(e.role, Some(Role::Fault));
        let e = parse_fifo_line("INSTANCE \"VI_1\" MASTER_PRIORITY 120").expect("priority change");
        assert_eq!((e.role, e.priority), (None, Some(120)));
        assert_eq!(
            parse_fifo_line("INSTANCE \"VI_1\" STOP")
                .expect("stop")
                .role,
            Some(Role::Stop)
        );
        for bad in [
            "",
            "hello",
            "INSTANCE VI_1 MASTER 1",
            "INSTANCE \"VI_1\" SLEEPING 3",
            "INSTANCE \"VI_1\" MASTER x",
        ] {
            assert!(parse_fifo_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn notify_log_lines_written_by_the_script_in_the_lab() {
        // lb1 through a track-file failover and back, then keepalived stopped and started.
        let lines: Vec<(chrono::DateTime<chrono::Utc>, FifoEvent)> =
            include_str!("../../tests/fixtures/keepalived/notify_log_lb1.jsonl")
                .lines()
                .map(|l| parse_notify_log_line(l).expect("parses"))
                .collect();
        let seen: Vec<(Option<Role>, Option<u16>)> =
            lines.iter().map(|(_, e)| (e.role, e.priority)).collect();
        assert_eq!(seen[..4], FAILOVER_AND_BACK);
        assert_eq!(
            seen[4..],
            [
                (Some(Role::Stop), Some(150)),
                (Some(Role::Backup), Some(150)),
                (Some(Role::Master), Some(150)),
            ]
        );
        assert!(lines.iter().all(|(_, e)| e.name == "VI_1" && !e.group));
        assert!(lines.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
        // Sub-second: the first line was written at .265496309.
        assert_eq!(lines[0].0.timestamp_subsec_micros(), 265_496);
    }

    #[test]
    fn notify_log_variants_and_garbage() {
        let (_, e) = parse_notify_log_line(
            r#"{"time":1795745827,"type":"GROUP","name":"G \"1\"","state":"FAULT","priority":null}"#,
        )
        .expect("a group without priority");
        assert_eq!(
            (e.group, e.name.as_str(), e.role, e.priority),
            (true, "G \"1\"", Some(Role::Fault), None)
        );
        let (_, e) = parse_notify_log_line(
            r#"{"time":1.5,"type":"INSTANCE","name":"VI_1","state":"MASTER_PRIORITY","priority":120,"host":"lb1"}"#,
        )
        .expect("a priority change, a field lbdeck does not read");
        assert_eq!((e.role, e.priority), (None, Some(120)));
        for bad in [
            "",
            "tail: '/run/lbdeck/vrrp.jsonl' has been replaced; following new file",
            r#"{"time":1,"type":"VRRP","name":"VI_1","state":"MASTER","priority":1}"#,
            r#"{"time":1,"type":"INSTANCE","name":"VI_1","state":"SLEEPING","priority":1}"#,
            r#"{"time":-1,"type":"INSTANCE","name":"VI_1","state":"MASTER","priority":1}"#,
            r#"{"type":"INSTANCE","name":"VI_1","state":"MASTER","priority":1}"#,
            r#"{"time":1,"type":"INSTANCE","name":"VI_1","state":"MASTER","priority":1"#,
        ] {
            assert!(parse_notify_log_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_dump_of_master_and_backup() {
        let m = parse_dump(include_str!(
            "../../tests/fixtures/keepalived/dump_master.json"
        ))
        .expect("master");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "VI_1");
        assert_eq!(m[0].role, Role::Master);
        assert_eq!((m[0].base_priority, m[0].effective_priority), (150, 150));
        assert!(!m[0].nopreempt);
        assert_eq!(m[0].vips, vec!["10.77.0.100/24 dev eth0 scope global set"]);
        assert!(m[0].last_transition > 1.7e9);
        let b = parse_dump(include_str!(
            "../../tests/fixtures/keepalived/dump_backup.json"
        ))
        .expect("backup");
        assert_eq!(b[0].role, Role::Backup);
        assert_eq!(b[0].base_priority, 100);
    }

    #[test]
    fn a_half_written_dump_is_an_error_not_a_value() {
        let full = include_str!("../../tests/fixtures/keepalived/dump_master.json");
        for cut in [1, full.len() / 3, full.len() / 2, full.len() - 3] {
            let err = parse_dump(&full[..cut]).expect_err("truncated");
            assert!(err.to_string().contains("half-written"), "{err}");
        }
    }

    #[test]
    fn the_dump_probe_names_the_dump_and_its_signal() {
        let kinds: Vec<(DumpKind, Option<&str>, &str)> = ["JSON\n", "DATA\n", "USR1", "NONE\n"]
            .iter()
            .map(|a| parse_dump_probe(a).expect("an answer"))
            .map(|k| (k, k.signal(), k.label()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    DumpKind::Json,
                    Some("$(keepalived --signum=JSON)"),
                    "JSON dump"
                ),
                (
                    DumpKind::Text { signum: true },
                    Some("$(keepalived --signum=DATA)"),
                    "text dump"
                ),
                (DumpKind::Text { signum: false }, Some("USR1"), "text dump"),
                (DumpKind::IpAddrOnly, None, "ip addr only"),
            ]
        );
        assert_eq!(
            serde_json::to_value(DumpKind::Text { signum: false }).ok(),
            Some(serde_json::json!("text dump"))
        );
        assert!(parse_dump_probe("Unknown sigfunc JSON").is_err());
        assert!(parse_dump_probe("").is_err());
    }

    #[test]
    fn ip_monitor_lines() {
        let lines: Vec<AddrChange> = include_str!("../../tests/fixtures/ip/monitor_lb2.txt")
            .lines()
            .filter_map(parse_monitor_line)
            .collect();
        assert_eq!(
            lines,
            vec![
                AddrChange {
                    added: true,
                    ifname: "eth0".into(),
                    address: "10.77.0.100".into()
                },
                AddrChange {
                    added: false,
                    ifname: "eth0".into(),
                    address: "10.77.0.100".into()
                },
            ]
        );
        assert_eq!(parse_monitor_line("garbage"), None);
        let (at, change) = parse_stamped_monitor_line(
            "[2026-11-26T17:42:46.505223] Deleted 1: lo    inet 10.99.0.1/32 scope global lo\\       valid_lft forever",
        )
        .expect("a stamped line");
        assert_eq!(at.timestamp_micros() % 1_000_000, 505_223);
        assert_eq!(
            (change.added, change.address.as_str()),
            (false, "10.99.0.1")
        );
        assert_eq!(
            parse_stamped_monitor_line("Option \"-ts\" is unknown"),
            None
        );
        assert_eq!(parse_monitor_line("3: eth1    link/ether 00:11"), None);
    }

    #[test]
    fn vip_presence_from_ip_json() {
        let master = include_str!("../../tests/fixtures/ip/addr_master.json");
        let backup = include_str!("../../tests/fixtures/ip/addr_backup.json");
        assert_eq!(vip_in_addr_json(master, "10.77.0.100"), Ok(true));
        assert_eq!(vip_in_addr_json(backup, "10.77.0.100"), Ok(false));
        assert!(vip_in_addr_json("Device \"eth9\" does not exist.", "10.77.0.100").is_err());
    }
}
