//! keepalived roles per balancer and the pair's health: who holds the VIP, split-brain,
//! no master, keepalived down, a dead balancer daemon on the MASTER, no peer able to
//! take over.

use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use serde::Serialize;

use super::{Alert, Cluster, Freshness, Level, Role};
use crate::sources::vrrp::VrrpSample;
use crate::wire::keepalived::DumpKind;
use crate::wire::SourceError;

/// How long a higher-priority BACKUP may take to preempt before it is an alarm: keepalived
/// preempts within about three advert intervals (1 s by default).
const PREEMPT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// keepalived as seen on one balancer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VrrpView {
    /// The dump read and how transitions reach us ("text dump, notify FIFO
    /// /run/keepalived.fifo").
    pub method: Option<String>,
    /// Which dump is read on this node.
    pub dump: Option<DumpKind>,
    /// Instance state.
    pub role: Option<Role>,
    /// The role seen only from the VIP on the interface (no dump can be read): MASTER
    /// where it is, BACKUP where it is not, until the FIFO says otherwise.
    pub role_from_vip: bool,
    /// The state keepalived is heading for.
    pub wantstate: Option<Role>,
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

impl VrrpView {
    /// Where no dump can be read, the role the VIP shows: MASTER on the node holding it;
    /// elsewhere BACKUP, unless the FIFO told a state of its own (FAULT…).
    fn role_by_vip(&mut self) {
        if self.dump != Some(DumpKind::IpAddrOnly) || self.running == Some(false) {
            return;
        }
        let seen = match self.holds_vip {
            Some(true) => Role::Master,
            Some(false) if self.role.is_none() || self.role == Some(Role::Master) => Role::Backup,
            _ => return,
        };
        if self.role != Some(seen) {
            self.role = Some(seen);
            self.role_from_vip = true;
        }
    }
}

impl Cluster {
    /// How long keepalived's view may go unread before it is in doubt: transitions are
    /// pushed, its dump is read only every [`crate::sources::vrrp::DUMP_EVERY`].
    pub fn vrrp_stale_after(&self) -> Duration {
        self.stale_after() * 10
    }

    /// Applies a reading of keepalived on balancer `index` and says whether it changed
    /// anything shown: not when it only confirms, soon enough to keep the view from going
    /// stale, what the view already held.
    pub(super) fn apply_vrrp_reading(
        &mut self,
        index: usize,
        at: Instant,
        result: Result<VrrpSample, SourceError>,
        wall: DateTime<Local>,
    ) -> bool {
        let view = |c: &Cluster| c.balancers.get(index).and_then(|b| b.vrrp.clone());
        let before = view(self);
        let events = self.events.total();
        self.apply_vrrp(index, at, result, wall);
        let (Some(mut before), Some(after)) = (before, view(self)) else {
            return true;
        };
        let in_doubt = before.fresh.stale(at, self.vrrp_stale_after());
        before.fresh.last_ok = after.fresh.last_ok;
        in_doubt || before != after || self.events.total() != events
    }

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
            VrrpSample::Following { method, dump } => {
                v.method = Some(method);
                v.dump = Some(dump);
            }
            VrrpSample::Fifo(ev) => {
                v.running = Some(true);
                if let Some(p) = ev.priority {
                    v.priority = Some(p);
                }
                if let Some(role) = ev.role {
                    v.role = Some(role);
                    v.role_from_vip = false;
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
                v.role_by_vip();
            }
            VrrpSample::Running => {
                if v.running == Some(false) {
                    events.push((Level::Ok, format!("keepalived runs again on {name}")));
                }
                v.running = Some(true);
                v.role_by_vip();
            }
            VrrpSample::Dump(None) => {
                if v.running != Some(false) {
                    events.push((Level::Error, format!("keepalived is not running on {name}")));
                }
                v.running = Some(false);
                v.role = None;
                v.role_from_vip = false;
            }
            VrrpSample::Dump(Some(d)) => {
                if v.running == Some(false) {
                    events.push((Level::Ok, format!("keepalived runs again on {name}")));
                }
                v.running = Some(true);
                v.role = Some(d.role);
                v.role_from_vip = false;
                v.wantstate = d.wantstate;
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
                    // An unknown priority (no dump readable) is not a priority of 0.
                    v.role == Some(Role::Backup) && v.running == Some(true) && v.priority != Some(0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::Profile;
    use crate::wire::keepalived::FifoEvent;

    const PROFILE: &str = r#"
name = "t"
[vip]
address = "10.77.0.100"
[[balancers]]
name = "lb1"
host = "10.77.0.11"
kind = "nginx"
status_url = "http://10.77.0.11:8080/nginx_status"
[balancers.keepalived]
[[balancers]]
name = "lb2"
host = "10.77.0.12"
kind = "nginx"
status_url = "http://10.77.0.12:8080/nginx_status"
[balancers.keepalived]
"#;

    fn pair(dump: DumpKind) -> Cluster {
        let mut c = Cluster::new(&Profile::parse("t.toml", PROFILE).expect("profile"));
        for index in 0..2 {
            let method = format!("{}, ip monitor", dump.label());
            see(&mut c, index, VrrpSample::Following { method, dump });
        }
        c
    }

    fn see(c: &mut Cluster, index: usize, sample: VrrpSample) {
        c.apply_vrrp(index, Instant::now(), Ok(sample), Local::now());
    }

    fn roles(c: &Cluster) -> Vec<(Option<Role>, bool)> {
        c.balancers
            .iter()
            .map(|b| {
                b.vrrp
                    .as_ref()
                    .map_or((None, false), |v| (v.role, v.role_from_vip))
            })
            .collect()
    }

    #[test]
    fn without_a_dump_the_vip_names_the_master_and_the_fifo_corrects_it() {
        let mut c = pair(DumpKind::IpAddrOnly);
        see(&mut c, 0, VrrpSample::Vip(true));
        see(&mut c, 1, VrrpSample::Vip(false));
        see(&mut c, 0, VrrpSample::Running);
        see(&mut c, 1, VrrpSample::Running);
        assert_eq!(
            roles(&c),
            vec![(Some(Role::Master), true), (Some(Role::Backup), true)]
        );
        assert!(c.vrrp_alerts_now().is_empty(), "{:?}", c.vrrp_alerts_now());
        // The VIP moves: the roles follow, and the move is an event.
        see(&mut c, 0, VrrpSample::Vip(false));
        see(&mut c, 1, VrrpSample::Vip(true));
        assert_eq!(
            roles(&c),
            vec![(Some(Role::Backup), true), (Some(Role::Master), true)]
        );
        assert!(c.events.iter().any(|e| e.text == "lb2 BACKUP → MASTER"));
        // The FIFO's own word wins, and a VIP still absent does not turn FAULT to BACKUP.
        let fault = FifoEvent {
            group: false,
            name: "VI_1".into(),
            role: Some(Role::Fault),
            priority: Some(0),
        };
        see(&mut c, 0, VrrpSample::Fifo(fault));
        see(&mut c, 0, VrrpSample::Vip(false));
        assert_eq!(roles(&c)[0], (Some(Role::Fault), false));
        // keepalived stopped, then back: the role comes from the VIP again.
        see(&mut c, 1, VrrpSample::Dump(None));
        assert_eq!(roles(&c)[1], (None, false));
        see(&mut c, 1, VrrpSample::Running);
        assert_eq!(roles(&c)[1], (Some(Role::Master), true));
    }

    #[test]
    fn with_a_dump_the_vip_alone_sets_no_role() {
        let mut c = pair(DumpKind::Text { signum: true });
        see(&mut c, 0, VrrpSample::Vip(true));
        assert_eq!(roles(&c)[0], (None, false));
        assert_eq!(
            c.balancers[0].vrrp.as_ref().and_then(|v| v.dump),
            Some(DumpKind::Text { signum: true })
        );
    }

    #[test]
    fn a_reading_that_confirms_the_view_changes_nothing_shown() {
        let mut c = pair(DumpKind::Json);
        let dump = |role, priority| {
            VrrpSample::Dump(Some(crate::wire::keepalived::DumpInstance {
                name: "VI_1".into(),
                vrid: 51,
                role,
                wantstate: Some(role),
                base_priority: 150,
                effective_priority: priority,
                nopreempt: false,
                last_transition: 0.0,
                vips: Vec::new(),
                become_master: None,
                release_master: None,
            }))
        };
        let t0 = Instant::now();
        let read = |c: &mut Cluster, secs, sample| {
            let at = t0 + std::time::Duration::from_secs(secs);
            c.apply(
                crate::sources::SourceUpdate::Vrrp {
                    index: 0,
                    at,
                    result: Ok(sample),
                },
                Local::now(),
            )
        };
        assert!(read(&mut c, 0, dump(Role::Master, 150)), "the first role");
        assert!(!read(&mut c, 10, dump(Role::Master, 150)), "the same again");
        assert!(read(&mut c, 20, dump(Role::Master, 50)), "another priority");
        assert!(read(&mut c, 30, dump(Role::Backup, 50)), "another role");
        // Read after the view went stale, the same values are news: no longer in doubt.
        let late = 30 + c.vrrp_stale_after().as_secs() + 1;
        assert!(
            read(&mut c, late, dump(Role::Backup, 50)),
            "stale, then confirmed"
        );
        let failed = c.apply(
            crate::sources::SourceUpdate::Vrrp {
                index: 0,
                at: t0 + std::time::Duration::from_secs(late + 1),
                result: Err(SourceError::Timeout(std::time::Duration::from_secs(1))),
            },
            Local::now(),
        );
        assert!(failed, "a failure is shown");
        assert!(
            read(&mut c, late + 2, dump(Role::Backup, 50)),
            "readable again"
        );
        assert_eq!(roles(&c)[0], (Some(Role::Backup), false));
    }

    impl Cluster {
        fn vrrp_alerts_now(&self) -> Vec<Alert> {
            let mut out = Vec::new();
            self.vrrp_alerts(Instant::now(), &mut out);
            out
        }
    }
}
