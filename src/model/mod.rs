//! The pure domain: the cluster as lbdeck last saw it. Source updates are applied here;
//! rates, staleness, state changes and alerts are derived here. No I/O, no terminal.

pub mod detail;
pub mod events;
pub mod history;
pub mod rate;
pub mod vrrp;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::profile::{BalancerKind, Profile};
use crate::sources::{BalancerSample, SourceUpdate};
pub use crate::state::{Role, ServerState};
use crate::text::clip;
use crate::wire::haproxy::{RowKind, StatRow};
use crate::wire::health::Probe;
use crate::wire::nginx_plus::Peer;
pub use detail::ServerDetail;
pub use events::{Event, EventLog, Level};
pub use history::History;
use rate::{Counter, Reading};

/// When a value was last refreshed and whether the newest attempt failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Freshness {
    /// Last successful refresh.
    pub last_ok: Option<Instant>,
    /// Last failure and its sentence.
    pub last_err: Option<(Instant, String)>,
}

impl Freshness {
    fn ok(&mut self, at: Instant) {
        self.last_ok = Some(at);
        self.last_err = None;
    }

    fn err(&mut self, at: Instant, why: String) {
        self.last_err = Some((at, why));
    }

    /// The newest attempt failed.
    pub fn failing(&self) -> Option<&str> {
        self.last_err.as_ref().map(|(_, w)| w.as_str())
    }

    /// Time since the last successful refresh.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.last_ok.map(|t| now.saturating_duration_since(t))
    }

    /// True when values exist but can no longer be shown as current: the newest attempt
    /// failed, or nothing arrived for longer than `limit`.
    pub fn stale(&self, now: Instant, limit: Duration) -> bool {
        self.last_ok.is_some()
            && (self.last_err.is_some() || self.age(now).is_some_and(|a| a > limit))
    }

    /// Never refreshed successfully.
    pub fn never(&self) -> bool {
        self.last_ok.is_none()
    }
}

/// Numbers a balancer reports about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BalancerMetrics {
    /// Open client connections (nginx Active / HAProxy CurrConns).
    pub active: Option<u64>,
    /// Requests per second, from counter deltas.
    pub req_rate: Option<f64>,
    /// Requests since start.
    pub requests_total: Option<u64>,
    /// nginx: connections reading a request.
    pub reading: Option<u64>,
    /// nginx: connections writing a response.
    pub writing: Option<u64>,
    /// nginx: idle keep-alive connections.
    pub waiting: Option<u64>,
    /// HAProxy: current sessions on the watched backend.
    pub sessions: Option<u64>,
    /// HAProxy: queued requests on the watched backend.
    pub queue: Option<u64>,
    /// HAProxy: version.
    pub version: Option<String>,
    /// HAProxy: seconds since start.
    pub uptime_sec: Option<u64>,
}

/// One balancer of the pair.
#[derive(Debug, Clone)]
pub struct Balancer {
    /// Profile name.
    pub name: String,
    /// The balancing daemon.
    pub kind: BalancerKind,
    /// Host.
    pub host: String,
    /// Where its numbers come from (for the screen).
    pub endpoint: String,
    /// Refresh bookkeeping.
    pub fresh: Freshness,
    /// Latest numbers.
    pub metrics: BalancerMetrics,
    /// req/s, one sample per poll.
    pub req_history: History,
    /// Active connections, one sample per poll.
    pub conn_history: History,
    /// Restarts seen (a counter going backwards).
    pub restarts: u32,
    /// The access-log follower's bookkeeping (nginx with `access_log`).
    pub traffic: Freshness,
    /// The upstream file's bookkeeping (nginx open source: the `down` flags).
    pub upstream: Freshness,
    /// How many of the access log's newest lines its format reads.
    pub log_lines: Option<crate::sources::access_log::LogLines>,
    /// keepalived on this node, when the profile has a keepalived block.
    pub vrrp: Option<vrrp::VrrpView>,
    /// HAProxy: how its runtime API is reached and the socket's level, once learned.
    pub api: Option<crate::wire::api::Access>,
    /// Read through Prometheus, its exporter is down or stale: its numbers are unknown,
    /// the balancer itself is not judged.
    pub exporter_down: bool,
    /// HAProxy: whether its configuration keeps runtime server state across a reload
    /// (None until read, or when it cannot be).
    pub keeps_state: Option<bool>,
    /// HAProxy: the backend's `balance` algorithm when it is static (weights only 0% or
    /// 100% at run time), from its configuration.
    pub static_balance: Option<String>,
    requests: Counter,
    uptime: Option<u64>,
}

/// How a backend answers our own probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not probed yet, or no probe configured.
    Unknown,
    /// 2xx/3xx.
    Healthy,
    /// Answered with an error status.
    Unhealthy,
    /// Did not answer.
    Down,
}

impl Health {
    /// Label for tables and events.
    pub fn label(&self) -> &'static str {
        match self {
            Health::Unknown => "?",
            Health::Healthy => "OK",
            Health::Unhealthy => "FAIL",
            Health::Down => "DOWN",
        }
    }
}

/// A server as one balancer sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerView {
    /// UP / DOWN / DRAIN / MAINT / NOLB; None when the balancer does not say.
    pub state: Option<ServerState>,
    /// The state an operator set (HAProxy `show servers state`): UP (ready), DRAIN or
    /// MAINT, whatever the checks say.
    pub admin: Option<ServerState>,
    /// Raw status text (sanitised), e.g. "DOWN 1/2".
    pub status: String,
    /// Last check result (L7OK, L4CON…).
    pub check: String,
    /// Current sessions / active connections.
    pub sessions: Option<u64>,
    /// Requests per second.
    pub req_rate: Option<f64>,
    /// Responses 2xx, 4xx, 5xx: since start from a balancer's counters, over the
    /// window from an access log.
    pub responses: [Option<u64>; 3],
    /// The balancer's average response time, ms.
    #[serde(rename = "balancer_latency_ms")]
    pub latency_ms: Option<u64>,
    /// 5xx answers per second (access log).
    pub err_rate: Option<f64>,
    /// Upstream response time percentiles over the window, ms (access log).
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// The weight an operator set (HAProxy's user weight, nginx's `weight=`, NGINX
    /// Plus's), when the balancer says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u64>,
    /// The configured weight, when the balancer says (not NGINX Plus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_initial: Option<u64>,
    /// nginx open source: marked `backup` in the upstream file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<bool>,
    /// What the detail view shows beyond the table (boxed: most views are never opened).
    #[serde(skip)]
    pub detail: Option<Box<ServerDetail>>,
    #[serde(skip)]
    counter: Counter,
}

impl ServerView {
    /// What the table adds after the state: " w5" while the weight differs from the
    /// configured one, " backup" for an nginx backup server; empty otherwise.
    pub fn marks(&self) -> String {
        let mut out = String::new();
        if let (Some(w), Some(i)) = (self.weight, self.weight_initial) {
            if w != i {
                out.push_str(&format!(" w{w}"));
            }
        }
        if self.backup == Some(true) {
            out.push_str(" backup");
        }
        out
    }

    /// The state to show: what the balancer reports, else (nginx open source) a drain or
    /// maintenance an operator set in the upstream file.
    pub fn shown_state(&self) -> Option<ServerState> {
        self.state.or(self.admin.filter(|s| *s != ServerState::Up))
    }
}

/// A web server behind the balancers.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Name (HAProxy server name).
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// Listed in the profile (else discovered from a balancer).
    pub configured: bool,
    /// Whether we probe it ourselves.
    pub probed: bool,
    /// Probe result.
    pub health: Health,
    /// Last probe answer.
    pub probe: Option<Probe>,
    /// Probe bookkeeping.
    pub fresh: Freshness,
    /// One entry per balancer (profile order): how it sees this server.
    pub views: Vec<Option<ServerView>>,
    /// Summed req/s over balancers, one sample per poll of the first balancer.
    pub req_history: History,
    /// Summed sessions over balancers, one sample per poll of the first balancer.
    pub session_history: History,
    /// When our probe's verdict changed, newest last (for flapping).
    health_changes: std::collections::VecDeque<Instant>,
}

/// A backend whose health changed this often within [`FLAP_WINDOW`] is flapping.
pub const FLAP_CHANGES: usize = 4;
/// The window for flapping.
pub const FLAP_WINDOW: Duration = Duration::from_secs(60);

impl Backend {
    /// A backend not polled yet; `configured` ones come from the profile and are probed.
    fn new(name: String, address: String, configured: bool, balancers: usize) -> Backend {
        Backend {
            name,
            address,
            configured,
            probed: configured,
            health: Health::Unknown,
            probe: None,
            fresh: Freshness::default(),
            views: vec![None; balancers],
            req_history: History::default(),
            session_history: History::default(),
            health_changes: std::collections::VecDeque::new(),
        }
    }

    /// Health changes within [`FLAP_WINDOW`] before `now`.
    pub fn health_changes(&self, now: Instant) -> usize {
        self.health_changes
            .iter()
            .filter(|t| now.saturating_duration_since(**t) <= FLAP_WINDOW)
            .count()
    }

    /// Up and down too often to be trusted.
    pub fn flapping(&self, now: Instant) -> bool {
        self.health_changes(now) >= FLAP_CHANGES
    }

    /// Sessions summed over the balancers that report them.
    pub fn sessions(&self) -> Option<u64> {
        sum(self.views.iter().flatten().filter_map(|v| v.sessions))
    }

    /// req/s summed over balancers.
    pub fn req_rate(&self) -> Option<f64> {
        let rates: Vec<f64> = self
            .views
            .iter()
            .flatten()
            .filter_map(|v| v.req_rate)
            .collect();
        (!rates.is_empty()).then(|| rates.iter().sum())
    }

    /// Responses by class summed over balancers.
    pub fn responses(&self, class: usize) -> Option<u64> {
        sum(self
            .views
            .iter()
            .flatten()
            .filter_map(|v| v.responses[class]))
    }

    /// The balancers' own view of its response time: the highest average they report
    /// (HAProxy `rtime`, NGINX Plus `response_time`).
    pub fn balancer_latency_ms(&self) -> Option<f64> {
        self.views
            .iter()
            .flatten()
            .filter_map(|v| v.latency_ms)
            .max()
            .map(|v| v as f64)
    }

    /// How long our own health probe took.
    pub fn probe_latency_ms(&self) -> Option<f64> {
        self.probe.map(|p| p.latency.as_secs_f64() * 1000.0)
    }

    /// A percentile (50, 95 or 99) from the access logs: the highest over balancers.
    pub fn percentile_ms(&self, p: u8) -> Option<f64> {
        let pick = |v: &ServerView| match p {
            50 => v.p50_ms,
            95 => v.p95_ms,
            _ => v.p99_ms,
        };
        self.views
            .iter()
            .flatten()
            .filter_map(pick)
            .reduce(f64::max)
    }

    /// The worst state any balancer reports (DOWN > MAINT > DRAIN > NOLB > UP).
    pub fn worst_state(&self) -> Option<ServerState> {
        self.views
            .iter()
            .flatten()
            .filter_map(|v| v.state)
            .max_by_key(|s| state_rank(*s))
    }

    /// Whether the balancers send it traffic: every state reported is UP, no operator
    /// state says DRAIN or MAINT and no weight is 0. None when no balancer reports a state
    /// (open-source nginx).
    pub fn in_rotation(&self) -> Option<bool> {
        // A state the balancer reports, or (nginx open source) only the one an operator
        // set in the upstream file.
        let views: Vec<&ServerView> = self
            .views
            .iter()
            .flatten()
            .filter(|v| v.state.is_some() || v.admin.is_some())
            .collect();
        if views.is_empty() {
            return None;
        }
        Some(views.iter().all(|v| {
            v.state.is_none_or(|s| s == ServerState::Up)
                && !matches!(v.admin, Some(ServerState::Drain | ServerState::Maint))
                && v.weight != Some(0)
        }))
    }

    /// Balancers that report a state disagree.
    pub fn disagreement(&self) -> bool {
        let mut states = self.views.iter().flatten().filter_map(|v| v.state);
        match states.next() {
            Some(first) => states.any(|s| s != first),
            None => false,
        }
    }
}

fn state_rank(s: ServerState) -> u8 {
    match s {
        ServerState::Up => 0,
        ServerState::Nolb => 1,
        ServerState::Drain => 2,
        ServerState::Maint => 3,
        ServerState::Down => 4,
    }
}

fn sum(it: impl Iterator<Item = u64>) -> Option<u64> {
    let mut any = false;
    let total = it.inspect(|_| any = true).sum();
    any.then_some(total)
}

/// The VIP and the end-to-end probe through it.
#[derive(Debug, Clone, Default)]
pub struct Vip {
    /// The address.
    pub address: Option<String>,
    /// The check URL, when configured.
    pub check_url: Option<String>,
    /// Last probe answer.
    pub probe: Option<Probe>,
    /// Probe bookkeeping.
    pub fresh: Freshness,
}

impl Vip {
    /// Whether the VIP served our last check: None when there is no check or no answer yet.
    pub fn serving(&self) -> Option<bool> {
        self.check_url.as_ref()?;
        if self.fresh.failing().is_some() {
            return Some(false);
        }
        self.probe.map(|p| p.healthy())
    }
}

/// When the newest balancer poll ended and, when every balancer's newest attempt failed,
/// why.
#[derive(Debug, Clone, PartialEq)]
pub struct LastPoll {
    /// When it ended.
    pub at: Instant,
    /// `balancer: sentence` of the newest failure, when no balancer's newest attempt
    /// succeeded.
    pub failed: Option<String>,
}

/// An alarm about the cluster, with what to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// How bad.
    pub level: Level,
    /// What is wrong and what to check.
    pub text: String,
}

/// Everything known about the cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Balancers in profile order.
    pub balancers: Vec<Balancer>,
    /// Backends: profile ones first, then discovered ones.
    pub backends: Vec<Backend>,
    /// The VIP.
    pub vip: Vip,
    /// State changes, newest last.
    pub events: EventLog,
    /// The profile's poll interval.
    pub poll_interval: Duration,
    /// The profile's timeout.
    pub timeout: Duration,
    backend_names: Vec<String>,
    index: HashMap<String, usize>,
    /// Backends this console drained and has not undrained: watched for drift.
    pub drained: std::collections::BTreeSet<String>,
    /// Weights this console set (backend → weight) and has not put back: watched for
    /// drift.
    pub weights_set: std::collections::BTreeMap<String, u64>,
    /// Backends whose health checks this console switched off: watched for drift.
    pub checks_off: std::collections::BTreeSet<String>,
    /// Fewer backends in rotation than this is an alarm (the profile's
    /// `min_healthy_backends`, default 1).
    pub min_in_rotation: usize,
    /// The pair's shared audit log as followed: lines already told (each is on every
    /// balancer it acted on) and why a balancer's cannot be followed.
    shared_audit: SharedAudit,
}

/// How many shared audit lines are remembered to tell a repeat from a new action.
const SHARED_AUDIT_SEEN: usize = 512;

/// What the console has read of the pair's shared audit log.
#[derive(Debug, Clone, Default)]
struct SharedAudit {
    /// The newest lines read, from any balancer.
    seen: std::collections::VecDeque<String>,
    /// Per balancer, why its log cannot be followed (said once until it changes).
    failing: std::collections::BTreeMap<usize, String>,
}

impl Cluster {
    /// Age of the oldest polled value on screen (balancers, probed backends, the VIP
    /// check): stays near one poll interval while polling keeps its schedule.
    pub fn oldest_poll(&self, now: Instant) -> Option<Duration> {
        let balancers = self.balancers.iter().map(|b| &b.fresh);
        let backends = self.backends.iter().filter(|b| b.probed).map(|b| &b.fresh);
        let vip = self.vip.check_url.as_ref().map(|_| &self.vip.fresh);
        balancers
            .chain(backends)
            .chain(vip)
            .filter_map(|f| f.age(now))
            .max()
    }

    /// The cluster a profile describes, before any poll.
    pub fn new(profile: &Profile) -> Cluster {
        let balancers: Vec<Balancer> = profile
            .balancers()
            .map(|b| Balancer {
                name: clip(&b.name, 24),
                kind: b.kind,
                host: b.host.clone(),
                endpoint: b.status_endpoint().to_string(),
                fresh: Freshness::default(),
                metrics: BalancerMetrics::default(),
                req_history: History::default(),
                conn_history: History::default(),
                restarts: 0,
                traffic: Freshness::default(),
                log_lines: None,
                upstream: Freshness::default(),
                keeps_state: None,
                static_balance: None,
                vrrp: b.keepalived.as_ref().map(|_| vrrp::VrrpView::default()),
                api: None,
                exporter_down: false,
                requests: Counter::default(),
                uptime: None,
            })
            .collect();
        let n = balancers.len();
        let backends: Vec<Backend> = profile
            .backends()
            .map(|b| Backend::new(clip(&b.name, 32), b.address.0.clone(), true, n))
            .collect();
        let index = backends
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.clone(), i))
            .collect();
        Cluster {
            balancers,
            backends,
            vip: Vip {
                address: profile.vip.as_ref().map(|v| v.address.clone()),
                check_url: profile
                    .vip
                    .as_ref()
                    .and_then(|v| v.check_url.as_ref().map(|u| u.0.clone())),
                ..Vip::default()
            },
            events: EventLog::default(),
            poll_interval: profile.poll_interval,
            timeout: profile.timeout,
            drained: Default::default(),
            weights_set: Default::default(),
            checks_off: Default::default(),
            min_in_rotation: profile.min_healthy_backends.unwrap_or(1),
            shared_audit: SharedAudit::default(),
            backend_names: profile
                .balancers()
                .map(|b| b.backend_name().to_string())
                .collect(),
            index,
        }
    }

    /// The newest balancer poll, None before any ended.
    pub fn last_poll(&self) -> Option<LastPoll> {
        let newest_ok = self.balancers.iter().filter_map(|b| b.fresh.last_ok).max();
        let all_failing = self.balancers.iter().all(|b| b.fresh.failing().is_some());
        if !all_failing {
            return newest_ok.map(|at| LastPoll { at, failed: None });
        }
        self.balancers
            .iter()
            .filter_map(|b| b.fresh.last_err.as_ref().map(|(at, why)| (b, *at, why)))
            .max_by_key(|(_, at, _)| *at)
            .map(|(b, at, why)| LastPoll {
                at,
                failed: Some(format!("{}: {why}", b.name)),
            })
    }

    /// Backends that answer our health probe.
    pub fn healthy(&self) -> usize {
        self.backends
            .iter()
            .filter(|b| b.health == Health::Healthy)
            .count()
    }

    /// Backends the balancers send traffic to: UP and neither drained nor in maintenance
    /// on every balancer that reports states, and not drained from this console. None
    /// when no balancer reports server states.
    pub fn in_rotation(&self) -> Option<usize> {
        // Where no balancer reports states, a backend not drained from here counts.
        let reported = self.backends.iter().any(|b| b.in_rotation().is_some());
        if !reported && self.drained.is_empty() {
            return None;
        }
        let count = self
            .backends
            .iter()
            .filter(|b| !self.drained.contains(&b.name) && b.in_rotation().unwrap_or(!reported))
            .count();
        Some(count)
    }

    fn rotation_alert(&self) -> Option<Alert> {
        let n = self.in_rotation()?;
        if n == 0 {
            return Some(Alert {
                level: Level::Error,
                text: "no backend is in rotation: every one is drained, in maintenance or down on a balancer — undrain one (u) or check the balancers".into(),
            });
        }
        (n < self.min_in_rotation).then(|| Alert {
            level: Level::Error,
            text: format!(
                "only {n} backend(s) in rotation, fewer than min_healthy_backends = {}: undrain one (u) before draining more",
                self.min_in_rotation
            ),
        })
    }

    /// The shortest interval a rate is measured over: half a poll, so a forced poll right
    /// after a scheduled one keeps the last rate instead of dividing by a split second.
    pub fn min_rate_interval(&self) -> Duration {
        self.poll_interval / 2
    }

    /// How long a value may go without refresh before it is shown as stale: two poll
    /// rounds plus one timeout.
    pub fn stale_after(&self) -> Duration {
        self.poll_interval * 2 + self.timeout
    }

    /// Applies one source result; state changes become events stamped `wall`. False when
    /// it changed nothing shown (a keepalived reading that confirms the view).
    pub fn apply(&mut self, update: SourceUpdate, wall: chrono::DateTime<chrono::Local>) -> bool {
        match update {
            SourceUpdate::Balancer { index, at, result } => {
                self.apply_balancer(index, at, result, wall)
            }
            SourceUpdate::Vrrp { index, at, result } => {
                return self.apply_vrrp_reading(index, at, result, wall)
            }
            SourceUpdate::Traffic {
                index,
                at,
                result,
                lines,
            } => {
                if let (Some(lb), Some(lines)) = (self.balancers.get_mut(index), lines) {
                    lb.log_lines = Some(lines);
                }
                self.apply_traffic(index, at, result, wall)
            }
            SourceUpdate::Health { index, at, result } => {
                self.apply_health(index, at, result, wall)
            }
            SourceUpdate::Upstream { index, at, result } => {
                self.apply_upstream(index, at, result, wall)
            }
            SourceUpdate::HaproxyConfig { index, result, .. } => {
                if let Some(lb) = self.balancers.get_mut(index) {
                    let config = result.ok();
                    lb.keeps_state = config.as_ref().map(|c| c.keeps_state);
                    lb.static_balance = config.and_then(|c| c.static_balance);
                }
            }
            SourceUpdate::SharedAudit { index, result, .. } => {
                return self.apply_shared_audit(index, result, wall)
            }
            SourceUpdate::Vip { at, result } => {
                let was = self.vip.serving();
                match result {
                    Ok(p) => {
                        self.vip.probe = Some(p);
                        self.vip.fresh.ok(at);
                    }
                    Err(e) => self.vip.fresh.err(at, clip(&e.to_string(), 120)),
                }
                let now = self.vip.serving();
                if was.is_some() && was != now {
                    let addr = self.vip.address.clone().unwrap_or_default();
                    match now {
                        Some(true) => self.events.push(
                            wall,
                            Level::Ok,
                            "vip",
                            format!("VIP {addr} serves again"),
                        ),
                        _ => self.events.push(
                            wall,
                            Level::Error,
                            "vip",
                            format!("VIP {addr} stopped serving: {}", self.vip_problem()),
                        ),
                    }
                }
            }
        }
        true
    }

    /// A line of the pair's shared audit log: another operator's action becomes an event,
    /// once however many balancers hold it; this console's own are already told.
    fn apply_shared_audit(
        &mut self,
        index: usize,
        result: Result<String, crate::wire::FetchError>,
        wall: chrono::DateTime<chrono::Local>,
    ) -> bool {
        let name = self
            .balancers
            .get(index)
            .map_or_else(|| format!("balancer {index}"), |b| b.name.clone());
        let line = match result {
            Ok(line) => line,
            Err(e) => {
                let why = clip(&e.to_string(), 160);
                if self.shared_audit.failing.get(&index) == Some(&why) {
                    return false;
                }
                self.shared_audit.failing.insert(index, why.clone());
                let text = format!("the pair's audit log cannot be followed: {why}");
                self.events.push(wall, Level::Warn, &name, text);
                return true;
            }
        };
        self.shared_audit.failing.remove(&index);
        let seen = &mut self.shared_audit.seen;
        if seen.contains(&line) {
            return false;
        }
        if seen.len() == SHARED_AUDIT_SEEN {
            seen.pop_front();
        }
        seen.push_back(line.clone());
        let Some((subject, text)) = crate::wire::audit::others_action(&line) else {
            return false;
        };
        self.events.push(wall, Level::Info, &subject, text);
        true
    }

    fn vip_problem(&self) -> String {
        match (self.vip.fresh.failing(), self.vip.probe) {
            (Some(e), _) => e.to_string(),
            (None, Some(p)) => format!("HTTP {}", p.status),
            _ => "no answer".into(),
        }
    }

    fn apply_balancer(
        &mut self,
        index: usize,
        at: Instant,
        result: Result<BalancerSample, crate::wire::SourceError>,
        wall: chrono::DateTime<chrono::Local>,
    ) {
        let min = self.min_rate_interval();
        let Some(lb) = self.balancers.get_mut(index) else {
            return;
        };
        let name = lb.name.clone();
        match result {
            Err(e) => {
                let first_failure = lb.fresh.failing().is_none();
                lb.fresh.err(at, clip(&e.to_string(), 160));
                lb.exporter_down = e.exporter_side();
                if first_failure {
                    let (level, what) = if lb.exporter_down {
                        (Level::Warn, "not read through Prometheus")
                    } else {
                        (Level::Error, "unreachable")
                    };
                    self.events.push(
                        wall,
                        level,
                        &name,
                        format!("{name} {what}: {}", clip(&e.to_string(), 160)),
                    );
                }
            }
            Ok(sample) => {
                lb.exporter_down = false;
                let recovered = lb.fresh.failing().is_some();
                let first = lb.fresh.never();
                lb.fresh.ok(at);
                if recovered {
                    self.events
                        .push(wall, Level::Ok, &name, format!("{name} answers again"));
                } else if first {
                    self.events.push(
                        wall,
                        Level::Info,
                        &name,
                        format!("{name} up ({})", lb.endpoint),
                    );
                }
                match sample {
                    BalancerSample::Nginx(s) => {
                        // nginx counts the stub_status request it is answering.
                        let reading = lb.requests.observe_excluding(s.requests, at, 1, min);
                        lb.metrics = BalancerMetrics {
                            active: Some(s.active),
                            req_rate: reading.or_last(lb.metrics.req_rate),
                            requests_total: Some(s.requests),
                            reading: Some(s.reading),
                            writing: Some(s.writing),
                            waiting: Some(s.waiting),
                            ..BalancerMetrics::default()
                        };
                        self.after_counters(index, reading, wall);
                    }
                    BalancerSample::Haproxy {
                        info,
                        stats,
                        admin,
                        access,
                    } => {
                        if access.is_some() {
                            self.balancers[index].api = access;
                        }
                        self.apply_haproxy(index, at, info, &stats, admin.as_deref(), wall)
                    }
                    BalancerSample::Plus(peers) => self.apply_plus(index, at, &peers, wall),
                }
            }
        }
    }

    fn after_counters(
        &mut self,
        index: usize,
        reading: Reading,
        wall: chrono::DateTime<chrono::Local>,
    ) {
        let lb = &mut self.balancers[index];
        // A sample only where a rate was measured: a blank or a zero column would be
        // a figure nobody saw.
        if let Reading::Rate(r) = reading {
            lb.req_history.push(r.round() as u64);
            lb.conn_history.push(lb.metrics.active.unwrap_or(0));
        }
        if reading == Reading::Reset {
            lb.restarts += 1;
            let name = lb.name.clone();
            self.events.push(
                wall,
                Level::Warn,
                &name,
                format!("{name} restarted (its counters went back to zero)"),
            );
        }
    }

    fn apply_haproxy(
        &mut self,
        index: usize,
        at: Instant,
        info: Option<crate::wire::haproxy::Info>,
        stats: &[StatRow],
        admin: Option<&[crate::wire::haproxy::ServerStateRow]>,
        wall: chrono::DateTime<chrono::Local>,
    ) {
        let backend = self.backend_names[index].clone();
        let be_row = stats
            .iter()
            .find(|r| r.pxname == backend && r.kind == Some(RowKind::Backend));
        let min = self.min_rate_interval();
        let lb = &mut self.balancers[index];
        let total = be_row
            .and_then(StatRow::responses)
            .or_else(|| be_row.and_then(|r| r.stot));
        let mut reading = total.map_or(Reading::First, |t| lb.requests.observe(t, at, min));
        let restarted_by_uptime = match (info.as_ref().and_then(|i| i.uptime_sec), lb.uptime) {
            (Some(now), Some(before)) => now < before,
            _ => false,
        };
        if restarted_by_uptime {
            reading = Reading::Reset;
        }
        lb.uptime = info.as_ref().and_then(|i| i.uptime_sec);
        let frontend_conns = sum(stats
            .iter()
            .filter(|r| r.kind == Some(RowKind::Frontend))
            .filter_map(|r| r.scur));
        lb.metrics = BalancerMetrics {
            active: info.as_ref().and_then(|i| i.curr_conns).or(frontend_conns),
            req_rate: reading.or_last(lb.metrics.req_rate),
            requests_total: total,
            sessions: be_row.and_then(|r| r.scur),
            queue: be_row.and_then(|r| r.qcur),
            version: info.as_ref().map(|i| clip(&i.version, 40)),
            uptime_sec: info.as_ref().and_then(|i| i.uptime_sec),
            ..BalancerMetrics::default()
        };
        self.after_counters(index, reading, wall);
        for row in stats
            .iter()
            .filter(|r| r.pxname == backend && r.kind == Some(RowKind::Server))
        {
            let state_row = admin.and_then(|rows| {
                rows.iter()
                    .find(|a| a.backend == backend && a.server == row.svname)
            });
            let admin = state_row.map(crate::wire::haproxy::ServerStateRow::admin);
            let view = ServerView {
                state: row.state(),
                admin,
                status: clip(&row.status, 20),
                check: clip(&row.check_status, 12),
                sessions: row.scur,
                req_rate: None,
                responses: [row.hrsp[1], row.hrsp[3], row.hrsp[4]],
                latency_ms: row.rtime.filter(|_| row.responses().unwrap_or(0) > 0),
                weight: state_row.map(|s| u64::from(s.weight)),
                weight_initial: state_row.and_then(|s| s.iweight).map(u64::from),
                detail: Some(Box::new(ServerDetail::haproxy(row, state_row, at))),
                ..ServerView::default()
            };
            let total = row.responses().or(row.stot);
            self.set_view(index, &row.svname, &row.addr, view, total, at, wall);
        }
    }

    fn apply_plus(
        &mut self,
        index: usize,
        at: Instant,
        peers: &[Peer],
        wall: chrono::DateTime<chrono::Local>,
    ) {
        let min = self.min_rate_interval();
        let lb = &mut self.balancers[index];
        let total: u64 = peers.iter().map(|p| p.requests).sum();
        let reading = lb.requests.observe(total, at, min);
        lb.metrics = BalancerMetrics {
            active: Some(peers.iter().map(|p| p.active).sum()),
            req_rate: reading.or_last(lb.metrics.req_rate),
            requests_total: Some(total),
            ..BalancerMetrics::default()
        };
        self.after_counters(index, reading, wall);
        for p in peers {
            let view = ServerView {
                state: p.server_state(),
                admin: Some(p.admin()),
                status: clip(&p.state, 20),
                check: match p.health_checks.and_then(|h| h.last_passed) {
                    Some(true) => "passed".into(),
                    Some(false) => "failed".into(),
                    None => String::new(),
                },
                sessions: Some(p.active),
                req_rate: None,
                responses: [
                    Some(p.responses.s2xx),
                    Some(p.responses.s4xx),
                    Some(p.responses.s5xx),
                ],
                latency_ms: p.response_time,
                weight: p.weight,
                detail: Some(Box::new(ServerDetail::plus(p, at))),
                ..ServerView::default()
            };
            let server = p.server.clone();
            self.set_view(index, &server, &server, view, Some(p.requests), at, wall);
        }
    }

    /// The backend a balancer means by `name`/`addr`: by name, then by address, else a
    /// newly discovered one.
    fn backend_index(&mut self, name: &str, addr: &str) -> usize {
        if let Some(i) = self.index.get(name).copied().or_else(|| {
            self.backends
                .iter()
                .position(|b| !addr.is_empty() && b.address == addr)
        }) {
            return i;
        }
        let clean = clip(name, 32);
        self.backends.push(Backend::new(
            clean.clone(),
            clip(addr, 48),
            false,
            self.balancers.len(),
        ));
        let i = self.backends.len() - 1;
        self.index.insert(clean, i);
        i
    }

    /// Applies a window of access-log traffic from nginx balancer `index`: every backend
    /// it knows gets its numbers (0 when the log named it not at all).
    fn apply_traffic(
        &mut self,
        index: usize,
        at: Instant,
        result: Result<Vec<crate::sources::access_log::BackendTraffic>, crate::wire::FetchError>,
        wall: chrono::DateTime<chrono::Local>,
    ) {
        let Some(lb) = self.balancers.get_mut(index) else {
            return;
        };
        let name = lb.name.clone();
        let list = match result {
            Ok(l) => {
                if lb.traffic.failing().is_some() {
                    self.events.push(
                        wall,
                        Level::Ok,
                        &name,
                        format!("{name} access log followed again"),
                    );
                }
                lb.traffic.ok(at);
                l
            }
            Err(e) => {
                if lb.traffic.failing().is_none() {
                    self.events.push(
                        wall,
                        Level::Warn,
                        &name,
                        format!("{name} access log: {}", clip(&e.to_string(), 200)),
                    );
                }
                lb.traffic.err(at, clip(&e.to_string(), 200));
                // Numbers from a log no longer followed would be shown as current: a
                // stale 0.0 while the balancer serves is worse than no number.
                for view in self
                    .backends
                    .iter_mut()
                    .filter_map(|b| b.views[index].as_mut())
                {
                    view.req_rate = None;
                    view.err_rate = None;
                    view.p50_ms = None;
                    view.p95_ms = None;
                    view.p99_ms = None;
                }
                return;
            }
        };
        let mut touched = vec![false; self.backends.len()];
        for t in &list {
            let bi = self.backend_index(&t.addr, &t.addr);
            touched.resize(self.backends.len(), false);
            touched[bi] = true;
            let view = self.backends[bi].views[index].get_or_insert_with(ServerView::default);
            view.req_rate = Some(t.req_rate);
            view.err_rate = Some(t.err_rate);
            view.responses = [
                Some(t.responses[0]),
                Some(t.responses[1]),
                Some(t.responses[2]),
            ];
            view.p50_ms = t.p50_ms;
            view.p95_ms = t.p95_ms;
            view.p99_ms = t.p99_ms;
        }
        for (bi, b) in self.backends.iter_mut().enumerate() {
            if !touched.get(bi).copied().unwrap_or(false) && b.configured {
                let view = b.views[index].get_or_insert_with(ServerView::default);
                view.req_rate = Some(0.0);
                view.err_rate = Some(0.0);
                view.responses = [Some(0), Some(0), Some(0)];
                view.p50_ms = None;
                view.p95_ms = None;
                view.p99_ms = None;
            }
        }
        if index == 0 {
            for b in &mut self.backends {
                let rate: f64 = b.views.iter().flatten().filter_map(|v| v.req_rate).sum();
                b.req_history.push(rate.round() as u64);
            }
        }
    }

    /// Applies what balancer `index`'s upstream file says (nginx open source): a server
    /// marked `down` is MAINT there, any other listed server ready. A file that cannot
    /// be read leaves the last states known, said once as an event.
    fn apply_upstream(
        &mut self,
        index: usize,
        at: Instant,
        result: Result<crate::wire::upstream::UpstreamRead, crate::wire::FetchError>,
        wall: chrono::DateTime<chrono::Local>,
    ) {
        let Some(lb) = self.balancers.get_mut(index) else {
            return;
        };
        let name = lb.name.clone();
        let read = match result {
            Ok(s) => {
                if lb.upstream.failing().is_some() {
                    let text = format!("{name} upstream file readable again");
                    self.events.push(wall, Level::Ok, &name, text);
                }
                lb.upstream.ok(at);
                s
            }
            Err(e) => {
                let why = clip(&e.to_string(), 200);
                if lb.upstream.failing().is_none() {
                    let text = format!("{name} upstream file: {why}");
                    self.events.push(wall, Level::Warn, &name, text);
                }
                lb.upstream.err(at, why);
                return;
            }
        };
        for server in &read.servers {
            let (addr, down) = (&server.address, server.down);
            // nginx's default port is 80: `server 10.0.0.21;` is 10.0.0.21:80.
            let full = if addr.contains(':') {
                addr.clone()
            } else {
                format!("{addr}:80")
            };
            let Some(b) = self.backends.iter_mut().find(|b| b.address == full) else {
                continue;
            };
            let admin = if down {
                ServerState::Maint
            } else {
                ServerState::Up
            };
            let view = b.views[index].get_or_insert_with(ServerView::default);
            if let Some(before) = view.admin.filter(|s| *s != admin) {
                let text = format!(
                    "{} {} → {} on {name} (upstream file)",
                    b.name,
                    before.label(),
                    admin.label()
                );
                self.events.push(wall, Level::Warn, &b.name, text);
            }
            view.admin = Some(admin);
            view.weight = Some(u64::from(server.weight));
            view.weight_initial = Some(u64::from(server.initial_weight));
            view.backup = Some(server.backup);
            view.detail = Some(Box::new(ServerDetail::upstream(&read.file, server, at)));
        }
    }

    /// Records how balancer `index` sees a server, matching it to a backend by name, then
    /// by address, else adding it as discovered.
    #[allow(clippy::too_many_arguments)]
    fn set_view(
        &mut self,
        index: usize,
        name: &str,
        addr: &str,
        mut view: ServerView,
        total: Option<u64>,
        at: Instant,
        wall: chrono::DateTime<chrono::Local>,
    ) {
        let bi = self.backend_index(name, addr);
        let min = self.min_rate_interval();
        let lb_name = self.balancers[index].name.clone();
        let backend = &mut self.backends[bi];
        let previous = backend.views[index].take();
        if let Some(prev) = &previous {
            view.counter = prev.counter;
        }
        let reading = total.map(|t| view.counter.observe(t, at, min));
        if let Some(r) = reading {
            view.req_rate = r.or_last(previous.as_ref().and_then(|p| p.req_rate));
        }
        let old_state = previous.as_ref().and_then(|p| p.state);
        if previous.is_some() && old_state != view.state {
            let level = match view.state {
                Some(ServerState::Up) => Level::Ok,
                Some(ServerState::Down) => Level::Error,
                _ => Level::Warn,
            };
            let label = |s: Option<ServerState>| s.map_or("?", ServerState::label);
            let text = format!(
                "{} {} → {} on {lb_name}{}",
                backend.name,
                label(old_state),
                label(view.state),
                if view.check.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", view.check)
                }
            );
            let name = backend.name.clone();
            self.events.push(wall, level, &name, text);
        }
        let backend = &mut self.backends[bi];
        let measured = reading.is_none_or(|r| matches!(r, Reading::Rate(_)));
        if index == 0 && measured {
            // One history sample per round, summed over the balancers.
            let (rate, sessions) = backend
                .views
                .iter()
                .skip(1)
                .flatten()
                .chain(std::iter::once(&view))
                .fold((0.0, 0), |(r, n), v| {
                    (r + v.req_rate.unwrap_or(0.0), n + v.sessions.unwrap_or(0))
                });
            backend.req_history.push(rate.round() as u64);
            backend.session_history.push(sessions);
        }
        backend.views[index] = Some(view);
    }

    fn apply_health(
        &mut self,
        index: usize,
        at: Instant,
        result: Result<Probe, crate::wire::SourceError>,
        wall: chrono::DateTime<chrono::Local>,
    ) {
        let Some(b) = self.backends.get_mut(index) else {
            return;
        };
        let before = b.health.clone();
        let detail;
        match result {
            Ok(p) => {
                b.health = if p.healthy() {
                    Health::Healthy
                } else {
                    Health::Unhealthy
                };
                detail = format!("HTTP {}", p.status);
                b.probe = Some(p);
                b.fresh.ok(at);
            }
            Err(e) => {
                b.health = Health::Down;
                detail = clip(&e.to_string(), 120);
                b.fresh.err(at, detail.clone());
            }
        }
        if before != b.health && before != Health::Unknown {
            let level = match b.health {
                Health::Healthy => Level::Ok,
                _ => Level::Error,
            };
            let text = format!(
                "{} health {} → {} ({detail})",
                b.name,
                before.label(),
                b.health.label()
            );
            let name = b.name.clone();
            self.events.push(wall, level, &name, text);
            b.health_changes.push_back(at);
            while b
                .health_changes
                .front()
                .is_some_and(|t| at.saturating_duration_since(*t) > FLAP_WINDOW)
            {
                b.health_changes.pop_front();
            }
            if b.health_changes.len() == FLAP_CHANGES {
                let text = format!(
                    "{name} is flapping: {FLAP_CHANGES} health changes within {}s",
                    FLAP_WINDOW.as_secs()
                );
                self.events.push(wall, Level::Warn, &name, text);
            }
        } else if before == Health::Unknown && b.health != Health::Healthy {
            let text = format!("{} health {} ({detail})", b.name, b.health.label());
            let name = b.name.clone();
            self.events.push(wall, Level::Error, &name, text);
        }
    }

    /// What is wrong right now, worst first.
    pub fn alerts(&self, now: Instant) -> Vec<Alert> {
        let mut out = Vec::new();
        let limit = self.stale_after();
        let down: Vec<&str> = self
            .balancers
            .iter()
            .filter(|b| {
                b.fresh.failing().is_some() || (b.fresh.never() && b.fresh.last_err.is_some())
            })
            .filter(|b| !b.exporter_down)
            .map(|b| b.name.as_str())
            .collect();
        for b in self.balancers.iter().filter(|b| b.exporter_down) {
            // HAProxy's exporter is HAProxy itself: its target down may be HAProxy down.
            let check = match b.kind {
                BalancerKind::Haproxy => {
                    format!("check HAProxy on {}, whose exporter it is", b.host)
                }
                _ => "check its exporter".to_string(),
            };
            out.push(Alert {
                level: Level::Warn,
                text: format!(
                    "{} is not read through Prometheus ({}): {} itself is not judged — {check}",
                    b.name,
                    b.fresh.failing().unwrap_or("no sample"),
                    b.name
                ),
            });
        }
        if !down.is_empty() && down.len() == self.balancers.len() {
            out.push(Alert {
                level: Level::Error,
                text: "no balancer answers: check the admin network and the status endpoints"
                    .into(),
            });
        } else {
            for b in self
                .balancers
                .iter()
                .filter(|b| down.contains(&b.name.as_str()))
            {
                out.push(Alert {
                    level: Level::Error,
                    text: format!(
                        "{} does not answer ({}): check that {} runs on {}",
                        b.name,
                        b.fresh.failing().unwrap_or("no answer"),
                        b.kind,
                        b.host
                    ),
                });
            }
        }
        for b in self
            .balancers
            .iter()
            .filter(|b| b.fresh.failing().is_none() && b.fresh.stale(now, limit))
        {
            out.push(Alert {
                level: Level::Warn,
                text: format!(
                    "{} numbers are stale: no answer for {}s",
                    b.name,
                    b.fresh.age(now).unwrap_or_default().as_secs()
                ),
            });
        }
        if self.vip.serving() == Some(false) {
            let holders = self.vip_holders();
            let answered = self.vip.fresh.failing().is_none() && self.vip.probe.is_some();
            let address = self.vip.address.clone().unwrap_or_default();
            let check = if answered && self.in_rotation() == Some(0) {
                // The balancer answers but has nowhere to send the request: the cause
                // first, short enough for the banner of an 80-column terminal.
                out.push(Alert {
                    level: Level::Error,
                    text: format!(
                        "VIP {address} answers {}: no backend in rotation (undrain one)",
                        self.vip_problem()
                    ),
                });
                None
            } else if holders.is_empty() {
                Some(format!(
                    "check which balancer holds it and that its {} runs",
                    self.balancers
                        .first()
                        .map_or("balancer".to_string(), |b| b.kind.to_string())
                ))
            } else {
                Some(format!(
                    "{} is MASTER: check the VIP on its interface, ARP, and its balancer daemon",
                    holders.join(", ")
                ))
            };
            if let Some(check) = check {
                out.push(Alert {
                    level: Level::Error,
                    text: format!(
                        "VIP {address} does not serve ({}): {check}",
                        self.vip_problem(),
                    ),
                });
            }
        }
        let probed: Vec<&Backend> = self
            .backends
            .iter()
            .filter(|b| b.probed && b.health != Health::Unknown)
            .collect();
        let healthy = probed
            .iter()
            .filter(|b| b.health == Health::Healthy)
            .count();
        if !probed.is_empty() && healthy == 0 {
            out.push(Alert {
                level: Level::Error,
                text: "every backend fails its health probe".into(),
            });
        }
        for b in self.backends.iter() {
            if matches!(b.health, Health::Down | Health::Unhealthy) {
                out.push(Alert {
                    level: Level::Warn,
                    text: format!(
                        "{} fails its health probe: {}",
                        b.name,
                        b.fresh.failing().map_or_else(
                            || b.probe
                                .map_or("no answer".to_string(), |p| format!("HTTP {}", p.status)),
                            str::to_string,
                        )
                    ),
                });
            } else if b.health == Health::Healthy && b.worst_state() == Some(ServerState::Down) {
                out.push(Alert {
                    level: Level::Warn,
                    text: format!("{} answers our probe but a balancer marks it DOWN: compare its check with the probe URL", b.name),
                });
            }
            if b.flapping(now) {
                out.push(Alert {
                    level: Level::Warn,
                    text: format!(
                        "{} is flapping ({} health changes in {}s): check its health endpoint and load before trusting it",
                        b.name,
                        b.health_changes(now),
                        FLAP_WINDOW.as_secs()
                    ),
                });
            }
            if self.drained.contains(&b.name) {
                let ready: Vec<&str> = self
                    .balancers
                    .iter()
                    .zip(&b.views)
                    .filter(|(_, v)| v.as_ref().is_some_and(|v| v.admin == Some(ServerState::Up)))
                    .map(|(lb, _)| lb.name.as_str())
                    .collect();
                if !ready.is_empty() {
                    out.push(Alert {
                        level: Level::Error,
                        text: format!(
                            "DRIFT: {} was drained from lbdeck but {} report(s) it ready again: someone undid it, or a reload lost it",
                            b.name,
                            ready.join(", ")
                        ),
                    });
                }
            }
            if let Some(&set) = self.weights_set.get(&b.name) {
                let other: Vec<String> = self
                    .balancers
                    .iter()
                    .zip(&b.views)
                    .filter_map(|(lb, v)| {
                        let w = v.as_ref()?.weight?;
                        (w != set).then(|| format!("{} reports {w}", lb.name))
                    })
                    .collect();
                if !other.is_empty() {
                    out.push(Alert {
                        level: Level::Error,
                        text: format!(
                            "DRIFT: {}'s weight was set to {set} from lbdeck but {}: someone changed it, or a reload lost it",
                            b.name,
                            other.join(", ")
                        ),
                    });
                }
            }
            if self.checks_off.contains(&b.name) {
                let checking: Vec<&str> = self
                    .balancers
                    .iter()
                    .zip(&b.views)
                    .filter(|(_, v)| v.as_ref().is_some_and(|v| !v.check.is_empty()))
                    .map(|(lb, _)| lb.name.as_str())
                    .collect();
                if !checking.is_empty() {
                    out.push(Alert {
                        level: Level::Error,
                        text: format!(
                            "DRIFT: {}'s health checks were switched off from lbdeck but {} check(s) it again: someone switched them on, or a reload did",
                            b.name,
                            checking.join(", ")
                        ),
                    });
                }
            }
            if b.disagreement() {
                let states: Vec<String> = self
                    .balancers
                    .iter()
                    .zip(&b.views)
                    .filter_map(|(lb, v)| {
                        v.as_ref()
                            .and_then(|v| v.state)
                            .map(|s| format!("{} {}", lb.name, s.label()))
                    })
                    .collect();
                out.push(Alert {
                    level: Level::Warn,
                    text: format!("balancers disagree on {}: {}", b.name, states.join(", ")),
                });
            }
        }
        self.vrrp_alerts(now, &mut out);
        // After the pair's own alarms: a split brain is the banner before an empty pool.
        out.extend(self.rotation_alert());
        // Worst first: errors, then warnings.
        out.sort_by_key(|a| std::cmp::Reverse(a.level));
        out
    }
}

#[cfg(test)]
mod tests;
