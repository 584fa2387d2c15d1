//! Simulated keepalived for the demo pair: priorities, a track file, stopping and
//! starting the daemon, and VRRP timing like the real one — the backup takes over about
//! three advert intervals after the master's priority drops, about one after the master's
//! keepalived stops (its priority-0 advert).

use serde_json::json;
use tokio::sync::broadcast;

use crate::model::Role;

/// VRRP advert interval (keepalived's `advert_int 1`).
const ADVERT: f64 = 1.0;

/// Something a node's streams report.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// A notify-FIFO line from balancer `lb`.
    Fifo {
        /// Balancer index.
        lb: usize,
        /// The line.
        line: String,
    },
    /// keepalived on `lb` closed its FIFO (it stopped).
    FifoClosed {
        /// Balancer index.
        lb: usize,
    },
    /// The VIP was added to or removed from `lb`.
    Addr {
        /// Balancer index.
        lb: usize,
        /// Added or removed.
        added: bool,
    },
    /// An access-log line on balancer `lb`.
    Log {
        /// Balancer index.
        lb: usize,
        /// The line.
        line: String,
    },
    /// A line appended to the pair's shared audit log on balancer `lb`.
    Audit {
        /// Balancer index.
        lb: usize,
        /// The line.
        line: String,
    },
}

/// keepalived on one simulated balancer.
#[derive(Debug, Clone)]
pub struct Node {
    /// Daemon running.
    pub running: bool,
    /// Configured priority.
    pub base: u16,
    /// The track file's value (weight 1).
    pub track: i32,
    /// Current state.
    pub role: Role,
    /// Unix time of the last transition.
    pub since: f64,
}

impl Node {
    /// Effective priority (0 when stopped).
    pub fn priority(&self) -> u16 {
        if self.running {
            (i32::from(self.base) + self.track).clamp(0, 255) as u16
        } else {
            0
        }
    }
}

/// The simulated pair.
#[derive(Debug)]
pub struct Pair {
    /// lb1, lb2.
    pub nodes: [Node; 2],
    /// Who holds the VIP.
    pub holder: Option<usize>,
    pending: Option<(usize, f64)>,
    /// Where node events go (SSH streams subscribe).
    pub events: broadcast::Sender<NodeEvent>,
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Pair {
    /// lb1 MASTER at 150, lb2 BACKUP at 100.
    pub fn new() -> Pair {
        let t = now_unix();
        let node = |base, role| Node {
            running: true,
            base,
            track: 0,
            role,
            since: t,
        };
        Pair {
            nodes: [node(150, Role::Master), node(100, Role::Backup)],
            holder: Some(0),
            pending: None,
            events: broadcast::channel(4096).0,
        }
    }

    fn emit(&self, e: NodeEvent) {
        let _ = self.events.send(e);
    }

    fn fifo(&self, lb: usize) {
        let n = &self.nodes[lb];
        self.emit(NodeEvent::Fifo {
            lb,
            line: format!("INSTANCE \"VI_1\" {} {}", n.role.label(), n.priority()),
        });
    }

    fn set_role(&mut self, lb: usize, role: Role) {
        if self.nodes[lb].role != role {
            self.nodes[lb].role = role;
            self.nodes[lb].since = now_unix();
            self.fifo(lb);
        }
    }

    /// Advances VRRP to simulated time `t`.
    pub fn step(&mut self, t: f64) {
        let desired = (0..2)
            .filter(|&i| self.nodes[i].running)
            .max_by_key(|&i| (self.nodes[i].priority(), Some(i) == self.holder));
        if desired == self.holder {
            self.pending = None;
            return;
        }
        let Some(new) = desired else { return };
        match self.pending {
            Some((who, at)) if who == new && t >= at => {
                self.pending = None;
                if let Some(old) = self.holder {
                    if self.nodes[old].running {
                        self.set_role(old, Role::Backup);
                    }
                    self.emit(NodeEvent::Addr {
                        lb: old,
                        added: false,
                    });
                }
                self.holder = Some(new);
                self.set_role(new, Role::Master);
                self.emit(NodeEvent::Addr {
                    lb: new,
                    added: true,
                });
            }
            Some((who, _)) if who == new => {}
            _ => {
                // A silent or stopped master is noticed after one advert (priority 0) or
                // three (master down timer); a lower priority after three plus skew.
                let delay = match self.holder {
                    Some(h) if self.nodes[h].running => 3.0 * ADVERT + 0.2,
                    _ => ADVERT,
                };
                self.pending = Some((new, t + delay));
            }
        }
    }

    /// `systemctl stop keepalived` on `lb`.
    pub fn stop(&mut self, lb: usize) {
        if !self.nodes[lb].running {
            return;
        }
        self.nodes[lb].running = false;
        self.nodes[lb].role = Role::Stop;
        self.emit(NodeEvent::FifoClosed { lb });
        if self.holder == Some(lb) {
            self.holder = None;
            self.emit(NodeEvent::Addr { lb, added: false });
        }
    }

    /// `systemctl start keepalived` on `lb`: it starts as BACKUP.
    pub fn start(&mut self, lb: usize) {
        if self.nodes[lb].running {
            return;
        }
        self.nodes[lb].running = true;
        self.nodes[lb].role = Role::Init;
        self.set_role(lb, Role::Backup);
    }

    /// The JSON dump keepalived would write.
    pub fn dump(&self, lb: usize, vip: &str) -> String {
        let n = &self.nodes[lb];
        let state = match n.role {
            Role::Init => 0,
            Role::Backup => 1,
            Role::Master => 2,
            Role::Fault => 3,
            Role::Deleted => 97,
            Role::Stop => 98,
        };
        json!([{
            "data": {
                "iname": "VI_1", "vrid": 77, "state": state, "wantstate": state,
                "base_priority": n.base, "effective_priority": n.priority(),
                "nopreempt": false, "last_transition": n.since,
                "vips": [format!("{vip}/32 dev lo scope global set")],
            },
            "stats": { "become_master": 1, "release_master": 0 }
        }])
        .to_string()
    }
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::keepalived;

    fn run(p: &mut Pair, from: f64, to: f64) {
        let mut t = from;
        while t <= to {
            p.step(t);
            t += 0.05;
        }
    }

    #[test]
    fn a_track_file_drop_moves_the_vip_after_three_adverts() {
        let mut p = Pair::new();
        let mut rx = p.events.subscribe();
        p.nodes[0].track = -100;
        run(&mut p, 0.0, 3.0);
        assert_eq!(p.holder, Some(0), "not before three adverts");
        run(&mut p, 3.05, 3.5);
        assert_eq!(p.holder, Some(1));
        let mut lines = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let NodeEvent::Fifo { lb, line } = e {
                lines.push((
                    lb,
                    keepalived::parse_fifo_line(&line).expect("real FIFO format"),
                ));
            }
        }
        assert_eq!(lines[0].0, 0);
        assert_eq!(
            (lines[0].1.role, lines[0].1.priority),
            (Some(Role::Backup), Some(50))
        );
        assert_eq!(
            (lines[1].1.role, lines[1].1.priority),
            (Some(Role::Master), Some(100))
        );
        assert!(keepalived::parse_dump(&p.dump(1, "127.0.0.100"))
            .is_ok_and(|d| d[0].role == Role::Master));
    }

    #[test]
    fn stopping_the_master_moves_the_vip_after_one_advert() {
        let mut p = Pair::new();
        p.stop(0);
        assert_eq!(p.holder, None);
        run(&mut p, 0.0, 0.9);
        assert_eq!(p.holder, None);
        run(&mut p, 1.0, 1.2);
        assert_eq!(p.holder, Some(1));
        p.start(0);
        run(&mut p, 2.0, 5.5);
        assert_eq!(
            p.holder,
            Some(0),
            "lb1 preempts back with its higher priority"
        );
    }
}
