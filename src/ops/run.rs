//! Running a planned operation: act on every balancer (or on the node whose keepalived
//! moves the VIP), read the state back, and end in one [`Report`] with one audit line.
//! Both front ends call [`execute`]; the console calls [`perform`], which first reads the
//! pair again and plans anew, so nothing acts on a picture older than the keystroke.

use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use serde_json::Value;

use super::failover::{self, Timing};
use super::operation::{Direction, Operation};
use super::plan::{self, Plan};
use super::{drain, Outcome};
use crate::config::profile::Profile;
use crate::ssh::Pool;

/// How an operation ended, per balancer and in all; what the audit line holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The operation, unchanged from the key or argument.
    pub operation: Operation,
    /// The cluster (profile name).
    pub cluster: String,
    /// The backend or node acted on (empty when refused before one was known).
    pub target: String,
    /// Balancers acted on.
    pub balancers: Vec<String>,
    /// State before, per balancer.
    pub before: Value,
    /// State read back after, per balancer.
    pub after: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// VIP moves: where it was and where it went, and when it left, arrived, served.
    pub moved: Option<(Option<String>, String, Timing)>,
    /// Failed pre-checks that `--force` overrode.
    pub forced: Vec<String>,
    /// When it started.
    pub started: DateTime<Local>,
    /// How long it took.
    pub took: Duration,
    /// Where the audit line went, or why it was not written.
    pub audit: String,
    /// The batch it ran in, if any.
    pub batch: Option<String>,
}

impl Report {
    fn new(plan_or_op: (&Operation, &str, &str), started: DateTime<Local>) -> Report {
        let (operation, cluster, target) = plan_or_op;
        Report {
            operation: operation.clone(),
            cluster: cluster.to_string(),
            target: target.to_string(),
            balancers: Vec::new(),
            before: Value::Null,
            after: Value::Null,
            outcome: Outcome::Done,
            moved: None,
            forced: Vec::new(),
            started,
            took: Duration::ZERO,
            audit: String::new(),
            batch: None,
        }
    }

    /// Every balancer confirmed it.
    pub fn done(&self) -> bool {
        self.outcome == Outcome::Done
    }

    /// One line: "done in 4 ms", "VIP moved lb1 → lb2 in 3.1 s, …", "refused: …"; a
    /// change every balancer already had says so ("done in 4 ms — nothing changed:
    /// already DRAIN on lb1, DRAIN on lb2").
    pub fn summary(&self) -> String {
        match (&self.moved, self.done()) {
            (Some((from, to, timing)), true) => failover::describe(from.as_deref(), to, timing),
            (_, _) if matches!(self.outcome, Outcome::Refused { .. }) => self.outcome.to_string(),
            (_, true) if self.unchanged() => format!(
                "{} in {} ms — nothing changed: already {}",
                self.outcome,
                self.took.as_millis(),
                states(&self.after)
            ),
            _ => format!("{} in {} ms", self.outcome, self.took.as_millis()),
        }
    }

    /// A backend change read back the same on every balancer as before it.
    fn unchanged(&self) -> bool {
        matches!(self.operation, Operation::Server { .. })
            && self.before.as_object().is_some_and(|m| !m.is_empty())
            && self.before == self.after
    }
}

/// Records an operation refused before acting (read-only, not confirmed, a pre-check)
/// and returns its report.
pub fn refuse(profile: &Profile, op: &Operation, target: &str, reason: String) -> Report {
    refuse_in(profile, op, target, reason, None)
}

/// [`refuse`] for a change of a batch: its audit line names the batch.
pub fn refuse_in(
    profile: &Profile,
    op: &Operation,
    target: &str,
    reason: String,
    batch: Option<String>,
) -> Report {
    let mut r = Report::new((op, &profile.name, target), Local::now());
    r.batch = batch;
    r.outcome = Outcome::Refused {
        reason: crate::text::sentence(&reason),
    };
    r.audit = super::audit::record(profile, &r);
    r
}

/// Per-balancer states as a sentence: "UP on lb1, DRAIN on lb2" or "lb2 unreadable
/// (no answer within 2s)"; never JSON.
pub fn states(v: &Value) -> String {
    let Some(map) = v.as_object() else {
        return "unknown".into();
    };
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(name, s)| match s {
            Value::String(word) => format!("{word} on {name}"),
            Value::Bool(true) => format!("on {name}"),
            Value::Bool(false) => format!("not on {name}"),
            other => match other.get("error").and_then(Value::as_str) {
                Some(e) => format!("{name} unreadable ({})", crate::text::sentence(e)),
                None => format!("{name} unknown"),
            },
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records a shell the console opened on `host` and how it ended.
pub fn shell_ended(profile: &Profile, host: &str, took: Duration, ended: Result<String, String>) {
    let mut r = Report::new(
        (
            &Operation::Shell {
                host: host.to_string(),
            },
            &profile.name,
            host,
        ),
        Local::now() - chrono::Duration::from_std(took).unwrap_or_default(),
    );
    r.took = took;
    r.outcome = match ended {
        Ok(_) => Outcome::Done,
        Err(reason) => Outcome::Failed { reason },
    };
    r.balancers = vec![host.to_string()];
    super::audit::record(profile, &r);
}

/// Runs a confirmed plan: acts, reads back, audits. `forced`: failed pre-checks that
/// `--force` overrode (recorded). `progress` gets a line at each step of a VIP move.
pub async fn execute(
    profile: &Profile,
    plan: &Plan,
    pool: Option<&Pool>,
    forced: Vec<String>,
    progress: &(dyn Fn(String) + Sync),
) -> Report {
    let mut r = Report::new((&plan.operation, &plan.cluster, &plan.target), Local::now());
    r.forced = forced;
    r.batch = plan.batch.clone();
    let t0 = Instant::now();
    match &plan.operation {
        Operation::Server { backend, change } => {
            let acted = drain::apply(profile, backend, *change, pool).await;
            r.balancers = acted.balancers;
            r.before = acted.before;
            r.after = acted.after;
            r.outcome = acted.outcome;
        }
        Operation::Vip { direction } => {
            let to = plan.to.clone().unwrap_or_default();
            let Some(pool) = pool else {
                r.outcome = Outcome::Failed {
                    reason: "no SSH: keepalived is changed over SSH".into(),
                };
                r.audit = super::audit::record(profile, &r);
                return r;
            };
            if *direction == Direction::Failback {
                if let Some(why) = failover::failback_blocker(profile, &plan.target, pool).await {
                    r.outcome = Outcome::Refused { reason: why };
                    r.audit = super::audit::record(profile, &r);
                    return r;
                }
            }
            let moved = failover::run(profile, plan, *direction, pool, progress).await;
            r.balancers = profile.balancers().map(|b| b.name.clone()).collect();
            r.before = moved.before;
            r.after = moved.after;
            r.outcome = moved.outcome;
            r.moved = Some((plan.from.clone(), to, moved.timing));
        }
        Operation::Roll { backends, exec } => {
            let Some(pool) = pool else {
                r.outcome = Outcome::Failed {
                    reason: "no SSH: a roll needs it for its checks and commands".into(),
                };
                r.audit = super::audit::record(profile, &r);
                return r;
            };
            let opts = super::roll::RollOptions {
                exec: exec.clone(),
                wait_healthy: super::roll::WAIT_HEALTHY,
                drain_timeout: super::roll::DRAIN_TIMEOUT,
            };
            let wait = |name: String| async move {
                super::roll::sessions_end(profile, &name, super::roll::DRAIN_TIMEOUT, pool).await
            };
            let rolled = super::roll::roll(
                profile,
                backends,
                &opts,
                pool,
                progress,
                &|_| super::roll::OnTimeout::Abort,
                wait,
            )
            .await;
            r.balancers = profile.balancers().map(|b| b.name.clone()).collect();
            r.after = rolled.as_json();
            r.batch = Some(rolled.id.clone());
            r.outcome = rolled.outcome(backends.len());
        }
        Operation::Shell { .. } => {
            r.outcome = Outcome::Refused {
                reason: "a shell needs the console's terminal".into(),
            };
        }
        Operation::Runtime { command, .. } => {
            let sent = super::runtime::send(profile, &plan.balancers, command, pool).await;
            r.balancers = sent.balancers;
            r.after = sent.answers;
            r.outcome = sent.outcome;
        }
    }
    r.took = t0.elapsed();
    r.audit = if plan.operation.is_read() {
        super::runtime::NOT_AUDITED.into()
    } else {
        super::audit::record_shared(profile, &r, pool).await
    };
    r
}

/// The console's path: the pair is read again and the operation planned anew; it runs
/// only if the fresh plan has no failed pre-check (`forced`: none but those `--force`
/// overrides, recorded as forced) and asks for no more than the operator gave (a name typed where only y was pressed is refused, to be confirmed again).
pub async fn perform(
    profile: &Profile,
    confirmed: &Plan,
    failed_over: Option<&str>,
    forced: bool,
    pool: Option<&Pool>,
    progress: &(dyn Fn(String) + Sync),
) -> Report {
    let op = &confirmed.operation;
    // One operator at a time: the pair is read again under the lock, so a change
    // another lbdeck made a moment ago is what this plan sees.
    let held = match pool.filter(|_| !op.is_read()) {
        Some(pool) => match super::lock::acquire(profile, pool, &op.to_string()).await {
            Ok(h) => Some(h),
            Err(busy) => return refuse(profile, op, &confirmed.target, busy.to_string()),
        },
        None => None,
    };
    let r = perform_locked(profile, confirmed, failed_over, forced, pool, progress).await;
    if let (Some(h), Some(pool)) = (held, pool) {
        h.release(pool).await;
    }
    r
}

/// [`perform`] once the pair is locked.
async fn perform_locked(
    profile: &Profile,
    confirmed: &Plan,
    failed_over: Option<&str>,
    forced: bool,
    pool: Option<&Pool>,
    progress: &(dyn Fn(String) + Sync),
) -> Report {
    let op = &confirmed.operation;
    // A runtime command's plan reads only the profile: planning it again would find the
    // same, and the pair need not be read first.
    if let Operation::Runtime { .. } = op {
        return execute(profile, confirmed, pool, Vec::new(), progress).await;
    }
    let fresh = crate::status::poll(profile, pool, matches!(op, Operation::Vip { .. })).await;
    let mut plan = match plan::plan(profile, &fresh, op, failed_over) {
        Ok(p) => p,
        Err(e) => return refuse(profile, op, &confirmed.target, e.to_string()),
    };
    plan.batch = confirmed.batch.clone();
    if plan.target != confirmed.target {
        let why = format!(
            "the pair changed since the dialog: it would now act on {}",
            plan.target
        );
        return refuse(profile, op, &confirmed.target, why);
    }
    let blockers = plan.blockers(forced);
    if !blockers.is_empty() {
        let why = format!("pre-checks failed: {}", blockers.join("; "));
        return refuse(profile, op, &plan.target, why);
    }
    if plan.confirmation.stricter_than(&confirmed.confirmation) {
        return refuse(profile, op, &plan.target, plan.confirmation.again());
    }
    let overridden = if forced {
        plan.forced_past().into_iter().map(String::from).collect()
    } else {
        Vec::new()
    };
    execute(profile, &plan, pool, overridden, progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_as_sentences_not_json() {
        let v = serde_json::json!({
            "lb1": "UP",
            "lb2": {"error": "cannot connect\r\n to tcp://10.0.0.12:9999"},
        });
        assert_eq!(
            states(&v),
            "UP on lb1, lb2 unreadable (cannot connect to tcp://10.0.0.12:9999)"
        );
        assert_eq!(
            states(&serde_json::json!({"lb1": true, "lb2": false})),
            "on lb1, not on lb2"
        );
        assert_eq!(states(&Value::Null), "unknown");
    }

    #[test]
    fn a_change_every_balancer_already_had_says_nothing_changed() {
        let op = Operation::Server {
            backend: "web1".into(),
            change: crate::ops::operation::ServerChange::Drain,
        };
        let mut r = Report::new((&op, "shop", "web1"), Local::now());
        r.outcome = Outcome::Done;
        r.took = Duration::from_millis(4);
        r.before = serde_json::json!({"lb1": "DRAIN", "lb2": "DRAIN"});
        r.after = r.before.clone();
        assert_eq!(
            r.summary(),
            "done in 4 ms — nothing changed: already DRAIN on lb1, DRAIN on lb2"
        );
        r.before = serde_json::json!({"lb1": "UP", "lb2": "DRAIN"});
        assert_eq!(r.summary(), "done in 4 ms");
        // A failed read-back is not "nothing changed", and neither is a VIP move.
        r.before = r.after.clone();
        r.outcome = Outcome::Failed {
            reason: "lb2: no answer within 1s".into(),
        };
        assert!(!r.summary().contains("nothing changed"));
    }
}
