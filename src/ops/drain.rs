//! Drain and undrain a backend on every balancer of the pair at once, then read the state
//! back from each. HAProxy: `set server BACKEND/SERVER state drain|ready` over the runtime
//! API, checked with `show servers state`.

use std::time::Duration;

use serde_json::{json, Value};

use super::operation::ServerChange;
use super::Outcome;
use crate::config::profile::{BalancerKind, Profile, StatusEndpoint};
use crate::model::ServerState;
use crate::wire::api::ApiTarget;
use crate::wire::haproxy;
use crate::wire::upstream_file::{LocateError, Located};
use crate::wire::{get_text, SourceError};

/// Why a change did not take on one balancer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The balancer (or the link to it) did not answer in time.
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// Reaching or asking the balancer failed: the transport's or the daemon's sentence.
    #[error("{0}")]
    Remote(String),
    /// Reading the balancer failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The server is not on that balancer.
    #[error("no server {server} in backend {backend}")]
    NoServer {
        /// The server asked for.
        server: String,
        /// The backend (HAProxy backend, nginx upstream) looked in.
        backend: String,
    },
    /// The change was sent but the state reads back otherwise.
    #[error("reads back {found} instead of {wanted}")]
    ReadsBack {
        /// What it reads.
        found: String,
        /// What the change should have set.
        wanted: String,
    },
    /// The state could not be read back after the change.
    #[error("could not read the state back: {0}")]
    NoReadBack(Box<StepError>),
    /// The balancer, as configured, offers no way to make the change.
    #[error("{0}")]
    CannotAct(&'static str),
    /// The upstream file lacks what the edit needs; nothing was changed.
    #[error("{file}: {error}; nothing changed")]
    Upstream {
        /// The upstream file.
        file: String,
        /// What it lacks.
        error: super::upstream::UpstreamError,
    },
    /// No file on the node defines the upstream, or it could not be read.
    #[error("{0}; nothing changed")]
    Locate(#[from] LocateError),
    /// `nginx -t` refused the edited file; the previous one was put back.
    #[error("nginx -t failed, the edit was rolled back: {0}")]
    RolledBack(String),
}

impl From<crate::ssh::SshError> for StepError {
    fn from(e: crate::ssh::SshError) -> Self {
        StepError::Remote(e.to_string())
    }
}

/// Why an HAProxy seen only through its stats page cannot be acted on.
pub const NO_RUNTIME_API: &str = "only a stats page is configured: no runtime API to act through";

/// The runtime-API commands a server change sends to HAProxy: the change, then its
/// read-back. A version that lacks one is refused in the plan.
pub const HAPROXY_COMMANDS: [haproxy::Command; 2] = [
    haproxy::Command::SetServerState,
    haproxy::Command::ShowServersState,
];

/// Why HAProxy refused a change with `Permission denied`.
pub const BELOW_ADMIN: &str =
    "HAProxy refused the change (Permission denied): its runtime API socket is below level admin";

/// Where nginx upstream files are backed up before an edit: outside every include
/// directory, one file per edit named by time, so none is mistaken for the live one.
pub const BACKUP_DIR: &str = "/var/backups/lbdeck";

/// HAProxy's word for the state a change sets.
fn haproxy_word(change: ServerChange) -> &'static str {
    match change {
        ServerChange::Drain => "drain",
        ServerChange::Maint => "maint",
        _ => "ready",
    }
}

/// The state a state change should read back as (nginx open source has no drain: its
/// drain is `down`, which reads MAINT).
fn expected(change: ServerChange, nginx: bool) -> &'static str {
    match change {
        ServerChange::Drain if nginx => ServerState::Maint.label(),
        ServerChange::Drain => ServerState::Drain.label(),
        ServerChange::Maint => ServerState::Maint.label(),
        _ => ServerState::Up.label(),
    }
}

/// How a weight reads, before and after: "weight 7".
fn weight_word(n: u32) -> String {
    format!("weight {n}")
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// What a server change did on every balancer.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Balancers acted on.
    pub balancers: Vec<String>,
    /// What the change is about before, per balancer: "UP", "weight 3", "health on"…
    pub before: Value,
    /// The same, read back after.
    pub after: Value,
    /// How it ended.
    pub outcome: Outcome,
}

pub(super) async fn with_timeout<T>(
    t: Duration,
    f: impl std::future::Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    tokio::time::timeout(t, f)
        .await
        .unwrap_or(Err(StepError::Timeout(t)))
}

type Step<T> = Result<T, StepError>;

/// What a change reads back as when it took ("DRAIN", "weight 7", "health off"); None
/// when any reading will do (sessions killed: new ones may open at once).
type Want = Option<String>;

/// `server`'s row of `show servers state` on one HAProxy.
async fn state_row(
    api: &ApiTarget<'_>,
    backend: &str,
    server: &str,
) -> Step<haproxy::ServerStateRow> {
    let (text, _) = api.ask(&format!("show servers state {backend}")).await?;
    let rows = haproxy::parse_servers_state(&text).map_err(|e| StepError::Remote(e.to_string()))?;
    rows.into_iter()
        .find(|r| r.server == server)
        .ok_or_else(|| StepError::NoServer {
            server: server.into(),
            backend: backend.into(),
        })
}

/// `server`'s current and initial weight on one HAProxy (`get weight`).
async fn get_weight(api: &ApiTarget<'_>, backend: &str, server: &str) -> Step<(u32, u32)> {
    let (text, _) = api.ask(&format!("get weight {backend}/{server}")).await?;
    haproxy::parse_weight(&text).ok_or_else(|| match text.trim() {
        "No such server." | "No such backend." => StepError::NoServer {
            server: server.into(),
            backend: backend.into(),
        },
        other => StepError::Remote(crate::text::clip(other, 120)),
    })
}

/// Sessions open on `server` on one HAProxy (`show stat`).
async fn open_sessions(api: &ApiTarget<'_>, backend: &str, server: &str) -> Step<u64> {
    let (text, _) = api.ask("show stat").await?;
    let rows = haproxy::parse_stat(&text).map_err(|e| StepError::Remote(e.to_string()))?;
    rows.into_iter()
        .find(|r| r.pxname == backend && r.svname == server)
        .map(|r| r.scur.unwrap_or(0))
        .ok_or_else(|| StepError::NoServer {
            server: server.into(),
            backend: backend.into(),
        })
}

/// What `change` is about on one HAProxy, in the words before/after use.
async fn reading(
    api: &ApiTarget<'_>,
    backend: &str,
    server: &str,
    change: ServerChange,
) -> Step<String> {
    match change {
        ServerChange::Weight(_) => Ok(weight_word(get_weight(api, backend, server).await?.0)),
        ServerChange::KillSessions => Ok(format!(
            "{} sessions",
            open_sessions(api, backend, server).await?
        )),
        ServerChange::Health(_) | ServerChange::Agent(_) => {
            let agent = matches!(change, ServerChange::Agent(_));
            let row = state_row(api, backend, server).await?;
            let word = row.checks(agent).ok_or(StepError::CannotAct(
                "this HAProxy's `show servers state` does not say whether checks run",
            ))?;
            Ok(format!("{} {word}", if agent { "agent" } else { "health" }))
        }
        _ => Ok(state_row(api, backend, server)
            .await?
            .admin()
            .label()
            .into()),
    }
}

/// Sends one runtime-API change: HAProxy answers an empty line on success, a sentence
/// on failure.
async fn send(api: &ApiTarget<'_>, command: &str) -> Step<()> {
    let (answer, _) = api.ask(command).await?;
    match answer.trim() {
        "" => Ok(()),
        "Permission denied" => Err(StepError::CannotAct(BELOW_ADMIN)),
        text => Err(StepError::Remote(crate::text::clip(text, 160))),
    }
}

/// One HAProxy: read, send the change's command, read back.
async fn haproxy_set(
    api: &ApiTarget<'_>,
    backend: &str,
    server: &str,
    change: ServerChange,
    within: Duration,
) -> (Step<String>, Step<()>, Step<String>, Want) {
    let target = format!("{backend}/{server}");
    let before = with_timeout(within, reading(api, backend, server, change)).await;
    let (command, want) = match change {
        ServerChange::Weight(w) => {
            match with_timeout(within, get_weight(api, backend, server)).await {
                Ok((current, initial)) => {
                    let n = w.resolve(current, initial);
                    (
                        format!("set server {target} weight {n}"),
                        Some(weight_word(n)),
                    )
                }
                Err(e) => return (before, Err(e.clone()), Err(e), None),
            }
        }
        ServerChange::KillSessions => (format!("shutdown sessions server {target}"), None),
        ServerChange::Health(on) | ServerChange::Agent(on) => {
            let what = if matches!(change, ServerChange::Agent(_)) {
                "agent"
            } else {
                "health"
            };
            let verb = if on { "enable" } else { "disable" };
            (
                format!("{verb} {what} {target}"),
                Some(format!("{what} {}", on_off(on))),
            )
        }
        _ => (
            format!("set server {target} state {}", haproxy_word(change)),
            Some(expected(change, false).to_string()),
        ),
    };
    let set = with_timeout(within, send(api, &command)).await;
    let after = with_timeout(within, reading(api, backend, server, change)).await;
    (before, set, after, want)
}

/// Whether a change took: it was applied and reads back as wanted.
fn confirmed(set: &Step<()>, after: &Step<String>, want: &Want) -> Step<()> {
    match (set, after) {
        (Err(e), _) => Err(e.clone()),
        (Ok(()), Ok(s)) if want.as_ref().is_none_or(|w| w == s) => Ok(()),
        (Ok(()), Ok(s)) => Err(StepError::ReadsBack {
            found: s.clone(),
            wanted: want.clone().unwrap_or_default(),
        }),
        (Ok(()), Err(e)) => Err(StepError::NoReadBack(Box::new(e.clone()))),
    }
}

/// One balancer's before, after (the same words everywhere: UP, DRAIN, MAINT, weight 7)
/// and result.
type Acted = (String, Value, Value, Step<()>);

/// A balancer that cannot be acted on: the same reason as its before, after and result.
fn unusable(name: String, e: StepError) -> Acted {
    let v = json!({ "error": e.to_string() });
    (name, v.clone(), v, Err(e))
}

fn label(r: &Step<String>) -> Value {
    match r {
        Ok(s) => json!(s),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// Finds the file that defines `upstream` on a node (see
/// [`crate::wire::upstream_file::locate`]): the profile's `upstream_file`, the stock
/// path when none is set.
pub async fn locate_upstream(
    pool: &crate::ssh::Pool,
    node: &crate::ssh::NodeAddr,
    configured: Option<&str>,
    upstream: &str,
) -> Step<Located> {
    let first = configured.unwrap_or(crate::config::profile::DEFAULT_UPSTREAM_FILE);
    Ok(crate::wire::upstream_file::locate(pool, node, first, upstream).await?)
}

/// A file's text on a node (through `sudo -n` when the profile says so).
async fn read_file(
    pool: &crate::ssh::Pool,
    node: &crate::ssh::NodeAddr,
    file: &str,
) -> Step<String> {
    Ok(crate::wire::upstream_file::read(pool, node, file).await?)
}

/// The script that puts the text on its stdin in place of `file` on a node and has nginx
/// load it. The command line holds only the file and the backup directory, so one exact
/// sudoers rule per file allows it. The file's owner, mode, SELinux context and other
/// extended attributes are kept: the new text is written into a copy made with
/// `cp --preserve=all` (plain `cp -p` where that is refused), beside the file, then moved
/// over it in one step. A symlink (Debian's
/// sites-enabled) is followed, so the link stays a link. The backup goes to `backups`,
/// outside every include directory, named by time. `nginx -t` decides between
/// `nginx -s reload` (`LBDECK-OK`) and putting the backup back the same way
/// (`LBDECK-ROLLED-BACK` and the emerg line, or `LBDECK-RELOAD-FAILED`). The reload only
/// signals the master: the script waits (up to a second) for a worker the master started
/// since, so "done" means nginx serves the new file, not that it was told to.
pub(crate) fn edit_script(file: &str, backups: &str) -> String {
    let f = crate::ssh::shell_quote(file);
    let d = crate::ssh::shell_quote(backups);
    format!(
        "f={f}; d={d}; [ -L \"$f\" ] && f=$(readlink -f \"$f\"); t=\"$f.lbdeck-tmp\"; \
         b=\"$d/$(basename \"$f\").$(date +%Y%m%dT%H%M%S.%N).bak\"; \
         keep() {{ cp --preserve=all \"$1\" \"$2\" 2>/dev/null || cp -p \"$1\" \"$2\"; }}; \
         mkdir -p \"$d\" && keep \"$f\" \"$b\" && keep \"$f\" \"$t\" && \
         cat > \"$t\" && mv \"$t\" \"$f\" || {{ rm -f \"$t\"; exit 1; }}; \
         rl() {{ p=$(cat /run/nginx.pid /var/run/nginx.pid 2>/dev/null | head -n1); \
           command -v pgrep >/dev/null || p=; o=\" $(pgrep -P \"$p\" 2>/dev/null | tr '\\n' ' ')\"; \
           nginx -s reload 2>\"$d/nginx-t.out\" || return 1; [ -n \"$p\" ] || return 0; i=0; \
           while [ $i -lt 50 ]; do for w in $(pgrep -P \"$p\"); do \
             case \"$o\" in *\" $w \"*) ;; *) return 0 ;; esac; done; \
             sleep 0.02; i=$((i+1)); done; }}; \
         if nginx -t 2>\"$d/nginx-t.out\"; then \
           if rl; then echo LBDECK-OK; \
           else keep \"$b\" \"$t\" && mv \"$t\" \"$f\"; echo LBDECK-RELOAD-FAILED; head -n1 \"$d/nginx-t.out\"; fi; \
         else keep \"$b\" \"$t\" && mv \"$t\" \"$f\"; echo LBDECK-ROLLED-BACK; grep -m1 emerg \"$d/nginx-t.out\"; fi; \
         rm -f \"$d/nginx-t.out\""
    )
}

/// What [`edit_script`] printed, as the step's result.
fn edit_outcome(file: &str, out: crate::ssh::Output) -> Step<()> {
    if out.stdout.contains("LBDECK-OK") {
        return Ok(());
    }
    let second = |default: &str| {
        let line = out.stdout.lines().nth(1).unwrap_or(default).trim();
        crate::text::clip(line, 160)
    };
    if out.stdout.contains("LBDECK-RELOAD-FAILED") {
        return Err(StepError::Remote(format!(
            "nginx -s reload failed, the file was put back: {}",
            second("")
        )));
    }
    if out.stdout.contains("LBDECK-ROLLED-BACK") {
        return Err(StepError::RolledBack(second("nginx -t failed")));
    }
    Err(StepError::Remote(format!(
        "editing {file} failed (exit {}): {}",
        out.status.map_or("?".into(), |s| s.to_string()),
        crate::text::clip(out.stderr.lines().next().unwrap_or(""), 160)
    )))
}

/// Why a kind of balancer cannot make `change`, in one sentence; None when it can.
pub fn unsupported(kind: BalancerKind, change: ServerChange) -> Option<&'static str> {
    use crate::ops::operation::Weight;
    let nginx = kind != BalancerKind::Haproxy;
    match (kind, change) {
        (BalancerKind::Haproxy, _) => None,
        (_, ServerChange::KillSessions) => Some(
            "nginx cannot end one server's sessions (it can drain, put in maintenance and set weights)",
        ),
        (BalancerKind::Nginx, ServerChange::Health(_) | ServerChange::Agent(_)) => Some(
            "nginx open source has no health checks to switch (its checks are passive: max_fails)",
        ),
        (_, ServerChange::Health(_) | ServerChange::Agent(_)) => {
            Some("NGINX Plus's API does not switch one server's health checks")
        }
        (_, ServerChange::Weight(Weight::To(0) | Weight::Percent(0))) if nginx => {
            Some("nginx takes weights from 1 up: drain it to take it out of rotation")
        }
        (BalancerKind::NginxPlus, ServerChange::Weight(Weight::Initial | Weight::Percent(_))) => {
            Some("NGINX Plus's API does not give the configured weight: set a number")
        }
        _ => None,
    }
}

/// nginx open source, over SSH: edit the server's line in the file that defines the
/// upstream (see [`locate_upstream`]): `down` for a drain or maintenance, none for
/// ready, `weight=N` (the configured weight noted on the line, put back byte for byte
/// by `initial`). Written with [`edit_script`] (owner, mode and context kept, a backup,
/// `nginx -t`, rolled back if it fails), then `nginx -s reload`; the file is read back.
async fn nginx_set(
    pool: &crate::ssh::Pool,
    node: &crate::ssh::NodeAddr,
    configured: Option<&str>,
    upstream: &str,
    address: &str,
    change: ServerChange,
) -> (Step<String>, Step<()>, Step<String>, Want) {
    use super::upstream as up;
    let Located { file, text, .. } = match locate_upstream(pool, node, configured, upstream).await {
        Ok(l) => l,
        Err(e) => return (Err(e.clone()), Err(e.clone()), Err(e), None),
    };
    let bad = |error| StepError::Upstream {
        file: file.clone(),
        error,
    };
    let read = |text: &str| -> Step<String> {
        match change {
            ServerChange::Weight(_) => {
                up::weights(text, upstream, address).map(|w| weight_word(w.0))
            }
            _ => up::is_down(text, upstream, address).map(|down| {
                let s = if down {
                    ServerState::Maint
                } else {
                    ServerState::Up
                };
                s.label().to_string()
            }),
        }
        .map_err(bad)
    };
    let before = read(&text);
    let edit = match change {
        ServerChange::Drain | ServerChange::Maint | ServerChange::Ready => {
            let down = change != ServerChange::Ready;
            up::set_down(&text, upstream, address, down)
                .map(|t| (t, expected(change, true).to_string()))
        }
        ServerChange::Weight(w) => up::weights(&text, upstream, address).and_then(|(c, i)| {
            let n = w.resolve(c, i);
            let keep = (n != i).then_some(n);
            up::set_weight(&text, upstream, address, keep).map(|t| (t, weight_word(n)))
        }),
        _ => {
            let why = unsupported(BalancerKind::Nginx, change).unwrap_or("not possible on nginx");
            let e = StepError::CannotAct(why);
            return (before, Err(e.clone()), Err(e), None);
        }
    };
    let (edited, want) = match edit {
        Ok(e) => e,
        Err(error) => {
            let e = bad(error);
            return (before, Err(e.clone()), Err(e), None);
        }
    };
    let set = if edited == text {
        Ok(())
    } else {
        let script = pool.privileged(&edit_script(&file, BACKUP_DIR));
        match pool.exec_with_input(node, &script, edited.as_bytes()).await {
            Ok(out) => edit_outcome(&file, out),
            Err(e) => Err(e.into()),
        }
    };
    let after = match read_file(pool, node, &file).await {
        Ok(t) => read(&t),
        Err(e) => Err(e),
    };
    (before, set, after, Some(want))
}

/// NGINX Plus: `PATCH …/upstreams/U/servers/ID` with `drain`, `down` or `weight`, the
/// server found by address and read back with a GET.
async fn plus_set(
    base: &str,
    upstream: &str,
    address: &str,
    change: ServerChange,
    timeout: Duration,
) -> (Step<String>, Step<()>, Step<String>, Want) {
    use crate::ops::operation::Weight;
    let client = crate::wire::http_client(timeout);
    let servers = format!(
        "{}/{}/http/upstreams/{upstream}/servers",
        base.trim_end_matches('/'),
        crate::wire::nginx_plus::API_VERSION
    );
    let read = |v: &Value| -> String {
        if let ServerChange::Weight(_) = change {
            return weight_word(v["weight"].as_u64().unwrap_or(1) as u32);
        }
        let s = if v["drain"].as_bool() == Some(true) {
            ServerState::Drain
        } else if v["down"].as_bool() == Some(true) {
            ServerState::Maint
        } else {
            ServerState::Up
        };
        s.label().to_string()
    };
    let list = match get_text(&client, &servers, timeout).await {
        Ok(t) => serde_json::from_str::<Vec<Value>>(&t)
            .map_err(|e| StepError::Remote(format!("unexpected servers JSON: {e}"))),
        Err(e) => Err(e.into()),
    };
    let found = list.and_then(|l| {
        l.into_iter()
            .find(|s| s["server"].as_str() == Some(address))
            .ok_or_else(|| StepError::NoServer {
                server: address.into(),
                backend: upstream.into(),
            })
    });
    let (id, server) = match found {
        Ok(s) => match s["id"].as_u64() {
            Some(id) => (id, s),
            None => {
                let e = StepError::Remote(format!("the API gives {address} no id to act on"));
                return (Ok(read(&s)), Err(e.clone()), Err(e), None);
            }
        },
        Err(e) => return (Err(e.clone()), Err(e.clone()), Err(e), None),
    };
    let before = Ok(read(&server));
    let (body, want) = match change {
        ServerChange::Drain => (json!({ "drain": true }), ServerState::Drain.label().into()),
        ServerChange::Maint => (
            json!({ "drain": false, "down": true }),
            ServerState::Maint.label().into(),
        ),
        ServerChange::Ready => (
            json!({ "drain": false, "down": false }),
            ServerState::Up.label().into(),
        ),
        ServerChange::Weight(w @ (Weight::To(_) | Weight::By(_))) => {
            let current = server["weight"].as_u64().unwrap_or(1) as u32;
            let n = w.resolve(current, current);
            if n == 0 {
                let e = StepError::Upstream {
                    file: format!("upstream {upstream}"),
                    error: super::upstream::UpstreamError::Weight(0),
                };
                return (before, Err(e.clone()), Err(e), None);
            }
            (json!({ "weight": n }), weight_word(n))
        }
        _ => {
            let why = unsupported(BalancerKind::NginxPlus, change)
                .unwrap_or("not possible on NGINX Plus");
            let e = StepError::CannotAct(why);
            return (before, Err(e.clone()), Err(e), None);
        }
    };
    let one = format!("{servers}/{id}");
    let set = match client.patch(&one).json(&body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(StepError::Remote(format!(
            "PATCH answered HTTP {}",
            r.status()
        ))),
        Err(e) => Err(SourceError::from_reqwest(&e, timeout).into()),
    };
    let after = match get_text(&client, &one, timeout).await {
        Ok(t) => serde_json::from_str::<Value>(&t)
            .map(|v| read(&v))
            .map_err(|e| StepError::Remote(e.to_string())),
        Err(e) => Err(e.into()),
    };
    (before, set, after, Some(want))
}

/// Applies `change` to `server` on every balancer of the profile, concurrently, and reads
/// it back from each. nginx balancers need the SSH `pool`.
pub async fn apply(
    profile: &Profile,
    server: &str,
    change: ServerChange,
    pool: Option<&crate::ssh::Pool>,
) -> Applied {
    let timeout = profile.timeout;
    let address = profile
        .backends()
        .find(|b| b.name == server)
        .map(|b| b.address.0.clone());
    let work = profile.balancers().map(|b| {
        let name = b.name.clone();
        let backend = b.backend_name().to_string();
        let endpoint = b.status_endpoint();
        let kind = b.kind;
        let host = b.host.clone();
        let file = b.upstream_file.clone();
        let address = address.clone();
        async move {
            if let Some(why) = unsupported(kind, change) {
                return unusable(name, StepError::CannotAct(why));
            }
            if kind == BalancerKind::Nginx {
                let (Some(pool), Some(address)) = (pool, address) else {
                    let e = StepError::CannotAct(
                        "nginx needs SSH and the backend's address from the profile",
                    );
                    return unusable(name, e);
                };
                // Over SSH the steps take longer than one call: bound the whole edit.
                let node = pool.node(&host);
                let work = nginx_set(pool, &node, file.as_deref(), &backend, &address, change);
                let (before, set, after, want) = match tokio::time::timeout(timeout * 6, work).await
                {
                    Ok(r) => r,
                    Err(_) => {
                        let e = StepError::Timeout(timeout * 6);
                        (Err(e.clone()), Err(e.clone()), Err(e), None)
                    }
                };
                let confirmed = confirmed(&set, &after, &want);
                return (name, label(&before), label(&after), confirmed);
            }
            if let (BalancerKind::NginxPlus, StatusEndpoint::PlusApi(base)) = (kind, &endpoint) {
                let Some(address) = address else {
                    let e = StepError::CannotAct("the backend's address is not in the profile");
                    return unusable(name, e);
                };
                let (before, set, after, want) =
                    plus_set(&base.0, &backend, &address, change, timeout).await;
                let confirmed = confirmed(&set, &after, &want);
                return (name, label(&before), label(&after), confirmed);
            }
            let api = match (kind, endpoint) {
                (BalancerKind::Haproxy, StatusEndpoint::RuntimeApi(api)) => api,
                (BalancerKind::Haproxy, _) => {
                    let e = StepError::CannotAct(NO_RUNTIME_API);
                    return unusable(name, e);
                }
                (_, _) => {
                    let e = StepError::CannotAct("this balancer's status source cannot act");
                    return unusable(name, e);
                }
            };
            let within = api_timeout(&api, timeout);
            let api = ApiTarget::new(&api, &host, pool);
            let (before, set, after, want) =
                haproxy_set(&api, &backend, server, change, within).await;
            let confirmed = confirmed(&set, &after, &want);
            (name, label(&before), label(&after), confirmed)
        }
    });
    let results = futures::future::join_all(work).await;
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    let mut confirmed = Vec::new();
    for (name, b, a, c) in results {
        before.insert(name.clone(), b);
        after.insert(name.clone(), a);
        confirmed.push((name, c));
    }
    Applied {
        balancers: confirmed.iter().map(|(n, _)| n.clone()).collect(),
        before: Value::Object(before),
        after: Value::Object(after),
        outcome: Outcome::from_targets(&confirmed),
    }
}

/// How long one runtime-API call may take: a socket over SSH may have to connect first.
pub(super) fn api_timeout(api: &crate::config::profile::RuntimeApi, timeout: Duration) -> Duration {
    if api.socket_paths().is_empty() {
        timeout
    } else {
        timeout * crate::wire::SSH_BUDGET
    }
}

/// Current sessions on `server` on every balancer that counts them (HAProxy's runtime
/// API; a socket on the balancer through `pool`), None where it could not be read;
/// balancers that do not count them are left out.
pub async fn sessions(
    profile: &Profile,
    server: &str,
    pool: Option<&crate::ssh::Pool>,
) -> Vec<(String, Option<u64>)> {
    let counting = profile
        .balancers()
        .filter(|b| matches!(b.status_endpoint(), StatusEndpoint::RuntimeApi(_)));
    let work = counting.map(|b| {
        let name = b.name.clone();
        let backend = b.backend_name().to_string();
        let endpoint = b.status_endpoint();
        let host = b.host.clone();
        let timeout = profile.timeout;
        async move {
            let StatusEndpoint::RuntimeApi(api) = endpoint else {
                return (name, None);
            };
            let within = api_timeout(&api, timeout);
            let target = ApiTarget::new(&api, &host, pool);
            let n = with_timeout(within, open_sessions(&target, &backend, server)).await;
            (name, n.ok())
        }
    });
    futures::future::join_all(work).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    /// Runs [`edit_script`] with `sh` as the node would, a stand-in `nginx` first in PATH
    /// whose `-t` fails with an emerg line while `DIR/fail-t` exists.
    fn run(dir: &Path, file: &Path, text: &str) -> Step<()> {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let nginx = bin.join("nginx");
        std::fs::write(
            &nginx,
            format!(
                "#!/bin/sh\nif [ \"$1\" = -t ] && [ -e {0}/fail-t ]; then\n  \
                 echo 'nginx: [emerg] invalid parameter \"bogus\" in shop:3' >&2; exit 1\nfi\n",
                dir.display()
            ),
        )
        .expect("stand-in nginx");
        std::fs::set_permissions(&nginx, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let backups = dir.join("backups");
        let script = edit_script(&file.display().to_string(), &backups.display().to_string());
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script])
            .env("PATH", path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        // The script may stop before it reads (no file to copy): a closed pipe is fine.
        let _ = std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes());
        let out = child.wait_with_output().expect("sh");
        edit_outcome(
            &file.display().to_string(),
            crate::ssh::Output {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                status: out.status.code().and_then(|c| u32::try_from(c).ok()),
            },
        )
    }

    const BEFORE: &str = "upstream be_shop {\n    server 10.0.0.1:80;\n}\n";
    const AFTER: &str = "upstream be_shop {\n    server 10.0.0.1:80 down;\n}\n";

    /// sites-available/shop (mode 0640, owned by uid/gid 33 where this test may chown)
    /// and the sites-enabled symlink to it.
    fn site(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, bool) {
        let available = dir.join("sites-available");
        let enabled = dir.join("sites-enabled");
        std::fs::create_dir_all(&available).expect("dir");
        std::fs::create_dir_all(&enabled).expect("dir");
        let real = available.join("shop");
        std::fs::write(&real, BEFORE).expect("write");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let owned = std::os::unix::fs::chown(&real, Some(33), Some(33)).is_ok();
        let link = enabled.join("shop");
        std::os::unix::fs::symlink("../sites-available/shop", &link).expect("symlink");
        (real, link, owned)
    }

    fn assert_kept(real: &Path, owned: bool) {
        let meta = std::fs::metadata(real).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640, "mode kept");
        if owned {
            assert_eq!((meta.uid(), meta.gid()), (33, 33), "owner kept");
        }
    }

    #[test]
    fn an_edit_keeps_owner_mode_and_the_symlink_and_leaves_a_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (real, link, owned) = site(dir.path());
        assert_eq!(run(dir.path(), &link, AFTER), Ok(()));
        assert_eq!(std::fs::read_to_string(&real).expect("read"), AFTER);
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("link")
                .file_type()
                .is_symlink(),
            "sites-enabled still links to sites-available"
        );
        assert_kept(&real, owned);
        let strays: Vec<_> = std::fs::read_dir(real.parent().expect("dir"))
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(strays, ["shop"], "no temporary file left beside it");
        let backups: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
            .expect("backups")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        assert_eq!(backups.len(), 1, "{backups:?}");
        assert_eq!(
            std::fs::read_to_string(&backups[0]).expect("backup"),
            BEFORE
        );
        assert_kept(&backups[0], owned);
    }

    #[test]
    fn a_refused_edit_is_put_back_with_its_owner_and_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (real, link, owned) = site(dir.path());
        std::fs::write(dir.path().join("fail-t"), "").expect("fail");
        assert_eq!(
            run(dir.path(), &link, AFTER),
            Err(StepError::RolledBack(
                "nginx: [emerg] invalid parameter \"bogus\" in shop:3".into()
            ))
        );
        assert_eq!(std::fs::read_to_string(&real).expect("read"), BEFORE);
        assert_kept(&real, owned);
        assert!(std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink());
    }

    #[test]
    fn a_file_that_cannot_be_copied_is_not_touched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.conf");
        let e = run(dir.path(), &missing, AFTER).expect_err("no file");
        assert!(
            e.to_string()
                .starts_with(&format!("editing {}", missing.display())),
            "{e}"
        );
        assert!(!missing.exists());
    }

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A runtime API at a level below admin: reads answered, changes refused as HAProxy
    /// refuses them.
    async fn below_admin() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let answer = if buf[..n].starts_with(b"show servers state") {
                    include_str!("../../tests/fixtures/haproxy/show_servers_state_be_web.txt")
                } else {
                    "Permission denied\n\n"
                };
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_change_refused_for_its_level_says_so() {
        let addr = below_admin().await;
        let text = format!(
            "name = 't'\n[[balancers]]\nname = 'lb1'\nhost = '127.0.0.1'\nkind = 'haproxy'\n\
             runtime_api = 'tcp://{addr}'\n[[backends]]\nname = 'web2'\naddress = '10.77.0.22:80'\n"
        );
        let profile = Profile::parse("t.toml", &text).expect("profile");
        let applied = apply(&profile, "web2", ServerChange::Drain, None).await;
        assert_eq!(
            applied.outcome,
            Outcome::Failed {
                reason: format!("lb1: {BELOW_ADMIN}")
            }
        );
        assert_eq!(applied.after["lb1"], "UP", "nothing changed");
    }
}
