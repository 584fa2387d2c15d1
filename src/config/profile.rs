//! Profiles: one cluster per TOML file. The key names here are the contract admins write
//! against; optional keys may be added, existing ones keep their names.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{config_dir, parse_toml, ConfigError};

/// Shortest poll interval accepted: faster polling only loads the balancers.
const MIN_POLL: Duration = Duration::from_millis(200);

/// A cluster: a balancer pair (or more) behind one VIP and the backends behind them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Shown in the header.
    pub name: String,
    /// How careful the console is with this cluster; `production` is marked loudly.
    #[serde(default)]
    pub environment: Environment,
    /// How often every source is polled.
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Upper bound for any one remote call.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How often the fleet overview polls this cluster while it is not the one open in
    /// front (its alarms still reach the overview and the header badge).
    #[serde(default = "default_background", with = "humantime_serde")]
    pub background_interval: Duration,
    /// Draining below this many healthy backends needs the backend's name typed.
    #[serde(default)]
    pub min_healthy_backends: Option<usize>,
    /// Let `s` open a shell on a node even under `--read-only` (off: a shell can change
    /// anything, so read-only refuses it).
    #[serde(default)]
    pub shell_in_read_only: bool,
    /// Let a console dialog whose only failed pre-checks are balancers that could not be
    /// read be confirmed by typing `force` (audited as forced), as `--force` does on the
    /// command line. Off: such a dialog offers only Esc.
    #[serde(default)]
    pub allow_force: bool,
    /// What a rolling maintenance started with `R` in the console runs on each backend
    /// while it is out of rotation (over SSH), e.g. `systemctl restart apache2`; none:
    /// the roll drains, waits until healthy and puts back.
    #[serde(default)]
    pub roll_exec: Option<String>,
    /// How the console reaches nodes over SSH.
    #[serde(default)]
    pub ssh: SshSettings,
    /// The virtual IP keepalived moves between the balancers.
    #[serde(default)]
    pub vip: Option<VipSettings>,
    /// Where the cluster is read from: the nodes themselves (`direct`, the default) or
    /// a Prometheus server (`prometheus`, which needs the `[prometheus]` table).
    #[serde(default)]
    pub source: SourceKind,
    /// The Prometheus server that scrapes this cluster's exporters.
    #[serde(default)]
    pub prometheus: Option<Spanned<PrometheusSettings>>,
    /// The balancers of the pair.
    pub balancers: Vec<Spanned<BalancerSettings>>,
    /// The web servers behind the balancers.
    #[serde(default)]
    pub backends: Vec<Spanned<BackendSettings>>,
    /// Where the profile came from (set by the loader, not written in the file).
    #[serde(skip)]
    pub origin: Origin,
}

/// Where a profile came from: the audit log names it, and the demo keeps its own log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origin {
    /// Parsed from text in memory (tests, generated profiles).
    #[default]
    Inline,
    /// Read from this file.
    File(PathBuf),
    /// The simulated demo cluster.
    Demo,
}

fn default_poll() -> Duration {
    Duration::from_secs(1)
}

fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_background() -> Duration {
    Duration::from_secs(10)
}

/// The kind of cluster: decides how loudly the screen warns and how much confirmation
/// actions need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Live traffic: the frame is painted in the production colour.
    #[default]
    Production,
    /// Pre-production.
    Staging,
    /// A test bench (the project's lab, the demo).
    Lab,
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Environment::Production => "production",
            Environment::Staging => "staging",
            Environment::Lab => "lab",
        })
    }
}

/// SSH access to the nodes (used from the SSH transport on).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// Remote user.
    #[serde(default = "default_user")]
    pub user: String,
    /// Port, when not 22 and not set in ~/.ssh/config.
    #[serde(default)]
    pub port: Option<u16>,
    /// Private key; ssh-agent is used when absent.
    #[serde(default)]
    pub identity_file: Option<String>,
    /// known_hosts file used to verify host keys.
    #[serde(default = "default_known_hosts")]
    pub known_hosts: String,
    /// Run privileged commands through `sudo -n`.
    #[serde(default)]
    pub sudo: bool,
    /// Ask for an SSH password at start (kept in memory only).
    #[serde(default)]
    pub password: bool,
}

impl Default for SshSettings {
    fn default() -> Self {
        Self {
            user: default_user(),
            port: None,
            identity_file: None,
            known_hosts: default_known_hosts(),
            sudo: false,
            password: false,
        }
    }
}

fn default_user() -> String {
    "root".into()
}

fn default_known_hosts() -> String {
    "~/.ssh/known_hosts".into()
}

/// The virtual IP and an optional end-to-end probe through it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipSettings {
    /// The address keepalived moves.
    pub address: String,
    /// A URL fetched through the VIP each round to prove it serves.
    #[serde(default)]
    pub check_url: Option<HttpUrl>,
}

/// Where a cluster's balancers and keepalived are read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Each node polled directly: status pages, runtime API, SSH.
    #[default]
    Direct,
    /// PromQL instant queries to the profile's Prometheus server.
    Prometheus,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Direct => "direct",
            SourceKind::Prometheus => "prometheus",
        })
    }
}

/// The `[prometheus]` table: the server whose HTTP API answers for this cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSettings {
    /// The server's base URL (`http://prometheus:9090`); `/api/v1/…` is appended.
    pub url: HttpUrl,
    /// Label matchers added to every query (`{ env = "prod" }`), for a server that
    /// scrapes more than one cluster under the same instance names.
    #[serde(default)]
    pub matchers: std::collections::BTreeMap<String, String>,
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Which daemon balances on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BalancerKind {
    /// nginx open source: stub_status, access log, upstream file.
    Nginx,
    /// NGINX Plus: the REST API.
    NginxPlus,
    /// HAProxy: runtime API or stats CSV.
    Haproxy,
}

impl fmt::Display for BalancerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BalancerKind::Nginx => "nginx",
            BalancerKind::NginxPlus => "nginx-plus",
            BalancerKind::Haproxy => "haproxy",
        })
    }
}

/// One balancer of the pair.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancerSettings {
    /// Short name shown everywhere (lb1).
    pub name: String,
    /// SSH target and the default host for URLs.
    pub host: String,
    /// The balancing daemon.
    pub kind: BalancerKind,
    /// nginx stub_status URL, NGINX Plus API base, or HAProxy stats page.
    #[serde(default)]
    pub status_url: Option<HttpUrl>,
    /// HAProxy runtime API: `tcp://host:port`, or `unix:///path` for a socket on the
    /// balancer (reached over its SSH connection).
    #[serde(default)]
    pub runtime_api: Option<RuntimeApi>,
    /// HAProxy backend / nginx upstream holding the backends.
    #[serde(default)]
    pub backend: Option<String>,
    /// nginx: the file holding the upstream block (for draining).
    #[serde(default)]
    pub upstream_file: Option<String>,
    /// nginx: the access log with upstream fields, followed over SSH for per-backend
    /// traffic.
    #[serde(default)]
    pub access_log: Option<String>,
    /// nginx: that log's `log_format` (default: lbdeck's recommended format).
    #[serde(default)]
    pub access_log_format: Option<String>,
    /// keepalived on this node.
    #[serde(default)]
    pub keepalived: Option<KeepalivedSettings>,
    /// The `instance` label of this balancer's exporter target in Prometheus
    /// (`10.0.0.11:8405`); keepalived's state is looked for on any target of the same host.
    #[serde(default)]
    pub prometheus_instance: Option<HostPort>,
}

/// Stock Debian path of the nginx upstream file lbdeck edits to drain.
pub const DEFAULT_UPSTREAM_FILE: &str = "/etc/nginx/conf.d/upstream.conf";
/// Stock Debian nginx access log.
pub const DEFAULT_ACCESS_LOG: &str = "/var/log/nginx/access.log";
/// Stock HAProxy admin sockets, tried in this order: Debian's, then RHEL's.
pub const STOCK_HAPROXY_SOCKETS: [&str; 2] = ["/run/haproxy/admin.sock", "/var/lib/haproxy/stats"];

impl BalancerSettings {
    /// Where this balancer's numbers are read, after defaults.
    pub fn status_endpoint(&self) -> StatusEndpoint {
        match (self.kind, &self.runtime_api, &self.status_url) {
            (BalancerKind::Haproxy, Some(api), _) => StatusEndpoint::RuntimeApi(api.clone()),
            (BalancerKind::Haproxy, None, Some(url)) => StatusEndpoint::StatsCsv(url.clone()),
            (BalancerKind::Haproxy, None, None) => StatusEndpoint::RuntimeApi(RuntimeApi::Stock),
            (BalancerKind::Nginx, _, Some(url)) => StatusEndpoint::StubStatus(url.clone()),
            (BalancerKind::Nginx, _, None) => {
                StatusEndpoint::StubStatus(HttpUrl(format!("http://{}/nginx_status", self.host)))
            }
            (BalancerKind::NginxPlus, _, Some(url)) => StatusEndpoint::PlusApi(url.clone()),
            (BalancerKind::NginxPlus, _, None) => {
                StatusEndpoint::PlusApi(HttpUrl(format!("http://{}:8080/api", self.host)))
            }
        }
    }

    /// Its HAProxy runtime API is a socket on the balancer, read over SSH.
    pub fn api_over_ssh(&self) -> bool {
        matches!(self.status_endpoint(), StatusEndpoint::RuntimeApi(api) if !api.socket_paths().is_empty())
    }

    /// The upstream/backend name, `be_web` unless the profile names another.
    pub fn backend_name(&self) -> &str {
        self.backend.as_deref().unwrap_or("be_web")
    }
}

/// Where a balancer's numbers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusEndpoint {
    /// nginx `stub_status` page.
    StubStatus(HttpUrl),
    /// NGINX Plus API base (`…/api`).
    PlusApi(HttpUrl),
    /// HAProxy stats page; `;csv` is appended when missing.
    StatsCsv(HttpUrl),
    /// HAProxy runtime API.
    RuntimeApi(RuntimeApi),
}

impl fmt::Display for StatusEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusEndpoint::StubStatus(u) => write!(f, "stub_status {u}"),
            StatusEndpoint::PlusApi(u) => write!(f, "Plus API {u}"),
            StatusEndpoint::StatsCsv(u) => write!(f, "stats CSV {u}"),
            StatusEndpoint::RuntimeApi(a) => write!(f, "runtime API {a}"),
        }
    }
}

/// keepalived on a balancer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepalivedSettings {
    /// The vrrp_instance name.
    #[serde(default = "default_instance")]
    pub instance: String,
    /// The file `contrib/lbdeck-notify` appends each transition to, followed for pushed
    /// transitions by any number of consoles; preferred to the FIFO where it exists on
    /// the node. Empty: none is looked for.
    #[serde(default = "default_notify_log")]
    pub notify_log: String,
    /// keepalived's notify FIFO, followed for pushed transitions where no notify log
    /// exists (keepalived gives each line to one reader only).
    #[serde(default)]
    pub notify_fifo: Option<String>,
    /// Where keepalived writes its JSON dump.
    #[serde(default = "default_json_dump")]
    pub json_dump: String,
    /// Where a keepalived built without JSON writes its text dump.
    #[serde(default = "default_text_dump")]
    pub text_dump: String,
    /// How a controlled failover is triggered.
    #[serde(default)]
    pub failover: Option<FailoverMethod>,
}

fn default_instance() -> String {
    "VI_1".into()
}

impl KeepalivedSettings {
    /// The notify log to look for, None when the profile turned it off.
    pub fn notify_log(&self) -> Option<&str> {
        Some(self.notify_log.as_str()).filter(|p| !p.is_empty())
    }
}

fn default_notify_log() -> String {
    crate::wire::keepalived::DEFAULT_NOTIFY_LOG.into()
}

fn default_json_dump() -> String {
    "/tmp/keepalived.json".into()
}

fn default_text_dump() -> String {
    "/tmp/keepalived.data".into()
}

/// How a controlled failover is triggered on the MASTER.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum FailoverMethod {
    /// Write a value into a `vrrp_track_file`.
    TrackFile {
        /// The tracked file.
        path: String,
        /// The value written to fail over (multiplied by the track weight).
        #[serde(deserialize_with = "int_or_string")]
        value: i64,
    },
    /// Stop keepalived (the peer takes over on the priority-0 advert).
    StopDaemon,
    /// Lower the priority in the config and reload.
    Priority {
        /// The priority written to fail over.
        value: u8,
    },
}

fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Int(i) => Ok(i),
        Raw::Text(s) => s.trim().parse().map_err(|_| {
            de::Error::custom(format!("expected an integer such as \"-100\", found {s:?}"))
        }),
    }
}

/// A web server behind the balancers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// The name the balancers know it by (HAProxy server name).
    pub name: String,
    /// `host:port` as written in the balancers' config.
    pub address: HostPort,
    /// Our own health probe; defaults to `http://ADDRESS/`.
    #[serde(default)]
    pub health_url: Option<HttpUrl>,
}

impl BackendSettings {
    /// The probe URL after defaults: `http://ADDRESS/`, none for a `unix:` socket (lbdeck
    /// cannot reach a socket on the balancer by HTTP) unless `health_url` is set.
    pub fn probe_url(&self) -> Option<HttpUrl> {
        self.health_url.clone().or_else(|| {
            (!self.address.is_unix()).then(|| HttpUrl(format!("http://{}/", self.address.0)))
        })
    }
}

/// An http(s) URL, checked when the profile is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpUrl(pub String);

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match reqwest::Url::parse(&s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(HttpUrl(s)),
            _ => Err(de::Error::custom(format!(
                "expected an http:// or https:// URL with a host, found {s:?}"
            ))),
        }
    }
}

/// `host:port`, or nginx's `unix:/path` for a server behind a socket on the balancer;
/// checked when the profile is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPort(pub String);

/// How nginx writes a server reached through a unix socket.
const UNIX_PREFIX: &str = "unix:/";

impl HostPort {
    /// Whether it is a `unix:/path` socket.
    pub fn is_unix(&self) -> bool {
        self.0.starts_with(UNIX_PREFIX)
    }

    /// The host part (brackets of an IPv6 literal removed).
    pub fn host(&self) -> &str {
        let (h, _) = self.0.rsplit_once(':').unwrap_or((&self.0, ""));
        h.trim_start_matches('[').trim_end_matches(']')
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = s.len() > UNIX_PREFIX.len() && s.starts_with(UNIX_PREFIX)
            || s.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if ok {
            Ok(HostPort(s))
        } else {
            Err(de::Error::custom(format!(
                "expected host:port such as \"10.0.0.21:80\" (or unix:/path), found {s:?}"
            )))
        }
    }
}

/// The HAProxy runtime API address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeApi {
    /// `tcp://host:port`
    Tcp(String),
    /// `unix:///path`: the socket on the balancer, reached over its SSH connection.
    Unix(PathBuf),
    /// No `runtime_api` (nor stats page): the stock socket on the balancer, the first
    /// of [`STOCK_HAPROXY_SOCKETS`] there.
    Stock,
}

impl RuntimeApi {
    /// The socket paths on the balancer to try, in order (none for TCP).
    pub fn socket_paths(&self) -> Vec<PathBuf> {
        match self {
            RuntimeApi::Tcp(_) => Vec::new(),
            RuntimeApi::Unix(p) => vec![p.clone()],
            RuntimeApi::Stock => STOCK_HAPROXY_SOCKETS.iter().map(PathBuf::from).collect(),
        }
    }
}

impl fmt::Display for RuntimeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeApi::Tcp(a) => write!(f, "tcp://{a}"),
            RuntimeApi::Unix(p) => write!(f, "unix://{}", p.display()),
            RuntimeApi::Stock => write!(
                f,
                "unix://{} or unix://{}",
                STOCK_HAPROXY_SOCKETS[0], STOCK_HAPROXY_SOCKETS[1]
            ),
        }
    }
}

impl<'de> Deserialize<'de> for RuntimeApi {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if let Some(addr) = s.strip_prefix("tcp://") {
            let ok = addr
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if ok {
                return Ok(RuntimeApi::Tcp(addr.to_string()));
            }
        } else if let Some(path) = s.strip_prefix("unix://") {
            if path.starts_with('/') {
                return Ok(RuntimeApi::Unix(PathBuf::from(path)));
            }
        }
        Err(de::Error::custom(format!(
            "expected tcp://host:port or unix:///absolute/path, found {s:?}"
        )))
    }
}

/// A profile read from disk, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    /// The parsed profile.
    pub profile: Profile,
    /// The file it was read from (None for the demo's generated profile).
    pub path: Option<PathBuf>,
}

impl Profile {
    /// Parses and checks a profile's text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Profile, ConfigError> {
        let profile: Profile = parse_toml(file, text)?;
        profile.check(file, text)?;
        Ok(profile)
    }

    /// Checks that need more than one key: names unique, at least one balancer, sane
    /// intervals.
    fn check(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        if self.balancers.is_empty() {
            return Err(ConfigError::file(
                file,
                "expected at least one [[balancers]] table",
            ));
        }
        if self.poll_interval < MIN_POLL {
            return Err(ConfigError::file(
                file,
                format!(
                    "poll_interval must be at least {}, found {}",
                    humantime::format_duration(MIN_POLL),
                    humantime::format_duration(self.poll_interval)
                ),
            ));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::file(file, "timeout must be greater than zero"));
        }
        for b in &self.balancers {
            if let Some(f) = &b.get_ref().access_log_format {
                if let Err(e) = super::log_format::LogFormat::parse(f) {
                    return Err(ConfigError::at(
                        file,
                        text,
                        b.span(),
                        format!("access_log_format: {e}"),
                    ));
                }
            }
        }
        self.check_prometheus(file, text)?;
        let mut seen = std::collections::HashSet::new();
        for b in &self.balancers {
            if !seen.insert(b.get_ref().name.clone()) {
                return Err(ConfigError::at(
                    file,
                    text,
                    b.span(),
                    format!(
                        "balancer name {:?} is used twice; names must be unique",
                        b.get_ref().name
                    ),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for b in &self.backends {
            if !seen.insert(b.get_ref().name.clone()) {
                return Err(ConfigError::at(
                    file,
                    text,
                    b.span(),
                    format!(
                        "backend name {:?} is used twice; names must be unique",
                        b.get_ref().name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// How often the cluster is polled in the background: `background_interval`, never
    /// faster than its `poll_interval`.
    pub fn background_every(&self) -> Duration {
        self.background_interval.max(self.poll_interval)
    }

    /// The `[prometheus]` table's matchers are label names, and with `source =
    /// "prometheus"` the table and every balancer's `prometheus_instance` are there.
    fn check_prometheus(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        if let Some(p) = &self.prometheus {
            if let Some(bad) = p.get_ref().matchers.keys().find(|k| !label_name_ok(k)) {
                return Err(ConfigError::at(
                    file,
                    text,
                    p.span(),
                    format!("prometheus.matchers: {bad:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                ));
            }
        }
        if self.source != SourceKind::Prometheus {
            return Ok(());
        }
        self.prometheus_ready()
            .map_err(|(span, message)| match span {
                Some(span) => ConfigError::at(file, text, span, message),
                None => ConfigError::file(file, message),
            })
    }

    /// Whether the profile can be read through Prometheus: a `[prometheus]` table and a
    /// `prometheus_instance` on every balancer. Else the sentence, and the balancer's
    /// table where one lacks it.
    pub fn prometheus_ready(&self) -> Result<(), (Option<std::ops::Range<usize>>, String)> {
        if self.prometheus.is_none() {
            return Err((
                None,
                "source \"prometheus\" needs a [prometheus] table with url = \"http://…:9090\""
                    .into(),
            ));
        }
        match self
            .balancers
            .iter()
            .find(|b| b.get_ref().prometheus_instance.is_none())
        {
            Some(b) => Err((
                Some(b.span()),
                format!(
                    "balancer {:?} has no prometheus_instance (the instance label of its exporter, e.g. \"{}:8405\"), which source \"prometheus\" needs",
                    b.get_ref().name,
                    b.get_ref().host
                ),
            )),
            None => Ok(()),
        }
    }

    /// Where a fleet (the overview, `status --all`) reads this cluster from: `asked`
    /// (`--source`) when given, else through Prometheus wherever the profile can be,
    /// else its own `source`. Err: Prometheus was asked for and the profile cannot be
    /// read through it (the sentence why).
    pub fn fleet_source(&mut self, asked: Option<SourceKind>) -> Result<(), String> {
        let ready = self.prometheus_ready().map_err(|(_, why)| why);
        self.source = match (asked, ready) {
            (Some(SourceKind::Prometheus), Err(why)) => return Err(why),
            (Some(kind), _) => kind,
            (None, Ok(())) => SourceKind::Prometheus,
            (None, Err(_)) => self.source,
        };
        Ok(())
    }

    /// The balancers without their spans.
    pub fn balancers(&self) -> impl Iterator<Item = &BalancerSettings> {
        self.balancers.iter().map(Spanned::get_ref)
    }

    /// The backends without their spans.
    pub fn backends(&self) -> impl Iterator<Item = &BackendSettings> {
        self.backends.iter().map(Spanned::get_ref)
    }

    /// Finds and reads a profile: a path, or a NAME looked up in
    /// `$XDG_CONFIG_HOME/lbdeck/profiles/` then `./profiles/`.
    pub fn load(name_or_path: &str) -> Result<LoadedProfile, ConfigError> {
        let path = resolve(name_or_path)?;
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::file(&shown, format!("cannot read the profile: {e}")))?;
        let mut profile = Profile::parse(&shown, &text)?;
        profile.origin = Origin::File(path.clone());
        Ok(LoadedProfile {
            profile,
            path: Some(path),
        })
    }
}

/// The directories searched for a profile NAME, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = config_dir() {
        dirs.push(d.join("profiles"));
    }
    dirs.push(PathBuf::from("profiles"));
    dirs
}

fn resolve(name_or_path: &str) -> Result<PathBuf, ConfigError> {
    let direct = Path::new(name_or_path);
    let looks_like_path = name_or_path.contains('/') || name_or_path.ends_with(".toml");
    if looks_like_path {
        if direct.is_file() {
            return Ok(direct.to_path_buf());
        }
        return Err(ConfigError::file(
            name_or_path,
            "no such profile file; expected a path to a .toml profile or a profile name",
        ));
    }
    let dirs = search_dirs();
    for dir in &dirs {
        let candidate = dir.join(format!("{name_or_path}.toml"));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(ConfigError::file(
        name_or_path,
        format!(
            "no profile of that name; looked for {name_or_path}.toml in {}",
            looked.join(" and ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
name = "shop"
environment = "production"
poll_interval = "1s"
[ssh]
user = "root"
identity_file = "~/.ssh/id_ed25519"
known_hosts = "~/.ssh/known_hosts"
[vip]
address = "192.168.0.100"
check_url = "http://192.168.0.100/"
[[balancers]]
name = "lb1"
host = "10.0.0.11"
kind = "nginx"
status_url = "http://10.0.0.11:8080/nginx_status"
runtime_api = "tcp://10.0.0.11:9999"
backend = "be_web"
upstream_file = "/etc/nginx/conf.d/upstream.conf"
access_log = "/var/log/nginx/access.log"
[balancers.keepalived]
instance = "VI_1"
notify_fifo = "/run/keepalived.fifo"
failover = { method = "track_file", path = "/etc/keepalived/maintenance", value = "-100" }
[[backends]]
name = "web1"
address = "10.0.0.21:80"
health_url = "http://10.0.0.21/health"
"#;

    #[test]
    fn a_profile_using_every_key_parses_whole() {
        let p = Profile::parse("t.toml", FULL).expect("parses");
        assert_eq!(p.name, "shop");
        assert_eq!(p.environment, Environment::Production);
        assert_eq!(p.poll_interval, Duration::from_secs(1));
        let lb = p.balancers().next().expect("one balancer");
        assert_eq!(lb.kind, BalancerKind::Nginx);
        assert_eq!(
            lb.keepalived.as_ref().and_then(|k| k.failover.clone()),
            Some(FailoverMethod::TrackFile {
                path: "/etc/keepalived/maintenance".into(),
                value: -100
            })
        );
        assert_eq!(
            lb.runtime_api,
            Some(RuntimeApi::Tcp("10.0.0.11:9999".into()))
        );
        let be = p.backends().next().expect("one backend");
        assert_eq!(be.address.host(), "10.0.0.21");
    }

    #[test]
    fn a_fleet_reads_through_prometheus_where_it_can_unless_told_otherwise() {
        let lab = include_str!("../../profiles/lab-haproxy-prom.toml")
            .replace("source = \"prometheus\"\n", "");
        let mut p = Profile::parse("t.toml", &lab).expect("profile");
        assert_eq!(p.source, SourceKind::Direct);
        p.fleet_source(None).expect("ready");
        assert_eq!(p.source, SourceKind::Prometheus);
        p.fleet_source(Some(SourceKind::Direct)).expect("direct");
        assert_eq!(p.source, SourceKind::Direct);
        let without = lab.replace("prometheus_instance = \"10.77.0.12:8405\"\n", "");
        let mut p = Profile::parse("t.toml", &without).expect("profile");
        p.fleet_source(None).expect("direct stays");
        assert_eq!(p.source, SourceKind::Direct);
        let e = p
            .fleet_source(Some(SourceKind::Prometheus))
            .expect_err("not ready");
        assert!(
            e.contains("balancer \"lb2\" has no prometheus_instance"),
            "{e}"
        );
    }

    #[test]
    fn prometheus_as_the_source_needs_its_table_and_every_instance() {
        let lab = include_str!("../../profiles/lab-haproxy-prom.toml");
        let p = Profile::parse("t.toml", lab).expect("parses");
        assert_eq!(p.source, SourceKind::Prometheus);
        assert_eq!(
            p.balancers()
                .next()
                .and_then(|b| b.prometheus_instance.clone()),
            Some(HostPort("10.77.0.11:8405".into()))
        );
        let without_table = lab.replace("[prometheus]\nurl = \"http://10.77.0.2:9090\"\n", "");
        let e = Profile::parse("t.toml", &without_table).expect_err("no table");
        assert!(e.to_string().contains("needs a [prometheus] table"), "{e}");
        let without_instance = lab.replace("prometheus_instance = \"10.77.0.12:8405\"\n", "");
        let e = Profile::parse("t.toml", &without_instance).expect_err("no instance");
        // The error points at lb2's [[balancers]] header, the line before its name
        // (one-based: the name's zero-based index).
        let line = lab
            .lines()
            .position(|l| l == "name = \"lb2\"")
            .expect("lb2");
        assert!(e.to_string().starts_with(&format!("t.toml:{line}:")), "{e}");
        assert!(
            e.to_string()
                .contains("balancer \"lb2\" has no prometheus_instance"),
            "{e}"
        );
        // Direct polling needs neither.
        let direct = without_instance.replace("source = \"prometheus\"\n", "");
        assert_eq!(
            Profile::parse("t.toml", &direct).expect("direct").source,
            SourceKind::Direct
        );
        let bad = lab.replace(
            "url = \"http://10.77.0.2:9090\"",
            "url = \"http://10.77.0.2:9090\"\nmatchers = { \"env-name\" = \"x\" }",
        );
        let e = Profile::parse("t.toml", &bad).expect_err("bad label");
        assert!(
            e.to_string()
                .contains("\"env-name\" is not a Prometheus label name"),
            "{e}"
        );
        let bad = lab.replace("10.77.0.11:8405", "10.77.0.11");
        let e = Profile::parse("t.toml", &bad).expect_err("no port");
        assert!(e.to_string().contains("expected host:port"), "{e}");
    }

    #[test]
    fn a_backend_behind_a_unix_socket_is_probed_only_by_its_health_url() {
        let text = FULL.replace(
            "address = \"10.0.0.21:80\"",
            "address = \"unix:/run/app/app.sock\"",
        );
        let p = Profile::parse("t.toml", &text).expect("parses");
        let be = p.backends().next().expect("one backend");
        assert!(be.address.is_unix());
        assert_eq!(
            be.probe_url(),
            Some(HttpUrl("http://10.0.0.21/health".into()))
        );
        let bare = text.replace("health_url = \"http://10.0.0.21/health\"\n", "");
        let p = Profile::parse("t.toml", &bare).expect("parses");
        assert_eq!(p.backends().next().and_then(|b| b.probe_url()), None);
        let err =
            Profile::parse("t.toml", &FULL.replace("10.0.0.21:80", "unix:")).expect_err("no path");
        assert!(err.message.contains("(or unix:/path)"), "{err}");
    }

    #[test]
    fn unknown_key_names_line_and_expected_keys() {
        let text = FULL.replace("poll_interval = \"1s\"", "poll_intervall = \"1s\"");
        let err = Profile::parse("t.toml", &text).expect_err("rejected");
        assert_eq!(err.position.map(|p| p.0), Some(4));
        assert!(
            err.message.contains("unknown field `poll_intervall`"),
            "{err}"
        );
        assert!(err.message.contains("poll_interval"), "{err}");
    }

    #[test]
    fn wrong_type_and_bad_values_are_explained() {
        let err = Profile::parse("t.toml", &FULL.replace("\"1s\"", "5")).expect_err("rejected");
        assert_eq!(err.position.map(|p| p.0), Some(4), "{err}");
        let err = Profile::parse("t.toml", &FULL.replace("tcp://10.0.0.11:9999", "10.0.0.11"))
            .expect_err("rejected");
        assert!(err.message.contains("expected tcp://host:port"), "{err}");
        let err = Profile::parse("t.toml", &FULL.replace("\"nginx\"", "\"apache\""))
            .expect_err("rejected");
        assert!(err.message.contains("nginx-plus"), "{err}");
        let err = Profile::parse("t.toml", &FULL.replace("10.0.0.21:80", "10.0.0.21"))
            .expect_err("rejected");
        assert!(err.message.contains("host:port"), "{err}");
    }

    #[test]
    fn missing_required_key_and_duplicates() {
        let err = Profile::parse("t.toml", "name = \"x\"\n").expect_err("rejected");
        assert!(err.message.contains("balancers"), "{err}");
        let dup = format!("{FULL}\n[[backends]]\nname = \"web1\"\naddress = \"10.0.0.22:80\"\n");
        let err = Profile::parse("t.toml", &dup).expect_err("rejected");
        assert!(err.message.contains("used twice"), "{err}");
        assert!(err.position.is_some());
    }

    #[test]
    fn defaults_follow_stock_paths() {
        let text = "name='x'\n[[balancers]]\nname='a'\nhost='h'\nkind='haproxy'\n";
        let p = Profile::parse("t.toml", text).expect("parses");
        let lb = p.balancers().next().expect("lb");
        let StatusEndpoint::RuntimeApi(api) = lb.status_endpoint() else {
            panic!("no runtime API: {:?}", lb.status_endpoint());
        };
        // On the balancer, Debian's socket first, then RHEL's; never the admin host's.
        assert_eq!(
            api.socket_paths(),
            [
                PathBuf::from("/run/haproxy/admin.sock"),
                PathBuf::from("/var/lib/haproxy/stats")
            ]
        );
        assert_eq!(
            api.to_string(),
            "unix:///run/haproxy/admin.sock or unix:///var/lib/haproxy/stats"
        );
        assert_eq!(
            p.environment,
            Environment::Production,
            "unknown means careful"
        );
    }

    #[test]
    fn a_unix_socket_is_on_the_balancer_and_tcp_is_not() {
        let lb = |extra: &str| {
            let text =
                format!("name='x'\n[[balancers]]\nname='a'\nhost='h'\nkind='haproxy'\n{extra}");
            let p = Profile::parse("t.toml", &text).expect("parses");
            let lb = p.balancers().next().expect("lb").clone();
            lb
        };
        let unix = lb("runtime_api = 'unix:///var/lib/haproxy/stats'\n");
        assert!(unix.api_over_ssh());
        assert_eq!(
            unix.status_endpoint(),
            StatusEndpoint::RuntimeApi(RuntimeApi::Unix("/var/lib/haproxy/stats".into()))
        );
        let tcp = lb("runtime_api = 'tcp://10.0.0.11:9999'\n");
        assert!(!tcp.api_over_ssh());
        let page = lb("status_url = 'http://h:8404/stats'\n");
        assert!(!page.api_over_ssh(), "a stats page alone is read over HTTP");
        assert!(lb("").api_over_ssh(), "the stock socket is on the balancer");
    }
}
