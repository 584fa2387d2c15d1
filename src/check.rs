//! `lbdeck check`: what will fail, found before it does. Besides the profile itself, every
//! balancer is asked for each thing lbdeck will need from it — its status source, the
//! SSH login (host key, authentication), `sudo -n`, keepalived's FIFO and dump, the
//! upstream file, the access log — each ✓ or ✗ with the reason.

use std::time::Duration;

use crate::config::profile::{BalancerKind, BalancerSettings, Profile, RuntimeApi, StatusEndpoint};
use crate::ssh::{shell_quote, NodeAddr, Pool};

/// One need of one node, and whether it is met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The balancer.
    pub node: String,
    /// What lbdeck needs ("SSH login as root@10.0.0.11").
    pub need: String,
    /// Met or not, with the reason when not.
    pub result: Result<(), String>,
}

/// Checks every balancer of `profile` (each call bounded by the profile's timeout).
pub async fn run(profile: &Profile) -> Vec<Item> {
    let resolver = crate::ssh::Resolver::load(&profile.ssh);
    let nodes: Vec<NodeAddr> = profile
        .balancers()
        .map(|b| resolver.resolve(&b.host))
        .collect();
    let pool = Pool::for_profile(profile, resolver, nodes.iter(), true);
    let status = crate::sources::poll_once(profile).await;
    let mut items = Vec::new();
    let per_node = profile.balancers().enumerate().map(|(i, b)| {
        let answered = status.iter().find_map(|u| match u {
            crate::sources::SourceUpdate::Balancer { index, result, .. } if *index == i => {
                Some(result.as_ref().map(|_| ()).map_err(|e| e.to_string()))
            }
            _ => None,
        });
        node_checks(profile, b, &nodes[i], &pool, answered)
    });
    for list in futures::future::join_all(per_node).await {
        items.extend(list);
    }
    items
}

async fn node_checks(
    profile: &Profile,
    b: &BalancerSettings,
    addr: &NodeAddr,
    pool: &Pool,
    answered: Option<Result<(), String>>,
) -> Vec<Item> {
    let item = |need: String, result: Result<(), String>| Item {
        node: b.name.clone(),
        need,
        result,
    };
    let mut out = vec![item(
        format!("{} answers", b.status_endpoint()),
        answered.unwrap_or_else(|| Err("no answer".into())),
    )];
    let mut remote: Vec<(String, String)> = Vec::new();
    if let Some(k) = &b.keepalived {
        remote.push((
            "keepalived running (its pid file names a live process)".into(),
            "kill -0 \"$(cat /run/keepalived.pid)\"".into(),
        ));
        remote.push((
            "keepalived can write its JSON dump (or, built without JSON, its text dump)".into(),
            format!(
                "case $({}) in JSON|DATA|USR1) ;; *) exit 1;; esac",
                crate::sources::keepalived::DUMP_PROBE
            ),
        ));
        if let Some(fifo) = &k.notify_fifo {
            remote.push((
                format!("notify FIFO {fifo} readable"),
                format!("test -p {0} && test -r {0}", shell_quote(fifo)),
            ));
        }
    }
    if b.kind == BalancerKind::Nginx {
        let file = b
            .upstream_file
            .clone()
            .unwrap_or_else(|| crate::config::profile::DEFAULT_UPSTREAM_FILE.into());
        remote.push((
            format!("upstream file {file} readable"),
            format!("test -r {}", shell_quote(&file)),
        ));
    }

    if let StatusEndpoint::RuntimeApi(RuntimeApi::Unix(path)) = b.status_endpoint() {
        let path = path.display().to_string();
        remote.push((
            format!("HAProxy socket {path} present"),
            format!("test -S {}", shell_quote(&path)),
        ));
    }
    if remote.is_empty() {
        return out;
    }
    let limit = profile.timeout * 2;
    let login = format!("SSH login as {}@{}", addr.user, addr.known_hosts_name());
    match bounded(limit, async {
        pool.get(addr).await.map(|_| ()).map_err(|e| e.to_string())
    })
    .await
    {
        Ok(_) => out.push(item(login, Ok(()))),
        Err(e) => {
            out.push(item(login, Err(e)));
            return out;
        }
    }
    if profile.ssh.sudo {
        let sudo = bounded(limit, async {
            let o = pool
                .exec(addr, "sudo -n true")
                .await
                .map_err(|e| e.to_string())?;
            o.ok("sudo -n true").map(|_| ()).map_err(|e| e.to_string())
        })
        .await;
        out.push(item("sudo -n works".into(), sudo));
    }
    let logs = crate::sources::access_log::LogTarget::for_profile(profile, pool.resolver());
    if let Some(log) = logs.iter().find(|t| t.addr.alias == addr.alias) {
        let need = format!("access log {} in its format", log.path);
        let read = bounded(limit, async {
            let seen = log.check_format(pool).await.map_err(|e| e.to_string())?;
            if seen.mismatched() {
                Err(format!(
                    "only {} of its last {} lines match the log format lbdeck expects \
                     (access_log_format)",
                    seen.matched, seen.lines
                ))
            } else {
                Ok(seen)
            }
        });
        match read.await {
            Ok(seen) if seen.lines == 0 => {
                out.push(item(format!("{need}: empty so far, readable"), Ok(())))
            }
            Ok(seen) => out.push(item(
                format!(
                    "{need}: {} of the last {} lines match",
                    seen.matched, seen.lines
                ),
                Ok(()),
            )),
            Err(e) => out.push(item(need, Err(e))),
        }
    }
    for (need, command) in remote {
        let met = bounded(limit, async {
            let o = pool
                .exec(addr, &pool.privileged(&command))
                .await
                .map_err(|e| e.to_string())?;
            match o.status {
                Some(0) => Ok(()),
                Some(code) => Err(format!(
                    "no (exit {code}){}",
                    o.stderr
                        .lines()
                        .next()
                        .map(|l| format!(": {}", crate::text::clip(l, 120)))
                        .unwrap_or_default()
                )),
                None => Err("the connection ended before the command did".into()),
            }
        })
        .await;
        out.push(item(need, met));
    }
    out
}

async fn bounded<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| {
        Err(format!(
            "no answer within {}",
            humantime::format_duration(limit)
        ))
    })
}

/// The items grouped by node, ✓/✗ each, and a last line counting the failures.
pub fn human(items: &[Item]) -> String {
    let mut out = String::new();
    let mut node = "";
    for i in items {
        if i.node != node {
            node = &i.node;
            out.push_str(&format!("{node}\n"));
        }
        match &i.result {
            Ok(()) => out.push_str(&format!("  ✓ {}\n", i.need)),
            Err(e) => out.push_str(&format!("  ✗ {}: {}\n", i.need, crate::text::sanitize(e))),
        }
    }
    let failed = items.iter().filter(|i| i.result.is_err()).count();
    if failed == 0 {
        out.push_str("every check passed\n");
    } else {
        out.push_str(&format!("{failed} check(s) failed\n"));
    }
    out
}
