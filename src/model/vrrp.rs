//! keepalived roles per balancer and the pair's health: who holds the VIP, split-brain,
//! no master, keepalived down, a dead balancer daemon on the MASTER, no peer able to
//! take over.

use std::time::Instant;

use chrono::{DateTime, Local};
use serde::Serialize;

use super::{Alert, Cluster, Freshness, Level, Role};
use crate::sources::vrrp::VrrpSample;
use crate::sources::SourceError;

/// How long a higher-priority BACKUP may take to preempt before it is an alarm: keepalived
/// preempts within about three advert intervals (1 s by default).
const PREEMPT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// keepalived as seen on one balancer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VrrpView {
    /// How transitions reach us ("notify FIFO /run/keepalived.fifo", "ip monitor").
    pub method: Option<String>,
    /// Instance state.
    pub role: Option<Role>,
    /// Effective priority.
    pub priority: Option<u16>,
    /// Configured priority.
    pub base_priority: Option<u16>,
    /// `nopreempt` set on this node.
    pub nopreempt: Option<bool>,
    /// The VIP is on this node's interface.
    pub holds_vip: Option<bool>,
    /// keepalived is running (None: not known yet).
    pub running: Option<bool>,
    /// When the role last changed.
    pub last_transition: Option<DateTime<Local>>,
    /// When the role or the effective priority last changed here (a preemption takes a
    /// few adverts; an alarm about one that has not happened waits that long).
    #[serde(skip)]
    pub changed: Option<Instant>,
    /// Refresh bookkeeping.
    #[serde(skip)]
    pub fresh: Freshness,
}

impl Cluster {
    /// Applies what the VRRP follower of balancer `index` learned.
    pub(super) fn apply_vrrp(
        &mut self,
        index: usize,
        at: Instant,
        result: Result<VrrpSample, SourceError>,
        wall: DateTime<Local>,
    ) {
        let vip = self.vip.address.clone().unwrap_or_else(|| "the VIP".into());
        let Some(lb) = self.balancers.get_mut(index) else {
            return;
        };
        let name = lb.name.clone();
        let Some(v) = lb.vrrp.as_mut() else { return };
        let sample = match result {
            Err(e) => {
                let first = v.fresh.failing().is_none();
                v.fresh.err(at, crate::text::clip(&e.to_string(), 600));
                if first {
                    self.events.push(
                        wall,
                        Level::Error,
                        &name,
                        format!(
                            "{name} keepalived unreadable: {}",
                            crate::text::clip(&e.to_string(), 600)
                        ),
                    );
                }
                return;
            }
            Ok(s) => s,
        };
        let recovered = v.fresh.failing().is_some();
        v.fresh.ok(at);
        let mut events: Vec<(Level, String)> = Vec::new();
        if recovered {
            events.push((Level::Ok, format!("{name} keepalived readable again")));
        }
        let before = v.role;
        let before_priority = v.priority;
        match sample {
            VrrpSample::Following(method) => v.method = Some(method),
            VrrpSample::Fifo(ev) => {
                v.running = Some(true);
                if let Some(p) = ev.priority {
                    v.priority = Some(p);
                }
                if let Some(role) = ev.role {
                    v.role = Some(role);
                }
            }
            VrrpSample::Vip(present) => {
                if v.holds_vip.is_some() && v.holds_vip != Some(present) {
                    events.push(if present {
                        (Level::Warn, format!("{vip} arrived on {name}"))
                    } else {
                        (Level::Warn, format!("{vip} left {name}"))
                    });
                }
                v.holds_vip = Some(present);
            }
            VrrpSample::Dump(None) => {
                if v.running != Some(false) {
                    events.push((Level::Error, format!("keepalived is not running on {name}")));
                }
                v.running = Some(false);
                v.role = None;
            }
            VrrpSample::Dump(Some(d)) => {
                if v.running == Some(false) {
                    events.push((Level::Ok, format!("keepalived runs again on {name}")));
                }
                v.running = Some(true);
                v.role = Some(d.role);
                v.priority = Some(d.effective_priority);
                v.base_priority = Some(d.base_priority);
                v.nopreempt = Some(d.nopreempt);
                if before.is_none() && d.last_transition > 0.0 {
                    v.last_transition = DateTime::from_timestamp(d.last_transition as i64, 0)
                        .map(|t| t.with_timezone(&Local));
                }
            }
        }
        if before != v.role || before_priority != v.priority {
            v.changed = Some(at);
        }
        if before.is_some() && v.role.is_some() && before != v.role {
            v.last_transition = Some(wall);
            let level = if v.role == Some(Role::Fault) {
                Level::Error
            } else {
                Level::Warn
            };
            let label = |r: Option<Role>| r.map_or("?", Role::label);
            let prio = v
                .priority
                .map(|p| format!(" (priority {p})"))
                .unwrap_or_default();
            events.push((
                level,
                format!("{name} {} → {}{prio}", label(before), label(v.role)),
            ));
        }
        for (level, text) in events {
            self.events.push(wall, level, &name, text);
        }
    }

    /// Balancers that hold the VIP now (by interface, else by role).
    pub fn vip_holders(&self) -> Vec<&str> {
        self.balancers
            .iter()
            .filter(|b| {
                b.vrrp.as_ref().is_some_and(|v| match v.holds_vip {
                    Some(h) => h,
                    None => v.role == Some(Role::Master),
                })
            })
            .map(|b| b.name.as_str())
            .collect()
    }

    /// The pair's alarms, each with what to check.
    pub(super) fn vrrp_alerts(&self, now: Instant, out: &mut Vec<Alert>) {
        let views: Vec<(&str, &VrrpView)> = self
            .balancers
            .iter()
            .filter_map(|b| b.vrrp.as_ref().map(|v| (b.name.as_str(), v)))
            .collect();
        if views.is_empty() {
            return;
        }
        let known = views
            .iter()
            .all(|(_, v)| v.fresh.last_ok.is_some() && v.fresh.failing().is_none());
        let masters: Vec<&str> = views
            .iter()
            .filter(|(_, v)| v.role == Some(Role::Master))
            .map(|(n, _)| *n)
            .collect();
        let holders: Vec<&str> = views
            .iter()
            .filter(|(_, v)| v.holds_vip == Some(true))
            .map(|(n, _)| *n)
            .collect();
        let vip = self.vip.address.clone().unwrap_or_else(|| "the VIP".into());
        if masters.len() > 1 || holders.len() > 1 {
            let who = if holders.len() > 1 {
                &holders
            } else {
                &masters
            };
            out.push(Alert {
                level: Level::Error,
                text: format!(
                    "SPLIT-BRAIN: {} all claim {vip}: the peers do not hear each other's VRRP adverts — check the link between them and firewalls (protocol 112)",
                    who.join(" and ")
                ),
            });
        } else if known && masters.is_empty() && holders.is_empty() {
            out.push(Alert {
                level: Level::Error,
                text: format!("NO MASTER: {vip} is on no balancer: check keepalived on both and their tracked files/scripts"),
            });
        }
        for (name, v) in &views {
            if v.running == Some(false) {
                out.push(Alert {
                    level: Level::Error,
                    text: format!("keepalived is not running on {name}: start it, or the pair has no failover"),
                });
            }
            if let Some(why) = v.fresh.failing() {
                // A refused host key needs the operator; anything else may pass.
                let level =
                    if why.starts_with("unknown host") || why.starts_with("HOST KEY CHANGED") {
                        Level::Error
                    } else {
                        Level::Warn
                    };
                out.push(Alert {
                    level,
                    text: format!("{name}: keepalived state unknown: {why}"),
                });
            }
        }
        for b in &self.balancers {
            let master = b
                .vrrp
                .as_ref()
                .is_some_and(|v| v.role == Some(Role::Master) || v.holds_vip == Some(true));
            if master && b.fresh.failing().is_some() {
                out.push(Alert {
                    level: Level::Error,
                    text: format!(
                        "{} holds {vip} but its {} does not answer: traffic is lost — restart {} or fail over",
                        b.name, b.kind, b.kind
                    ),
                });
            }
        }
        if masters.len() == 1 && known {
            let master = views
                .iter()
                .find(|(n, _)| *n == masters[0])
                .map(|(_, v)| *v);
            let able = views
                .iter()
                .filter(|(n, _)| *n != masters[0])
                .any(|(_, v)| {
                    v.role == Some(Role::Backup)
                        && v.running == Some(true)
                        && v.priority.unwrap_or(0) > 0
                });
            if !able {
                out.push(Alert {
                    level: Level::Error,
                    text: format!("no peer can take over from {}: the others are not BACKUP (FAULT, stopped or unknown)", masters[0]),
                });
            } else if let Some(m) = master {
                // Settled: nothing changed on either side for a few adverts (a planned
                // failover or failback preempts within about three).
                let settled = |v: &VrrpView| {
                    v.changed
                        .is_none_or(|t| now.saturating_duration_since(t) >= PREEMPT_GRACE)
                };
                let higher = views.iter().find(|(n, v)| {
                    *n != masters[0] && v.priority > m.priority && settled(v) && settled(m)
                });
                let blocked = views
                    .iter()
                    .filter(|(n, _)| *n != masters[0])
                    .all(|(_, v)| v.nopreempt == Some(true));
                if let (Some((name, v)), false) = (higher, blocked) {
                    out.push(Alert {
                        level: Level::Warn,
                        text: format!(
                            "{name} has a higher priority ({}) than MASTER {} ({}) yet does not take over: check VRRP adverts between them",
                            v.priority.unwrap_or_default(),
                            masters[0],
                            m.priority.unwrap_or_default()
                        ),
                    });
                }
            }
        }
    }
}
