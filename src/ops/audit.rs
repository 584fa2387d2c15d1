//! The audit trail: one JSON line per action in `$XDG_STATE_HOME/lbdeck/audit.jsonl`
//! (the demo keeps its own, `demo-audit.jsonl`), flushed to disk before the action is
//! reported. Each line names the cluster, its profile file and the operator.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::Outcome;
use crate::config::profile::{Origin, Profile};

/// One action, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// When it started (RFC 3339, local time).
    pub time: String,
    /// The local user who ran it.
    pub user: String,
    /// Profile name.
    pub profile: String,
    /// The profile file ("(demo)" for the simulated cluster; null when not from a file).
    pub profile_file: Option<String>,
    /// Who: the local user, this host, and the user lbdeck logs in as on the nodes.
    pub operator: Operator,
    /// drain, undrain, maint, weight, kill-sessions, health, agent, failover, failback…
    pub action: String,
    /// What the action set, when it takes a value: "7", "+1", "initial", "on", "off".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argument: Option<String>,
    /// The backend or balancer acted on.
    pub target: String,
    /// Balancers touched.
    pub balancers: Vec<String>,
    /// State before, per balancer.
    pub before: serde_json::Value,
    /// State after, per balancer.
    pub after: serde_json::Value,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long it took, ms.
    pub duration_ms: u64,
    /// Failed pre-checks that `--force` overrode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
    /// The batch it ran in: every change confirmed together shares it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// VIP moves: ms from the trigger until the VIP left, arrived and served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vip: Option<serde_json::Value>,
}

/// Who acted.
#[derive(Debug, Clone, Serialize)]
pub struct Operator {
    /// The local user (the sudo caller when run through sudo).
    pub user: String,
    /// This host's name.
    pub host: String,
    /// The user lbdeck logs in as on the nodes (`[ssh] user`).
    pub ssh_user: String,
}

/// Appends the audit line for a report; returns where it went (or why it did not).
pub fn record(profile: &Profile, r: &super::run::Report) -> String {
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as u64);
    let entry = Entry {
        time: r
            .started
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        user: user(),
        profile: profile.name.clone(),
        profile_file: match &profile.origin {
            Origin::File(p) => Some(p.display().to_string()),
            Origin::Demo => Some("(demo)".into()),
            Origin::Inline => None,
        },
        operator: Operator {
            user: user(),
            host: host(),
            ssh_user: profile.ssh.user.clone(),
        },
        action: r.operation.verb().to_string(),
        argument: r.operation.argument(),
        target: r.target.clone(),
        balancers: r.balancers.clone(),
        before: r.before.clone(),
        after: r.after.clone(),
        outcome: r.outcome.clone(),
        duration_ms: r.took.as_millis() as u64,
        forced: r.forced.clone(),
        batch: r.batch.clone(),
        vip: r.moved.as_ref().map(|(from, to, t)| {
            serde_json::json!({
                "from": from, "to": to,
                "left_ms": ms(t.left), "arrived_ms": ms(t.arrived), "serving_ms": ms(t.serving),
            })
        }),
    };
    match append(&entry, path(profile)) {
        Ok(p) => format!("audit: {}", p.display()),
        Err(e) => format!("audit log NOT written: {e}"),
    }
}

/// Where a profile's audit lines go: the demo's to a file of its own, so that playing
/// with it never mixes with a real cluster's record.
pub fn path(profile: &Profile) -> Option<PathBuf> {
    let name = match profile.origin {
        Origin::Demo => "demo-audit.jsonl",
        _ => "audit.jsonl",
    };
    crate::config::state_dir().map(|d| d.join(name))
}

/// This host's name, as the kernel has it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The local user, as the audit log names them.
pub fn user() -> String {
    std::env::var("SUDO_USER")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| format!("{u} (via sudo)"))
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
        .or_else(user_from_uid)
        .unwrap_or_else(|| "unknown".into())
}

/// The account name of this process's real uid, from /proc and /etc/passwd.
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    });
    Some(name.unwrap_or_else(|| format!("uid {uid}")))
}

/// Appends an entry to `path` and syncs it to disk.
pub fn append(entry: &Entry, path: Option<PathBuf>) -> std::io::Result<PathBuf> {
    let path = path.ok_or_else(|| std::io::Error::other("no state directory for the audit log"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    f.write_all(line.as_bytes())?;
    f.sync_all()?;
    Ok(path)
}
