//! Drain and undrain a backend on every balancer of the pair at once, then read the state
//! back from each. HAProxy: `set server BACKEND/SERVER state drain|ready` over the runtime
//! API, checked with `show servers state`.

use std::time::Duration;

use serde_json::{json, Value};

use super::operation::ServerChange;
use super::Outcome;
use crate::config::profile::{BalancerKind, Profile, StatusEndpoint};
use crate::sources::haproxy::{self, ServerState};
use crate::sources::runtime_command;

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
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(t, f).await.unwrap_or_else(|_| {
        Err(format!(
            "no answer within {}",
            humantime::format_duration(t)
        ))
    })
}

/// The state an operator set for `server` on one HAProxy (READY shows as UP).
async fn admin_state(
    api: &crate::config::profile::RuntimeApi,
    backend: &str,
    server: &str,
) -> Result<ServerState, String> {
    let text = runtime_command(api, &format!("show servers state {backend}"))
        .await
        .map_err(|e| e.0)?;
    let rows = haproxy::parse_servers_state(&text).map_err(|e| e.to_string())?;
    rows.iter()
        .find(|r| r.server == server)
        .map(haproxy::ServerStateRow::admin)
        .ok_or_else(|| format!("no server {server} in backend {backend}"))
}

/// nginx has no drain state: the audit log says what the upstream file says.
fn nginx_label(r: &Result<ServerState, String>) -> Value {
    match r {
        Ok(ServerState::Up) => json!("up"),
        Ok(_) => json!("down"),
        Err(e) => json!({ "error": e }),
    }
}

/// Whether a change took: it was applied and reads back as `expected`.
fn confirmed(
    set: &Result<(), String>,
    after: &Result<ServerState, String>,
    expected: ServerState,
) -> Result<(), String> {
    match (set, after) {
        (Err(e), _) => Err(e.clone()),
        (Ok(()), Ok(s)) if *s == expected => Ok(()),
        (Ok(()), Ok(s)) => Err(format!(
            "reads back {} instead of {}",
            s.label(),
            expected.label()
        )),
        (Ok(()), Err(e)) => Err(format!("could not read the state back: {e}")),
    }
}

/// A balancer that cannot be acted on: the same reason as its before, after and result.
fn unusable(name: String, e: String) -> (String, Value, Value, Result<(), String>) {
    (name, json!({ "error": e }), json!({ "error": e }), Err(e))
}

fn label(r: &Result<ServerState, String>) -> Value {
    match r {
        Ok(s) => json!(s.label()),
        Err(e) => json!({ "error": e }),
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
) -> (
    Result<ServerState, String>,
    Result<(), String>,
    Result<ServerState, String>,
) {
    use base64::Engine;
    let read = || async {
        let out = pool
            .exec(
                node,
                &pool.privileged(&format!("cat {}", crate::ssh::shell_quote(file))),
            )
            .await
            .map_err(|e| e.to_string())?;
        out.ok(&format!("reading {file}"))
            .map_err(|e| e.to_string())
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
            .map_err(|e| e.to_string())
    };
    let text = match read().await {
        Ok(t) => t,
        Err(e) => return (Err(e.clone()), Err(e.clone()), Err(e)),
    };
    let before = state(&text);
    let edited =
        match super::upstream::set_down(&text, upstream, address, change == ServerChange::Drain) {
            Ok(t) => t,
            Err(e) => {
                let e = format!("{file}: {e}; nothing changed");
                return (before, Err(e.clone()), Err(e));
            }
        };
    let set = if edited == text {
        Ok(())
    } else {
        let f = crate::ssh::shell_quote(file);
        let b64 = base64::engine::general_purpose::STANDARD.encode(edited.as_bytes());
        let script = format!(
            "f={f}; cp -p \"$f\" \"$f.lbdeck-bak\" && printf %s '{b64}' | base64 -d > \"$f.lbdeck-tmp\" && \
             chmod --reference=\"$f\" \"$f.lbdeck-tmp\" && mv \"$f.lbdeck-tmp\" \"$f\" || exit 1; \
             if nginx -t 2>\"$f.lbdeck-check\"; then nginx -s reload && echo LBDECK-OK; \
             else mv \"$f.lbdeck-bak\" \"$f\"; echo LBDECK-ROLLED-BACK; grep -m1 emerg \"$f.lbdeck-check\"; fi; rm -f \"$f.lbdeck-check\""
        );
        match pool.exec(node, &pool.privileged(&script)).await {
            Ok(out) if out.stdout.contains("LBDECK-OK") => Ok(()),
            Ok(out) if out.stdout.contains("LBDECK-ROLLED-BACK") => {
                let why = out
                    .stdout
                    .lines()
                    .nth(1)
                    .unwrap_or("nginx -t failed")
                    .trim()
                    .to_string();
                Err(format!(
                    "nginx -t failed, the edit was rolled back: {}",
                    crate::text::clip(&why, 160)
                ))
            }
            Ok(out) => Err(format!(
                "editing {file} failed (exit {}): {}",
                out.status.map_or("?".into(), |s| s.to_string()),
                crate::text::clip(out.stderr.lines().next().unwrap_or(""), 160)
            )),
            Err(e) => Err(e.to_string()),
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
) -> (
    Result<ServerState, String>,
    Result<(), String>,
    Result<ServerState, String>,
) {
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
    let list = match crate::sources::http_text(&client, &servers, timeout).await {
        Ok(t) => serde_json::from_str::<Vec<Value>>(&t)
            .map_err(|e| format!("unexpected servers JSON: {e}")),
        Err(e) => Err(e.0),
    };
    let found = list.and_then(|l| {
        l.into_iter()
            .find(|s| s["server"].as_str() == Some(address))
            .ok_or_else(|| format!("upstream {upstream} has no server {address}"))
    });
    let (id, before) = match found {
        Ok(s) => (s["id"].as_u64().unwrap_or(0), Ok(state_of(&s))),
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
        Ok(r) => Err(format!("PATCH answered HTTP {}", r.status())),
        Err(e) => Err(crate::sources::FetchError::from_reqwest(&e, timeout).0),
    };
    let after = match crate::sources::http_text(&client, &one, timeout).await {
        Ok(t) => serde_json::from_str::<Value>(&t)
            .map(|v| state_of(&v))
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.0),
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
                    let e =
                        "nginx needs SSH and the backend's address from the profile".to_string();
                    return unusable(name, e);
                };
                // Over SSH the steps take longer than one call: bound the whole edit.
                let node = pool.node(&host);
                let work = nginx_set(pool, &node, &file, &backend, &address, change);
                let (before, set, after) = match tokio::time::timeout(timeout * 6, work).await {
                    Ok(r) => r,
                    Err(_) => {
                        let e = format!(
                            "no answer within {}",
                            humantime::format_duration(timeout * 6)
                        );
                        (Err(e.clone()), Err(e.clone()), Err(e))
                    }
                };
                // nginx open source has no drain state: `down` is what it can do.
                let wanted = match change {
                    ServerChange::Drain => ServerState::Maint,
                    ServerChange::Ready => ServerState::Up,
                };
                let confirmed = confirmed(&set, &after, wanted);
                return (name, nginx_label(&before), nginx_label(&after), confirmed);
            }
            if let (BalancerKind::NginxPlus, StatusEndpoint::PlusApi(base)) = (kind, &endpoint) {
                let Some(address) = address else {
                    let e = "the backend's address is not in the profile".to_string();
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
                    let e = "only a stats page is configured: no runtime API to act through"
                        .to_string();
                    return unusable(name, e);
                }
                (kind, _) => {
                    let e = format!("draining on {kind} is not implemented yet");
                    return unusable(name, e);
                }
            };
            let before = with_timeout(timeout, admin_state(&api, &backend, server)).await;
            let command = format!(
                "set server {backend}/{server} state {}",
                haproxy_word(change)
            );
            let set = with_timeout(timeout, async {
                let answer = runtime_command(&api, &command).await.map_err(|e| e.0)?;
                // HAProxy answers an empty line on success, a sentence on failure.
                match answer.trim() {
                    "" => Ok(()),
                    text => Err(crate::text::clip(text, 120)),
                }
            })
            .await;
            let after = with_timeout(timeout, admin_state(&api, &backend, server)).await;
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

/// Current sessions on `server`, per balancer (None where it could not be read).
pub async fn sessions(profile: &Profile, server: &str) -> Vec<(String, Option<u64>)> {
    let work = profile.balancers().map(|b| {
        let name = b.name.clone();
        let backend = b.backend_name().to_string();
        let endpoint = b.status_endpoint();
        let timeout = profile.timeout;
        async move {
            let StatusEndpoint::RuntimeApi(api) = endpoint else {
                return (name, None);
            };
            let text = tokio::time::timeout(timeout, runtime_command(&api, "show stat")).await;
            let scur = match text {
                Ok(Ok(t)) => haproxy::parse_stat(&t)
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
