//! The command-line front end of every operation (`lbdeck drain|undrain|failover|
//! failback`): the same plan and [`super::execute`] as the console's keys, with the
//! confirmation asked on the terminal, or given by `--yes` / `--confirm NAME` without one.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use super::plan::{CheckState, Confirmation, PlanError};
use super::{drain, Operation, Outcome};
use crate::config::profile::Profile;

/// Exit code when the action was refused (read-only, not confirmed, a pre-check).
pub const EXIT_REFUSED: u8 = 3;

/// Exit code for a backend the cluster does not have.
pub const EXIT_USAGE: u8 = 2;

/// How the operator asked for it.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--read-only` was given.
    pub read_only: bool,
    /// `--yes`: confirmed up front (needed without a terminal).
    pub yes: bool,
    /// `--confirm NAME`: the typed name, for guarded actions without a terminal.
    pub confirm: Option<String>,
    /// `--force`: act although a balancer's state could not be read first (audited).
    pub force: bool,
    /// `--wait`: until the drained server has no sessions left.
    pub wait: bool,
    /// `--timeout` for `--wait`.
    pub timeout: Duration,
}

fn ask(question: &str) -> Option<String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    Some(line.trim().to_string())
}

/// Refuses `op` (audited) and returns the exit code.
pub(super) fn refused(profile: &Profile, op: &Operation, target: &str, reason: String) -> u8 {
    let r = super::refuse(profile, op, target, reason);
    // The outcome reads "refused: REASON".
    eprintln!("lbdeck: {op} {} ({})", r.outcome, r.audit);
    EXIT_REFUSED
}

/// Confirms on the terminal, or checks `--yes`/`--confirm`; Err(why) when not confirmed.
pub(super) fn confirmed(c: &Confirmation, question: &str, opts: &Options) -> Result<(), String> {
    let interactive = std::io::stdin().is_terminal();
    match (c, interactive) {
        (Confirmation::Typed { name, because }, true) => {
            let answer = ask(&format!("{because}.\nType {name} to confirm: "));
            if answer.as_deref() == Some(name.as_str()) {
                Ok(())
            } else {
                Err("the name was not typed".into())
            }
        }
        (Confirmation::Typed { name, because }, false) => {
            if opts.confirm.as_deref() == Some(name.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "{because}: without a terminal, pass --confirm {name}"
                ))
            }
        }
        (Confirmation::YesNo, _) if opts.yes => Ok(()),
        (Confirmation::YesNo, true) => {
            let answer = ask(&format!("{question} [y/N] "));
            if matches!(answer.as_deref(), Some("y" | "Y" | "yes")) {
                Ok(())
            } else {
                Err("not confirmed".into())
            }
        }
        (Confirmation::YesNo, false) => Err("no terminal to confirm on: add --yes".into()),
    }
}

/// Connects to the pair's balancers and reads it once (the VIP's holders too for a VIP
/// move).
async fn read_pair(
    profile: &Profile,
    with_vip: bool,
) -> (std::sync::Arc<crate::ssh::Pool>, crate::model::Cluster) {
    let pool = connect(profile);
    let pair = crate::status::poll(profile, Some(&pool), with_vip).await;
    (pool, pair)
}

/// The SSH connections to the pair's balancers (a key's passphrase asked now).
pub(super) fn connect(profile: &Profile) -> std::sync::Arc<crate::ssh::Pool> {
    let resolver = crate::ssh::Resolver::load(&profile.ssh);
    let nodes: Vec<crate::ssh::NodeAddr> = profile
        .balancers()
        .map(|b| resolver.resolve(&b.host))
        .collect();
    crate::ssh::Pool::for_profile(profile, resolver, nodes.iter(), true)
}

/// Runs server changes from the command line: one as [`act`] does, several as one
/// confirmed batch — every change listed with its pre-checks, one question, each run and
/// read back in turn with its own audit line, then "N of M done". Exit codes as [`act`].
pub async fn act_all(profile: &Profile, mut ops: Vec<Operation>, opts: &Options) -> u8 {
    if ops.len() == 1 {
        return act(profile, ops.remove(0), opts).await;
    }
    if opts.read_only {
        for op in &ops {
            refused(
                profile,
                op,
                op.backend().unwrap_or(""),
                "--read-only".into(),
            );
        }
        return EXIT_REFUSED;
    }
    let (pool, pair) = read_pair(profile, false).await;
    let batch = match super::batch::plan(profile, &pair, &ops) {
        Ok(b) => b,
        Err(e @ PlanError::NoBackend { .. }) => {
            eprintln!("lbdeck: {e}");
            return EXIT_USAGE;
        }
        Err(e) => {
            for op in &ops {
                refused(profile, op, op.backend().unwrap_or(""), e.to_string());
            }
            return EXIT_REFUSED;
        }
    };
    crate::outln!(
        "batch {} of {} changes on every balancer of {}:",
        batch.id,
        batch.plans.len(),
        profile.name
    );
    for p in &batch.plans {
        crate::outln!("{}:", p.operation);
        for c in &p.checks {
            crate::outln!("  {} {}", c.mark(), c.what);
        }
    }
    for c in &batch.checks {
        crate::outln!("{} {}", c.mark(), c.what);
    }
    let blockers = batch.blockers(opts.force);
    let why = if blockers.is_empty() {
        let question = format!(
            "{} changes on every balancer of {}?",
            batch.plans.len(),
            profile.name
        );
        confirmed(&batch.confirmation, &question, opts).err()
    } else {
        Some(format!("pre-checks failed: {}", blockers.join("; ")))
    };
    if let Some(why) = why {
        for p in &batch.plans {
            let r = super::run::refuse_in(
                profile,
                &p.operation,
                &p.target,
                why.clone(),
                p.batch.clone(),
            );
            eprintln!("lbdeck: {} {}", p.operation, r.outcome);
        }
        return EXIT_REFUSED;
    }
    let forced: Vec<String> = if opts.force {
        batch.blockers(false)
    } else {
        Vec::new()
    };
    let reports = super::batch::execute_all(profile, &batch, Some(&pool), &forced, &|line| {
        crate::outln!("  {line}")
    })
    .await;
    for r in &reports {
        crate::outln!(
            "{}: {} in {} ms (before: {}; after: {})",
            r.operation,
            r.outcome,
            r.took.as_millis(),
            super::run::states(&r.before),
            super::run::states(&r.after)
        );
    }
    crate::outln!("batch {}: {}", batch.id, super::batch::summary(&reports));
    if let Some(r) = reports.last() {
        crate::outln!("{}", r.audit);
    }
    if reports.iter().all(|r| r.done()) {
        0
    } else if reports
        .iter()
        .all(|r| matches!(r.outcome, Outcome::Refused { .. }))
    {
        EXIT_REFUSED
    } else {
        1
    }
}

/// Runs `op` from the command line: reads the pair, plans, shows the pre-checks, asks,
/// acts, reads back, audits. Returns the process exit code: 0 done, 1 not done on every
/// balancer, 2 no such backend, 3 refused.
pub async fn act(profile: &Profile, op: Operation, opts: &Options) -> u8 {
    if opts.read_only {
        return refused(
            profile,
            &op,
            op.backend().unwrap_or(""),
            "--read-only".into(),
        );
    }
    let is_vip = matches!(op, Operation::Vip { .. });
    let (pool, pair) = read_pair(profile, is_vip).await;
    let plan = match super::plan(profile, &pair, &op, None) {
        Ok(p) => p,
        Err(e @ PlanError::NoBackend { .. }) => {
            eprintln!("lbdeck: {e}");
            return EXIT_USAGE;
        }
        Err(e) => return refused(profile, &op, "", e.to_string()),
    };
    if is_vip {
        crate::outln!(
            "{}: act on {}; the VIP is on {} and should end on {}",
            op.verb(),
            plan.target,
            plan.from.as_deref().unwrap_or("no balancer"),
            plan.to.as_deref().unwrap_or("?")
        );
    }
    for c in &plan.checks {
        let note = match c.state {
            CheckState::Failed if opts.force && c.forceable => " (overridden by --force)",
            _ => "",
        };
        crate::outln!("  {} {}{note}", c.mark(), c.what);
    }
    let blockers = plan.blockers(opts.force);
    if !blockers.is_empty() {
        let why = format!("pre-checks failed: {}", blockers.join("; "));
        return refused(profile, &op, &plan.target, why);
    }
    let question = match (&plan.from, &plan.to) {
        (Some(from), Some(to)) if is_vip => format!("{} {from} → {to}?", op.verb()),
        _ => format!("{op} on every balancer of {}?", profile.name),
    };
    if let Err(why) = confirmed(&plan.confirmation, &question, opts) {
        return refused(profile, &op, &plan.target, why);
    }
    // Read again and planned anew under the pair's lock, as the console does: what
    // another operator changed meanwhile is seen before acting.
    let r = super::perform(profile, &plan, None, opts.force, Some(&pool), &|line| {
        crate::outln!("  {line}")
    })
    .await;
    // Refused when read again under the lock: said as every refusal is.
    if let Outcome::Refused { .. } = r.outcome {
        eprintln!("lbdeck: {op} {} ({})", r.outcome, r.audit);
        return EXIT_REFUSED;
    }
    match &r.moved {
        Some((from, to, timing)) => {
            crate::outln!("{}", super::failover::describe(from.as_deref(), to, timing));
            crate::outln!("{}: {}", op.verb(), r.outcome);
        }
        None => crate::outln!(
            "{op}: {} in {} ms (before: {}; after: {})",
            r.outcome,
            r.took.as_millis(),
            super::run::states(&r.before),
            super::run::states(&r.after)
        ),
    }
    crate::outln!("{}", r.audit);
    if r.outcome != Outcome::Done {
        return if matches!(r.outcome, Outcome::Refused { .. }) {
            EXIT_REFUSED
        } else {
            1
        };
    }
    match op.backend() {
        Some(backend) if opts.wait && op.removes_capacity() => {
            wait_drained(profile, backend, opts.timeout, &pool).await
        }
        _ => 0,
    }
}

/// Rolls through `backends` from the command line (see [`super::roll`]): confirmed once,
/// then each backend in turn with its progress printed. A backend whose sessions do not
/// end in time asks (kill / skip / abort) on a terminal, else does what `on_timeout`
/// says (abort without one). Exit 0 when every backend came back, 1 when the roll
/// stopped (it says where), 2 for an unknown backend, 3 when refused.
pub async fn roll(
    profile: &Profile,
    backends: &[String],
    ropts: &super::roll::RollOptions,
    on_timeout: Option<super::roll::OnTimeout>,
    opts: &Options,
) -> u8 {
    use super::roll::{OnTimeout, Turn};
    let first = Operation::Roll {
        backends: backends.to_vec(),
        exec: ropts.exec.clone(),
    };
    if opts.read_only {
        return refused(profile, &first, &backends.join(", "), "--read-only".into());
    }
    let earlier: Vec<serde_json::Value> = super::audit::path(profile)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default();
    if let Some(where_) = super::roll::unfinished(&earlier) {
        crate::outln!("note: an earlier {where_}");
    }
    let (pool, pair) = read_pair(profile, false).await;
    for b in backends {
        if let Err(e @ PlanError::NoBackend { .. }) =
            super::plan(profile, &pair, &Operation::drain(b), None)
        {
            eprintln!("lbdeck: {e}");
            return EXIT_USAGE;
        }
    }
    let work = match &ropts.exec {
        Some(cmd) => format!("drain, run `{cmd}`, wait until healthy, ready"),
        None => "drain, wait until healthy, ready".into(),
    };
    crate::outln!(
        "roll through {} on every balancer of {}: {work}, one at a time",
        backends.join(", "),
        profile.name
    );
    let confirmation = Confirmation::rule(&profile.name, profile.environment, &profile.name, None);
    if let Err(why) = confirmed(&confirmation, "roll?", opts) {
        return refused(profile, &first, &backends.join(", "), why);
    }
    let interactive = std::io::stdin().is_terminal();
    let decide = |name: &str| -> OnTimeout {
        match (on_timeout, interactive) {
            (Some(d), _) => d,
            (None, false) => OnTimeout::Abort,
            (None, true) => {
                let answer = ask(&format!(
                    "{name}'s sessions did not end in time: k kill them, s skip it, a abort [a] "
                ));
                match answer.as_deref() {
                    Some("k") => OnTimeout::Kill,
                    Some("s") => OnTimeout::Skip,
                    _ => OnTimeout::Abort,
                }
            }
        }
    };
    let held = match super::lock::acquire(profile, &pool, "roll").await {
        Ok(h) => h,
        Err(busy) => return refused(profile, &first, &backends.join(", "), busy.to_string()),
    };
    let timeout = ropts.drain_timeout;
    let p = &pool;
    let rolled = super::roll::roll(
        profile,
        backends,
        ropts,
        &pool,
        &|line| crate::outln!("{line}"),
        &decide,
        |name: String| async move { wait_drained(profile, &name, timeout, p).await == 0 },
    )
    .await;
    held.release(&pool).await;
    for (name, turn) in &rolled.turns {
        let how = match turn {
            Turn::Done => "done".to_string(),
            Turn::Skipped => "skipped".to_string(),
            Turn::Stopped(why) => format!("STOPPED: {why}"),
        };
        crate::outln!("  {name}: {how}");
    }
    let untouched: Vec<&str> = backends
        .iter()
        .skip(rolled.turns.len())
        .map(String::as_str)
        .collect();
    if !untouched.is_empty() {
        crate::outln!("  not reached: {}", untouched.join(", "));
    }
    crate::outln!(
        "{} (audit lines carry batch {})",
        if rolled.done(backends.len()) {
            "roll done"
        } else {
            "roll not finished"
        },
        rolled.id
    );
    if rolled.done(backends.len()) {
        0
    } else {
        1
    }
}

/// How long a window of the access log is read when waiting on requests.
const QUIET_WINDOW: Duration = Duration::from_secs(2);

/// Windows in a row without a request to the server before it counts as drained.
const QUIET_WINDOWS: u32 = 2;

/// Waits on the signal the pair really has: open sessions where a balancer counts them
/// (HAProxy), else requests in the nginx access logs; says which, and says so when there
/// is none (nginx open source without `access_log`).
async fn wait_drained(
    profile: &Profile,
    server: &str,
    timeout: Duration,
    pool: &crate::ssh::Pool,
) -> u8 {
    if !drain::sessions(profile, server, Some(pool))
        .await
        .is_empty()
    {
        crate::outln!("waiting for {server}'s open sessions to reach 0 (runtime API)");
        return wait_empty(profile, server, timeout, pool).await;
    }
    let address = profile
        .backends()
        .find(|b| b.name == server)
        .map(|b| b.address.0.clone());
    match address {
        Some(address) if profile.balancers().any(|b| b.access_log.is_some()) => {
            crate::outln!(
                "nginx does not count a server's open connections: waiting until the access \
                 logs show no request to {server} for {} s",
                (QUIET_WINDOW * QUIET_WINDOWS).as_secs()
            );
            wait_quiet(profile, server, &address, timeout).await
        }
        _ => {
            crate::outln!(
                "nothing to wait on: these balancers do not count {server}'s open connections \
                 and no access_log is set (after the reload, old nginx workers finish the \
                 requests they hold)"
            );
            0
        }
    }
}

/// Follows the access logs in short windows until none shows a request to `address`.
async fn wait_quiet(profile: &Profile, server: &str, address: &str, timeout: Duration) -> u8 {
    let started = Instant::now();
    let mut quiet = 0;
    while started.elapsed() < timeout {
        let window = crate::status::traffic(profile, QUIET_WINDOW).await;
        if window.balancers.is_empty() {
            continue;
        }
        let requests: u64 = window
            .balancers
            .values()
            .flatten()
            .filter(|t| t.addr == address)
            .map(|t| t.requests)
            .sum();
        crate::outln!(
            "{server}: {requests} request(s) in the last {} s at +{:.1}s (access log)",
            QUIET_WINDOW.as_secs(),
            started.elapsed().as_secs_f64()
        );
        quiet = if requests == 0 { quiet + 1 } else { 0 };
        if quiet >= QUIET_WINDOWS {
            crate::outln!(
                "{server} drained: no request for {} s (access log), after {:.1} s",
                (QUIET_WINDOW * QUIET_WINDOWS).as_secs(),
                started.elapsed().as_secs_f64()
            );
            return 0;
        }
    }
    eprintln!(
        "lbdeck: {server} still gets requests after {}",
        humantime::format_duration(timeout)
    );
    1
}

/// Polls the server's sessions on every balancer until they are all 0.
async fn wait_empty(
    profile: &Profile,
    server: &str,
    timeout: Duration,
    pool: &crate::ssh::Pool,
) -> u8 {
    let started = Instant::now();
    let mut last = None;
    loop {
        let now = drain::sessions(profile, server, Some(pool)).await;
        let total: u64 = now.iter().filter_map(|(_, s)| *s).sum();
        let unknown = now.iter().any(|(_, s)| s.is_none());
        if last != Some(total) {
            crate::outln!(
                "{server}: {total} session(s) at +{:.1}s",
                started.elapsed().as_secs_f64()
            );
            last = Some(total);
        }
        if total == 0 && !unknown {
            crate::outln!(
                "{server} drained in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return 0;
        }
        if started.elapsed() > timeout {
            eprintln!(
                "lbdeck: {server} still has {total} session(s) after {}",
                humantime::format_duration(timeout)
            );
            return 1;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
