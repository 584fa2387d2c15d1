//! The command-line form of the actions (`lbdeck drain|undrain`): the same code the
//! console's keys call, with the same confirmation on a terminal and `--yes` without one.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use super::audit::{self, Entry};
use super::drain::{self, Want};
use super::Outcome;
use crate::config::profile::{Environment, Profile};

/// Exit code when the action was refused (read-only, not confirmed, a guard).
pub const EXIT_REFUSED: u8 = 3;

/// How the operator asked for it.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--read-only` was given.
    pub read_only: bool,
    /// `--yes`: confirmed up front (needed without a terminal).
    pub yes: bool,
    /// `--confirm NAME`: the typed name, for guarded actions without a terminal.
    pub confirm: Option<String>,
    /// `--wait`: until the drained server has no sessions left.
    pub wait: bool,
    /// `--timeout` for `--wait`.
    pub timeout: Duration,
}

/// Appends the audit line for an action; returns where it went (or why it did not).
pub fn record(
    profile: &Profile,
    action: &str,
    target: &str,
    report: Option<&drain::Report>,
    outcome: Outcome,
    started: chrono::DateTime<chrono::Local>,
) -> String {
    let entry = Entry {
        time: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        user: audit::user(),
        profile: profile.name.clone(),
        action: action.to_string(),
        target: target.to_string(),
        balancers: report.map(|r| r.balancers.clone()).unwrap_or_default(),
        before: report.map(|r| r.before.clone()).unwrap_or_default(),
        after: report.map(|r| r.after.clone()).unwrap_or_default(),
        outcome,
        duration_ms: report.map(|r| r.took.as_millis() as u64).unwrap_or(0),
    };
    match audit::append(&entry) {
        Ok(p) => format!("audit: {}", p.display()),
        Err(e) => format!("audit log NOT written: {e}"),
    }
}

fn ask(question: &str) -> Option<String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    Some(line.trim().to_string())
}

/// `lbdeck drain|undrain`: returns the process exit code.
pub async fn drain(profile: &Profile, server: &str, want: Want, opts: &Options) -> u8 {
    let started = chrono::Local::now();
    let action = want.action();
    let refuse = |reason: String| {
        let where_ = record(
            profile,
            action,
            server,
            None,
            Outcome::Refused {
                reason: reason.clone(),
            },
            started,
        );
        eprintln!("lbdeck: {action} {server} refused: {reason} ({where_})");
        EXIT_REFUSED
    };
    if opts.read_only {
        return refuse("--read-only".into());
    }
    let status = crate::status::collect(profile, None).await;
    if !status.backends.iter().any(|b| b.name == server) {
        let known: Vec<&str> = status.backends.iter().map(|b| b.name.as_str()).collect();
        eprintln!(
            "lbdeck: no backend named {server:?}; known: {}",
            known.join(", ")
        );
        return 2;
    }
    // Risk decides the confirmation: typing the name for the last healthy backend or in
    // production, y/n otherwise.
    let guard = if want == Want::Drain {
        drain::capacity_guard(&status, server, profile.min_healthy_backends)
    } else {
        None
    };
    let typed_needed = guard.clone().or_else(|| {
        (profile.environment == Environment::Production)
            .then(|| format!("{} is a production profile", profile.name))
    });
    let interactive = std::io::stdin().is_terminal();
    match (&typed_needed, interactive) {
        (Some(why), true) => {
            let answer = ask(&format!(
                "{why}.\nType the backend's name ({server}) to {action} it on every balancer: "
            ));
            if answer.as_deref() != Some(server) {
                return refuse("the name was not typed".into());
            }
        }
        (Some(why), false) => {
            if opts.confirm.as_deref() != Some(server) {
                return refuse(format!(
                    "{why}: without a terminal, pass --confirm {server}"
                ));
            }
        }
        (None, true) if !opts.yes => {
            let answer = ask(&format!(
                "{action} {server} on every balancer of {}? [y/N] ",
                profile.name
            ));
            if !matches!(answer.as_deref(), Some("y" | "Y" | "yes")) {
                return refuse("not confirmed".into());
            }
        }
        (None, false) if !opts.yes => return refuse("no terminal to confirm on: add --yes".into()),
        (None, _) => {}
    }
    let nodes: Vec<crate::ssh::NodeAddr> = {
        let cfg = crate::ssh::config::load_user_config();
        profile
            .balancers()
            .map(|b| crate::ssh::config::resolve(&b.host, &profile.ssh, cfg.as_ref()))
            .collect()
    };
    let pool = crate::ssh::pool::for_profile(profile, nodes.iter(), true);
    let report = drain::apply(profile, server, want, Some(&pool)).await;
    let where_ = record(
        profile,
        action,
        server,
        Some(&report),
        report.outcome.clone(),
        started,
    );
    crate::outln!(
        "{action} {server}: {} in {} ms (before {}, after {})",
        report.outcome,
        report.took.as_millis(),
        report.before,
        report.after
    );
    crate::outln!("{where_}");
    if report.outcome != Outcome::Done {
        return 1;
    }
    if opts.wait && want == Want::Drain {
        return wait_empty(profile, server, opts.timeout).await;
    }
    0
}

/// Polls the server's sessions on every balancer until they are all 0.
async fn wait_empty(profile: &Profile, server: &str, timeout: Duration) -> u8 {
    let started = Instant::now();
    let mut last = None;
    loop {
        let now = drain::sessions(profile, server).await;
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

/// `lbdeck failover|failback`: returns the process exit code.
pub async fn failover(profile: &Profile, dir: super::failover::Direction, opts: &Options) -> u8 {
    use super::failover;
    let started = chrono::Local::now();
    let action = dir.action();
    let audit_refused = |target: &str, reason: String| {
        let where_ = record(
            profile,
            action,
            target,
            None,
            Outcome::Refused {
                reason: reason.clone(),
            },
            started,
        );
        eprintln!("lbdeck: {action} refused: {reason} ({where_})");
        EXIT_REFUSED
    };
    if opts.read_only {
        return audit_refused("", "--read-only".into());
    }
    let status = crate::status::collect(profile, None).await;
    let plan = failover::plan(profile, &status, dir);
    crate::outln!(
        "{action}: act on {}; the VIP is on {} and should end on {}",
        plan.node,
        plan.from.clone().unwrap_or_else(|| "no balancer".into()),
        plan.to
    );
    let nodes: Vec<crate::ssh::NodeAddr> = crate::sources::vrrp::targets(profile)
        .into_iter()
        .map(|t| t.addr)
        .collect();
    let pool = crate::ssh::pool::for_profile(profile, nodes.iter(), true);
    let mut plan = plan;
    if dir == failover::Direction::Failback && plan.blockers.is_empty() {
        if let Some(b) = failover::failback_blocker(profile, &plan, &pool).await {
            plan.blockers.push(b);
        }
    }
    if !plan.blockers.is_empty() {
        for b in &plan.blockers {
            crate::outln!("  pre-check failed: {b}");
        }
        return audit_refused(
            &plan.node,
            format!("pre-checks failed: {}", plan.blockers.join("; ")),
        );
    }
    if dir == failover::Direction::Failover {
        crate::outln!("  pre-checks passed: peer keepalived BACKUP, peer balancer answering, backends healthy");
    }
    let typed = (profile.environment == Environment::Production)
        .then(|| format!("{} is production", profile.name));
    let interactive = std::io::stdin().is_terminal();
    match (&typed, interactive) {
        (Some(why), true) => {
            let answer = ask(&format!(
                "{why}.\nType the MASTER's name ({}) to {action}: ",
                plan.node
            ));
            if answer.as_deref() != Some(plan.node.as_str()) {
                return audit_refused(&plan.node, "the name was not typed".into());
            }
        }
        (Some(why), false) => {
            if opts.confirm.as_deref() != Some(plan.node.as_str()) {
                return audit_refused(
                    &plan.node,
                    format!("{why}: without a terminal, pass --confirm {}", plan.node),
                );
            }
        }
        (None, true) if !opts.yes => {
            let answer = ask(&format!(
                "{action} {} → {}? [y/N] ",
                plan.from.clone().unwrap_or_default(),
                plan.to
            ));
            if !matches!(answer.as_deref(), Some("y" | "Y" | "yes")) {
                return audit_refused(&plan.node, "not confirmed".into());
            }
        }
        (None, false) if !opts.yes => {
            return audit_refused(&plan.node, "no terminal to confirm on: add --yes".into())
        }
        (None, _) => {}
    }
    let t0 = Instant::now();
    let (outcome, timing, before, after) = failover::run(profile, &plan, dir, &pool, &|line| {
        crate::outln!("  {line}")
    })
    .await;
    let report = drain::Report {
        balancers: profile.balancers().map(|b| b.name.clone()).collect(),
        before,
        after,
        outcome: outcome.clone(),
        took: t0.elapsed(),
    };
    let where_ = record(
        profile,
        action,
        &plan.node,
        Some(&report),
        outcome.clone(),
        started,
    );
    crate::outln!("{}", failover::describe(&plan, &timing));
    crate::outln!("{action}: {outcome}");
    crate::outln!("{where_}");
    if outcome == Outcome::Done {
        0
    } else {
        1
    }
}
