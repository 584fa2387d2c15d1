//! Failover and failback: move the VIP to the peer on purpose, the way the profile says
//! (write the track file, or stop keepalived), after pre-checks; then follow it live —
//! when the VIP left, when it arrived, when the first request through it succeeded.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::operation::Direction;
use super::plan::Plan;
use super::Outcome;
use crate::config::profile::{FailoverMethod, Profile};
use crate::ssh::{shell_quote, Pool};
use crate::wire::keepalived::VrrpTarget;

/// How long to wait for the VIP to arrive.
pub const MOVE_TIMEOUT: Duration = Duration::from_secs(30);

/// The timeline of a move.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timing {
    /// When the VIP left the old holder, since the trigger.
    pub left: Option<Duration>,
    /// When it arrived on the new one.
    pub arrived: Option<Duration>,
    /// When the first request through it succeeded after arriving.
    pub serving: Option<Duration>,
}

/// What a VIP move did.
#[derive(Debug, Clone)]
pub struct Moved {
    /// How it ended.
    pub outcome: Outcome,
    /// When the VIP left, arrived and served.
    pub timing: Timing,
    /// Which balancers held the VIP before, as {name: bool}.
    pub before: Value,
    /// And after.
    pub after: Value,
}

impl Moved {
    fn failed(reason: String, before: Value) -> Moved {
        Moved {
            outcome: Outcome::Failed { reason },
            timing: Timing::default(),
            before,
            after: Value::Null,
        }
    }
}

/// Before a failback: is a failover actually in effect on the node (track file not 0,
/// keepalived stopped, or lbdeck's keepalived.conf backup present)? Some(reason) when not.
pub async fn failback_blocker(profile: &Profile, node_name: &str, pool: &Pool) -> Option<String> {
    let targets = crate::wire::keepalived::targets(profile, pool.resolver());
    let node = targets.iter().find(|t| {
        profile
            .balancers()
            .nth(t.index)
            .is_some_and(|b| b.name == node_name)
    })?;
    let check = failback_check(node.keepalived.failover.as_ref()?);
    match pool.exec(&node.addr, &pool.privileged(&check)).await {
        Ok(out) if out.status == Some(0) => None,
        Ok(_) => Some(format!(
            "nothing to fail back: no failover is in effect on {node_name}"
        )),
        Err(e) => Some(format!("cannot check {node_name}: {e}")),
    }
}

/// Succeeds when a failover by `method` is in effect on the node (so a failback has
/// something to undo).
pub(crate) fn failback_check(method: &FailoverMethod) -> String {
    match method {
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
    }
}

/// The command that triggers the move on `node`.
pub(crate) fn trigger(method: &FailoverMethod, dir: Direction) -> String {
    match (method, dir) {
        (FailoverMethod::TrackFile { path, value }, Direction::Failover) => {
            format!("printf '%s\\n' {value} > {}", shell_quote(path))
        }
        (FailoverMethod::TrackFile { path, .. }, Direction::Failback) => format!("printf '0\\n' > {}", shell_quote(path)),
        (FailoverMethod::StopDaemon, Direction::Failover) => super::daemon::keepalived(false),
        (FailoverMethod::StopDaemon, Direction::Failback) => super::daemon::keepalived(true),
        // Lower the priority in keepalived.conf (a backup kept) and reload; failback puts
        // the original file back and reloads.
        (FailoverMethod::Priority { value }, Direction::Failover) => format!(
            "f=/etc/keepalived/keepalived.conf; cp -p \"$f\" \"$f.lbdeck-bak\" && \
             sed -i -E 's/^([[:space:]]*priority[[:space:]]+)[0-9]+/\\1{value}/' \"$f\" && \
             kill -HUP $(cat /run/keepalived.pid)"
        ),
        (FailoverMethod::Priority { .. }, Direction::Failback) => {
            "f=/etc/keepalived/keepalived.conf; [ -f \"$f.lbdeck-bak\" ] && mv \"$f.lbdeck-bak\" \"$f\" && \
             kill -HUP $(cat /run/keepalived.pid)"
                .into()
        }
    }
}

/// Runs the move planned on `plan.target` and follows it until the VIP has arrived on
/// `plan.to` and served (or [`MOVE_TIMEOUT`]).
pub async fn run(
    profile: &Profile,
    plan: &Plan,
    dir: Direction,
    pool: &Pool,
    progress: &(dyn Fn(String) + Sync),
) -> Moved {
    let targets = crate::wire::keepalived::targets(profile, pool.resolver());
    let Some(node) = targets.iter().find(|t| {
        profile
            .balancers()
            .nth(t.index)
            .is_some_and(|b| b.name == plan.target)
    }) else {
        return Moved::failed(
            format!("{} has no keepalived block", plan.target),
            Value::Null,
        );
    };
    let Some(method) = node.keepalived.failover.clone() else {
        return Moved::failed(
            format!("{} has no failover method in the profile", plan.target),
            Value::Null,
        );
    };
    let command = trigger(&method, dir);
    let before = holders_now(&targets, profile, pool).await;
    let mut stamps = Stamps::open(profile, &targets, pool).await;
    let started = Instant::now();
    let triggered = chrono::Utc::now();
    match pool
        .exec(&node.addr, &pool.privileged(&command))
        .await
        .map(|o| o.ok("the trigger"))
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) | Err(e) => return Moved::failed(e.to_string(), before),
    }
    let mut timing = Timing::default();
    let mut last_tick = 0u64;
    progress(format!(
        "+0.0 s: triggered on {} ({})",
        plan.target, command
    ));
    let client = crate::wire::http_client(Duration::from_millis(500));
    let check = profile.vip.as_ref().and_then(|v| v.check_url.clone());
    let from = plan.from.clone();
    let to = plan.to.clone().unwrap_or_default();
    let mut noticed: (Option<Instant>, Option<Instant>) = (None, None);
    let after = loop {
        let now = holders_now(&targets, profile, pool).await;
        stamps.read();
        let holders: Vec<String> = now
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| **v == json!(true))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        // When the VIP left and arrived: the nodes' own `ip monitor` stamps, so the order
        // and the gap are keepalived's, not this loop's; the poll that noticed is the
        // fallback when no stamp came within STAMP_WAIT.
        if from.as_ref().is_some_and(|f| !holders.contains(f)) {
            noticed.0.get_or_insert_with(Instant::now);
        }
        if holders.contains(&to) {
            noticed.1.get_or_insert_with(Instant::now);
        }
        let stamped = |node: Option<&String>, added: bool| {
            node.and_then(|n| stamps.when(n, added))
                .map(|at| (at - triggered).to_std().unwrap_or_default())
        };
        let polled = |seen: Option<Instant>| {
            seen.filter(|t| t.elapsed() >= STAMP_WAIT)
                .map(|t| t.duration_since(started))
        };
        if timing.left.is_none() {
            timing.left = stamped(from.as_ref(), false).or_else(|| polled(noticed.0));
            if let Some(d) = timing.left {
                progress(format!(
                    "+{:.1} s: the VIP left {}",
                    d.as_secs_f64(),
                    from.clone().unwrap_or_default()
                ));
            }
        }
        if timing.arrived.is_none() {
            timing.arrived = stamped(Some(&to), true).or_else(|| polled(noticed.1));
            if let Some(d) = timing.arrived {
                progress(format!(
                    "+{:.1} s: the VIP arrived on {to}",
                    d.as_secs_f64()
                ));
            }
        }
        if timing.arrived.is_some() && timing.serving.is_none() {
            match &check {
                Some(url) => {
                    if crate::wire::health::probe(&client, &url.0, Duration::from_millis(500))
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
    Moved {
        outcome,
        timing,
        before,
        after,
    }
}

/// How long a move noticed by polling waits for the node's own stamp of it.
const STAMP_WAIT: Duration = Duration::from_millis(250);

/// The VIP's comings and goings as each node stamped them (`ip -ts monitor address`, in
/// UTC), read while a move is followed.
struct Stamps {
    vip: String,
    streams: Vec<(String, tokio::sync::mpsc::Receiver<String>)>,
    seen: Vec<(String, bool, chrono::DateTime<chrono::Utc>)>,
}

impl Stamps {
    /// Starts `ip -ts -o monitor address` on every keepalived node (a node where it
    /// cannot start is simply not stamped: the poll is the fallback).
    async fn open(profile: &Profile, targets: &[VrrpTarget], pool: &Pool) -> Stamps {
        let names: Vec<String> = profile.balancers().map(|b| b.name.clone()).collect();
        let mut streams = Vec::new();
        for t in targets {
            let Ok(conn) = pool.get(&t.addr).await else {
                continue;
            };
            if let Ok(rx) = conn
                .stream_lines("TZ=UTC0 exec ip -ts -o monitor address")
                .await
            {
                streams.push((names.get(t.index).cloned().unwrap_or_default(), rx));
            }
        }
        Stamps {
            vip: profile
                .vip
                .as_ref()
                .map(|v| v.address.clone())
                .unwrap_or_default(),
            streams,
            seen: Vec::new(),
        }
    }

    /// Takes every line that arrived.
    fn read(&mut self) {
        for (node, rx) in &mut self.streams {
            while let Ok(line) = rx.try_recv() {
                if let Some((at, change)) =
                    crate::wire::keepalived::parse_stamped_monitor_line(&line)
                {
                    if change.address == self.vip {
                        self.seen.push((node.clone(), change.added, at));
                    }
                }
            }
        }
    }

    /// When the VIP was added to (or deleted from) `node`, first time.
    fn when(&self, node: &str, added: bool) -> Option<chrono::DateTime<chrono::Utc>> {
        self.seen
            .iter()
            .find(|(n, a, _)| n == node && *a == added)
            .map(|(_, _, at)| *at)
    }
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

/// "VIP moved lb1 → lb2 in 3.1 s, serving at +3.3 s (left lb1 at +3.0 s)".
pub fn describe(from: Option<&str>, to: &str, t: &Timing) -> String {
    let s =
        |d: Option<Duration>| d.map_or("—".to_string(), |d| format!("{:.1} s", d.as_secs_f64()));
    format!(
        "VIP moved {} → {to} in {}, serving at +{} (left {} at +{})",
        from.unwrap_or("none"),
        s(t.arrived),
        s(t.serving),
        from.unwrap_or("—"),
        s(t.left)
    )
}
