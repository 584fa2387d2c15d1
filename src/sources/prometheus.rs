//! Prometheus as a source: the cluster read from PromQL instant queries instead of from
//! the nodes. HAProxy's built-in exporter, prometheus-nginx-exporter (nginx's
//! stub_status, or NGINX Plus's upstream peers with `-nginx.plus`) and keepalived's
//! state (the keepalived-exporter's metric names, or the same from node_exporter's
//! textfile collector) become the same [`SourceUpdate`]s the direct pollers send, so the
//! model, the panes and `status --json` do not know where they came from. A target
//! Prometheus cannot scrape is its exporter being down, with Prometheus' reason, and a
//! sample older than two scrape intervals is stale: neither says the node is dead.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::vrrp::VrrpSample;
use super::{BalancerSample, SourceUpdate};
use crate::config::profile::{BalancerKind, Profile};
use crate::wire::haproxy::{Info, RowKind, StatRow};
use crate::wire::keepalived::FifoEvent;
use crate::wire::nginx::StubStatus;
use crate::wire::nginx_plus::{HealthChecks, Peer, Responses};
use crate::wire::{get_any, ParseError, SourceError};

/// One-hot state families, asked apart and only where they are 1: the others are zeros,
/// five to sixteen series per server that would fill most of every answer.
const ONE_HOT: &str = "haproxy_server_status|haproxy_server_check_status";
/// Every other series read each round, by name, in one query (one answer per round
/// however many balancers). A target's health comes from `/api/v1/targets`, which has
/// Prometheus' reason where `up` is only 0.
const VALUES: &str = "haproxy_server_current_sessions|haproxy_server_weight|\
haproxy_server_sessions_total|haproxy_server_http_responses_total|\
haproxy_backend_current_sessions|haproxy_backend_current_queue|\
haproxy_backend_sessions_total|haproxy_backend_http_responses_total|\
haproxy_process_current_connections|haproxy_process_uptime_seconds|\
haproxy_process_build_info|nginx_up|nginx_connections_.+|nginx_http_requests_total|\
nginxplus_up|nginxplus_upstream_server_(state|active|requests|responses|fails|\
health_checks_checks|health_checks_fails)|keepalived_up|keepalived_vrrp_state";

/// What a round for many clusters at once asks (the overview's rows: which servers are
/// in rotation, backend totals for req/s, the process, keepalived); per-server sessions,
/// responses and check states, most of a full answer, are left to the cluster in front,
/// which asks on its own.
const SUMMARY_STATES: &str = "haproxy_server_status";
/// The values of a round for many clusters (see [`SUMMARY_STATES`]).
const SUMMARY_VALUES: &str = "haproxy_server_weight|\
haproxy_backend_current_sessions|haproxy_backend_current_queue|\
haproxy_backend_sessions_total|haproxy_backend_http_responses_total|\
haproxy_process_current_connections|haproxy_process_uptime_seconds|\
haproxy_process_build_info|nginx_up|nginx_connections_.+|nginx_http_requests_total|\
nginxplus_up|nginxplus_upstream_server_(state|active|requests)|keepalived_up|keepalived_vrrp_state";

/// A scrape interval Prometheus does not report (older servers): its own default.
const DEFAULT_SCRAPE: Duration = Duration::from_secs(15);

/// Samples older than this many scrape intervals are stale.
const STALE_SCRAPES: f64 = 2.0;

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels, `__name__` included where the query kept it.
    pub labels: BTreeMap<String, String>,
    /// When the query was evaluated (Unix seconds, Prometheus' clock).
    pub at: f64,
    /// The value (NaN where the exporter has none, e.g. a server without checks).
    pub value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    fn name(&self) -> &str {
        self.label("__name__")
    }

    /// The value as a count; None for NaN and negatives.
    fn count(&self) -> Option<u64> {
        (self.value.is_finite() && self.value >= 0.0).then_some(self.value as u64)
    }
}

#[derive(Deserialize)]
struct Reply<T> {
    status: String,
    data: Option<T>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The `data` of an API answer, or the error Prometheus gave instead.
fn data<T: serde::de::DeserializeOwned>(text: &str, what: &'static str) -> Result<T, SourceError> {
    let reply: Reply<T> = serde_json::from_str(text).map_err(|e| ParseError::Json {
        what,
        detail: e.to_string(),
    })?;
    if reply.status != "success" {
        return Err(SourceError::Prometheus(format!(
            "{}: {}",
            reply.error_type.unwrap_or(reply.status),
            reply.error.unwrap_or_default()
        )));
    }
    reply.data.ok_or_else(|| {
        ParseError::Json {
            what,
            detail: "no data".into(),
        }
        .into()
    })
}

#[derive(Deserialize)]
struct VectorData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSample>,
}

#[derive(Deserialize)]
struct RawSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Parses an `/api/v1/query` answer holding an instant vector.
pub fn parse_vector(text: &str) -> Result<Vec<Sample>, SourceError> {
    let what = "Prometheus query";
    let data: VectorData = data(text, what)?;
    if data.result_type != "vector" {
        return Err(ParseError::expected(what, "an instant vector", &data.result_type).into());
    }
    Ok(data
        .result
        .into_iter()
        .map(|r| Sample {
            labels: r.metric,
            at: r.value.0,
            value: r.value.1.parse().unwrap_or(f64::NAN),
        })
        .collect())
}

/// One scrape target as `/api/v1/targets` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeTarget {
    /// Its `instance` label.
    pub instance: String,
    /// Its `job` label.
    pub job: String,
    /// The last scrape worked (`health` "up").
    pub up: bool,
    /// Why the last scrape failed.
    pub last_error: String,
    /// How often it is scraped.
    pub interval: Duration,
}

#[derive(Deserialize)]
struct TargetsData {
    #[serde(rename = "activeTargets")]
    active: Vec<RawTarget>,
}

#[derive(Deserialize)]
struct RawTarget {
    labels: BTreeMap<String, String>,
    health: String,
    #[serde(default, rename = "lastError")]
    last_error: String,
    #[serde(default, rename = "scrapeInterval")]
    scrape_interval: Option<String>,
}

/// Parses an `/api/v1/targets` answer.
pub fn parse_targets(text: &str) -> Result<Vec<ScrapeTarget>, SourceError> {
    let targets: TargetsData = data(text, "Prometheus targets")?;
    Ok(targets
        .active
        .into_iter()
        .map(|t| ScrapeTarget {
            instance: t.labels.get("instance").cloned().unwrap_or_default(),
            job: t.labels.get("job").cloned().unwrap_or_default(),
            up: t.health == "up",
            last_error: t.last_error,
            interval: t
                .scrape_interval
                .and_then(|s| humantime::parse_duration(&s).ok())
                .unwrap_or(DEFAULT_SCRAPE),
        })
        .collect())
}

/// GETs an API answer: Prometheus explains a refused query in a JSON body with a 4xx or
/// 5xx status, which is kept for [`data`] to read; a body of another kind is the status.
async fn ask(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<String, SourceError> {
    let (status, body) = get_any(client, url, timeout, true).await?;
    if status.is_success() || body.trim_start().starts_with('{') {
        Ok(body)
    } else {
        Err(SourceError::Status {
            status,
            url: url.to_string(),
        })
    }
}

/// One balancer as the Prometheus source reads it.
#[derive(Debug, Clone)]
struct Watched {
    index: usize,
    kind: BalancerKind,
    /// Its exporter's `instance` label.
    instance: String,
    /// The host part of it: keepalived's state is on any target of this host.
    host: String,
    /// HAProxy backend (the `proxy` label).
    backend: String,
    /// keepalived's instance name, when the profile has a keepalived block.
    vrrp: Option<String>,
}

/// What a profile asks of Prometheus: where it is, the label selector of every query,
/// and the balancers.
#[derive(Debug, Clone)]
pub struct Plan {
    url: String,
    /// The profile's extra matchers, as they follow the instance matcher.
    matchers: String,
    selector: String,
    balancers: Vec<Watched>,
    /// Asks for the overview's summary only (a round for many clusters).
    summary: bool,
}

/// `s` matched literally inside a PromQL regular expression (RE2 syntax).
fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// A string inside a PromQL double-quoted label value.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Plan {
    /// The plan for a profile; None without a `[prometheus]` table.
    pub fn for_profile(profile: &Profile) -> Option<Plan> {
        let settings = profile.prometheus.as_ref()?.get_ref();
        let balancers: Vec<Watched> = profile
            .balancers()
            .enumerate()
            .filter_map(|(index, b)| {
                let instance = b.prometheus_instance.as_ref()?;
                Some(Watched {
                    index,
                    kind: b.kind,
                    instance: instance.0.clone(),
                    host: instance.host().to_string(),
                    backend: b.backend_name().to_string(),
                    vrrp: b.keepalived.as_ref().map(|k| k.instance.clone()),
                })
            })
            .collect();
        let mut matchers = String::new();
        for (k, v) in &settings.matchers {
            matchers.push_str(&format!(",{k}=\"{}\"", quote(v)));
        }
        let url = settings.url.0.trim_end_matches('/').to_string();
        Some(Plan::new(url, matchers, balancers))
    }

    /// A plan for `balancers`, selecting their hosts' targets and `matchers`.
    fn new(url: String, matchers: String, balancers: Vec<Watched>) -> Plan {
        let mut hosts: Vec<String> = balancers.iter().map(|b| escape(&b.host)).collect();
        hosts.sort();
        hosts.dedup();
        let selector = format!(
            "instance=~\"{}\"{matchers}",
            quote(&format!("({}):[0-9]+", hosts.join("|")))
        );
        Plan {
            url,
            matchers,
            selector,
            balancers,
            summary: false,
        }
    }

    /// What plans asked together must share: the server and the extra matchers.
    pub fn group_key(&self) -> (&str, &str) {
        (&self.url, &self.matchers)
    }

    /// One plan asking for every balancer of `plans` (all with the same
    /// [`group_key`](Plan::group_key)): one round of queries for them all, of the
    /// overview's summary only.
    pub fn merged(plans: &[&Plan]) -> Option<Plan> {
        let first = plans.first()?;
        let balancers = plans.iter().flat_map(|p| p.balancers.clone()).collect();
        let mut all = Plan::new(first.url.clone(), first.matchers.clone(), balancers);
        all.summary = true;
        Some(all)
    }

    /// The three instant queries of a round: one-hot states where set, the other
    /// values, and each target's newest scrape time.
    pub fn queries(&self) -> [String; 3] {
        let s = &self.selector;
        let (states, values) = match self.summary {
            true => (SUMMARY_STATES, SUMMARY_VALUES),
            false => (ONE_HOT, VALUES),
        };
        [
            format!("{{__name__=~\"{states}\",{s}}} == 1"),
            format!("{{__name__=~\"{values}\",{s}}}"),
            format!("timestamp(up{{{s}}})"),
        ]
    }

    /// How many updates a round sends: one per balancer, one per keepalived on it.
    pub fn answers(&self) -> usize {
        self.balancers.len() + self.balancers.iter().filter(|b| b.vrrp.is_some()).count()
    }

    /// How the screen names where balancer `index`'s numbers come from.
    pub fn endpoint(&self, index: usize) -> Option<String> {
        self.balancers
            .iter()
            .find(|b| b.index == index)
            .map(|b| format!("Prometheus {} instance {}", self.url, b.instance))
    }
}

/// What one round of queries brought back.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// Every active target.
    pub targets: Vec<ScrapeTarget>,
    /// One-hot states where they are 1.
    pub states: Vec<Sample>,
    /// Every other value.
    pub values: Vec<Sample>,
    /// Each target's newest scrape (the value) as of the query (`at`).
    pub stamps: Vec<Sample>,
}

impl Round {
    /// Asks Prometheus for a round, each request within `timeout`.
    pub async fn fetch(
        client: &reqwest::Client,
        plan: &Plan,
        timeout: Duration,
    ) -> Result<Round, SourceError> {
        let query = |q: &str| {
            let mut url = reqwest::Url::parse(&format!("{}/api/v1/query", plan.url))
                .map_err(|e| SourceError::Prometheus(e.to_string()))?;
            url.query_pairs_mut().append_pair("query", q);
            Ok::<String, SourceError>(url.to_string())
        };
        let [states, values, stamps] = plan.queries();
        let (states, values, stamps) = (query(&states)?, query(&values)?, query(&stamps)?);
        let targets = format!("{}/api/v1/targets?state=active", plan.url);
        let (t, a, b, c) = futures::join!(
            ask(client, &targets, timeout),
            ask(client, &states, timeout),
            ask(client, &values, timeout),
            ask(client, &stamps, timeout),
        );
        let unreachable = |e: SourceError| SourceError::Prometheus(format!("{}: {e}", plan.url));
        Ok(Round {
            targets: parse_targets(&t.map_err(unreachable)?)?,
            states: parse_vector(&a.map_err(unreachable)?)?,
            values: parse_vector(&b.map_err(unreachable)?)?,
            stamps: parse_vector(&c.map_err(unreachable)?)?,
        })
    }

    /// A target's scrape health: Ok with the age of its newest sample, or why its
    /// numbers cannot be used.
    fn health(&self, instance: &str) -> Result<Duration, SourceError> {
        let target = self
            .targets
            .iter()
            .find(|t| t.instance == instance)
            .ok_or_else(|| {
                SourceError::Prometheus(format!("no scrape target with instance {instance:?}"))
            })?;
        if !target.up {
            return Err(SourceError::ExporterDown {
                instance: instance.to_string(),
                job: target.job.clone(),
                reason: target.last_error.clone(),
            });
        }
        let age = self
            .stamps
            .iter()
            .find(|s| s.label("instance") == instance)
            .map_or(f64::INFINITY, |s| (s.at - s.value).max(0.0));
        if age > target.interval.as_secs_f64() * STALE_SCRAPES {
            return Err(SourceError::Stale {
                instance: instance.to_string(),
                age: Duration::try_from_secs_f64(age).unwrap_or(Duration::MAX),
                interval: target.interval,
            });
        }
        Ok(Duration::from_secs_f64(age))
    }

    fn of<'a>(&'a self, instance: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.values
            .iter()
            .filter(move |s| s.label("instance") == instance)
    }

    fn value<'a>(&'a self, instance: &'a str, name: &str) -> Option<&'a Sample> {
        self.of(instance).find(|s| s.name() == name)
    }

    /// HAProxy's numbers for `b` as the runtime API would give them.
    fn haproxy(&self, b: &Watched) -> BalancerSample {
        let mut rows: BTreeMap<&str, StatRow> = BTreeMap::new();
        let ours = |s: &&Sample| s.label("instance") == b.instance && s.label("proxy") == b.backend;
        for s in self.states.iter().filter(ours) {
            let row = rows.entry(s.label("server")).or_default();
            match s.name() {
                "haproxy_server_status" => row.status = s.label("state").to_string(),
                _ => row.check_status = s.label("state").to_string(),
            }
        }
        let mut backend = StatRow {
            pxname: b.backend.clone(),
            svname: "BACKEND".into(),
            kind: Some(RowKind::Backend),
            ..StatRow::default()
        };
        for s in self.values.iter().filter(ours) {
            let server = s.label("server");
            let row = if server.is_empty() {
                &mut backend
            } else {
                rows.entry(server).or_default()
            };
            match s.name() {
                "haproxy_server_current_sessions" | "haproxy_backend_current_sessions" => {
                    row.scur = s.count()
                }
                "haproxy_server_weight" => row.weight = s.count(),
                "haproxy_server_sessions_total" | "haproxy_backend_sessions_total" => {
                    row.stot = s.count()
                }
                "haproxy_backend_current_queue" => row.qcur = s.count(),
                "haproxy_server_http_responses_total" | "haproxy_backend_http_responses_total" => {
                    let class = match s.label("code") {
                        "1xx" => 0,
                        "2xx" => 1,
                        "3xx" => 2,
                        "4xx" => 3,
                        "5xx" => 4,
                        _ => 5,
                    };
                    row.hrsp[class] = Some(row.hrsp[class].unwrap_or(0) + s.count().unwrap_or(0));
                }
                _ => {}
            }
        }
        let mut stats: Vec<StatRow> = rows
            .into_iter()
            .map(|(server, mut row)| {
                row.pxname = b.backend.clone();
                row.svname = server.to_string();
                row.kind = Some(RowKind::Server);
                row
            })
            .collect();
        stats.push(backend);
        let count = |name: &str| self.value(&b.instance, name).and_then(Sample::count);
        let info = Info {
            version: self
                .value(&b.instance, "haproxy_process_build_info")
                .map(|s| s.label("version").to_string())
                .unwrap_or_default(),
            uptime_sec: count("haproxy_process_uptime_seconds"),
            curr_conns: count("haproxy_process_current_connections"),
            ..Info::default()
        };
        BalancerSample::Haproxy {
            info: Some(info),
            stats,
            admin: None,
            access: None,
        }
    }

    /// nginx's stub_status as the exporter relays it; an exporter that cannot read
    /// stub_status (`nginx_up` 0) is nginx not answering it.
    fn nginx(&self, b: &Watched) -> Result<BalancerSample, SourceError> {
        let count = |name: &str| self.value(&b.instance, name).and_then(Sample::count);
        if count("nginx_up") != Some(1) {
            return Err(SourceError::Prometheus(format!(
                "nginx_up is not 1 on {}: the exporter cannot read nginx's stub_status",
                b.instance
            )));
        }
        Ok(BalancerSample::Nginx(StubStatus {
            active: count("nginx_connections_active").unwrap_or(0),
            accepts: count("nginx_connections_accepted").unwrap_or(0),
            handled: count("nginx_connections_handled").unwrap_or(0),
            requests: count("nginx_http_requests_total").unwrap_or(0),
            reading: count("nginx_connections_reading").unwrap_or(0),
            writing: count("nginx_connections_writing").unwrap_or(0),
            waiting: count("nginx_connections_waiting").unwrap_or(0),
        }))
    }

    /// NGINX Plus's upstream peers as nginx-prometheus-exporter relays its API
    /// (`-nginx.plus`): the state as a number (1 up, 2 draining, 3 down, 4 unavail,
    /// 5 checking, 6 unhealthy), connections, requests, responses by class, fails and
    /// health checks. The peer's API id is not exported: actions find the peer by its
    /// address in the API itself.
    fn plus(&self, b: &Watched) -> Result<BalancerSample, SourceError> {
        let up = self.value(&b.instance, "nginxplus_up");
        if up.and_then(Sample::count) != Some(1) {
            return Err(SourceError::Prometheus(format!(
                "nginxplus_up is not 1 on {}: the exporter cannot read NGINX Plus's API",
                b.instance
            )));
        }
        let mut peers: BTreeMap<&str, Peer> = BTreeMap::new();
        let ours = self
            .values
            .iter()
            .filter(|s| s.label("instance") == b.instance && s.label("upstream") == b.backend);
        for s in ours.clone() {
            if s.name() == "nginxplus_upstream_server_state" {
                let state = match s.count() {
                    Some(1) => "up",
                    Some(2) => "draining",
                    Some(3) => "down",
                    Some(4) => "unavail",
                    Some(5) => "checking",
                    Some(6) => "unhealthy",
                    _ => "unknown",
                };
                let server = s.label("server");
                peers.insert(server, plus_peer(server, state));
            }
        }
        for s in ours {
            let Some(p) = peers.get_mut(s.label("server")) else {
                continue;
            };
            let n = s.count().unwrap_or(0);
            match s.name() {
                "nginxplus_upstream_server_active" => p.active = n,
                "nginxplus_upstream_server_requests" => p.requests = n,
                "nginxplus_upstream_server_fails" => p.fails = Some(n),
                "nginxplus_upstream_server_health_checks_checks" => {
                    p.health_checks
                        .get_or_insert_with(HealthChecks::default)
                        .checks = n
                }
                "nginxplus_upstream_server_health_checks_fails" => {
                    p.health_checks
                        .get_or_insert_with(HealthChecks::default)
                        .fails = n
                }
                "nginxplus_upstream_server_responses" => match s.label("code") {
                    "2xx" => p.responses.s2xx = n,
                    "4xx" => p.responses.s4xx = n,
                    "5xx" => p.responses.s5xx = n,
                    _ => {}
                },
                _ => {}
            }
        }
        if peers.is_empty() {
            return Err(SourceError::Prometheus(format!(
                "no nginxplus_upstream_server_state for upstream {:?} on {} (an upstream \
                 needs a shared memory zone to be exported)",
                b.backend, b.instance
            )));
        }
        Ok(BalancerSample::Plus(peers.into_values().collect()))
    }

    /// keepalived's state on `b`'s host: from the target carrying `keepalived_vrrp_state`
    /// for its instance, else from one carrying `keepalived_up`.
    fn vrrp(&self, b: &Watched, name: &str) -> Result<(Duration, VrrpSample), SourceError> {
        let on_host = |s: &&Sample| crate::ssh::host_of(s.label("instance")) == b.host;
        let state = self
            .values
            .iter()
            .filter(on_host)
            .find(|s| s.name() == "keepalived_vrrp_state" && s.label("iname") == name);
        let up = self
            .values
            .iter()
            .filter(on_host)
            .find(|s| s.name() == "keepalived_up");
        let Some(found) = state.or(up) else {
            // Its exporter down is the likeliest reason: say so where Prometheus knows.
            let exporter = self
                .targets
                .iter()
                .filter(|t| crate::ssh::host_of(&t.instance) == b.host && t.instance != b.instance)
                .find(|t| !t.up);
            return Err(match exporter {
                Some(t) => SourceError::ExporterDown {
                    instance: t.instance.clone(),
                    job: t.job.clone(),
                    reason: t.last_error.clone(),
                },
                None => SourceError::Prometheus(format!(
                    "no keepalived_vrrp_state{{iname=\"{name}\"}} from host {}",
                    b.host
                )),
            });
        };
        let age = self.health(found.label("instance"))?;
        if up.is_some_and(|u| u.value == 0.0) {
            return Ok((age, VrrpSample::Dump(None)));
        }
        let role = state.and_then(|s| crate::wire::keepalived::role_from_number(s.value as i64));
        match role {
            Some(role) => Ok((
                age,
                VrrpSample::Fifo(FifoEvent {
                    group: false,
                    name: name.to_string(),
                    role: Some(role),
                    priority: None,
                }),
            )),
            None => Ok((age, VrrpSample::Running)),
        }
    }

    /// The updates the direct pollers would have sent, stamped with the age of the
    /// sample they come from (`now` less it).
    pub fn updates(&self, plan: &Plan, now: Instant) -> Vec<SourceUpdate> {
        let mut out = Vec::new();
        for b in &plan.balancers {
            let result = self.health(&b.instance).and_then(|age| {
                let sample = match b.kind {
                    BalancerKind::Haproxy => Ok(self.haproxy(b)),
                    BalancerKind::Nginx => self.nginx(b),
                    BalancerKind::NginxPlus => self.plus(b),
                };
                sample.map(|s| (age, s))
            });
            let (at, result) = stamped(result, now);
            out.push(SourceUpdate::Balancer {
                index: b.index,
                at,
                result,
            });
            if let Some(name) = &b.vrrp {
                let (at, result) = stamped(self.vrrp(b, name), now);
                out.push(SourceUpdate::Vrrp {
                    index: b.index,
                    at,
                    result,
                });
            }
        }
        out
    }
}

impl Round {
    /// The round cut into one per plan: each keeps the targets and samples of its
    /// balancers' hosts, all that [`Round::updates`] reads for it, so a round asked for
    /// many clusters at once reads for each as its own would.
    pub fn split(self, plans: &[&Plan]) -> Vec<Round> {
        let mut by_host: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, plan) in plans.iter().enumerate() {
            for b in &plan.balancers {
                let owners = by_host.entry(b.host.as_str()).or_default();
                if !owners.contains(&i) {
                    owners.push(i);
                }
            }
        }
        let owners = |instance: &str| {
            by_host
                .get(crate::ssh::host_of(instance).as_str())
                .cloned()
                .unwrap_or_default()
        };
        let mut out = vec![Round::default(); plans.len()];
        deal(
            self.targets,
            |t| owners(&t.instance),
            &mut out,
            |r| &mut r.targets,
        );
        for (samples, field) in [
            (
                self.states,
                (|r| &mut r.states) as fn(&mut Round) -> &mut Vec<Sample>,
            ),
            (self.values, |r| &mut r.values),
            (self.stamps, |r| &mut r.stamps),
        ] {
            deal(samples, |s| owners(s.label("instance")), &mut out, field);
        }
        out
    }
}

/// Hands each item to the rounds `owners` names (moved to the last, cloned for others).
/// A peer known only by its address and state (the rest is filled in from its series).
fn plus_peer(server: &str, state: &str) -> Peer {
    Peer {
        id: 0,
        server: server.to_string(),
        state: state.to_string(),
        active: 0,
        requests: 0,
        responses: Responses::default(),
        response_time: None,
        health_checks: None,
        weight: None,
        fails: None,
        downtime: None,
    }
}

fn deal<T: Clone>(
    items: Vec<T>,
    owners: impl Fn(&T) -> Vec<usize>,
    rounds: &mut [Round],
    field: fn(&mut Round) -> &mut Vec<T>,
) {
    for item in items {
        let owners = owners(&item);
        if let Some((last, rest)) = owners.split_last() {
            for &i in rest {
                field(&mut rounds[i]).push(item.clone());
            }
            field(&mut rounds[*last]).push(item);
        }
    }
}

/// A reading stamped with when its sample was taken (`now` less its age); a failure
/// with `now`.
fn stamped<T>(
    result: Result<(Duration, T), SourceError>,
    now: Instant,
) -> (Instant, Result<T, SourceError>) {
    match result {
        Ok((age, sample)) => (now.checked_sub(age).unwrap_or(now), Ok(sample)),
        Err(e) => (now, Err(e)),
    }
}

/// Every update a failed round means: each balancer, and keepalived on it, unread for
/// the same reason.
pub fn failed(plan: &Plan, e: &SourceError, now: Instant) -> Vec<SourceUpdate> {
    plan.balancers
        .iter()
        .flat_map(|b| {
            let lb = SourceUpdate::Balancer {
                index: b.index,
                at: now,
                result: Err(e.clone()),
            };
            let vrrp = b.vrrp.as_ref().map(|_| SourceUpdate::Vrrp {
                index: b.index,
                at: now,
                result: Err(e.clone()),
            });
            std::iter::once(lb).chain(vrrp)
        })
        .collect()
}

/// One round through Prometheus: every balancer's and keepalived's update.
pub async fn poll(client: &reqwest::Client, plan: &Plan, timeout: Duration) -> Vec<SourceUpdate> {
    match Round::fetch(client, plan, timeout).await {
        Ok(round) => round.updates(plan, Instant::now()),
        Err(e) => failed(plan, &e, Instant::now()),
    }
}

/// The clusters asked for together (indices into `plans`, None where a cluster is not
/// read through Prometheus): those of one server and extra matchers, two or more.
pub fn groups(plans: &[Option<&Plan>]) -> Vec<Vec<usize>> {
    let mut groups: Vec<((&str, &str), Vec<usize>)> = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let Some(key) = plan.map(Plan::group_key) else {
            continue;
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups
        .into_iter()
        .map(|(_, members)| members)
        .filter(|m| m.len() > 1)
        .collect()
}

/// One round for many clusters behind one server (plans of one
/// [`group_key`](Plan::group_key)): one set of queries for all, then each cluster's
/// updates, in `plans` order.
pub async fn poll_group(
    client: &reqwest::Client,
    plans: &[&Plan],
    timeout: Duration,
) -> Vec<Vec<SourceUpdate>> {
    let Some(all) = Plan::merged(plans) else {
        return Vec::new();
    };
    match Round::fetch(client, &all, timeout).await {
        Ok(round) => {
            let now = Instant::now();
            round
                .split(plans)
                .iter()
                .zip(plans)
                .map(|(r, p)| r.updates(p, now))
                .collect()
        }
        Err(e) => plans
            .iter()
            .map(|p| failed(p, &e, Instant::now()))
            .collect(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Cluster;
    use crate::state::Role;

    const HAPROXY: &str = include_str!("../../profiles/lab-haproxy-prom.toml");
    const NGINX: &str = include_str!("../../profiles/lab-prom.toml");

    /// A round captured from the lab's Prometheus (tests/fixtures/prometheus/NAME-*.json).
    fn round(name: &str) -> Round {
        let read = |part: &str| {
            let path = format!(
                "{}/tests/fixtures/prometheus/{name}-{part}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        Round {
            targets: parse_targets(&read("targets")).expect("targets"),
            states: parse_vector(&read("states")).expect("states"),
            values: parse_vector(&read("values")).expect("values"),
            stamps: parse_vector(&read("stamps")).expect("stamps"),
        }
    }

    /// The cluster of profile `text` after `round` was applied.
    fn cluster(text: &str, round: &Round) -> Cluster {
        let profile = Profile::parse("t.toml", text).expect("profile");
        let plan = Plan::for_profile(&profile).expect("plan");
        let mut c = Cluster::new(&profile);
        let updates = round.updates(&plan, Instant::now());
        assert_eq!(updates.len(), plan.answers());
        for u in updates {
            c.apply(u, chrono::Local::now());
        }
        c
    }

    fn states(c: &Cluster, server: &str) -> Vec<Option<&'static str>> {
        let b = c.backends.iter().find(|b| b.name == server).expect(server);
        b.views
            .iter()
            .map(|v| v.as_ref().and_then(|v| v.state).map(|s| s.label()))
            .collect()
    }

    /// The profile `lbdeck demo --metrics` writes for cluster `c` (0-based): its
    /// balancers are scrape targets 127.77.0.(2c+1) and (2c+2) on port 9310.
    pub(crate) fn demo_fleet_profile(c: usize) -> Profile {
        let mut text = format!(
            "name = \"fleet-{:03}\"\nsource = \"prometheus\"\n\
             [prometheus]\nurl = \"http://127.0.0.1:19090\"\n",
            c + 1
        );
        for lb in 0..2 {
            let ip = format!("127.77.0.{}", c * 2 + lb + 1);
            text.push_str(&format!(
                "[[balancers]]\nname = \"lb{}\"\nhost = \"{ip}\"\nkind = \"haproxy\"\n\
                 backend = \"be_web\"\nprometheus_instance = \"{ip}:9310\"\n\
                 [balancers.keepalived]\ninstance = \"VI_1\"\n",
                lb + 1
            ));
        }
        for i in 1..=10 {
            text.push_str(&format!(
                "[[backends]]\nname = \"web{i}\"\naddress = \"unix:/run/demo/web{i}.sock\"\n"
            ));
        }
        Profile::parse("fleet.toml", &text).expect("profile")
    }

    /// fleet-004, fleet-005 (web2 drained) and fleet-008 (failed over to lb2), as the
    /// demo's fleet runs them, and the round Prometheus answered for the three at once
    /// (tests/fixtures/prometheus/group-*.json; the targets answer cut to those and
    /// fleet-009's, which was not asked for).
    pub(crate) fn grouped() -> (Vec<Profile>, Vec<Plan>, Round) {
        let profiles: Vec<Profile> = [3, 4, 7].into_iter().map(demo_fleet_profile).collect();
        let plans = profiles
            .iter()
            .map(|p| Plan::for_profile(p).expect("plan"))
            .collect();
        (profiles, plans, round("group"))
    }

    #[test]
    fn a_round_for_many_clusters_asks_once_for_all_their_hosts_and_the_summary_only() {
        let (_, plans, _) = grouped();
        let plans: Vec<&Plan> = plans.iter().collect();
        assert_eq!(plans[0].group_key(), plans[2].group_key());
        let all = Plan::merged(&plans).expect("merged");
        let [states, values, stamps] = all.queries();
        let sel = r#"instance=~"(127\\.77\\.0\\.10|127\\.77\\.0\\.15|127\\.77\\.0\\.16|127\\.77\\.0\\.7|127\\.77\\.0\\.8|127\\.77\\.0\\.9):[0-9]+""#;
        assert_eq!(
            states,
            format!("{{__name__=~\"haproxy_server_status\",{sel}}} == 1")
        );
        assert!(!values.contains("haproxy_server_http_responses_total"));
        assert!(values.contains("keepalived_vrrp_state"));
        assert_eq!(stamps, format!("timestamp(up{{{sel}}})"));
        assert_eq!(all.answers(), 12);
        // One cluster alone still asks for everything.
        assert!(plans[0].queries()[0].contains("haproxy_server_check_status"));
    }

    #[test]
    fn a_grouped_answer_splits_by_host_and_each_cluster_reads_as_its_own() {
        let (profiles, plans, r) = grouped();
        let plans: Vec<&Plan> = plans.iter().collect();
        let parts = r.split(&plans);
        assert_eq!(parts.len(), 3);
        for (part, plan) in parts.iter().zip(&plans) {
            let mine: Vec<&str> = plan.balancers.iter().map(|b| b.instance.as_str()).collect();
            let instances: Vec<&str> = part.targets.iter().map(|t| t.instance.as_str()).collect();
            assert_eq!(instances.len(), 2, "{instances:?}");
            assert!(instances.iter().all(|i| mine.contains(i)), "{instances:?}");
            // Ten servers on each of two balancers, one state each.
            assert_eq!(part.states.len(), 20);
            assert!(part
                .values
                .iter()
                .all(|s| mine.contains(&s.label("instance"))));
            assert_eq!(part.stamps.len(), 2);
        }
        let now = Instant::now();
        let clusters: Vec<Cluster> = parts
            .iter()
            .zip(&plans)
            .zip(&profiles)
            .map(|((part, plan), profile)| {
                let mut c = Cluster::new(profile);
                for u in part.updates(plan, now) {
                    c.apply(u, chrono::Local::now());
                }
                c
            })
            .collect();
        assert_eq!(clusters[0].vip_holders(), vec!["lb1"]);
        assert_eq!(states(&clusters[0], "web2"), vec![Some("UP"), Some("UP")]);
        assert_eq!(
            states(&clusters[1], "web2"),
            vec![Some("DRAIN"), Some("DRAIN")]
        );
        assert_eq!(clusters[2].vip_holders(), vec!["lb2"]);
        for c in &clusters {
            assert!(c.balancers.iter().all(|b| b.fresh.failing().is_none()));
            assert_eq!(states(c, "web4"), vec![Some("DOWN"), Some("DOWN")]);
        }
        assert_eq!(clusters[0].in_rotation(), Some(9));
        assert_eq!(clusters[1].in_rotation(), Some(8));
    }

    #[test]
    fn the_queries_select_the_balancers_hosts_and_the_profiles_matchers() {
        let text = HAPROXY.replace(
            "url = \"http://10.77.0.2:9090\"",
            "url = \"http://10.77.0.2:9090/\"\nmatchers = { env = \"lab \\\"a\\\"\" }",
        );
        let plan =
            Plan::for_profile(&Profile::parse("t.toml", &text).expect("profile")).expect("plan");
        let [states, values, stamps] = plan.queries();
        let sel = r#"instance=~"(10\\.77\\.0\\.11|10\\.77\\.0\\.12):[0-9]+",env="lab \"a\"""#;
        assert_eq!(
            states,
            format!(
                "{{__name__=~\"haproxy_server_status|haproxy_server_check_status\",{sel}}} == 1"
            )
        );
        assert!(values.starts_with("{__name__=~\"haproxy_server_current_sessions|"));
        assert!(values.ends_with(&format!("keepalived_vrrp_state\",{sel}}}")));
        assert_eq!(stamps, format!("timestamp(up{{{sel}}})"));
        assert_eq!(
            plan.endpoint(1).as_deref(),
            Some("Prometheus http://10.77.0.2:9090 instance 10.77.0.12:8405")
        );
    }

    #[test]
    fn a_captured_round_parses_with_labels_ages_and_one_hot_states() {
        let r = round("steady");
        assert_eq!(r.targets.len(), 6);
        assert!(r.targets.iter().all(|t| t.up));
        assert!(r
            .targets
            .iter()
            .all(|t| t.interval == Duration::from_secs(1)));
        // Only the set state of each one-hot family: two families, three servers, two
        // balancers.
        assert_eq!(r.states.len(), 12);
        assert!(r.states.iter().all(|s| s.value == 1.0));
        let version = r
            .values
            .iter()
            .find(|s| s.name() == "haproxy_process_build_info")
            .map(|s| s.label("version"));
        assert_eq!(version, Some("2.6.12-1+deb12u4"));
        for t in &r.targets {
            let age = r.health(&t.instance).expect("fresh");
            assert!(age < Duration::from_secs(2), "{}: {age:?}", t.instance);
        }
    }

    #[test]
    fn the_haproxy_pair_reads_as_the_runtime_api_would_give_it() {
        let c = cluster(HAPROXY, &round("steady"));
        assert_eq!(c.vip_holders(), vec!["lb1"]);
        let roles: Vec<Option<Role>> = c
            .balancers
            .iter()
            .map(|b| b.vrrp.as_ref().and_then(|v| v.role))
            .collect();
        assert_eq!(roles, vec![Some(Role::Master), Some(Role::Backup)]);
        for server in ["web1", "web2", "web3"] {
            assert_eq!(states(&c, server), vec![Some("UP"), Some("UP")], "{server}");
        }
        let lb1 = &c.balancers[0];
        assert!(lb1.fresh.failing().is_none());
        assert_eq!(lb1.metrics.version.as_deref(), Some("2.6.12-1+deb12u4"));
        assert!(lb1.metrics.uptime_sec.is_some_and(|u| u > 0));
        let web1 = &c.backends[0].views[0].as_ref().expect("view");
        assert_eq!(web1.check, "L7OK");
        assert!(web1.responses[0].is_some());
        assert_eq!(c.in_rotation(), Some(3));
    }

    #[test]
    fn a_drain_shows_as_drain_on_both_balancers() {
        let c = cluster(HAPROXY, &round("drain"));
        assert_eq!(states(&c, "web2"), vec![Some("DRAIN"), Some("DRAIN")]);
        assert_eq!(states(&c, "web1"), vec![Some("UP"), Some("UP")]);
        assert_eq!(c.in_rotation(), Some(2));
    }

    #[test]
    fn a_stopped_exporter_is_down_with_its_reason_and_the_balancer_not_judged() {
        let c = cluster(NGINX, &round("exporter-down"));
        let lb2 = &c.balancers[1];
        let why = lb2.fresh.failing().expect("lb2 not read");
        assert!(
            why.starts_with("exporter 10.77.0.12:9113 (nginx) is DOWN"),
            "{why}"
        );
        assert!(why.contains("connection refused"), "{why}");
        assert!(lb2.exporter_down);
        // keepalived on it is read from its node_exporter, which still answers.
        assert_eq!(lb2.vrrp.as_ref().and_then(|v| v.role), Some(Role::Backup));
        assert!(c.balancers[0].fresh.failing().is_none());
        assert_eq!(c.balancers[0].metrics.active, Some(1));
        let alerts = c.alerts(Instant::now());
        assert!(
            alerts
                .iter()
                .any(|a| a.text.starts_with("lb2 is not read through Prometheus")),
            "{alerts:?}"
        );
        assert!(
            !alerts.iter().any(|a| a.text.contains("does not answer")),
            "{alerts:?}"
        );
    }

    #[test]
    fn haproxys_own_exporter_down_points_at_haproxy() {
        let mut r = round("steady");
        for t in r
            .targets
            .iter_mut()
            .filter(|t| t.instance == "10.77.0.12:8405")
        {
            t.up = false;
            t.last_error = "connect: connection refused".into();
        }
        let c = cluster(HAPROXY, &r);
        assert!(c.balancers[1].exporter_down);
        let alerts = c.alerts(Instant::now());
        assert!(
            alerts.iter().any(|a| a.text.ends_with(
                "lb2 itself is not judged — check HAProxy on 10.77.0.12, whose exporter it is"
            )),
            "{alerts:?}"
        );
        assert_eq!(c.vip_holders(), vec!["lb1"]);
    }

    #[test]
    fn nginx_open_source_reports_no_server_state() {
        let c = cluster(NGINX, &round("steady"));
        assert!(c.balancers.iter().all(|b| b.fresh.failing().is_none()));
        assert!(c
            .backends
            .iter()
            .all(|b| b.views.iter().all(Option::is_none)));
        assert_eq!(c.in_rotation(), None);
        assert_eq!(c.vip_holders(), vec!["lb1"]);
    }

    /// The lab's nginx pair as NGINX Plus (its API at :8080/api), read through
    /// nginx-prometheus-exporter in `-nginx.plus` mode on :9113.
    fn plus_profile() -> String {
        NGINX
            .replace("kind = \"nginx\"", "kind = \"nginx-plus\"")
            .replace("/nginx_status", "/api")
    }

    /// The steady lab round with the exporter's NGINX Plus series for both balancers
    /// (tests/fixtures/prometheus/plus-values.json, the documented metric names: web2
    /// draining on both, web3 unhealthy on lb1; lb1 also has an upstream `be_api`).
    fn plus_round() -> Round {
        let mut r = round("steady");
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/prometheus/plus-values.json"
        );
        let text = std::fs::read_to_string(path).expect("plus-values.json");
        r.values.retain(|s| !s.name().starts_with("nginx"));
        r.values.extend(parse_vector(&text).expect("plus values"));
        r
    }

    #[test]
    fn nginx_plus_peers_read_as_its_api_would_give_them() {
        let c = cluster(&plus_profile(), &plus_round());
        assert!(c.balancers.iter().all(|b| b.fresh.failing().is_none()));
        assert_eq!(states(&c, "web1"), vec![Some("UP"), Some("UP")]);
        assert_eq!(states(&c, "web2"), vec![Some("DRAIN"), Some("DRAIN")]);
        assert_eq!(states(&c, "web3"), vec![Some("DOWN"), Some("UP")]);
        // Only the profile's upstream: be_api's peer is not a backend of this cluster.
        assert!(c.backends.iter().all(|b| b.address != "10.77.0.31:80"));
        let web3 = c.backends.iter().find(|b| b.name == "web3").expect("web3");
        let lb1 = web3.views[0].as_ref().expect("lb1's view");
        assert_eq!(lb1.responses, [Some(600), Some(0), Some(50)]);
        let detail = lb1.detail.as_ref().expect("detail");
        assert_eq!((detail.checks, detail.check_fails), (Some(120), Some(3)));
        assert_eq!((detail.requests, detail.fails), (Some(650), Some(7)));
        assert_eq!(c.balancers[0].metrics.active, Some(3));
        assert_eq!(
            c.balancers[0].metrics.requests_total,
            Some(1200 + 800 + 650)
        );
        assert_eq!(c.vip_holders(), vec!["lb1"]);
    }

    #[test]
    fn nginx_plus_without_its_api_or_the_upstream_says_which() {
        let mut r = plus_round();
        for s in r.values.iter_mut() {
            if s.name() == "nginxplus_up" && s.label("instance") == "10.77.0.12:9113" {
                s.value = 0.0;
            }
        }
        let c = cluster(&plus_profile(), &r);
        let why = c.balancers[1]
            .fresh
            .failing()
            .expect("lb2 fails")
            .to_string();
        assert!(
            why.contains("nginxplus_up is not 1 on 10.77.0.12:9113"),
            "{why}"
        );
        assert!(c.balancers[0].fresh.failing().is_none());

        let other = plus_profile().replace("backend = \"be_web\"", "backend = \"be_shop\"");
        let c = cluster(&other, &plus_round());
        let why = c.balancers[0]
            .fresh
            .failing()
            .expect("lb1 fails")
            .to_string();
        assert!(why.contains("upstream \"be_shop\""), "{why}");
        assert!(why.contains("shared memory zone"), "{why}");
    }

    #[test]
    fn a_sample_older_than_two_scrapes_is_stale() {
        let mut r = round("steady");
        for s in r
            .stamps
            .iter_mut()
            .filter(|s| s.label("instance") == "10.77.0.11:8405")
        {
            s.value -= 2.5;
        }
        let e = r.health("10.77.0.11:8405").expect_err("stale");
        assert!(matches!(e, SourceError::Stale { .. }), "{e}");
        assert!(e.exporter_side());
        assert!(e.to_string().contains("scraped every 1s"), "{e}");
        assert!(r.health("10.77.0.12:8405").is_ok());
    }

    #[test]
    fn a_refused_query_and_an_unknown_target_say_why() {
        let text = include_str!("../../tests/fixtures/prometheus/bad-query.json");
        let e = parse_vector(text).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "Prometheus: bad_data: invalid parameter \"query\": 1:13: parse error: missing unit character in duration"
        );
        let e = round("steady")
            .health("10.9.9.9:8405")
            .expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "Prometheus: no scrape target with instance \"10.9.9.9:8405\""
        );
    }

    #[test]
    fn a_failed_round_fails_every_balancer_and_keepalived_alike() {
        let profile = Profile::parse("t.toml", HAPROXY).expect("profile");
        let plan = Plan::for_profile(&profile).expect("plan");
        let e = SourceError::Prometheus("http://10.77.0.2:9090: cannot connect: refused".into());
        let out = failed(&plan, &e, Instant::now());
        assert_eq!(out.len(), 4);
        for u in &out {
            let err = match u {
                SourceUpdate::Balancer { result, .. } => result.clone().err(),
                SourceUpdate::Vrrp { result, .. } => result.clone().err(),
                _ => None,
            };
            assert_eq!(err.map(|e| e.to_string()), Some(e.to_string()));
        }
    }
}
