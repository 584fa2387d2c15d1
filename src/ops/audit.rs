//! The audit trail: one JSON line per action in `$XDG_STATE_HOME/lbdeck/audit.jsonl`
//! (the demo keeps its own, `demo-audit.jsonl`), flushed to disk before the action is
//! reported. Each line names the cluster, its profile file and the operator. An action
//! that acted on balancers also appends the same line to [`crate::wire::audit::SHARED_LOG`] on each of them
//! over SSH, so every operator of the pair reads who did what.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::Outcome;
use crate::config::profile::{Origin, Profile};
use crate::wire::audit::{append_command, host, SHARED_LOG};

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
    /// The lbdeck process: a console tells its own lines in the pair's log from others'.
    pub pid: u32,
}

/// Appends the audit line for a report; returns where it went (or why it did not).
pub fn record(profile: &Profile, r: &super::run::Report) -> String {
    local(&entry(profile, r), profile)
}

/// Appends the audit line for a report here, then on every balancer it acted on
/// ([`SHARED_LOG`], through `pool`): where it went, and each balancer where it did not.
/// The local line is written first and whatever happens on the balancers, it stays.
pub async fn record_shared(
    profile: &Profile,
    r: &super::run::Report,
    pool: Option<&crate::ssh::Pool>,
) -> String {
    let entry = entry(profile, r);
    let here = local(&entry, profile);
    if r.balancers.is_empty() {
        return here;
    }
    let Ok(line) = serde_json::to_string(&entry) else {
        return here;
    };
    let line = line + "\n";
    let shared = profile
        .balancers()
        .filter(|b| r.balancers.contains(&b.name))
        .map(|b| {
            let line = line.as_bytes();
            async move {
                let Some(pool) = pool else {
                    return (b.name.clone(), Err("no SSH".to_string()));
                };
                let command = pool.privileged(&append_command());
                let node = pool.node(&b.host);
                let done = match pool.exec_with_input(&node, &command, line).await {
                    Ok(out) if out.status == Some(0) => Ok(()),
                    Ok(out) => Err(crate::text::clip(
                        &crate::text::sentence(out.stderr.lines().next().unwrap_or("failed")),
                        120,
                    )),
                    Err(e) => Err(crate::text::sentence(&e.to_string())),
                };
                (b.name.clone(), done)
            }
        });
    let results = futures::future::join_all(shared).await;
    format!("{here}; {}", shared_said(&results))
}

/// Where the shared line went: "shared on lb1, lb2", or also "NOT on lb2 (why)".
fn shared_said(results: &[(String, Result<(), String>)]) -> String {
    let on: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(n, _)| n.as_str())
        .collect();
    let not: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n} ({e})")))
        .collect();
    let mut said = Vec::new();
    if !on.is_empty() {
        said.push(format!("shared on {}", on.join(", ")));
    }
    if !not.is_empty() {
        said.push(format!("NOT in {SHARED_LOG} on {}", not.join(", ")));
    }
    said.join("; ")
}

/// The local line: where it went, or why it did not.
fn local(entry: &Entry, profile: &Profile) -> String {
    match append(entry, path(profile)) {
        Ok(p) => format!("audit: {}", p.display()),
        Err(e) => format!("audit log NOT written: {e}"),
    }
}

/// The audit line of a report.
fn entry(profile: &Profile, r: &super::run::Report) -> Entry {
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as u64);
    Entry {
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
            pid: std::process::id(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::audit::others_action;

    fn line(pid: u32, host: &str, action: &str, argument: Option<&str>) -> String {
        let mut v = serde_json::json!({
            "time": "2026-11-27T10:42:07.000+01:00", "user": "bob", "profile": "shop",
            "operator": {"user": "bob", "host": host, "ssh_user": "ops", "pid": pid},
            "action": action, "target": "web2", "balancers": ["lb1", "lb2"],
            "result": "done",
        });
        if let Some(a) = argument {
            v["argument"] = a.into();
        }
        v.to_string()
    }

    #[test]
    fn another_operators_action_reads_as_a_sentence_and_ours_is_skipped() {
        assert_eq!(
            others_action(&line(1, "admin2", "drain", None)),
            Some(("web2".into(), "bob@admin2 drained web2 (done)".into()))
        );
        assert_eq!(
            others_action(&line(1, "admin2", "weight", Some("7"))).map(|e| e.1),
            Some("bob@admin2 set web2's weight 7 (done)".into())
        );
        assert_eq!(
            others_action(&line(std::process::id(), &host(), "drain", None)),
            None,
            "this process's own line"
        );
        assert!(
            others_action(&line(std::process::id(), "admin2", "drain", None)).is_some(),
            "the same pid on another host is someone else"
        );
        assert_eq!(others_action("tail: file truncated"), None);
        assert_eq!(others_action("{}"), None);
    }

    #[test]
    fn the_shared_append_says_where_it_failed() {
        let results = [
            ("lb1".to_string(), Ok(())),
            ("lb2".to_string(), Err("no answer within 2s".to_string())),
        ];
        assert_eq!(
            shared_said(&results),
            "shared on lb1; NOT in /var/log/lbdeck/audit.jsonl on lb2 (no answer within 2s)"
        );
    }

    #[test]
    fn the_append_adds_one_line_per_run_to_a_file_that_may_be_rotated_away() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log/lbdeck/audit.jsonl");
        let cmd = append_command()
            .replace(SHARED_LOG, &log.display().to_string())
            .replace(
                "/var/log/lbdeck",
                &dir.path().join("log/lbdeck").display().to_string(),
            );
        let run = |text: &str| {
            let mut child = std::process::Command::new("sh")
                .args(["-c", &cmd])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("sh");
            std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes())
                .expect("write");
            assert!(child.wait().expect("sh").success());
        };
        run("{\"a\":1}\n");
        run("{\"a\":2}\n");
        assert_eq!(
            std::fs::read_to_string(&log).expect("log"),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        std::fs::rename(&log, log.with_extension("jsonl.1")).expect("rotate");
        run("{\"a\":3}\n");
        assert_eq!(std::fs::read_to_string(&log).expect("log"), "{\"a\":3}\n");
    }
}
