//! Clusters behind one Prometheus server, asked together: a fleet of two hundred
//! clusters costs one round of queries per pace, not two hundred. The cluster in front
//! asks for everything on its own, as a single profile does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::prometheus::{self, Plan};
use super::SourceUpdate;

/// One cluster of a group: what to ask for it, where its updates go, and whether it
/// is in front (then it asks on its own).
struct Member {
    plan: Plan,
    tx: mpsc::Sender<SourceUpdate>,
    front: watch::Receiver<bool>,
}

/// Clusters read through one server with the same extra matchers (one
/// [`Plan::group_key`]), joined before [`Group::spawn`] starts their rounds.
pub struct Group {
    every: Duration,
    timeout: Duration,
    poke: Arc<watch::Sender<u64>>,
    members: Vec<Member>,
}

/// A cluster's membership, kept by its poller: how to ask the group for a round now.
#[derive(Clone)]
pub struct Membership {
    poke: Arc<watch::Sender<u64>>,
}

impl Membership {
    /// Asks the group for a round now (pokes coalesce into one round).
    pub fn poll_now(&self) {
        self.poke.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Group {
    /// An empty group asking every `every`, each request within `timeout`.
    pub fn new(every: Duration, timeout: Duration) -> Group {
        Group {
            every,
            timeout,
            poke: Arc::new(watch::channel(0u64).0),
            members: Vec::new(),
        }
    }

    /// Adds a cluster: `plan` is asked for while it is not in `front`, and its updates
    /// go to `tx`.
    pub fn join(
        &mut self,
        plan: Plan,
        tx: mpsc::Sender<SourceUpdate>,
        front: watch::Receiver<bool>,
    ) -> Membership {
        self.members.push(Member { plan, tx, front });
        Membership {
            poke: self.poke.clone(),
        }
    }

    /// How many clusters joined.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no cluster joined.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Starts the group's rounds: every `every` and on a poke, one round of queries for
    /// every member left to the group, each member's updates sent to it.
    pub fn spawn(self) -> JoinHandle<()> {
        let client = crate::wire::http_client(self.timeout);
        let mut poke = self.poke.subscribe();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.every);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    changed = poke.changed() => if changed.is_err() { return },
                }
                let asked: Vec<&Member> = self
                    .members
                    .iter()
                    .filter(|m| !*m.front.borrow() && !m.tx.is_closed())
                    .collect();
                if asked.is_empty() {
                    continue;
                }
                let plans: Vec<&Plan> = asked.iter().map(|m| &m.plan).collect();
                let started = Instant::now();
                let answers = prometheus::poll_group(&client, &plans, self.timeout).await;
                tracing::debug!(
                    clusters = plans.len(),
                    took_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "prometheus group round"
                );
                for (m, updates) in asked.iter().zip(answers) {
                    for u in updates {
                        // A member gone (its console closed) is no reason to stop the rest.
                        let _ = m.tx.send(u).await;
                    }
                }
            }
        })
    }
}
