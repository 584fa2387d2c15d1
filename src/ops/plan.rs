//! Planning an operation on the pair as it was last read: which node or backend it acts
//! on, the pre-checks (each passed, failed, or to be verified on the node), and how it
//! must be confirmed. Pure: the console plans on its live model, the command line on a
//! fresh poll, and the runner plans again on a fresh poll right before acting.

use std::fmt;

use thiserror::Error;

use super::operation::{Direction, Operation, ServerChange};
use crate::config::profile::{Environment, FailoverMethod, Profile};
use crate::model::Role;
use crate::model::ServerState;
use crate::model::{Backend, Cluster, Health};

/// How one pre-check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    /// It holds.
    Passed,
    /// It does not: the operation is refused.
    Failed,
    /// Not visible from here: verified on the node right before acting.
    OnNode,
    /// A fact worth seeing before confirming, neither good nor bad.
    Info,
}

/// One pre-check, in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// How it came out.
    pub state: CheckState,
    /// What was checked ("lb2 keepalived running and BACKUP").
    pub what: String,
    /// `--force` may override it (a balancer that could not be read).
    pub forceable: bool,
}

impl Check {
    fn new(ok: bool, what: String) -> Check {
        Check {
            state: if ok {
                CheckState::Passed
            } else {
                CheckState::Failed
            },
            what,
            forceable: false,
        }
    }

    fn info(what: String) -> Check {
        Check {
            state: CheckState::Info,
            what,
            forceable: false,
        }
    }

    /// The mark shown before it: ✓, ✗, ? or ·.
    pub fn mark(&self) -> &'static str {
        match self.state {
            CheckState::Passed => "✓",
            CheckState::Failed => "✗",
            CheckState::OnNode => "?",
            CheckState::Info => "·",
        }
    }
}

/// How an operation must be confirmed: the one rule for every front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// y/n on a terminal, `--yes` without one.
    YesNo,
    /// The name typed exactly (`--confirm NAME` without a terminal).
    Typed {
        /// What must be typed: the backend's or the node's name.
        name: String,
        /// Why ("shop is production", "draining web2 leaves no healthy backend in rotation…").
        because: String,
    },
}

impl Confirmation {
    /// Risk first, then production: either means the name is typed.
    pub fn rule(profile_name: &str, env: Environment, name: &str, risk: Option<String>) -> Self {
        let because = risk.or_else(|| {
            (env == Environment::Production).then(|| format!("{profile_name} is production"))
        });
        match because {
            Some(because) => Confirmation::Typed {
                name: name.to_string(),
                because,
            },
            None => Confirmation::YesNo,
        }
    }

    /// Why an operation confirmed with less must be confirmed again.
    pub fn again(&self) -> String {
        match self {
            Confirmation::Typed { because, .. } => {
                format!("{because}: the name must be typed now; confirm again")
            }
            Confirmation::YesNo => "confirm again".into(),
        }
    }

    /// Whether `self` asks for more than `given` did (a y/n given where a name is now
    /// needed).
    pub fn stricter_than(&self, given: &Confirmation) -> bool {
        matches!(
            (self, given),
            (Confirmation::Typed { .. }, Confirmation::YesNo)
        )
    }
}

/// An operation ready to confirm: what it acts on and what was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The operation, unchanged.
    pub operation: Operation,
    /// The cluster (profile name), named in dialogs and the audit.
    pub cluster: String,
    /// What it acts on: the backend, or the node whose keepalived is changed.
    pub target: String,
    /// Every balancer of the pair, in profile order.
    pub balancers: Vec<String>,
    /// VIP moves: where the VIP is now.
    pub from: Option<String>,
    /// VIP moves: where it should end up.
    pub to: Option<String>,
    /// The pre-checks, in the order shown.
    pub checks: Vec<Check>,
    /// How it must be confirmed.
    pub confirmation: Confirmation,
    /// The batch it belongs to, when it was confirmed with others.
    pub batch: Option<String>,
}

impl Plan {
    /// The failed pre-checks (`forced` drops those `--force` may override).
    pub fn blockers(&self, forced: bool) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.state == CheckState::Failed && !(forced && c.forceable))
            .map(|c| c.what.as_str())
            .collect()
    }

    /// Failed pre-checks that `--force` overrides.
    pub fn forced_past(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.state == CheckState::Failed && c.forceable)
            .map(|c| c.what.as_str())
            .collect()
    }
}

/// Why there is nothing to plan.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The backend is not in the profile nor reported by a balancer.
    #[error("no backend named {name:?}; known: {known}")]
    NoBackend {
        /// What was asked for.
        name: String,
        /// The backends there are, comma-separated.
        known: String,
    },
    /// The balancer named is not in the profile.
    #[error("no balancer named {name:?}; known: {known}")]
    NoBalancer {
        /// What was asked for.
        name: String,
        /// The balancers there are, comma-separated.
        known: String,
    },
    /// No balancer holds the VIP.
    #[error("no balancer holds the VIP: nothing to fail over")]
    NoVipHolder,
    /// Both hold it.
    #[error("split-brain: the VIP is on {0}; fix that first")]
    SplitBrain(String),
    /// No second balancer.
    #[error("no peer balancer in the profile")]
    NoPeer,
    /// No balancer shows a failover in effect.
    #[error("nothing to fail back: no balancer shows a failover in effect")]
    NothingToFailBack,
}

/// Plans `op` on `cluster` as last read. `failed_over` is the node this console moved
/// the VIP away from, if any (evidence for a failback that the model cannot show).
pub fn plan(
    profile: &Profile,
    cluster: &Cluster,
    op: &Operation,
    failed_over: Option<&str>,
) -> Result<Plan, PlanError> {
    let balancers: Vec<String> = cluster.balancers.iter().map(|b| b.name.clone()).collect();
    let empty = |target: String| Plan {
        operation: op.clone(),
        cluster: profile.name.clone(),
        target,
        balancers: balancers.clone(),
        from: None,
        to: None,
        checks: Vec::new(),
        confirmation: Confirmation::YesNo,
        batch: None,
    };
    match op {
        Operation::Server { backend, .. } => {
            let b = find_backend(cluster, backend)?;
            let mut p = empty(backend.clone());
            p.checks = server_checks(profile, cluster, b, op);
            let risk = if op.cuts_sessions() {
                Some(format!(
                    "killing {backend}'s sessions cuts its clients off mid-request"
                ))
            } else if op.removes_capacity() {
                capacity_risk(cluster, backend, profile.min_healthy_backends, op.doing())
            } else {
                None
            };
            p.confirmation = Confirmation::rule(&profile.name, profile.environment, backend, risk);
            Ok(p)
        }
        Operation::Shell { host } => Ok(empty(host.clone())),
        Operation::Roll { backends, exec } => {
            let mut p = empty(backends.join(", "));
            for name in backends {
                let drain = Operation::drain(name);
                let b = find_backend(cluster, name)?;
                p.checks.extend(
                    server_checks(profile, cluster, b, &drain)
                        .into_iter()
                        .map(|c| Check {
                            what: if c.what.starts_with(name.as_str()) {
                                c.what
                            } else {
                                format!("{name}: {}", c.what)
                            },
                            ..c
                        }),
                );
            }
            p.checks.push(Check::info(match exec {
                Some(cmd) => format!("on each backend while out of rotation: `{cmd}`"),
                None => "nothing is run on the backends (no roll_exec in the profile)".into(),
            }));
            p.checks.push(Check::info(format!(
                "one at a time; a step that would leave fewer than {} healthy backend(s) in rotation stops the roll",
                profile.min_healthy_backends.unwrap_or(1).max(1)
            )));
            p.confirmation =
                Confirmation::rule(&profile.name, profile.environment, &profile.name, None);
            Ok(p)
        }
        Operation::Runtime { balancer, .. } => {
            // Every balancer of the pair is named by the cluster's name (typed when the
            // profile is production), one balancer by its own.
            let mut p = empty(balancer.clone().unwrap_or_else(|| profile.name.clone()));
            p.balancers = super::runtime::targets(profile, balancer.as_deref())?;
            p.checks = super::runtime::checks(profile, &p.balancers);
            p.confirmation =
                Confirmation::rule(&profile.name, profile.environment, &p.target, None);
            Ok(p)
        }
        Operation::Vip { direction } => {
            let holders: Vec<String> = cluster
                .vip_holders()
                .iter()
                .map(|s| s.to_string())
                .collect();
            let (target, to, checks) = match direction {
                Direction::Failover => failover(profile, cluster, &holders)?,
                Direction::Failback => failback(profile, cluster, &holders, failed_over)?,
            };
            let mut p = empty(target.clone());
            p.from = holders.first().cloned();
            p.to = Some(to);
            p.checks = checks;
            p.confirmation = Confirmation::rule(&profile.name, profile.environment, &target, None);
            Ok(p)
        }
    }
}

/// The backend named `name`, or the error that lists the ones there are.
fn find_backend<'a>(cluster: &'a Cluster, name: &str) -> Result<&'a Backend, PlanError> {
    cluster
        .backends
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| PlanError::NoBackend {
            name: name.to_string(),
            known: cluster
                .backends
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// A server counts as serving when our probe says healthy and every balancer that
/// reports it has it UP and ready, at a weight above 0 (weight 0 takes no new sessions).
fn serving(b: &Backend) -> bool {
    b.health == Health::Healthy
        && b.views.iter().flatten().all(|v| {
            v.state.is_none_or(|s| s == ServerState::Up)
                && v.admin.is_none_or(|s| s == ServerState::Up)
                && v.weight != Some(0)
        })
}

/// Why taking `backend` out of rotation (`doing`: "draining", "putting in maintenance"…)
/// needs its name typed: it would leave fewer serving backends than the profile's minimum
/// (at least one). None when a plain yes/no is enough.
pub fn capacity_risk(
    cluster: &Cluster,
    backend: &str,
    minimum: Option<usize>,
    doing: &str,
) -> Option<String> {
    capacity_left(cluster, &[backend], minimum).map(|leaves| format!("{doing} {backend} {leaves}"))
}

/// Why taking every backend of `removed` out of rotation at once needs a name typed:
/// "leaves 1 healthy backend in rotation; the minimum is 2". None when enough are left
/// (or none of them is serving now).
pub fn capacity_left(
    cluster: &Cluster,
    removed: &[&str],
    minimum: Option<usize>,
) -> Option<String> {
    let healthy: Vec<&str> = cluster
        .backends
        .iter()
        .filter(|b| serving(b))
        .map(|b| b.name.as_str())
        .collect();
    if !healthy.iter().any(|h| removed.contains(h)) {
        return None;
    }
    let left = healthy.iter().filter(|h| !removed.contains(h)).count();
    let min = minimum.unwrap_or(1).max(1);
    let leaves = match left {
        0 => "no healthy backend".to_string(),
        1 => "1 healthy backend".to_string(),
        n => format!("{n} healthy backends"),
    };
    let who = if removed.len() > 1 {
        format!("taking {} out of rotation ", removed.join(", "))
    } else {
        String::new()
    };
    (left < min).then(|| format!("{who}leaves {leaves} in rotation; the minimum is {min}"))
}

/// Every balancer must have been read (else acting is blind), must offer a way to act,
/// and the dialog shows where the backend stands on each.
fn server_checks(profile: &Profile, cluster: &Cluster, b: &Backend, op: &Operation) -> Vec<Check> {
    let mut checks = Vec::new();
    for (i, lb) in cluster.balancers.iter().enumerate() {
        let kind = profile.balancers().nth(i).map(|s| s.kind);
        let why = kind
            .zip(op.change())
            .and_then(|(k, c)| super::drain::unsupported(k, c));
        if let Some(why) = why {
            checks.push(Check::new(false, format!("{}: {why}", lb.name)));
            continue;
        }
        let read = match (lb.fresh.last_ok, lb.fresh.failing()) {
            (Some(_), None) => Check::new(true, format!("{} read", lb.name)),
            (_, Some(why)) => Check::new(
                false,
                format!(
                    "{} could not be read: {}",
                    lb.name,
                    crate::text::clip(why, 160)
                ),
            ),
            (None, None) => Check::new(false, format!("{} not read yet", lb.name)),
        };
        checks.push(Check {
            forceable: true,
            ..read
        });
        if let Some(why) = profile.balancers().nth(i).and_then(cannot_act) {
            checks.push(Check::new(false, format!("{}: {why}", lb.name)));
        }
        let lacking = lb
            .metrics
            .version
            .as_deref()
            .and_then(|v| crate::wire::haproxy::lacks(v, &super::drain::HAPROXY_COMMANDS));
        if let Some(why) = lacking {
            checks.push(Check::new(false, format!("{}: {why}", lb.name)));
        }
        let lasting = matches!(
            op.change(),
            Some(ServerChange::Drain | ServerChange::Maint | ServerChange::Weight(_))
        );
        if lasting && lb.keeps_state == Some(false) {
            checks.push(Check::info(format!(
                "a reload of HAProxy on {} will undo this (no server-state-file)",
                lb.name
            )));
        }
        // nginx takes weights from 1 up: a step to 0 is refused before the dialog.
        if let (Some(ServerChange::Weight(w)), Some(kind)) = (op.change(), kind) {
            let now = b
                .views
                .get(i)
                .and_then(|v| v.as_ref())
                .and_then(|v| v.weight);
            if kind != crate::config::profile::BalancerKind::Haproxy
                && now.is_some_and(|n| w.resolve(n as u32, n as u32) == 0)
            {
                checks.push(Check::new(
                    false,
                    format!(
                        "{}: nginx takes weights from 1 up: drain it (d) or put it in maintenance (m) to take it out of rotation",
                        lb.name
                    ),
                ));
            }
        }
        // Refused before sending, as HAProxy would refuse it.
        if let (Some(ServerChange::Weight(w)), Some(algo)) = (op.change(), &lb.static_balance) {
            let view = b.views.get(i).and_then(|v| v.as_ref());
            if let Some((now, initial)) = view.and_then(|v| Some((v.weight?, v.weight_initial?))) {
                let to = u64::from(w.resolve(now as u32, initial as u32));
                if to != 0 && to != initial {
                    checks.push(Check::new(
                        false,
                        format!(
                            "{}: Backend is using a static LB algorithm and only accepts weights '0%' and '100%' (balance {algo}): weight {to} would be refused",
                            lb.name
                        ),
                    ));
                }
            }
        }
        let level = lb.api.as_ref().and_then(|a| a.level);
        if let Some(why) = level.and_then(crate::wire::api::Level::refusal) {
            checks.push(Check::new(false, format!("{}: {why}", lb.name)));
        }
    }
    let now: Vec<String> = cluster
        .balancers
        .iter()
        .zip(&b.views)
        .map(|(lb, v)| {
            let word = v
                .as_ref()
                .and_then(|v| {
                    v.admin
                        .filter(|a| *a != ServerState::Up)
                        .or(v.state)
                        .or(v.admin)
                })
                .map_or("not reported", |s| s.label());
            format!("{word} on {}", lb.name)
        })
        .collect();
    checks.push(Check::info(format!("{} now: {}", b.name, now.join(", "))));
    // A weight change says the weights it goes from and to, per balancer.
    if let Some(ServerChange::Weight(w)) = op.change() {
        let moves: Vec<String> = cluster
            .balancers
            .iter()
            .zip(&b.views)
            .filter_map(|(lb, v)| {
                let v = v.as_ref()?;
                let now = v.weight?;
                let to = w.resolve(now as u32, v.weight_initial.unwrap_or(now) as u32);
                Some(format!("{now} → {to} on {}", lb.name))
            })
            .collect();
        if !moves.is_empty() {
            checks.push(Check::info(format!("weight {}", moves.join(", "))));
        }
    }
    checks
}

/// Why a balancer offers no way to change a server, if it does not.
fn cannot_act(b: &crate::config::profile::BalancerSettings) -> Option<&'static str> {
    use crate::config::profile::{BalancerKind, StatusEndpoint};
    match (b.kind, b.status_endpoint()) {
        (BalancerKind::Haproxy, StatusEndpoint::StatsCsv(_)) => Some(super::drain::NO_RUNTIME_API),
        _ => None,
    }
}

/// Failover: away from the one VIP holder, to its peer.
fn failover(
    profile: &Profile,
    cluster: &Cluster,
    holders: &[String],
) -> Result<(String, String, Vec<Check>), PlanError> {
    let node = match holders {
        [one] => one.clone(),
        [] => return Err(PlanError::NoVipHolder),
        many => return Err(PlanError::SplitBrain(many.join(" and "))),
    };
    let Some((pi, peer)) = cluster
        .balancers
        .iter()
        .enumerate()
        .find(|(_, b)| b.name != node)
    else {
        return Err(PlanError::NoPeer);
    };
    let v = peer.vrrp.as_ref();
    let method = failover_method(profile, &node);
    let mut checks = vec![
        Check::new(
            v.is_some_and(|v| v.running == Some(true) && v.role == Some(Role::Backup)),
            format!("{} keepalived running and BACKUP", peer.name),
        ),
        Check::new(
            peer.fresh.last_ok.is_some() && peer.fresh.failing().is_none(),
            format!("{}'s {} answering", peer.name, peer.kind),
        ),
        Check::new(
            v.is_none_or(|v| v.nopreempt != Some(true))
                || matches!(method, Some(FailoverMethod::StopDaemon)),
            format!("{} not blocked by nopreempt", peer.name),
        ),
    ];
    // The peer's own view of the servers when it reports one, else our probes.
    let seen: Vec<ServerState> = cluster
        .backends
        .iter()
        .filter_map(|b| {
            b.views
                .get(pi)
                .and_then(|v| v.as_ref())
                .and_then(|v| v.state)
        })
        .collect();
    let (up, total) = if seen.is_empty() {
        let healthy = cluster
            .backends
            .iter()
            .filter(|b| b.health == Health::Healthy)
            .count();
        (healthy, cluster.backends.len())
    } else {
        (
            seen.iter().filter(|s| **s == ServerState::Up).count(),
            seen.len(),
        )
    };
    checks.push(Check::new(
        up > 0 || total == 0,
        format!("backends healthy from {}: {up}/{total}", peer.name),
    ));
    checks.push(method_check(&node, method));
    Ok((node, peer.name.clone(), checks))
}

/// Failback: the node failed over from gets the VIP back.
fn failback(
    profile: &Profile,
    cluster: &Cluster,
    holders: &[String],
    failed_over: Option<&str>,
) -> Result<(String, String, Vec<Check>), PlanError> {
    let away: Vec<&crate::model::Balancer> = cluster
        .balancers
        .iter()
        .filter(|b| !holders.contains(&b.name))
        .collect();
    let evidence = |b: &crate::model::Balancer| -> Option<String> {
        let v = b.vrrp.as_ref()?;
        if v.running == Some(false) {
            return Some(format!("keepalived stopped on {}", b.name));
        }
        match (v.priority, v.base_priority) {
            (Some(p), Some(base)) if p < base => {
                Some(format!("{} at priority {p} of {base}", b.name))
            }
            _ => (failed_over == Some(b.name.as_str()))
                .then(|| format!("this console failed over from {}", b.name)),
        }
    };
    let home = away
        .iter()
        .find(|b| evidence(b).is_some())
        .or_else(|| (holders.len() == 1 && away.len() == 1).then(|| &away[0]))
        .map(|b| b.name.clone())
        .or_else(|| {
            holders.is_empty().then(|| {
                cluster
                    .balancers
                    .iter()
                    .filter_map(|b| Some((b.name.clone(), b.vrrp.as_ref()?.base_priority?)))
                    .max_by_key(|(_, p)| *p)
                    .map(|(n, _)| n)
            })?
        })
        .ok_or(PlanError::NothingToFailBack)?;
    let b = cluster
        .balancers
        .iter()
        .find(|b| b.name == home)
        .ok_or(PlanError::NothingToFailBack)?;
    let method = failover_method(profile, &home);
    let stopped = b.vrrp.as_ref().is_some_and(|v| v.running == Some(false));
    let shown = match evidence(b) {
        // Only the stop-daemon method starts keepalived again; a track file or priority
        // edit would leave it stopped and the VIP where it is.
        Some(_) if stopped && !matches!(method, Some(FailoverMethod::StopDaemon)) => Check::new(
            false,
            format!(
                "keepalived is stopped on {home}, and its failover method does not \
                     start it: start keepalived on {home} (systemctl start keepalived)"
            ),
        ),
        Some(e) => Check::new(true, format!("a failover is in effect: {e}")),
        // A track file or a stopped daemon shows in keepalived's state: when it does
        // not, there is nothing to undo. A priority edit does not show; the node is asked.
        None if matches!(
            method,
            Some(FailoverMethod::TrackFile { .. } | FailoverMethod::StopDaemon)
        ) && b.vrrp.as_ref().is_some_and(|v| v.base_priority.is_some()) =>
        {
            Check::new(
                false,
                format!("nothing to fail back: no failover in effect on {home}"),
            )
        }
        None => Check {
            state: CheckState::OnNode,
            what: format!("a failover in effect on {home}: checked on the node first"),
            forceable: false,
        },
    };
    let checks = vec![
        Check::new(
            !holders.contains(&home),
            format!("{home} does not hold the VIP now"),
        ),
        shown,
        method_check(&home, method),
    ];
    Ok((home.clone(), home, checks))
}

fn failover_method<'a>(profile: &'a Profile, node: &str) -> Option<&'a FailoverMethod> {
    profile
        .balancers()
        .find(|b| b.name == node)
        .and_then(|b| b.keepalived.as_ref())
        .and_then(|k| k.failover.as_ref())
}

fn method_check(node: &str, method: Option<&FailoverMethod>) -> Check {
    match method {
        Some(m) => Check::new(true, format!("{node} fails over by {m}")),
        None => Check::new(
            false,
            format!("{node} has no failover method in the profile (keepalived.failover)"),
        ),
    }
}

impl fmt::Display for FailoverMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailoverMethod::TrackFile { path, value } => write!(f, "track file {path} = {value}"),
            FailoverMethod::StopDaemon => f.write_str("stopping keepalived"),
            FailoverMethod::Priority { value } => write!(f, "priority {value} and a reload"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"
name = "shop"
environment = "staging"
[[balancers]]
name = "lb1"
host = "10.0.0.11"
kind = "haproxy"
runtime_api = "tcp://10.0.0.11:9999"
[[balancers]]
name = "lb2"
host = "10.0.0.12"
kind = "haproxy"
status_url = "http://10.0.0.12/stats"
[[backends]]
name = "web1"
address = "10.0.0.21:80"
[[backends]]
name = "web2"
address = "10.0.0.22:80"
"#;

    /// The profile and a cluster whose backends' probes say `healthy`.
    fn pair(healthy: [bool; 2]) -> (Profile, Cluster) {
        let profile = Profile::parse("t.toml", PROFILE).expect("profile");
        let mut cluster = Cluster::new(&profile);
        for (b, ok) in cluster.backends.iter_mut().zip(healthy) {
            b.health = if ok { Health::Healthy } else { Health::Down };
        }
        (profile, cluster)
    }

    #[test]
    fn a_backend_at_weight_0_does_not_count_as_serving() {
        let (profile, mut cluster) = pair([true, true]);
        let mut view = crate::model::ServerView::default();
        view.state = Some(ServerState::Up);
        view.weight = Some(0);
        cluster.backends[1].views = vec![Some(view)];
        let drain = Operation::drain("web1");
        let p = plan(&profile, &cluster, &drain, None).expect("plan");
        assert!(matches!(p.confirmation, Confirmation::Typed { .. }));
        let (_, down) = pair([true, false]);
        let q = plan(&profile, &down, &drain, None).expect("plan");
        assert_eq!(p.confirmation, q.confirmation, "as if web2 were down");
    }

    #[test]
    fn the_last_serving_backend_needs_its_name_typed() {
        let (profile, cluster) = pair([true, false]);
        let p = plan(&profile, &cluster, &Operation::drain("web1"), None).expect("plan");
        assert_eq!(
            p.confirmation,
            Confirmation::Typed {
                name: "web1".into(),
                because: "draining web1 leaves no healthy backend in rotation; the minimum is 1"
                    .into()
            }
        );
        let ready = plan(&profile, &cluster, &Operation::ready("web1"), None).expect("plan");
        assert_eq!(
            ready.confirmation,
            Confirmation::YesNo,
            "undrain adds capacity"
        );
        let (profile, cluster) = pair([true, true]);
        let p = plan(&profile, &cluster, &Operation::drain("web1"), None).expect("plan");
        assert_eq!(p.confirmation, Confirmation::YesNo);
    }

    #[test]
    fn production_alone_means_typing_and_typing_outranks_yes() {
        let prod = Confirmation::rule("shop", Environment::Production, "web2", None);
        assert_eq!(
            prod,
            Confirmation::Typed {
                name: "web2".into(),
                because: "shop is production".into()
            }
        );
        assert!(prod.stricter_than(&Confirmation::YesNo));
        assert!(!Confirmation::YesNo.stricter_than(&prod));
        assert_eq!(
            Confirmation::rule("shop", Environment::Staging, "web2", None),
            Confirmation::YesNo
        );
    }

    #[test]
    fn unread_balancers_block_unless_forced_and_a_stats_page_cannot_act() {
        let (profile, cluster) = pair([true, true]);
        let p = plan(&profile, &cluster, &Operation::drain("web2"), None).expect("plan");
        assert_eq!(
            p.blockers(false),
            vec![
                "lb1 not read yet",
                "lb2 not read yet",
                "lb2: only a stats page is configured: no runtime API to act through"
            ]
        );
        assert_eq!(
            p.blockers(true),
            vec!["lb2: only a stats page is configured: no runtime API to act through"],
            "--force overrides what could not be read, nothing else"
        );
        assert_eq!(
            p.forced_past(),
            vec!["lb1 not read yet", "lb2 not read yet"]
        );
        assert!(p.checks.iter().any(|c| c.state == CheckState::Info
            && c.what == "web2 now: not reported on lb1, not reported on lb2"));
    }

    #[test]
    fn an_haproxy_without_the_commands_is_refused_with_its_version() {
        let (profile, mut cluster) = pair([true, true]);
        cluster.balancers[0].metrics.version = Some("1.5.18".into());
        let p = plan(&profile, &cluster, &Operation::drain("web2"), None).expect("plan");
        let refusal = "lb1: HAProxy 1.5.18 has no `show servers state` (it came with 1.6)";
        assert!(
            p.blockers(true).contains(&refusal),
            "{:?}",
            p.blockers(true)
        );
        cluster.balancers[0].metrics.version = Some("1.8.27".into());
        let p = plan(&profile, &cluster, &Operation::ready("web2"), None).expect("plan");
        assert!(
            p.checks.iter().all(|c| !c.what.contains("has no")),
            "{:?}",
            p.checks
        );
    }

    #[test]
    fn a_socket_below_admin_blocks_changes_even_forced() {
        use crate::wire::api::{Access, Level};
        let (profile, mut cluster) = pair([true, true]);
        cluster.balancers[0].api = Some(Access {
            reach: "ssh-socket".into(),
            socket: Some("/run/haproxy/admin.sock".into()),
            level: Some(Level::Operator),
        });
        let p = plan(&profile, &cluster, &Operation::ready("web2"), None).expect("plan");
        let refusal =
            "lb1: its runtime API socket is at level operator: changing servers needs level admin";
        assert!(
            p.blockers(true).contains(&refusal),
            "{:?}",
            p.blockers(true)
        );
        cluster.balancers[0].api = Some(Access {
            level: Some(Level::Admin),
            ..cluster.balancers[0].api.clone().expect("set above")
        });
        let p = plan(&profile, &cluster, &Operation::ready("web2"), None).expect("plan");
        assert!(!p.blockers(true).iter().any(|b| b.starts_with("lb1")));
    }

    #[test]
    fn nothing_to_plan_says_why() {
        let (profile, cluster) = pair([true, true]);
        assert_eq!(
            plan(&profile, &cluster, &Operation::drain("web9"), None),
            Err(PlanError::NoBackend {
                name: "web9".into(),
                known: "web1, web2".into()
            })
        );
        assert_eq!(
            plan(&profile, &cluster, &Operation::FAILOVER, None),
            Err(PlanError::NoVipHolder)
        );
    }
}
