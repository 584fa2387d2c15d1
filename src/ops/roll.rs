//! Rolling maintenance: backends one at a time — drain, wait for its sessions to end,
//! optionally run a command on it over SSH, wait until our probe and every balancer see
//! it healthy, ready, next — with the capacity guard before each step. Every change is
//! an ordinary operation (planned, run on the whole pair, read back, audited) carrying
//! the roll's id, so the audit log tells where a roll stopped.

use std::time::{Duration, Instant};

use super::batch::new_id;
use super::plan;
use super::{Operation, ServerChange};
use crate::config::profile::Profile;
use crate::model::{Health, ServerState};
use crate::ssh::Pool;

/// How long a backend may take to be healthy again, in a roll started from the console.
pub const WAIT_HEALTHY: Duration = Duration::from_secs(30);

/// How long a drained backend's sessions may take to end, in a roll from the console.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Asked to stop after the backend in hand (the console's Esc during a roll).
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops the roll running in this process once its current backend is back.
pub fn stop() {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Held between two backends (the console's `R` during a roll).
static PAUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Pauses the roll running in this process before its next backend, or lets it go on;
/// returns whether it is now paused.
pub fn toggle_pause() -> bool {
    !PAUSED.fetch_xor(true, std::sync::atomic::Ordering::SeqCst)
}

/// What to do when a drained backend's sessions do not end in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// Kill its sessions and go on.
    Kill,
    /// Put it back in rotation untouched and go on to the next.
    Skip,
    /// Stop the roll, leaving it drained.
    Abort,
}

/// How a roll runs.
#[derive(Debug, Clone)]
pub struct RollOptions {
    /// Run on each backend (over SSH) while it is out of rotation.
    pub exec: Option<String>,
    /// How long a backend may take to be healthy again.
    pub wait_healthy: Duration,
    /// How long its sessions may take to end.
    pub drain_timeout: Duration,
}

/// How one backend's turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// Drained, worked on, healthy and back in rotation.
    Done,
    /// Left as it was (sessions did not end and skipping was chosen).
    Skipped,
    /// The roll stopped here: why, and the state it leaves the backend in.
    Stopped(String),
}

/// What a roll did.
#[derive(Debug, Clone)]
pub struct Rolled {
    /// Its id, in every audit line it wrote.
    pub id: String,
    /// Each backend it reached, with how its turn ended.
    pub turns: Vec<(String, Turn)>,
    /// It stopped early because the operator asked (Esc).
    pub stopped: bool,
}

impl Rolled {
    /// Every backend it was given came back.
    pub fn done(&self, of: usize) -> bool {
        self.turns.len() == of && self.turns.iter().all(|(_, t)| *t == Turn::Done)
    }

    /// How the roll over `of` backends ended, as an operation's outcome.
    pub fn outcome(&self, of: usize) -> super::Outcome {
        if self.done(of) {
            return super::Outcome::Done;
        }
        let all_done = self.turns.iter().all(|(_, t)| *t == Turn::Done);
        if self.stopped && all_done {
            // Stopped as asked: what it did is done, the rest was not started.
            return super::Outcome::PartlyDone {
                failed: vec![(
                    format!("{} backend(s)", of.saturating_sub(self.turns.len())),
                    "not reached: stopped as asked".into(),
                )],
            };
        }
        let reached: Vec<String> = self
            .turns
            .iter()
            .map(|(name, t)| match t {
                Turn::Done => format!("{name} done"),
                Turn::Skipped => format!("{name} skipped"),
                Turn::Stopped(why) => format!("stopped at {name}: {why}"),
            })
            .collect();
        let left = of.saturating_sub(self.turns.len());
        let mut reason = reached.join("; ");
        if left > 0 {
            reason.push_str(&format!("; {left} not reached"));
        }
        super::Outcome::Failed { reason }
    }

    /// Each backend's turn, for the audit line: {"web1": "done", "web2": "stopped: …"}.
    pub fn as_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .turns
            .iter()
            .map(|(name, t)| {
                let word = match t {
                    Turn::Done => "done".to_string(),
                    Turn::Skipped => "skipped".to_string(),
                    Turn::Stopped(why) => format!("stopped: {why}"),
                };
                (name.clone(), serde_json::Value::String(word))
            })
            .collect();
        serde_json::Value::Object(map)
    }
}

/// Waits until no balancer that counts sessions has one open on `server` (HAProxy), or
/// `timeout`; true when they ended. nginx open source counts none: a short grace is
/// waited instead, as its connections to a `down` server finish.
pub async fn sessions_end(profile: &Profile, server: &str, timeout: Duration, pool: &Pool) -> bool {
    let t0 = Instant::now();
    loop {
        let counts = super::drain::sessions(profile, server, Some(pool)).await;
        if counts.is_empty() {
            tokio::time::sleep(NGINX_GRACE).await;
            return true;
        }
        if counts.iter().all(|(_, n)| *n == Some(0)) {
            return true;
        }
        if t0.elapsed() >= timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How long a roll waits on an nginx backend that counts no sessions after draining it.
const NGINX_GRACE: Duration = Duration::from_secs(3);

/// Runs one operation on the pair as read now; Err(why) unless it was done everywhere.
async fn step(
    profile: &Profile,
    op: Operation,
    id: &str,
    pool: &Pool,
    guard: bool,
) -> Result<(), String> {
    let pair = crate::status::poll(profile, Some(pool), false).await;
    let mut p = plan::plan(profile, &pair, &op, None).map_err(|e| e.to_string())?;
    let blockers = p.blockers(false);
    if !blockers.is_empty() {
        let why = format!("pre-checks failed: {}", blockers.join("; "));
        super::run::refuse_in(profile, &op, &p.target, why.clone(), Some(id.into()));
        return Err(why);
    }
    // The roll was confirmed once; a step that would leave too little in rotation is not.
    let risk = guard
        .then(|| plan::capacity_risk(&pair, &p.target, profile.min_healthy_backends, op.doing()))
        .flatten();
    if let Some(risk) = risk {
        super::run::refuse_in(profile, &op, &p.target, risk.clone(), Some(id.into()));
        return Err(risk);
    }
    p.batch = Some(id.to_string());
    // Boxed: a roll is itself run by `execute`.
    let r = Box::pin(super::execute(profile, &p, Some(pool), Vec::new(), &|_| {})).await;
    if r.done() {
        Ok(())
    } else {
        Err(format!("{op}: {}", r.outcome))
    }
}

/// Whether our probe and every balancer that checks it see `backend` healthy (a drained
/// server counts: it is up, only out of rotation).
async fn healthy(profile: &Profile, backend: &str, pool: &Pool) -> bool {
    let pair = crate::status::poll(profile, Some(pool), false).await;
    pair.backends.iter().any(|b| {
        b.name == backend
            && b.health == Health::Healthy
            && b.views
                .iter()
                .flatten()
                .all(|v| !matches!(v.state, Some(ServerState::Down | ServerState::Maint)))
    })
}

/// Rolls through `backends` in order. `say` gets every line of progress (the command's
/// output too); `decide` is asked when sessions do not end in time; `wait_drained`
/// waits for a drained backend's sessions (true: they ended).
pub async fn roll<W, F>(
    profile: &Profile,
    backends: &[String],
    opts: &RollOptions,
    pool: &Pool,
    say: &(dyn Fn(String) + Sync),
    decide: &(dyn Fn(&str) -> OnTimeout + Sync),
    wait_drained: W,
) -> Rolled
where
    W: Fn(String) -> F,
    F: std::future::Future<Output = bool>,
{
    let id = format!("roll-{}", new_id());
    let mut turns = Vec::new();
    let mut stopped = false;
    STOP.store(false, std::sync::atomic::Ordering::SeqCst);
    PAUSED.store(false, std::sync::atomic::Ordering::SeqCst);
    for (i, name) in backends.iter().enumerate() {
        if PAUSED.load(std::sync::atomic::Ordering::SeqCst) {
            say(format!("paused before {name} (R goes on, Esc stops)"));
            while PAUSED.load(std::sync::atomic::Ordering::SeqCst)
                && !STOP.load(std::sync::atomic::Ordering::SeqCst)
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
                super::lock::refresh_if_stale(profile, pool).await;
            }
        }
        if STOP.swap(false, std::sync::atomic::Ordering::SeqCst) {
            say(format!("stopped before {name}, as asked"));
            stopped = true;
            break;
        }
        super::lock::refresh(profile, pool).await;
        say(format!("[{}/{}] {name}: draining", i + 1, backends.len()));
        if let Err(why) = step(profile, Operation::drain(name), &id, pool, true).await {
            turns.push((name.clone(), Turn::Stopped(format!("not drained: {why}"))));
            break;
        }
        if !wait_drained(name.clone()).await {
            match decide(name) {
                OnTimeout::Kill => {
                    say(format!("{name}: killing its remaining sessions"));
                    let op = Operation::server(name, ServerChange::KillSessions);
                    if let Err(why) = step(profile, op, &id, pool, false).await {
                        turns.push((name.clone(), Turn::Stopped(format!("drained; {why}"))));
                        break;
                    }
                }
                OnTimeout::Skip => {
                    say(format!("{name}: skipped, back in rotation untouched"));
                    let back = step(profile, Operation::ready(name), &id, pool, false).await;
                    let turn = match back {
                        Ok(()) => Turn::Skipped,
                        Err(why) => Turn::Stopped(format!("drained, not ready again: {why}")),
                    };
                    let stop = matches!(turn, Turn::Stopped(_));
                    turns.push((name.clone(), turn));
                    if stop {
                        break;
                    }
                    continue;
                }
                OnTimeout::Abort => {
                    turns.push((
                        name.clone(),
                        Turn::Stopped("drained; its sessions did not end in time".into()),
                    ));
                    break;
                }
            }
        }
        if let Some(cmd) = &opts.exec {
            let address = profile
                .backends()
                .find(|b| &b.name == name)
                .map(|b| b.address.0.clone())
                .unwrap_or_default();
            let node = pool.node(&crate::ssh::host_of(&address));
            say(format!("{name}: running `{cmd}` on {}", node.alias));
            match pool.exec(&node, cmd).await {
                Ok(out) => {
                    for line in out.stdout.lines().chain(out.stderr.lines()).take(40) {
                        say(format!("  {name}> {}", crate::text::sanitize(line)));
                    }
                    if out.status != Some(0) {
                        let why = format!(
                            "drained; `{cmd}` exited {}",
                            out.status.map_or("?".into(), |s| s.to_string())
                        );
                        turns.push((name.clone(), Turn::Stopped(why)));
                        break;
                    }
                }
                Err(e) => {
                    turns.push((
                        name.clone(),
                        Turn::Stopped(format!("drained; `{cmd}` could not run: {e}")),
                    ));
                    break;
                }
            }
        }
        say(format!(
            "{name}: waiting until our probe and every balancer see it healthy (up to {})",
            humantime::format_duration(opts.wait_healthy)
        ));
        let t0 = Instant::now();
        let mut well = false;
        while t0.elapsed() < opts.wait_healthy {
            if healthy(profile, name, pool).await {
                well = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if !well {
            turns.push((
                name.clone(),
                Turn::Stopped("drained; not healthy again in time".into()),
            ));
            break;
        }
        say(format!("{name}: back in rotation"));
        if let Err(why) = step(profile, Operation::ready(name), &id, pool, false).await {
            turns.push((
                name.clone(),
                Turn::Stopped(format!("healthy but not ready: {why}")),
            ));
            break;
        }
        turns.push((name.clone(), Turn::Done));
    }
    Rolled { id, turns, stopped }
}

/// Where the newest roll in the audit log lines `lines` stopped, when it left a backend
/// drained: "roll-… stopped at web2 (drained, not ready again)". None when it finished.
pub fn unfinished(lines: &[serde_json::Value]) -> Option<String> {
    let last = lines
        .iter()
        .rev()
        .find_map(|l| l["batch"].as_str().filter(|b| b.starts_with("roll-")))?;
    let mine: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["batch"].as_str() == Some(last))
        .collect();
    let end = mine.last()?;
    let target = end["target"].as_str().unwrap_or("?");
    let action = end["action"].as_str().unwrap_or("?");
    let result = end["result"].as_str().unwrap_or("?");
    let finished = action == "undrain" && result == "done";
    (!finished).then(|| {
        format!("{last} stopped at {target} (its last change: {action} {result}); `lbdeck ready {target}` puts it back, or roll again from it")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_roll_is_found_in_the_audit_log() {
        let line = |batch: &str, action: &str, target: &str, result: &str| serde_json::json!({"batch": batch, "action": action, "target": target, "result": result});
        let done = vec![
            line("roll-1", "drain", "web1", "done"),
            line("roll-1", "undrain", "web1", "done"),
        ];
        assert_eq!(unfinished(&done), None);
        let mut stopped = done.clone();
        stopped.push(line("roll-2", "drain", "web1", "done"));
        stopped.push(line("roll-2", "undrain", "web1", "done"));
        stopped.push(line("roll-2", "drain", "web2", "done"));
        stopped.push(serde_json::json!({"action": "drain", "target": "web3", "result": "done"}));
        let said = unfinished(&stopped).expect("stopped");
        assert!(
            said.starts_with("roll-2 stopped at web2 (its last change: drain done)"),
            "{said}"
        );
        assert_eq!(crate::ssh::host_of("10.0.0.21:80"), "10.0.0.21");
        let asked = Rolled {
            id: "roll-1".into(),
            turns: vec![("web1".into(), Turn::Done)],
            stopped: true,
        };
        assert_eq!(
            asked.outcome(3).to_string(),
            "partly done: not confirmed on 2 backend(s) (not reached: stopped as asked)"
        );
        let failed = Rolled {
            stopped: false,
            turns: vec![(
                "web1".into(),
                Turn::Stopped("drained; not healthy again in time".into()),
            )],
            ..asked
        };
        assert_eq!(
            failed.outcome(2).to_string(),
            "failed: stopped at web1: drained; not healthy again in time; 1 not reached"
        );
        assert_eq!(crate::ssh::host_of("[::1]:80"), "::1");
    }
}
