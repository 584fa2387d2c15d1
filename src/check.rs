//! `lbdeck check`: what will fail, found before it does. Besides the profile itself, every
//! balancer is asked for each thing lbdeck will need from it — its status source, the
//! SSH login (host key, authentication), `sudo -n`, keepalived's FIFO and dump, the
//! upstream file, the access log — each ✓ or ✗ with the reason.

use std::time::Duration;

use crate::config::profile::{BalancerKind, BalancerSettings, Profile, StatusEndpoint};
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
    let status = crate::sources::poll_once(profile, Some(&pool)).await;
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
    for (i, mut list) in futures::future::join_all(per_node)
        .await
        .into_iter()
        .enumerate()
    {
        let version = status.iter().find_map(|u| match u {
            crate::sources::SourceUpdate::Balancer {
                index,
                result: Ok(sample),
                ..
            } if *index == i => profile
                .balancers()
                .nth(i)
                .and_then(|b| version_item(b, sample)),
            _ => None,
        });
        // Right after "… answers": the version comes from that answer.
        if let Some(v) = version {
            list.insert(1.min(list.len()), v);
        }
        items.extend(list);
    }
    items
}

/// What `check` runs through `sudo -n` to see that sudo answers without a password
/// (`sh -c` like every privileged command, so the same kind of rule allows it).
pub(crate) const SUDO_PROBE: &str = "true";

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
    let remote = remote_checks(b);
    if remote.is_empty() && b.kind != BalancerKind::Nginx {
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
                .exec(addr, &pool.privileged(SUDO_PROBE))
                .await
                .map_err(|e| e.to_string())?;
            o.ok("sudo -n true").map(|_| ()).map_err(|e| e.to_string())
        })
        .await;
        out.push(item("sudo -n works".into(), sudo));
    }
    if b.kind == BalancerKind::Nginx {
        out.push(upstream_item(b, addr, pool, limit).await);
    }
    if b.keepalived.is_some() {
        out.push(control_item(b, addr, pool, limit).await);
    }
    let logs = crate::sources::access_log::LogTarget::for_profile(profile, pool.resolver());
    if let Some(log) = logs.iter().find(|t| t.addr.alias == addr.alias) {
        let need = format!(
            "access log {} in the {} format",
            log.path,
            if log.format_name == "lbdeck" {
                "lbdeck"
            } else {
                "profile's access_log_format"
            }
        );
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

/// Which file defines the node's upstream: the profile's (or the stock one), or the one
/// `nginx -T` shows.
/// The privileged shell checks `check` runs on a balancer: what each shows and the
/// command (also listed by `lbdeck sudoers`).
pub(crate) fn remote_checks(b: &BalancerSettings) -> Vec<(String, String)> {
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
                crate::wire::keepalived::DUMP_PROBE
            ),
        ));
        if let Some(fifo) = &k.notify_fifo {
            remote.push((
                format!("notify FIFO {fifo} readable"),
                format!("test -p {0} && test -r {0}", shell_quote(fifo)),
            ));
        }
    }

    if let StatusEndpoint::RuntimeApi(api) = b.status_endpoint() {
        let paths: Vec<String> = api
            .socket_paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if !paths.is_empty() {
            let tests: Vec<String> = paths
                .iter()
                .map(|p| format!("test -S {}", shell_quote(p)))
                .collect();
            remote.push((
                format!("HAProxy socket {} present", paths.join(" or ")),
                tests.join(" || "),
            ));
        }
    }
    remote
}

async fn upstream_item(
    b: &BalancerSettings,
    addr: &NodeAddr,
    pool: &Pool,
    limit: Duration,
) -> Item {
    let upstream = b.backend_name();
    let found = bounded(limit * 2, async {
        crate::ops::drain::locate_upstream(pool, addr, b.upstream_file.as_deref(), upstream)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    let (need, result) = match found {
        Ok(l) => (
            format!(
                "upstream file {} defines upstream {upstream}{}",
                l.file,
                if l.through_dump {
                    " (found through nginx -T)"
                } else {
                    ""
                }
            ),
            Ok(()),
        ),
        Err(e) => (format!("upstream file for upstream {upstream}"), Err(e)),
    };
    Item {
        node: b.name.clone(),
        need,
        result,
    }
}

/// How keepalived is started and stopped on the node (what a `stop_daemon` failover
/// and its failback use): systemctl, service or the pid file.
async fn control_item(b: &BalancerSettings, addr: &NodeAddr, pool: &Pool, limit: Duration) -> Item {
    let found = bounded(limit, async {
        let command = crate::ops::daemon::keepalived_control();
        let o = pool
            .exec(addr, &pool.privileged(&command))
            .await
            .map_err(|e| e.to_string())?;
        o.ok("finding the init system").map_err(|e| e.to_string())
    })
    .await;
    let (need, result) = match found {
        Ok(word) => (
            format!("keepalived started and stopped through {}", word.trim()),
            Ok(()),
        ),
        Err(e) => ("keepalived's init system found".to_string(), Err(e)),
    };
    Item {
        node: b.name.clone(),
        need,
        result,
    }
}

/// Whether the HAProxy a poll answered from has the runtime commands lbdeck sends (None
/// where no version was read).
fn version_item(b: &BalancerSettings, sample: &crate::sources::BalancerSample) -> Option<Item> {
    let crate::sources::BalancerSample::Haproxy {
        info: Some(info), ..
    } = sample
    else {
        return None;
    };
    let result =
        match crate::wire::haproxy::lacks(&info.version, &crate::ops::drain::HAPROXY_COMMANDS) {
            Some(why) => Err(why),
            None => Ok(()),
        };
    Some(Item {
        node: b.name.clone(),
        need: format!(
            "HAProxy {} has the runtime commands lbdeck sends",
            info.version
        ),
        result,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::BalancerSample;
    use crate::wire::haproxy::Info;

    #[test]
    fn an_haproxy_version_is_checked_against_the_commands_sent() {
        let profile = Profile::parse(
            "t.toml",
            "name = \"t\"\n[[balancers]]\nname = \"lb1\"\nhost = \"10.0.0.11\"\nkind = \"haproxy\"\n\
             runtime_api = \"tcp://10.0.0.11:9999\"\n[[backends]]\nname = \"web1\"\n\
             address = \"10.0.0.21:80\"\n",
        )
        .expect("profile");
        let b = profile.balancers().next().expect("lb1");
        let sample = |version: &str| BalancerSample::Haproxy {
            info: Some(Info {
                version: version.into(),
                ..Info::default()
            }),
            stats: Vec::new(),
            admin: None,
            access: None,
        };
        let old = version_item(b, &sample("1.5.18")).expect("item");
        assert_eq!(old.node, "lb1");
        assert_eq!(
            old.result,
            Err("HAProxy 1.5.18 has no `show servers state` (it came with 1.6)".into())
        );
        let new = version_item(b, &sample("2.6.12-1+deb12u4")).expect("item");
        assert_eq!(
            (new.need.as_str(), new.result),
            (
                "HAProxy 2.6.12-1+deb12u4 has the runtime commands lbdeck sends",
                Ok(())
            )
        );
        let page = BalancerSample::Haproxy {
            info: None,
            stats: Vec::new(),
            admin: None,
            access: None,
        };
        assert_eq!(
            version_item(b, &page),
            None,
            "a stats page gives no version"
        );
    }
}
