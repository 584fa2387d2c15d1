//! Sources: the pollers. One task per target reads a daemon with a timeout through the
//! parsers and transport in [`crate::wire`] and sends each result (errors included) to the
//! app as a [`SourceUpdate`].

pub mod access_log;
pub mod group;
pub mod haproxy_config;
pub mod prometheus;
mod session;
pub mod shared_audit;
pub mod upstream_file;
pub mod vrrp;

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::config::profile::{Profile, StatusEndpoint};
use crate::wire::{
    api, get_text, haproxy, health, http_client, nginx, nginx_plus, upstream, SSH_BUDGET,
};
use crate::wire::{FetchError, SourceError};

/// A balancer's numbers from one poll.
#[derive(Debug, Clone, PartialEq)]
pub enum BalancerSample {
    /// nginx stub_status.
    Nginx(nginx::StubStatus),
    /// HAProxy stats (info only from the runtime API).
    Haproxy {
        /// `show info`, when read over the runtime API.
        info: Option<haproxy::Info>,
        /// `show stat` rows.
        stats: Vec<haproxy::StatRow>,
        /// `show servers state BACKEND`: the state operators set (runtime API only).
        admin: Option<Vec<haproxy::ServerStateRow>>,
        /// How the runtime API was reached and its level (runtime API only).
        access: Option<api::Access>,
    },
    /// NGINX Plus upstream peers.
    Plus(Vec<nginx_plus::Peer>),
}

/// What a poll produced, for which target, and when.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceUpdate {
    /// Balancer `index` (profile order).
    Balancer {
        /// Profile order.
        index: usize,
        /// When the answer (or failure) arrived.
        at: Instant,
        /// The numbers, or why there are none.
        result: Result<BalancerSample, SourceError>,
    },
    /// Backend `index`'s health probe.
    Health {
        /// Profile order.
        index: usize,
        /// When the answer arrived.
        at: Instant,
        /// Status and latency.
        result: Result<health::Probe, SourceError>,
    },
    /// keepalived on balancer `index`.
    Vrrp {
        /// Profile order.
        index: usize,
        /// When it was learned.
        at: Instant,
        /// What was learned, or why nothing could be.
        result: Result<vrrp::VrrpSample, SourceError>,
    },
    /// The servers of balancer `index`'s upstream file and which are marked `down`
    /// (nginx open source: the state an operator set).
    Upstream {
        /// Profile order.
        index: usize,
        /// When the file was read.
        at: Instant,
        /// The file and its server lines, or why it could not be read.
        result: Result<upstream::UpstreamRead, FetchError>,
    },
    /// Whether HAProxy balancer `index` keeps runtime server state across a reload (its
    /// configuration read over SSH).
    HaproxyConfig {
        /// Profile order.
        index: usize,
        /// When the configuration was read.
        at: Instant,
        /// What it says of the backend, or why it could not be read.
        result: Result<haproxy_config::BackendConfig, FetchError>,
    },
    /// Per-backend traffic from balancer `index`'s access log (nginx).
    Traffic {
        /// Profile order.
        index: usize,
        /// When the window was summarised.
        at: Instant,
        /// Per-backend numbers, or why there are none.
        result: Result<Vec<access_log::BackendTraffic>, FetchError>,
        /// How many of the log's newest lines its format reads (none before the log
        /// could be opened).
        lines: Option<access_log::LogLines>,
    },
    /// A line appended to balancer `index`'s copy of the pair's shared audit log.
    SharedAudit {
        /// Profile order.
        index: usize,
        /// When it was read.
        at: Instant,
        /// The line, or why the log cannot be followed.
        result: Result<String, FetchError>,
    },
    /// The end-to-end check through the VIP.
    Vip {
        /// When the answer arrived.
        at: Instant,
        /// Status and latency.
        result: Result<health::Probe, SourceError>,
    },
}

impl SourceUpdate {
    /// When the answer (or failure) arrived.
    pub fn at(&self) -> Instant {
        match self {
            SourceUpdate::Balancer { at, .. }
            | SourceUpdate::Health { at, .. }
            | SourceUpdate::Vrrp { at, .. }
            | SourceUpdate::Traffic { at, .. }
            | SourceUpdate::Upstream { at, .. }
            | SourceUpdate::HaproxyConfig { at, .. }
            | SourceUpdate::SharedAudit { at, .. }
            | SourceUpdate::Vip { at, .. } => *at,
        }
    }
}

/// One thing polled.
#[derive(Debug, Clone)]
pub enum Target {
    /// A balancer's status endpoint.
    Balancer {
        /// Profile order.
        index: usize,
        /// Where its numbers are.
        endpoint: StatusEndpoint,
        /// Its host (a runtime-API socket on it is reached over SSH).
        host: String,
        /// HAProxy backend / nginx upstream name.
        backend: String,
    },
    /// A backend's health URL.
    Health {
        /// Profile order.
        index: usize,
        /// URL.
        url: String,
    },
    /// The VIP check URL.
    Vip {
        /// URL.
        url: String,
    },
}

/// Every target of a profile.
pub fn targets(profile: &Profile) -> Vec<Target> {
    let mut out: Vec<Target> = profile
        .balancers()
        .enumerate()
        .map(|(index, b)| Target::Balancer {
            index,
            endpoint: b.status_endpoint(),
            host: b.host.clone(),
            backend: b.backend_name().to_string(),
        })
        .collect();
    out.extend(profile.backends().enumerate().filter_map(|(index, b)| {
        b.probe_url()
            .map(|url| Target::Health { index, url: url.0 })
    }));
    if let Some(url) = profile.vip.as_ref().and_then(|v| v.check_url.clone()) {
        out.push(Target::Vip { url: url.0 });
    }
    out
}

pub use session::Session;

/// What a polling task keeps open between rounds: the runtime-API session of a balancer,
/// the connection of a health probe.
#[derive(Default)]
pub struct Kept {
    session: Session,
    prober: health::Prober,
}

impl Target {
    /// Polls this target once; never takes longer than `timeout` (plus scheduling), or
    /// [`SSH_BUDGET`] times it for a runtime-API socket over SSH not connected yet. A runtime API is
    /// asked through `kept`'s session when given (kept open between polls), else on a
    /// connection of its own; a socket on the balancer through `pool`.
    pub async fn fetch(
        &self,
        client: &reqwest::Client,
        timeout: Duration,
        kept: Option<&mut Kept>,
        pool: Option<&crate::ssh::Pool>,
    ) -> SourceUpdate {
        // Without kept state (a one-off poll) a probe connects for this answer only.
        let mut fresh = health::Prober::default();
        let (mut session, prober) = match kept {
            Some(k) => (Some(&mut k.session), &mut k.prober),
            None => (None, &mut fresh),
        };
        match self {
            Target::Balancer {
                index,
                endpoint,
                host,
                backend,
            } => {
                // A kept-open session answers within one timeout, over SSH too.
                let connected = session.as_ref().is_some_and(|s| s.is_open());
                let within = match endpoint {
                    StatusEndpoint::RuntimeApi(api)
                        if !connected && !api.socket_paths().is_empty() =>
                    {
                        timeout * SSH_BUDGET
                    }
                    _ => timeout,
                };
                let work = fetch_balancer(
                    client,
                    endpoint,
                    (host, backend),
                    timeout,
                    (session.as_deref_mut(), pool),
                );
                let result = match tokio::time::timeout(within, work).await {
                    Ok(r) => r,
                    Err(_) => {
                        // Cut mid-answer: the rest would be read as the next one's.
                        if let Some(s) = session {
                            s.reset();
                        }
                        Err(SourceError::Timeout(within))
                    }
                };
                SourceUpdate::Balancer {
                    index: *index,
                    at: Instant::now(),
                    result,
                }
            }
            Target::Health { index, url } => {
                let result = prober.probe(client, url, timeout).await;
                SourceUpdate::Health {
                    index: *index,
                    at: Instant::now(),
                    result,
                }
            }
            Target::Vip { url } => {
                let result = prober.probe(client, url, timeout).await;
                SourceUpdate::Vip {
                    at: Instant::now(),
                    result,
                }
            }
        }
    }
}

async fn fetch_balancer(
    client: &reqwest::Client,
    endpoint: &StatusEndpoint,
    (host, backend): (&str, &str),
    timeout: Duration,
    (session, pool): (Option<&mut Session>, Option<&crate::ssh::Pool>),
) -> Result<BalancerSample, SourceError> {
    match endpoint {
        StatusEndpoint::StubStatus(url) => {
            let text = get_text(client, &url.0, timeout).await?;
            Ok(BalancerSample::Nginx(nginx::parse(&text)?))
        }
        StatusEndpoint::StatsCsv(url) => {
            let url = if url.0.ends_with(";csv") {
                url.0.clone()
            } else {
                format!("{};csv", url.0)
            };
            let text = get_text(client, &url, timeout).await?;
            Ok(BalancerSample::Haproxy {
                info: None,
                stats: haproxy::parse_stat(&text)?,
                admin: None,
                access: None,
            })
        }
        StatusEndpoint::RuntimeApi(api) => {
            let target = api::ApiTarget::new(api, host, pool);
            let commands = haproxy::poll_commands(backend);
            let (reply, access) = match session {
                Some(s) => {
                    let mut reply = s.ask(&target, &commands).await?;
                    // A kept connection outlives a reload: the old process keeps answering
                    // it with its own, stale state. Asked again on a new connection, the
                    // new process answers.
                    let (info, _, _) = haproxy::split_poll_reply(&reply);
                    if haproxy::parse_info(info).is_ok_and(|i| i.stopping) {
                        s.reset();
                        reply = s.ask(&target, &commands).await?;
                    }
                    (reply, s.access().cloned())
                }
                None => {
                    let (reply, _) = target.ask(&commands).await?;
                    // The level is asked apart: an old HAProxy's answer to it could not be
                    // told from the poll's.
                    (reply, target.access().await.ok())
                }
            };
            let (info_text, state_text, stat_text) = haproxy::split_poll_reply(&reply);
            Ok(BalancerSample::Haproxy {
                info: Some(haproxy::parse_info(info_text)?),
                stats: haproxy::parse_stat(stat_text)?,
                // A restricted socket may refuse it; the stats alone still give the state.
                admin: haproxy::parse_servers_state(state_text).ok(),
                access,
            })
        }
        StatusEndpoint::PlusApi(base) => {
            let url = format!(
                "{}/{}/http/upstreams",
                base.0.trim_end_matches('/'),
                nginx_plus::API_VERSION
            );
            let text = get_text(client, &url, timeout).await?;
            Ok(BalancerSample::Plus(nginx_plus::parse_upstream(
                &text, backend,
            )?))
        }
    }
}

/// Running polling tasks; dropping it stops them.
pub struct Poller {
    handles: Vec<JoinHandle<()>>,
    answers: usize,
    poke: watch::Sender<u64>,
    pace: watch::Sender<Duration>,
    start: tokio::time::Instant,
    group: Option<group::Membership>,
    front: watch::Sender<bool>,
}

impl Poller {
    /// Starts one task per target. Each polls every `interval` (missed ticks skipped, so
    /// a slow target never piles requests up), one request in flight at a time. A
    /// runtime-API socket on a balancer is reached through `pool`.
    pub fn spawn(
        profile: &Profile,
        tx: mpsc::Sender<SourceUpdate>,
        pool: Option<std::sync::Arc<crate::ssh::Pool>>,
    ) -> Poller {
        Poller::spawn_in(profile, tx, pool, None)
    }

    /// [`Poller::spawn`], with the cluster joining `group` when it is read through
    /// Prometheus: the group asks for it, except while it is in front (see
    /// [`Poller::set_pace`]), when it asks for everything on its own.
    pub fn spawn_in(
        profile: &Profile,
        tx: mpsc::Sender<SourceUpdate>,
        pool: Option<std::sync::Arc<crate::ssh::Pool>>,
        group: Option<&mut group::Group>,
    ) -> Poller {
        let client = http_client(profile.timeout);
        let (poke, poke_rx) = watch::channel(0u64);
        let (pace, pace_rx) = watch::channel(profile.poll_interval);
        let interval = profile.poll_interval;
        let timeout = profile.timeout;
        // One schedule for every target: a round's requests leave on one timer, so the
        // process wakes once for them, not once per target.
        let start = tokio::time::Instant::now();
        // Read through Prometheus, one task asks it for every balancer and keepalived;
        // the health probes and the VIP check stay lbdeck's own.
        let plan = (profile.source == crate::config::profile::SourceKind::Prometheus)
            .then(|| prometheus::Plan::for_profile(profile))
            .flatten();
        let mut answers = 0;
        let mut handles: Vec<JoinHandle<()>> = targets(profile)
            .into_iter()
            .filter(|t| plan.is_none() || !matches!(t, Target::Balancer { .. }))
            .map(|target| {
                let tx = tx.clone();
                let client = client.clone();
                let poke_rx = poke_rx.clone();
                let pace_rx = pace_rx.clone();
                let pool = pool.clone();
                tokio::spawn(async move {
                    let mut kept = Kept::default();
                    let mut ticker = tokio::time::interval_at(start, interval);
                    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    let mut round = Round::new(ticker, poke_rx, pace_rx);
                    while round.next().await {
                        let update = target
                            .fetch(&client, timeout, Some(&mut kept), pool.as_deref())
                            .await;
                        if tx.send(update).await.is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        answers += handles.len();
        let mut membership = None;
        let (front, front_rx) = watch::channel(false);
        if let Some(plan) = plan {
            answers += plan.answers();
            let member = group.map(|g| g.join(plan.clone(), tx.clone(), front_rx.clone()));
            membership = member.clone();
            let poke_rx = poke_rx.clone();
            let pace_rx = pace_rx.clone();
            handles.push(tokio::spawn(async move {
                let mut ticker = tokio::time::interval_at(start, interval);
                ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                let mut round = Round::new(ticker, poke_rx, pace_rx);
                while round.next().await {
                    if member.is_some() && !*front_rx.borrow() {
                        continue;
                    }
                    for update in prometheus::poll(&client, &plan, timeout).await {
                        if tx.send(update).await.is_err() {
                            return;
                        }
                    }
                }
            }));
        }
        Poller {
            handles,
            answers,
            poke,
            pace,
            start,
            group: membership,
            front,
        }
    }

    /// When the first round started: rounds start every poll interval after it.
    pub fn start(&self) -> tokio::time::Instant {
        self.start
    }

    /// How many answers a round brings (one per target; through Prometheus, one per
    /// balancer and keepalived on it).
    pub fn round(&self) -> usize {
        self.answers
    }

    /// Polls every `every` from now on (the fleet slows a cluster that is not in front
    /// down to its `background_interval`, and speeds it up again); connections and
    /// sessions are kept.
    pub fn set_interval(&self, every: Duration) {
        self.pace.send_if_modified(|now| {
            let changed = *now != every;
            *now = every;
            changed
        });
    }

    /// Polls every `every`, in front of the fleet or not: a cluster in a Prometheus
    /// group asks on its own while in front, and is asked for by the group otherwise.
    pub fn set_pace(&self, every: Duration, front: bool) {
        self.set_interval(every);
        self.front.send_if_modified(|now| {
            let changed = *now != front;
            *now = front;
            changed
        });
    }

    /// Asks every task to poll now.
    pub fn poll_now(&self) {
        self.poke.send_modify(|n| *n = n.wrapping_add(1));
        if let Some(g) = self.group.as_ref().filter(|_| !*self.front.borrow()) {
            g.poll_now();
        }
    }
}

/// One polling task's rounds: every tick, on a poke, at the pace last set.
struct Round {
    ticker: tokio::time::Interval,
    poke: watch::Receiver<u64>,
    pace: watch::Receiver<Duration>,
    /// A round has run: a pace set before the first tick fired must not cost the first,
    /// immediate poll.
    polled: bool,
}

impl Round {
    fn new(
        ticker: tokio::time::Interval,
        poke: watch::Receiver<u64>,
        pace: watch::Receiver<Duration>,
    ) -> Round {
        Round {
            ticker,
            poke,
            pace,
            polled: false,
        }
    }

    /// Waits for the next round; false once the poller is gone.
    async fn next(&mut self) -> bool {
        loop {
            tokio::select! {
                _ = self.ticker.tick() => {}
                changed = self.poke.changed() => if changed.is_err() { return false },
                changed = self.pace.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                    // The new pace starts one interval from now: a change of pace is not
                    // a poll (a poke asks for one).
                    let every = *self.pace.borrow_and_update();
                    self.ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    self.ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    if self.polled {
                        continue;
                    }
                }
            }
            self.polled = true;
            return true;
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Polls every target of a profile once, concurrently (for `lbdeck status`); a
/// runtime-API socket on a balancer through `pool`.
pub async fn poll_once(profile: &Profile, pool: Option<&crate::ssh::Pool>) -> Vec<SourceUpdate> {
    let client = http_client(profile.timeout);
    let all = targets(profile);
    let futures = all
        .iter()
        .map(|t| t.fetch(&client, profile.timeout, None, pool));
    futures::future::join_all(futures).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A balancer where nothing listens.
    const PROFILE: &str = r#"
name = "t"
timeout = "200ms"
[[balancers]]
name = "lb1"
host = "127.0.0.1"
kind = "nginx"
status_url = "http://127.0.0.1:9/nginx_status"
"#;

    #[tokio::test]
    async fn a_poller_slowed_down_at_once_still_polls_at_once_then_at_its_pace() {
        let profile = Profile::parse("t.toml", PROFILE).expect("profile");
        let (tx, mut rx) = mpsc::channel(16);
        let poller = Poller::spawn(&profile, tx, None);
        poller.set_interval(Duration::from_secs(10));
        let first = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
        assert!(
            matches!(first, Ok(Some(SourceUpdate::Balancer { .. }))),
            "{first:?}"
        );
        // The next one waits for the slower pace.
        let next = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await;
        assert!(next.is_err(), "{next:?}");
    }
}
