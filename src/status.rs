//! `lbdeck status`: one complete poll round, then a snapshot as JSON (for scripts) or a
//! table (for people). Unreachable parts are reported inside the snapshot.

use std::time::Instant;

use serde::Serialize;

use crate::config::profile::{Environment, Profile, SourceKind};
use crate::model::{Alert, BalancerMetrics, Cluster, Health, ServerView};
use crate::wire::health::Probe;

/// The whole snapshot.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Which cluster.
    pub profile: ProfileInfo,
    /// Where the balancers and keepalived were read: `direct` or `prometheus`.
    pub source: SourceKind,
    /// When the round finished (RFC 3339).
    pub time: String,
    /// The VIP.
    pub vip: Option<VipReport>,
    /// Balancers in profile order.
    pub balancers: Vec<BalancerReport>,
    /// Backends (profile ones first, then discovered ones).
    pub backends: Vec<BackendReport>,
    /// Backends that answer our health probe.
    pub healthy: usize,
    /// Backends the balancers send traffic to (UP, not drained or in maintenance, on
    /// every balancer); null when no balancer reports server states.
    pub in_rotation: Option<usize>,
    /// What is wrong.
    pub alerts: Vec<Alert>,
}

/// The profile's identity.
#[derive(Debug, Serialize)]
pub struct ProfileInfo {
    /// Name.
    pub name: String,
    /// Environment.
    pub environment: Environment,
    /// File it came from.
    pub file: Option<String>,
}

/// The VIP.
#[derive(Debug, Serialize)]
pub struct VipReport {
    /// Address.
    pub address: String,
    /// Check URL.
    pub check_url: Option<String>,
    /// Whether the check succeeded (null without a check URL).
    pub reachable: Option<bool>,
    /// Check answer.
    pub probe: Option<Probe>,
    /// Why the check failed.
    pub error: Option<String>,
    /// Balancers holding the VIP (keepalived's view; empty when unknown or none).
    pub holders: Vec<String>,
}

/// One balancer.
#[derive(Debug, Serialize)]
pub struct BalancerReport {
    /// Name.
    pub name: String,
    /// Daemon kind.
    pub kind: String,
    /// Host.
    pub host: String,
    /// Where the numbers came from.
    pub source: String,
    /// Answered this round.
    pub up: bool,
    /// Why not.
    pub error: Option<String>,
    /// Read through Prometheus, its exporter is down or stale: `up` false says nothing
    /// of the balancer itself (absent when read directly).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exporter_down: bool,
    /// Its numbers (null fields where unknown).
    #[serde(flatten)]
    pub metrics: BalancerMetrics,
    /// keepalived on it (null without a keepalived block in the profile).
    pub vrrp: Option<VrrpReport>,
    /// HAProxy: how its runtime API was reached and the socket's level (null when not
    /// read through a runtime API).
    pub runtime_api: Option<crate::wire::api::Access>,
}

/// keepalived on one balancer.
#[derive(Debug, Serialize)]
pub struct VrrpReport {
    /// What was seen.
    #[serde(flatten)]
    pub view: crate::model::vrrp::VrrpView,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// One backend.
#[derive(Debug, Serialize)]
pub struct BackendReport {
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// In the profile (false: discovered from a balancer).
    pub configured: bool,
    /// Our probe.
    pub health: HealthReport,
    /// How each balancer sees it, by balancer name (null: not reported).
    pub balancers: serde_json::Map<String, serde_json::Value>,
}

/// Our probe of a backend.
#[derive(Debug, Serialize)]
pub struct HealthReport {
    /// healthy / unhealthy / down / unknown.
    pub state: Health,
    /// HTTP status.
    pub status: Option<u16>,
    /// How long our probe took, ms.
    pub probe_latency_ms: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Builds the report from a cluster after a poll round.
pub fn report(profile: &Profile, file: Option<String>, cluster: &Cluster, now: Instant) -> Report {
    let vip = cluster.vip.address.as_ref().map(|address| VipReport {
        address: address.clone(),
        check_url: cluster.vip.check_url.clone(),
        reachable: cluster.vip.serving(),
        probe: cluster.vip.probe,
        error: cluster.vip.fresh.failing().map(str::to_string),
        holders: cluster
            .vip_holders()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    });
    let balancers = cluster
        .balancers
        .iter()
        .map(|b| BalancerReport {
            name: b.name.clone(),
            kind: b.kind.to_string(),
            host: b.host.clone(),
            source: b.endpoint.clone(),
            up: b.fresh.last_ok.is_some() && b.fresh.failing().is_none(),
            error: b.fresh.failing().map(str::to_string),
            exporter_down: b.exporter_down,
            metrics: b.metrics.clone(),
            vrrp: b.vrrp.as_ref().map(|v| VrrpReport {
                view: v.clone(),
                error: v.fresh.failing().map(str::to_string),
            }),
            runtime_api: b.api.clone(),
        })
        .collect();
    let backends = cluster
        .backends
        .iter()
        .map(|b| {
            let mut map = serde_json::Map::new();
            for (lb, view) in cluster.balancers.iter().zip(&b.views) {
                let v = view
                    .as_ref()
                    .map_or(serde_json::Value::Null, |v: &ServerView| {
                        serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
                    });
                map.insert(lb.name.clone(), v);
            }
            BackendReport {
                name: b.name.clone(),
                address: b.address.clone(),
                configured: b.configured,
                health: HealthReport {
                    state: b.health.clone(),
                    status: b.probe.map(|p| p.status),
                    probe_latency_ms: b
                        .probe
                        .map(|p| (p.latency.as_secs_f64() * 10_000.0).round() / 10.0),
                    error: b.fresh.failing().map(str::to_string),
                },
                balancers: map,
            }
        })
        .collect();
    Report {
        profile: ProfileInfo {
            name: profile.name.clone(),
            environment: profile.environment,
            file,
        },
        source: profile.source,
        time: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        vip,
        balancers,
        backends,
        healthy: cluster.healthy(),
        in_rotation: cluster.in_rotation(),
        alerts: cluster.alerts(now),
    }
}

/// Polls everything once (keepalived over SSH too, or all of it through Prometheus as
/// the profile's `source` says) and builds the report.
pub async fn collect(profile: &Profile, file: Option<String>) -> Report {
    let cluster = match profile.source {
        SourceKind::Direct => poll(profile, None, true).await,
        SourceKind::Prometheus => poll_prometheus(profile).await,
    };
    report(profile, file, &cluster, Instant::now())
}

/// The cluster a profile describes, each balancer named by where its numbers are read
/// (its exporter in Prometheus with `source = "prometheus"`).
pub fn new_cluster(profile: &Profile) -> Cluster {
    let mut cluster = Cluster::new(profile);
    let plan = (profile.source == SourceKind::Prometheus)
        .then(|| crate::sources::prometheus::Plan::for_profile(profile))
        .flatten();
    if let Some(plan) = plan {
        for (i, b) in cluster.balancers.iter_mut().enumerate() {
            if let Some(endpoint) = plan.endpoint(i) {
                b.endpoint = endpoint;
            }
        }
    }
    cluster
}

/// One round through Prometheus into a fresh model: balancers and keepalived from its
/// queries; the health probes and the VIP check, which are lbdeck's own, as always.
pub async fn poll_prometheus(profile: &Profile) -> Cluster {
    let client = crate::wire::http_client(profile.timeout);
    let prometheus = async {
        match crate::sources::prometheus::Plan::for_profile(profile) {
            Some(plan) => crate::sources::prometheus::poll(&client, &plan, profile.timeout).await,
            None => Vec::new(),
        }
    };
    with_probes(profile, &client, prometheus).await
}

/// A fresh model of `balancers` (updates read through Prometheus) and the profile's own
/// health probes and VIP check, polled meanwhile.
async fn with_probes(
    profile: &Profile,
    client: &reqwest::Client,
    balancers: impl std::future::Future<Output = Vec<crate::sources::SourceUpdate>>,
) -> Cluster {
    let mut cluster = new_cluster(profile);
    let probes: Vec<crate::sources::Target> = crate::sources::targets(profile)
        .into_iter()
        .filter(|t| !matches!(t, crate::sources::Target::Balancer { .. }))
        .collect();
    let (balancers, probes) = futures::join!(
        balancers,
        futures::future::join_all(probes.iter().map(|t| t.fetch(
            client,
            profile.timeout,
            None,
            None
        )))
    );
    for update in balancers.into_iter().chain(probes) {
        cluster.apply(update, chrono::Local::now());
    }
    cluster
}

/// One complete poll round into a fresh model: every balancer, probe and the VIP, and
/// with `keepalived` one look at keepalived on each node (over `pool`, or connections of
/// its own when None).
pub async fn poll(profile: &Profile, pool: Option<&crate::ssh::Pool>, keepalived: bool) -> Cluster {
    let mut cluster = Cluster::new(profile);
    let resolver = pool.map_or_else(
        || crate::ssh::Resolver::load(&profile.ssh),
        |p| p.resolver().clone(),
    );
    let vrrp = if keepalived {
        crate::wire::keepalived::targets(profile, &resolver)
    } else {
        Vec::new()
    };
    // nginx open source: what an operator set is in the upstream files; a runtime-API
    // socket on a balancer is read over SSH too.
    let upstreams = crate::sources::upstream_file::UpstreamTarget::for_profile(profile, &resolver);
    // HAProxy reached over SSH anyway: whether a reload keeps what an action sets.
    let configs = crate::sources::haproxy_config::ConfigTarget::for_profile(profile, &resolver);
    let sockets: Vec<crate::ssh::NodeAddr> = profile
        .balancers()
        .filter(|b| b.api_over_ssh())
        .map(|b| resolver.resolve(&b.host))
        .collect();
    let own = (pool.is_none() && !(vrrp.is_empty() && upstreams.is_empty() && sockets.is_empty()))
        .then(|| {
            let nodes = vrrp
                .iter()
                .map(|t| &t.addr)
                .chain(upstreams.iter().map(|t| &t.addr))
                .chain(&sockets);
            crate::ssh::Pool::for_profile(profile, resolver, nodes, true)
        });
    let pool = pool.or(own.as_deref());
    let over_ssh = async {
        let Some(pool) = pool else {
            return Vec::new();
        };
        let (keepalived, files, configs) = futures::join!(
            futures::future::join_all(vrrp.iter().map(|t| t.once(pool))),
            futures::future::join_all(upstreams.iter().map(|t| t.once(pool))),
            futures::future::join_all(configs.iter().map(|t| t.once(pool)))
        );
        keepalived
            .concat()
            .into_iter()
            .chain(files)
            .chain(configs)
            .collect()
    };
    let (http, ssh) = futures::join!(crate::sources::poll_once(profile, pool), over_ssh);
    for update in http.into_iter().chain(ssh) {
        cluster.apply(update, chrono::Local::now());
    }
    cluster
}

/// Where a balancer's numbers came from: a runtime-API socket with how it was reached,
/// and the socket's level when it is below admin.
fn source(b: &BalancerReport) -> String {
    let Some(api) = &b.runtime_api else {
        return b.source.clone();
    };
    let base = match &api.socket {
        Some(socket) => format!("runtime API {socket} via {}", api.reach),
        None => b.source.clone(),
    };
    match api.level.filter(|l| *l != crate::wire::api::Level::Admin) {
        Some(l) => format!("{base}, level {}", l.word()),
        None => base,
    }
}

/// The report as a table for a terminal.
pub fn human(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!("{} ({})\n", r.profile.name, r.profile.environment));
    if let Some(v) = &r.vip {
        let state = match (v.reachable, &v.error) {
            (Some(true), _) => format!(
                "serving ({:.1} ms)",
                v.probe.map_or(0.0, |p| p.latency.as_secs_f64() * 1000.0)
            ),
            (Some(false), Some(e)) => format!("NOT serving: {e}"),
            (Some(false), None) => format!("NOT serving: HTTP {}", v.probe.map_or(0, |p| p.status)),
            (None, _) => "no check_url".into(),
        };
        let holder = match v.holders.as_slice() {
            [] => "held by no balancer".to_string(),
            [one] => format!("on {one}"),
            many => format!("on {} (split-brain)", many.join(" and ")),
        };
        out.push_str(&format!("VIP {}: {state}, {holder}\n", v.address));
    }
    // Columns as wide as their longest entry (the usual names fit the narrowest).
    let name_w = r
        .balancers
        .iter()
        .map(|b| b.name.chars().count())
        .chain(r.backends.iter().map(|b| b.name.chars().count()))
        .fold(9, usize::max);
    let addr_w = r
        .backends
        .iter()
        .map(|b| b.address.chars().count())
        .fold(21, usize::max);
    let col_w = 1 + r
        .balancers
        .iter()
        .map(|b| b.name.chars().count())
        .fold(7, usize::max);
    out.push_str(&format!(
        "\n{:<name_w$} KIND        ROLE     STATE  CONNS   REQ/S   SOURCE\n",
        "BALANCER"
    ));
    for b in &r.balancers {
        let state = if b.up { "up" } else { "DOWN" };
        let role = b
            .vrrp
            .as_ref()
            .and_then(|v| v.view.role)
            .map_or("-", |r| r.label());
        out.push_str(&format!(
            "{:<name_w$} {:<11} {:<8} {:<6} {:<7} {:<7} {}\n",
            b.name,
            b.kind,
            role,
            state,
            b.metrics.active.map_or("-".into(), |v| v.to_string()),
            b.metrics.req_rate.map_or("-".into(), |v| format!("{v:.1}")),
            b.error.clone().unwrap_or_else(|| source(b))
        ));
    }
    out.push_str(&format!(
        "\n{:<name_w$} {:<addr_w$} HEALTH     ",
        "BACKEND", "ADDRESS"
    ));
    for b in &r.balancers {
        out.push_str(&format!("{:<col_w$}", b.name));
    }
    out.push('\n');
    for be in &r.backends {
        let health = match be.health.state {
            Health::Healthy => "ok".to_string(),
            Health::Unhealthy => format!("HTTP {}", be.health.status.unwrap_or(0)),
            Health::Down => "DOWN".into(),
            Health::Unknown => "-".into(),
        };
        out.push_str(&format!(
            "{:<name_w$} {:<addr_w$} {:<10} ",
            be.name, be.address, health
        ));
        for b in &r.balancers {
            let s = be
                .balancers
                .get(&b.name)
                .and_then(|v| v.get("state"))
                .and_then(|s| s.as_str())
                .unwrap_or("-");
            out.push_str(&format!("{s:<col_w$}"));
        }
        out.push('\n');
    }
    out.push_str(&format!("\n{} healthy", r.healthy));
    if let Some(n) = r.in_rotation {
        out.push_str(&format!(" · {n} in rotation"));
    }
    out.push('\n');
    if r.alerts.is_empty() {
        out.push_str("\nno alerts\n");
    } else {
        out.push_str("\nALERTS\n");
        for a in &r.alerts {
            out.push_str(&format!("  {}: {}\n", a.level.word(), a.text));
        }
    }
    crate::text::sanitize_multiline(&out)
}

/// `lbdeck traffic`: per-backend traffic from the nginx access logs over a period.
#[derive(Debug, Serialize)]
pub struct TrafficReport {
    /// How long the logs were followed, seconds.
    pub seconds: f64,
    /// Per balancer name: per-backend numbers.
    pub balancers:
        std::collections::BTreeMap<String, Vec<crate::sources::access_log::BackendTraffic>>,
    /// Per balancer name: why its log could not be followed.
    pub errors: std::collections::BTreeMap<String, String>,
}

/// Follows every nginx balancer's access log for `period` and summarises it.
pub async fn traffic(profile: &Profile, period: std::time::Duration) -> TrafficReport {
    let resolver = crate::ssh::Resolver::load(&profile.ssh);
    let logs = crate::sources::access_log::LogTarget::for_profile(profile, &resolver);
    let names: Vec<String> = profile.balancers().map(|b| b.name.clone()).collect();
    let mut report = TrafficReport {
        seconds: period.as_secs_f64(),
        balancers: Default::default(),
        errors: Default::default(),
    };
    if logs.is_empty() {
        report.errors.insert(
            "profile".into(),
            "no nginx balancer with access_log in this profile".into(),
        );
        return report;
    }
    let pool = crate::ssh::Pool::for_profile(profile, resolver, logs.iter().map(|t| &t.addr), true);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let tasks: Vec<_> = logs
        .into_iter()
        .map(|t| {
            tokio::spawn(t.follow(
                pool.clone(),
                tx.clone(),
                std::time::Duration::from_millis(250),
            ))
        })
        .collect();
    drop(tx);
    let deadline = tokio::time::Instant::now() + period;
    while let Ok(Some(update)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if let crate::sources::SourceUpdate::Traffic { index, result, .. } = update {
            let name = names.get(index).cloned().unwrap_or_default();
            match result {
                Ok(list) => {
                    report.errors.remove(&name);
                    report.balancers.insert(name, list);
                }
                Err(e) => {
                    report.errors.insert(name, e.to_string());
                }
            }
        }
    }
    for t in tasks {
        t.abort();
    }
    report
}

/// The traffic report as a table.
pub fn traffic_human(r: &TrafficReport) -> String {
    let mut out = format!(
        "per-backend traffic from the access logs over {:.0} s\n",
        r.seconds
    );
    for (lb, list) in &r.balancers {
        let spans = list.first().map_or(String::new(), |t| {
            format!(
                " (requests over the last {:.0} s, rates over the last {:.0} s)",
                t.window_s, t.rate_window_s
            )
        });
        out.push_str(&format!(
            "\n{lb}{spans}\nBACKEND                REQUESTS  REQ/S    5XX/S   P50ms   P95ms   P99ms\n"
        ));
        for t in list {
            let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
            out.push_str(&format!(
                "{:<22} {:>8} {:>7.1} {:>8.2} {:>7} {:>7} {:>7}\n",
                t.addr,
                t.requests,
                t.req_rate,
                t.err_rate,
                ms(t.p50_ms),
                ms(t.p95_ms),
                ms(t.p99_ms)
            ));
        }
    }
    for (lb, e) in &r.errors {
        out.push_str(&format!("\n{lb}: {e}\n"));
    }
    crate::text::sanitize_multiline(&out)
}

/// Every profile found (`$XDG_CONFIG_HOME/lbdeck/profiles/`, then `./profiles/`; a name
/// in an earlier directory hides the same name in a later one), by name.
pub fn all_profile_files() -> Vec<std::path::PathBuf> {
    profile_files(&crate::config::profile::search_dirs())
}

/// Every `*.toml` file in `dirs`, by name; a name in an earlier directory hides the same
/// name in a later one.
pub fn profile_files(dirs: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    let mut seen = std::collections::BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let is_toml = path.extension().is_some_and(|x| x == "toml");
            if let (true, Some(stem)) = (is_toml, path.file_stem()) {
                seen.entry(stem.to_string_lossy().into_owned())
                    .or_insert(path);
            }
        }
    }
    seen.into_values().collect()
}

/// One line of `status --all`: a snapshot, or why the profile could not be used.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ClusterLine {
    /// Polled.
    Polled(Box<Report>),
    /// The profile did not load.
    Broken {
        /// The file.
        file: String,
        /// The error, with line and column.
        error: String,
    },
}

/// `status --all`: every profile polled at once.
#[derive(Debug, Serialize)]
pub struct AllReport {
    /// How long the whole round took, in ms (all clusters are polled concurrently).
    pub took_ms: u64,
    /// One entry per profile file, by name.
    pub clusters: Vec<ClusterLine>,
}

/// Polls every profile of `files`, concurrently, each read from where `source` says
/// ([`Profile::fleet_source`]). Clusters behind one Prometheus server are asked for in
/// one round of queries for all of them.
pub async fn collect_all(files: Vec<std::path::PathBuf>, source: Option<SourceKind>) -> AllReport {
    use crate::sources::prometheus::{poll_group, Plan};
    let started = Instant::now();
    let loaded: Vec<(String, Result<Profile, String>)> = files
        .into_iter()
        .map(|path| {
            let shown = path.display().to_string();
            let profile = Profile::load(&shown)
                .map_err(|e| e.to_string())
                .and_then(|loaded| {
                    let mut p = loaded.profile;
                    p.fleet_source(source)
                        .map_err(|why| format!("--source prometheus: {why}"))?;
                    Ok(p)
                });
            (shown, profile)
        })
        .collect();
    let plans: Vec<Option<Plan>> = loaded
        .iter()
        .map(|(_, p)| {
            p.as_ref()
                .ok()
                .filter(|p| p.source == SourceKind::Prometheus)
                .and_then(Plan::for_profile)
        })
        .collect();
    let groups =
        crate::sources::prometheus::groups(&plans.iter().map(Option::as_ref).collect::<Vec<_>>());
    let asked = groups.iter().map(|members| {
        let chosen: Vec<&Plan> = members.iter().filter_map(|&i| plans[i].as_ref()).collect();
        let timeout = members
            .iter()
            .filter_map(|&i| loaded[i].1.as_ref().ok().map(|p| p.timeout))
            .max()
            .unwrap_or_default();
        let client = crate::wire::http_client(timeout);
        async move { poll_group(&client, &chosen, timeout).await }
    });
    let mut prefetched: Vec<Option<Vec<crate::sources::SourceUpdate>>> =
        (0..loaded.len()).map(|_| None).collect();
    for (members, answers) in groups.iter().zip(futures::future::join_all(asked).await) {
        for (&i, updates) in members.iter().zip(answers) {
            prefetched[i] = Some(updates);
        }
    }
    let rounds =
        loaded
            .into_iter()
            .zip(prefetched)
            .map(|((shown, profile), prefetched)| async move {
                match (profile, prefetched) {
                    (Ok(p), Some(updates)) => {
                        let client = crate::wire::http_client(p.timeout);
                        let cluster = with_probes(&p, &client, async { updates }).await;
                        let r = report(&p, Some(shown), &cluster, Instant::now());
                        ClusterLine::Polled(Box::new(r))
                    }
                    (Ok(p), None) => ClusterLine::Polled(Box::new(collect(&p, Some(shown)).await)),
                    (Err(error), _) => ClusterLine::Broken { file: shown, error },
                }
            });
    let clusters = futures::future::join_all(rounds).await;
    AllReport {
        took_ms: started.elapsed().as_millis() as u64,
        clusters,
    }
}

impl AllReport {
    /// Some cluster has an alert, or some profile did not load.
    pub fn trouble(&self) -> bool {
        self.clusters.iter().any(|c| match c {
            ClusterLine::Polled(r) => !r.alerts.is_empty(),
            ClusterLine::Broken { .. } => true,
        })
    }
}

/// `status --all --json`: one compact JSON line per cluster (its snapshot, as `status
/// --json` prints it, or the broken profile's file and error), for scripts and cron.
pub fn json_lines(r: &AllReport) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for c in &r.clusters {
        out.push_str(&serde_json::to_string(c)?);
        out.push('\n');
    }
    Ok(out)
}

/// `status --all` as a table: one line per cluster.
pub fn human_all(r: &AllReport) -> String {
    let mut out = format!(
        "{:<20} {:<11} {:<16} {:<9} {:<9} {}\n",
        "CLUSTER", "ENV", "VIP", "BALANCERS", "BACKENDS", "ALERTS"
    );
    for c in &r.clusters {
        match c {
            ClusterLine::Polled(rep) => {
                let vip = match &rep.vip {
                    Some(v) => match (v.reachable, v.holders.as_slice()) {
                        (Some(false), _) => "NOT serving".to_string(),
                        (_, [one]) => format!("on {one}"),
                        (_, []) => "holder ?".to_string(),
                        (_, many) => format!("SPLIT {}", many.join("+")),
                    },
                    None => "—".into(),
                };
                let up = rep.balancers.iter().filter(|b| b.up).count();
                let healthy = rep
                    .backends
                    .iter()
                    .filter(|b| b.health.state == Health::Healthy)
                    .count();
                let alert = rep
                    .alerts
                    .first()
                    .map_or("all clear".to_string(), |a| crate::text::clip(&a.text, 70));
                let more = match rep.alerts.len() {
                    0 | 1 => String::new(),
                    n => format!(" (+{} more)", n - 1),
                };
                out.push_str(&format!(
                    "{:<20} {:<11} {:<16} {:<9} {:<9} {alert}{more}\n",
                    crate::text::clip(&rep.profile.name, 20),
                    rep.profile.environment.to_string(),
                    vip,
                    format!("{up}/{} up", rep.balancers.len()),
                    format!("{healthy}/{} ok", rep.backends.len()),
                ));
            }
            ClusterLine::Broken { file, error } => {
                let name = std::path::Path::new(file)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{:<20} PROFILE ERROR: {error}\n",
                    crate::text::clip(&name, 20)
                ));
            }
        }
    }
    out.push_str(&format!(
        "\n{} clusters polled in {} ms\n",
        r.clusters.len(),
        r.took_ms
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{BalancerSample, SourceUpdate};
    use crate::wire::haproxy;

    const PROFILE: &str = r#"
name = "t"
[[balancers]]
name = "lb1"
host = "10.77.0.11"
kind = "haproxy"
runtime_api = "tcp://10.77.0.11:9999"
[[backends]]
name = "web1"
address = "10.77.0.21:80"
"#;

    /// The report after lb1 answered `show stat` with `stat`, reached as `access` says.
    fn report_of(stat: &str, access: Option<crate::wire::api::Access>) -> Report {
        let profile = Profile::parse("t.toml", PROFILE).expect("profile");
        let mut cluster = Cluster::new(&profile);
        let now = Instant::now();
        cluster.apply(
            SourceUpdate::Balancer {
                index: 0,
                at: now,
                result: Ok(BalancerSample::Haproxy {
                    info: None,
                    stats: haproxy::parse_stat(stat).expect("csv"),
                    admin: None,
                    access,
                }),
            },
            chrono::Local::now(),
        );
        report(&profile, None, &cluster, now)
    }

    #[test]
    fn everything_drained_says_so_in_the_table_and_the_json() {
        let stat = include_str!("../tests/fixtures/haproxy/show_stat.csv")
            .replace(",UP,1,1,0,", ",DRAIN,1,1,0,");
        let r = report_of(&stat, None);
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["in_rotation"], 0);
        assert!(json["alerts"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("no backend is in rotation")));
        let table = human(&r);
        assert!(table.contains("0 healthy · 0 in rotation"), "{table}");
        assert!(!table.contains("no alerts"), "{table}");
    }

    #[test]
    fn a_socket_on_the_balancer_is_named_with_how_it_was_reached() {
        use crate::wire::api::{Access, Level};
        let access = Access {
            reach: "sudo socat".into(),
            socket: Some("/var/lib/haproxy/stats".into()),
            level: Some(Level::User),
        };
        let stat = include_str!("../tests/fixtures/haproxy/show_stat.csv");
        let r = report_of(stat, Some(access));
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(
            json["balancers"][0]["runtime_api"],
            serde_json::json!({"reach": "sudo socat", "socket": "/var/lib/haproxy/stats", "level": "user"})
        );
        let table = human(&r);
        assert!(
            table.contains("runtime API /var/lib/haproxy/stats via sudo socat, level user"),
            "{table}"
        );
    }

    #[test]
    fn columns_widen_for_a_long_address_or_name() {
        let profile = Profile::parse(
            "t.toml",
            &PROFILE
                .replace("name = \"lb1\"", "name = \"balancer-east-1\"")
                .replace("10.77.0.21:80", "unix:/run/shop/web-frontend-1.sock"),
        )
        .expect("profile");
        let cluster = Cluster::new(&profile);
        let table = human(&report(&profile, None, &cluster, Instant::now()));
        let lines: Vec<&str> = table.lines().collect();
        let at = |line: &str, word: &str| line.find(word).expect(word);
        let header = lines
            .iter()
            .find(|l| l.starts_with("BACKEND"))
            .expect("header");
        let row = lines.iter().find(|l| l.starts_with("web1")).expect("row");
        // Every column of a row starts where its header does: after a space, not inside
        // the address or name before it.
        for word in ["ADDRESS", "HEALTH", "balancer-east-1"] {
            let col = at(header, word);
            assert_eq!(&row[col - 1..col], " ", "{word}: {table}");
            assert_ne!(&row[col..=col], " ", "{word}: {table}");
        }
        let lb = lines
            .iter()
            .find(|l| l.starts_with("balancer-east-1"))
            .expect("lb row");
        let kinds = lines
            .iter()
            .find(|l| l.starts_with("BALANCER"))
            .expect("header");
        assert_eq!(at(kinds, "KIND"), at(lb, "haproxy"), "{table}");
    }
}
