//! Several server changes confirmed once: every backend × balancer change listed, one
//! capacity guard over all of them, then each run and verified in turn with its own audit
//! line carrying the batch's id, and one summary ("5 of 6 done, 1 failed: …").

use super::plan::{self, Check, CheckState, Confirmation, Plan, PlanError};
use super::run::{execute, Report};
use super::{Operation, Outcome};
use crate::config::profile::Profile;
use crate::model::Cluster;
use crate::ssh::Pool;

/// Server changes planned together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Names the batch in every audit line it writes.
    pub id: String,
    /// One plan per backend, in the order given.
    pub plans: Vec<Plan>,
    /// What the batch as a whole was checked for (the capacity left).
    pub checks: Vec<Check>,
    /// How it must be confirmed: the strictest of its changes, or the profile's name
    /// typed when together they leave too little in rotation.
    pub confirmation: Confirmation,
}

impl Batch {
    /// The failed pre-checks of every change, each named by its backend.
    pub fn blockers(&self, forced: bool) -> Vec<String> {
        self.plans
            .iter()
            .flat_map(|p| {
                p.blockers(forced)
                    .into_iter()
                    .map(move |b| format!("{}: {b}", p.target))
            })
            .chain(
                self.checks
                    .iter()
                    .filter(|c| c.state == CheckState::Failed)
                    .map(|c| c.what.clone()),
            )
            .collect()
    }
}

/// A new batch id: the time to the millisecond and this process, unique per operator.
pub fn new_id() -> String {
    format!(
        "{}-{}",
        chrono::Local::now().format("%Y%m%dT%H%M%S%.3f"),
        std::process::id()
    )
}

/// Plans every operation on `cluster` as one batch. Backends named twice count once.
pub fn plan(profile: &Profile, cluster: &Cluster, ops: &[Operation]) -> Result<Batch, PlanError> {
    let id = new_id();
    let mut plans: Vec<Plan> = Vec::new();
    for op in ops {
        if plans.iter().any(|p| &p.operation == op) {
            continue;
        }
        let mut p = plan::plan(profile, cluster, op, None)?;
        p.batch = Some(id.clone());
        plans.push(p);
    }
    let removed: Vec<&str> = plans
        .iter()
        .filter(|p| p.operation.removes_capacity())
        .map(|p| p.target.as_str())
        .collect();
    let risk = plan::capacity_left(cluster, &removed, profile.min_healthy_backends);
    let mut checks = Vec::new();
    let typed = plans.iter().find_map(|p| match &p.confirmation {
        Confirmation::Typed { because, .. } => Some(because.clone()),
        Confirmation::YesNo => None,
    });
    let because = match risk {
        Some(why) => {
            checks.push(Check {
                state: CheckState::Info,
                what: why.clone(),
                forceable: false,
            });
            Some(why)
        }
        None => typed,
    };
    let confirmation = match because {
        Some(because) if plans.len() > 1 => Confirmation::Typed {
            name: profile.name.clone(),
            because,
        },
        _ => plans
            .first()
            .map_or(Confirmation::YesNo, |p| p.confirmation.clone()),
    };
    Ok(Batch {
        id,
        plans,
        checks,
        confirmation,
    })
}

/// Runs every change of a confirmed batch in turn (each on the whole pair, read back and
/// audited with the batch id); `forced` as for one operation.
pub async fn execute_all(
    profile: &Profile,
    batch: &Batch,
    pool: Option<&Pool>,
    forced: &[String],
    progress: &(dyn Fn(String) + Sync),
) -> Vec<Report> {
    let mut reports = Vec::new();
    for (i, p) in batch.plans.iter().enumerate() {
        progress(format!(
            "{} ({} of {})",
            p.operation,
            i + 1,
            batch.plans.len()
        ));
        let overridden = p
            .forced_past()
            .into_iter()
            .filter(|c| forced.iter().any(|f| f.ends_with(c)))
            .map(String::from)
            .collect();
        reports.push(execute(profile, p, pool, overridden, progress).await);
    }
    reports
}

/// "3 of 3 done", or "2 of 3 done, 1 failed: maint web3 (lb2: …)".
pub fn summary(reports: &[Report]) -> String {
    let done = reports.iter().filter(|r| r.done()).count();
    let not: Vec<String> = reports
        .iter()
        .filter(|r| !r.done())
        .map(|r| format!("{} ({})", r.operation, r.outcome))
        .collect();
    let mut s = format!("{done} of {} done", reports.len());
    if !not.is_empty() {
        let word = if reports
            .iter()
            .any(|r| matches!(r.outcome, Outcome::PartlyDone { .. }))
        {
            "not done"
        } else {
            "failed"
        };
        s.push_str(&format!(", {} {word}: {}", not.len(), not.join("; ")));
    }
    s
}

impl Batch {
    /// The batch as one plan for the confirmation dialog: titled by its first change,
    /// targeting every backend, each change's pre-checks named by its backend, then the
    /// batch's own; confirmed as the batch must be.
    pub fn as_plan(&self) -> Option<Plan> {
        let first = self.plans.first()?;
        let mut checks: Vec<Check> = self
            .plans
            .iter()
            .flat_map(|p| {
                p.checks.iter().map(move |c| Check {
                    what: if c.what.starts_with(&p.target) {
                        c.what.clone()
                    } else {
                        format!("{}: {}", p.target, c.what)
                    },
                    ..c.clone()
                })
            })
            .collect();
        checks.extend(self.checks.iter().cloned());
        Some(Plan {
            operation: first.operation.clone(),
            cluster: first.cluster.clone(),
            target: self
                .plans
                .iter()
                .map(|p| p.target.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            balancers: first.balancers.clone(),
            from: None,
            to: None,
            checks,
            confirmation: self.confirmation.clone(),
            batch: Some(self.id.clone()),
        })
    }
}

/// The console's path for a batch: the pair is read again and the batch planned anew
/// (keeping its id); it runs only if no pre-check fails now (`forced`: past those
/// `--force` overrides) and it asks for no more than the operator gave; otherwise every
/// change is refused, audited with the batch id.
pub async fn perform_all(
    profile: &Profile,
    confirmed: &Batch,
    forced: bool,
    pool: Option<&Pool>,
    progress: &(dyn Fn(String) + Sync),
) -> Vec<Report> {
    let ops: Vec<Operation> = confirmed
        .plans
        .iter()
        .map(|p| p.operation.clone())
        .collect();
    let refuse_all = |why: String| -> Vec<Report> {
        confirmed
            .plans
            .iter()
            .map(|p| {
                super::run::refuse_in(
                    profile,
                    &p.operation,
                    &p.target,
                    why.clone(),
                    Some(confirmed.id.clone()),
                )
            })
            .collect()
    };
    let held = match pool {
        Some(pool) => {
            let what = format!("batch of {}", confirmed.plans.len());
            match super::lock::acquire(profile, pool, &what).await {
                Ok(h) => Some(h),
                Err(busy) => return refuse_all(busy.to_string()),
            }
        }
        None => None,
    };
    let reports =
        perform_locked(profile, confirmed, &ops, forced, pool, progress, refuse_all).await;
    if let (Some(h), Some(pool)) = (held, pool) {
        h.release(pool).await;
    }
    reports
}

/// [`perform_all`] once the pair is locked.
async fn perform_locked(
    profile: &Profile,
    confirmed: &Batch,
    ops: &[Operation],
    forced: bool,
    pool: Option<&Pool>,
    progress: &(dyn Fn(String) + Sync),
    refuse_all: impl Fn(String) -> Vec<Report>,
) -> Vec<Report> {
    let fresh = crate::status::poll(profile, pool, false).await;
    let mut batch = match plan(profile, &fresh, ops) {
        Ok(b) => b,
        Err(e) => return refuse_all(e.to_string()),
    };
    batch.id = confirmed.id.clone();
    for p in &mut batch.plans {
        p.batch = Some(batch.id.clone());
    }
    let blockers = batch.blockers(forced);
    if !blockers.is_empty() {
        return refuse_all(format!("pre-checks failed: {}", blockers.join("; ")));
    }
    if batch.confirmation.stricter_than(&confirmed.confirmation) {
        return refuse_all(batch.confirmation.again());
    }
    let overridden = if forced {
        batch.blockers(false)
    } else {
        Vec::new()
    };
    execute_all(profile, &batch, pool, &overridden, progress).await
}
