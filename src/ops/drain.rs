//! Drain and undrain a backend on every balancer of the pair at once, then read the state
//! back from each. HAProxy: `set server BACKEND/SERVER state drain|ready` over the runtime
//! API, checked with `show servers state`.

use std::time::Duration;

use serde_json::{json, Value};

use super::operation::ServerChange;
use super::Outcome;
use crate::config::profile::{BalancerKind, Profile, StatusEndpoint};
use crate::model::ServerState;
use crate::sources::api::ApiTarget;
use crate::sources::haproxy;
use crate::sources::{get_text, SourceError};

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
        found: &'static str,
        /// What the change should have set.
        wanted: &'static str,
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
        ServerChange::Ready => "ready",
    }
}

/// The state a change should read back as.
fn expected(change: ServerChange) -> ServerState {
    match change {
        ServerChange::Drain => ServerState::Drain,
        ServerChange::Ready => ServerState::Up,
    }
}

/// What a server change did on every balancer.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Balancers acted on.
    pub balancers: Vec<String>,
    /// Operator-set state before, per balancer.
    pub before: Value,
    /// Operator-set state read back after, per balancer.
    pub after: Value,
    /// How it ended.
    pub outcome: Outcome,
}

async fn with_timeout<T>(
    t: Duration,
    f: impl std::future::Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    tokio::time::timeout(t, f)
        .await
        .unwrap_or(Err(StepError::Timeout(t)))
}

type Step<T> = Result<T, StepError>;

/// The state an operator set for `server` on one HAProxy (READY shows as UP).
async fn admin_state(api: &ApiTarget<'_>, backend: &str, server: &str) -> Step<ServerState> {
    let (text, _) = api.ask(&format!("show servers state {backend}")).await?;
    let rows = haproxy::parse_servers_state(&text).map_err(|e| StepError::Remote(e.to_string()))?;
    rows.iter()
        .find(|r| r.server == server)
        .map(haproxy::ServerStateRow::admin)
        .ok_or_else(|| StepError::NoServer {
            server: server.into(),
            backend: backend.into(),
        })
}

/// Whether a change took: it was applied and reads back as `expected`.
fn confirmed(set: &Step<()>, after: &Step<ServerState>, expected: ServerState) -> Step<()> {
    match (set, after) {
        (Err(e), _) => Err(e.clone()),
        (Ok(()), Ok(s)) if *s == expected => Ok(()),
        (Ok(()), Ok(s)) => Err(StepError::ReadsBack {
            found: s.label(),
            wanted: expected.label(),
        }),
        (Ok(()), Err(e)) => Err(StepError::NoReadBack(Box::new(e.clone()))),
    }
}

/// One balancer's before, after (the same state words everywhere: UP, DRAIN, MAINT) and
/// result.
type Acted = (String, Value, Value, Step<()>);

/// A balancer that cannot be acted on: the same reason as its before, after and result.
fn unusable(name: String, e: StepError) -> Acted {
    let v = json!({ "error": e.to_string() });
    (name, v.clone(), v, Err(e))
}

fn label(r: &Step<ServerState>) -> Value {
    match r {
        Ok(s) => json!(s.label()),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// nginx open source, over SSH: mark the server `down` (or not) in the upstream file,
/// written atomically with a backup, checked with `nginx -t` (rolled back if it fails),
/// then `nginx -s reload`; the file is read back.
async fn nginx_set(
    pool: &crate::ssh::Pool,
    node: &crate::ssh::NodeAddr,
    file: &str,
    upstream: &str,
    address: &str,
    change: ServerChange,
) -> (Step<ServerState>, Step<()>, Step<ServerState>) {
    use base64::Engine;
    let read = || async {
        let out = pool
            .exec(
                node,
                &pool.privileged(&format!("cat {}", crate::ssh::shell_quote(file))),
            )
            .await?;
        Ok::<_, StepError>(out.ok(&format!("reading {file}"))?)
    };
    let state = |text: &str| {
        super::upstream::is_down(text, upstream, address)
            .map(|d| {
                if d {
                    ServerState::Maint
                } else {
                    ServerState::Up
                }
            })
            .map_err(|error| StepError::Upstream {
                file: file.to_string(),
                error,
            })
    };
    let text = match read().await {
        Ok(t) => t,
        Err(e) => return (Err(e.clone()), Err(e.clone()), Err(e)),
    };
    let before = state(&text);
    let edited =
        match super::upstream::set_down(&text, upstream, address, change == ServerChange::Drain) {
            Ok(t) => t,
            Err(error) => {
                let e = StepError::Upstream {
                    file: file.to_string(),
                    error,
                };
                return (before, Err(e.clone()), Err(e));
            }
        };
    let set = if edited == text {
        Ok(())
    } else {
        let f = crate::ssh::shell_quote(file);
        let b64 = base64::engine::general_purpose::STANDARD.encode(edited.as_bytes());
        // The backup goes outside the include directory, named by time; the new text is
        // written beside the file (same filesystem) with its owner and mode, then moved
        // over it in one step.
        let script = format!(
            "f={f}; d={BACKUP_DIR}; b=\"$d/$(basename \"$f\").$(date +%Y%m%dT%H%M%S.%N).bak\"; \
             mkdir -p \"$d\" && cp -p \"$f\" \"$b\" && printf %s '{b64}' | base64 -d > \"$f.lbdeck-tmp\" && \
             chmod --reference=\"$f\" \"$f.lbdeck-tmp\" && chown --reference=\"$f\" \"$f.lbdeck-tmp\" && \
             mv \"$f.lbdeck-tmp\" \"$f\" || exit 1; \
             if nginx -t 2>\"$d/nginx-t.out\"; then \
               if nginx -s reload 2>\"$d/nginx-t.out\"; then echo LBDECK-OK; \
               else cp -p \"$b\" \"$f\"; echo LBDECK-RELOAD-FAILED; head -n1 \"$d/nginx-t.out\"; fi; \
             else cp -p \"$b\" \"$f\"; echo LBDECK-ROLLED-BACK; grep -m1 emerg \"$d/nginx-t.out\"; fi; rm -f \"$d/nginx-t.out\""
        );
        match pool.exec(node, &pool.privileged(&script)).await {
            Ok(out) if out.stdout.contains("LBDECK-OK") => Ok(()),
            Ok(out) if out.stdout.contains("LBDECK-RELOAD-FAILED") => {
                let why = out.stdout.lines().nth(1).unwrap_or("").trim().to_string();
                Err(StepError::Remote(format!(
                    "nginx -s reload failed, the file was put back: {}",
                    crate::text::clip(&why, 160)
                )))
            }
            Ok(out) if out.stdout.contains("LBDECK-ROLLED-BACK") => {
                let why = out
                    .stdout
                    .lines()
                    .nth(1)
                    .unwrap_or("nginx -t failed")
                    .trim()
                    .to_string();
                Err(StepError::RolledBack(crate::text::clip(&why, 160)))
            }
            Ok(out) => Err(StepError::Remote(format!(
                "editing {file} failed (exit {}): {}",
                out.status.map_or("?".into(), |s| s.to_string()),
                crate::text::clip(out.stderr.lines().next().unwrap_or(""), 160)
            ))),
            Err(e) => Err(e.into()),
        }
    };
    let after = match read().await {
        Ok(t) => state(&t),
        Err(e) => Err(e),
    };
    (before, set, after)
}

/// NGINX Plus: `PATCH …/upstreams/U/servers/ID {"drain": true|false}`, found by address
/// and read back with a GET.
async fn plus_set(
    base: &str,
    upstream: &str,
    address: &str,
    change: ServerChange,
    timeout: Duration,
) -> (Step<ServerState>, Step<()>, Step<ServerState>) {
    let client = crate::sources::http_client(timeout);
    let servers = format!(
        "{}/{}/http/upstreams/{upstream}/servers",
        base.trim_end_matches('/'),
        crate::sources::nginx_plus::API_VERSION
    );
    let state_of = |v: &Value| -> ServerState {
        if v["drain"].as_bool() == Some(true) {
            ServerState::Drain
        } else if v["down"].as_bool() == Some(true) {
            ServerState::Maint
        } else {
            ServerState::Up
        }
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
    let (id, before) = match found {
        Ok(s) => match s["id"].as_u64() {
            Some(id) => (id, Ok(state_of(&s))),
            None => {
                let e = StepError::Remote(format!("the API gives {address} no id to act on"));
                return (Ok(state_of(&s)), Err(e.clone()), Err(e));
            }
        },
        Err(e) => return (Err(e.clone()), Err(e.clone()), Err(e)),
    };
    let one = format!("{servers}/{id}");
    let set = match client
        .patch(&one)
        .json(&json!({ "drain": change == ServerChange::Drain }))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(StepError::Remote(format!(
            "PATCH answered HTTP {}",
            r.status()
        ))),
        Err(e) => Err(SourceError::from_reqwest(&e, timeout).into()),
    };
    let after = match get_text(&client, &one, timeout).await {
        Ok(t) => serde_json::from_str::<Value>(&t)
            .map(|v| state_of(&v))
            .map_err(|e| StepError::Remote(e.to_string())),
        Err(e) => Err(e.into()),
    };
    (before, set, after)
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
        let file = b
            .upstream_file
            .clone()
            .unwrap_or_else(|| crate::config::profile::DEFAULT_UPSTREAM_FILE.into());
        let address = address.clone();
        async move {
            if kind == BalancerKind::Nginx {
                let (Some(pool), Some(address)) = (pool, address) else {
                    let e = StepError::CannotAct(
                        "nginx needs SSH and the backend's address from the profile",
                    );
                    return unusable(name, e);
                };
                // Over SSH the steps take longer than one call: bound the whole edit.
                let node = pool.node(&host);
                let work = nginx_set(pool, &node, &file, &backend, &address, change);
                let (before, set, after) = match tokio::time::timeout(timeout * 6, work).await {
                    Ok(r) => r,
                    Err(_) => {
                        let e = StepError::Timeout(timeout * 6);
                        (Err(e.clone()), Err(e.clone()), Err(e))
                    }
                };
                // nginx open source has no drain state: `down` is what it can do.
                let wanted = match change {
                    ServerChange::Drain => ServerState::Maint,
                    ServerChange::Ready => ServerState::Up,
                };
                let confirmed = confirmed(&set, &after, wanted);
                return (name, label(&before), label(&after), confirmed);
            }
            if let (BalancerKind::NginxPlus, StatusEndpoint::PlusApi(base)) = (kind, &endpoint) {
                let Some(address) = address else {
                    let e = StepError::CannotAct("the backend's address is not in the profile");
                    return unusable(name, e);
                };
                let (before, set, after) =
                    plus_set(&base.0, &backend, &address, change, timeout).await;
                let confirmed = confirmed(&set, &after, expected(change));
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
            let before = with_timeout(within, admin_state(&api, &backend, server)).await;
            let command = format!(
                "set server {backend}/{server} state {}",
                haproxy_word(change)
            );
            let set = with_timeout(within, async {
                let (answer, _) = api.ask(&command).await?;
                // HAProxy answers an empty line on success, a sentence on failure.
                match answer.trim() {
                    "" => Ok(()),
                    "Permission denied" => Err(StepError::CannotAct(BELOW_ADMIN)),
                    text => Err(StepError::Remote(crate::text::clip(text, 120))),
                }
            })
            .await;
            let after = with_timeout(within, admin_state(&api, &backend, server)).await;
            let confirmed = confirmed(&set, &after, expected(change));
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
fn api_timeout(api: &crate::config::profile::RuntimeApi, timeout: Duration) -> Duration {
    if api.socket_paths().is_empty() {
        timeout
    } else {
        timeout * crate::sources::SSH_BUDGET
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
            let text = tokio::time::timeout(within, target.ask("show stat")).await;
            let scur = match text {
                Ok(Ok((t, _))) => haproxy::parse_stat(&t)
                    .ok()
                    .and_then(|rows| {
                        rows.into_iter()
                            .find(|r| r.pxname == backend && r.svname == server)
                    })
                    .and_then(|r| r.scur),
                _ => None,
            };
            (name, scur)
        }
    });
    futures::future::join_all(work).await
}

#[cfg(test)]
mod tests {
    use super::*;
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
