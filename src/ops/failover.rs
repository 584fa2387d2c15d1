//! Failover and failback: move the VIP to the peer on purpose, the way the profile says
//! (write the track file, or stop keepalived), after pre-checks; then follow it live —
//! when the VIP left, when it arrived, when the first request through it succeeded.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Outcome;
use crate::config::profile::{FailoverMethod, Profile};
use crate::sources::keepalived::Role;
use crate::sources::vrrp::VrrpTarget;
use crate::ssh::{shell_quote, Pool};
use crate::status::Report as Status;

/// How long to wait for the VIP to arrive.
pub const MOVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Away from the MASTER.
    Failover,
    /// Undo a failover: restore the track file / start keepalived again.
    Failback,
}

impl Direction {
    /// The audit log's word.
    pub fn action(self) -> &'static str {
        match self {
            Direction::Failover => "failover",
            Direction::Failback => "failback",
        }
    }
}

/// What the pre-checks found.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The balancer acted on (the MASTER for a failover).
    pub node: String,
    /// Where the VIP should end up.
    pub to: String,
    /// Where it is now.
    pub from: Option<String>,
    /// Problems that make the move unsafe or impossible.
    pub blockers: Vec<String>,
}

/// The timeline of a move.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// When the VIP left the old holder, since the trigger.
    pub left: Option<Duration>,
    /// When it arrived on the new one.
    pub arrived: Option<Duration>,
    /// When the first request through it succeeded after arriving.
    pub serving: Option<Duration>,
}

fn role(status: &Status, name: &str) -> Option<String> {
    let b = status.balancers.iter().find(|b| b.name == name)?;
    b.vrrp.as_ref()?.view.role.map(|r| r.label().to_string())
}

/// Plans a failover (away from the VIP holder) or a failback (back to the node with the
/// highest configured priority), with the pre-checks.
pub fn plan(profile: &Profile, status: &Status, dir: Direction) -> Plan {
    let holders = status
        .vip
        .as_ref()
        .map(|v| v.holders.clone())
        .unwrap_or_default();
    let from = holders.first().cloned();
    let mut blockers = Vec::new();
    if holders.len() > 1 {
        blockers.push(format!(
            "split-brain: the VIP is on {}",
            holders.join(" and ")
        ));
    }
    let names: Vec<String> = profile.balancers().map(|b| b.name.clone()).collect();
    let (node, to) = match dir {
        Direction::Failover => {
            let node = from.clone().unwrap_or_default();
            let to = names
                .iter()
                .find(|n| **n != node)
                .cloned()
                .unwrap_or_default();
            (node, to)
        }
        Direction::Failback => {
            // In a pair the node failed over from is the one without the VIP; with no
            // holder at all, the one with the highest configured priority.
            let away = names
                .iter()
                .find(|n| from.as_ref().is_some_and(|f| f != *n))
                .cloned();
            let home = away.unwrap_or_else(|| {
                status
                    .balancers
                    .iter()
                    .filter_map(|b| Some((b.name.clone(), b.vrrp.as_ref()?.view.base_priority?)))
                    .max_by_key(|(_, p)| *p)
                    .map(|(n, _)| n)
                    .unwrap_or_default()
            });
            (home.clone(), home)
        }
    };
    if dir == Direction::Failover {
        if from.is_none() {
            blockers.push("no balancer holds the VIP: nothing to fail over".into());
        }
        let peer = status.balancers.iter().find(|b| b.name == to);
        match peer {
            None => blockers.push("no peer balancer in the profile".into()),
            Some(p) => {
                let v = p.vrrp.as_ref().map(|v| &v.view);
                if v.and_then(|v| v.running) != Some(true) {
                    blockers.push(format!("keepalived is not running on {to}"));
                } else if v.and_then(|v| v.role) != Some(Role::Backup) {
                    blockers.push(format!(
                        "{to} is not BACKUP (it is {})",
                        role(status, &to).unwrap_or("unknown".into())
                    ));
                }
                if !p.up {
                    blockers.push(format!(
                        "{to}'s {} does not answer: it could not serve",
                        p.kind
                    ));
                }
                let method = profile
                    .balancers()
                    .find(|b| b.name == node)
                    .and_then(|b| b.keepalived.clone())
                    .and_then(|k| k.failover);
                if v.and_then(|v| v.nopreempt) == Some(true)
                    && matches!(method, Some(FailoverMethod::TrackFile { .. }))
                {
                    blockers.push(format!("{to} has nopreempt: lowering {node}'s priority will not move the VIP (use stop_daemon)"));
                }
            }
        }
        let healthy = status
            .backends
            .iter()
            .filter(|b| b.health.state == crate::model::Health::Healthy)
            .count();
        if !status.backends.is_empty() && healthy == 0 {
            blockers.push("no backend is healthy: the peer would serve errors".into());
        }
    } else if from.as_deref() == Some(node.as_str()) {
        blockers.push(format!("{node} already holds the VIP"));
    }
    if node.is_empty() {
        blockers.push("cannot tell which balancer to act on".into());
    }
    Plan {
        node,
        to,
        from,
        blockers,
    }
}

/// Before a failback: is a failover actually in effect on the node (track file not 0,
/// keepalived stopped, or lbdeck's keepalived.conf backup present)? Some(reason) when not.
pub async fn failback_blocker(profile: &Profile, plan: &Plan, pool: &Pool) -> Option<String> {
    let targets = crate::sources::vrrp::targets(profile);
    let node = targets.iter().find(|t| {
        profile
            .balancers()
            .nth(t.index)
            .is_some_and(|b| b.name == plan.node)
    })?;
    let check = match node.keepalived.failover.as_ref()? {
        FailoverMethod::TrackFile { path, .. } => format!(
            "v=$(cat {} 2>/dev/null); [ -n \"$v\" ] && [ \"$v\" != 0 ]",
            shell_quote(path)
        ),
        FailoverMethod::StopDaemon => {
            "! kill -0 $(cat /run/keepalived.pid 2>/dev/null) 2>/dev/null".to_string()
        }
        FailoverMethod::Priority { .. } => {
            "test -f /etc/keepalived/keepalived.conf.lbdeck-bak".to_string()
        }
    };
    match pool.exec(&node.addr, &pool.privileged(&check)).await {
        Ok(out) if out.status == Some(0) => None,
        Ok(_) => Some(format!(
            "nothing to fail back: no failover is in effect on {}",
            plan.node
        )),
        Err(e) => Some(format!("cannot check {}: {e}", plan.node)),
    }
}

/// The command that triggers the move on `node`.
fn trigger(method: &FailoverMethod, dir: Direction) -> Result<String, String> {
    match (method, dir) {
        (FailoverMethod::TrackFile { path, value }, Direction::Failover) => {
            Ok(format!("printf '%s\\n' {value} > {}", shell_quote(path)))
        }
        (FailoverMethod::TrackFile { path, .. }, Direction::Failback) => Ok(format!("printf '0\\n' > {}", shell_quote(path))),
        (FailoverMethod::StopDaemon, Direction::Failover) => {
            Ok("systemctl stop keepalived 2>/dev/null || kill $(cat /run/keepalived.pid)".into())
        }
        (FailoverMethod::StopDaemon, Direction::Failback) => Ok(
            "systemctl start keepalived 2>/dev/null || keepalived -f /etc/keepalived/keepalived.conf".into(),
        ),
        // Lower the priority in keepalived.conf (a backup kept) and reload; failback puts
        // the original file back and reloads.
        (FailoverMethod::Priority { value }, Direction::Failover) => Ok(format!(
            "f=/etc/keepalived/keepalived.conf; cp -p \"$f\" \"$f.lbdeck-bak\" && \
             sed -i -E 's/^([[:space:]]*priority[[:space:]]+)[0-9]+/\\1{value}/' \"$f\" && \
             kill -HUP $(cat /run/keepalived.pid)"
        )),
        (FailoverMethod::Priority { .. }, Direction::Failback) => Ok(
            "f=/etc/keepalived/keepalived.conf; [ -f \"$f.lbdeck-bak\" ] && mv \"$f.lbdeck-bak\" \"$f\" && \
             kill -HUP $(cat /run/keepalived.pid)"
                .into(),
        ),
    }
}

/// Runs the move and follows it. Returns the outcome, the timing and before/after.
pub async fn run(
    profile: &Profile,
    plan: &Plan,
    dir: Direction,
    pool: &Pool,
    progress: &(dyn Fn(String) + Sync),
) -> (Outcome, Timing, Value, Value) {
    let targets = crate::sources::vrrp::targets(profile);
    let Some(node) = targets.iter().find(|t| {
        profile
            .balancers()
            .nth(t.index)
            .is_some_and(|b| b.name == plan.node)
    }) else {
        return (
            Outcome::Failed {
                reason: format!("{} has no keepalived block", plan.node),
            },
            Timing::default(),
            Value::Null,
            Value::Null,
        );
    };
    let Some(method) = node.keepalived.failover.clone() else {
        return (
            Outcome::Failed {
                reason: format!("{} has no failover method in the profile", plan.node),
            },
            Timing::default(),
            Value::Null,
            Value::Null,
        );
    };
    let command = match trigger(&method, dir) {
        Ok(c) => c,
        Err(e) => {
            return (
                Outcome::Failed { reason: e },
                Timing::default(),
                Value::Null,
                Value::Null,
            )
        }
    };
    let before = holders_now(&targets, profile, pool).await;
    let started = Instant::now();
    match pool
        .exec(&node.addr, &pool.privileged(&command))
        .await
        .map(|o| o.ok("the trigger"))
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) | Err(e) => {
            return (
                Outcome::Failed {
                    reason: e.to_string(),
                },
                Timing::default(),
                before,
                Value::Null,
            )
        }
    }
    let mut timing = Timing::default();
    let mut last_tick = 0u64;
    progress(format!("+0.0 s: triggered on {} ({})", plan.node, command));
    let client = crate::sources::http_client(Duration::from_millis(500));
    let check = profile.vip.as_ref().and_then(|v| v.check_url.clone());
    let from = plan.from.clone();
    let to = plan.to.clone();
    let after = loop {
        let now = holders_now(&targets, profile, pool).await;
        let holders: Vec<String> = now
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| **v == json!(true))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        if timing.left.is_none() && from.as_ref().is_some_and(|f| !holders.contains(f)) {
            timing.left = Some(started.elapsed());
            progress(format!(
                "+{:.1} s: the VIP left {}",
                started.elapsed().as_secs_f64(),
                from.clone().unwrap_or_default()
            ));
        }
        if timing.arrived.is_none() && holders.contains(&to) {
            timing.arrived = Some(started.elapsed());
            progress(format!(
                "+{:.1} s: the VIP arrived on {to}",
                started.elapsed().as_secs_f64()
            ));
        }
        if timing.arrived.is_some() && timing.serving.is_none() {
            match &check {
                Some(url) => {
                    if crate::sources::health::probe(&client, &url.0, Duration::from_millis(500))
                        .await
                        .is_ok_and(|p| p.healthy())
                    {
                        timing.serving = Some(started.elapsed());
                        progress(format!(
                            "+{:.1} s: first request through the VIP served",
                            started.elapsed().as_secs_f64()
                        ));
                    }
                }
                None => timing.serving = timing.arrived,
            }
        }
        let complete = timing.serving.is_some() && (timing.left.is_some() || from.is_none());
        if complete || started.elapsed() > MOVE_TIMEOUT {
            break now;
        }
        let secs = started.elapsed().as_secs();
        if secs > last_tick {
            last_tick = secs;
            if timing.arrived.is_none() {
                progress(format!(
                    "+{secs} s: waiting for the VIP to move (keepalived needs about three adverts)"
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let outcome = match timing.arrived {
        Some(_) => Outcome::Done,
        None => Outcome::Failed {
            reason: format!(
                "the VIP did not arrive on {to} within {}",
                humantime::format_duration(MOVE_TIMEOUT)
            ),
        },
    };
    (outcome, timing, before, after)
}

/// Which balancers hold the VIP now, as {name: bool}.
async fn holders_now(targets: &[VrrpTarget], profile: &Profile, pool: &Pool) -> Value {
    let names: Vec<String> = profile.balancers().map(|b| b.name.clone()).collect();
    let looks = targets.iter().map(|t| async move {
        let present = match pool.get(&t.addr).await {
            Ok(conn) => t.vip_present(&conn, pool).await.ok().flatten(),
            Err(_) => None,
        };
        (t.index, present)
    });
    let mut map = serde_json::Map::new();
    for (i, p) in futures::future::join_all(looks).await {
        map.insert(
            names.get(i).cloned().unwrap_or_default(),
            p.map_or(Value::Null, Value::Bool),
        );
    }
    Value::Object(map)
}

/// "VIP moved lb1 → lb2 in 3.1 s, serving at +3.3 s".
pub fn describe(plan: &Plan, t: &Timing) -> String {
    let s =
        |d: Option<Duration>| d.map_or("—".to_string(), |d| format!("{:.1} s", d.as_secs_f64()));
    format!(
        "VIP moved {} → {} in {}, serving at +{} (left {} at +{})",
        plan.from.clone().unwrap_or_else(|| "none".into()),
        plan.to,
        s(t.arrived),
        s(t.serving),
        plan.from.clone().unwrap_or_else(|| "—".into()),
        s(t.left)
    )
}
