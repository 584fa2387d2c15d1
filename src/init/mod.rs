//! `lbdeck init HOST1 HOST2`: read a balancer pair's own configuration over SSH —
//! keepalived.conf and its includes, the running HAProxy's config files, `nginx -T` — and
//! write the profile it describes, each value with the `file:line` it came from, the
//! differences between the two balancers, and what could not be found with how to add it.

pub mod cli;
pub mod conf;
pub mod haproxy;
pub mod keepalived;
pub mod nginx;
mod profile;

use crate::config::profile::BalancerKind;
use crate::ssh::{NodeAddr, Pool};

pub use profile::{write, Choice, Written};

/// What one balancer's configuration says.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The host as given (`10.0.0.11`, or an ssh_config alias).
    pub host: String,
    /// Its own short host name (the balancer's name in the profile).
    pub hostname: String,
    /// keepalived.conf, or why it could not be read.
    pub keepalived: Option<Result<keepalived::Keepalived, String>>,
    /// HAProxy's config, when HAProxy runs there.
    pub haproxy: Option<Result<haproxy::Haproxy, String>>,
    /// `nginx -T`, when nginx runs there.
    pub nginx: Option<Result<nginx::Nginx, String>>,
    /// Server host names and the address the node resolves each to (`getent hosts`).
    pub resolved: Vec<(String, String)>,
}

/// Why discovery stopped.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A node could not be reached or read at all.
    #[error("{host}: {why}")]
    Node {
        /// The host.
        host: String,
        /// Why.
        why: String,
    },
    /// A choice the configuration leaves open (which kind, which instance).
    #[error("{0}")]
    Choose(String),
}

/// Marks one file in a multi-file read.
const FILE_MARK: &str = "# lbdeck-file ";

/// A shell word for a path pattern: glob characters stay live, anything else is quoted.
fn glob_word(pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "/._-*?[]".contains(c) {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// A command printing every file `patterns` match, each after a [`FILE_MARK`] line (a
/// directory stands for its `*.cfg`, as HAProxy reads it).
fn cat_command(patterns: &[String]) -> String {
    let words: Vec<String> = patterns.iter().map(|p| glob_word(p)).collect();
    format!(
        "for p in {}; do if [ -d \"$p\" ]; then set -- \"$p\"/*.cfg; else set -- \"$p\"; fi; \
         for f in \"$@\"; do [ -f \"$f\" ] && {{ echo \"{FILE_MARK}$f\"; cat \"$f\"; echo; }}; done; done; true",
        words.join(" ")
    )
}

/// Splits what [`cat_command`] printed into `(path, text)`.
fn split_files(out: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in out.lines() {
        if let Some(path) = line.strip_prefix(FILE_MARK) {
            files.push((path.to_string(), String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    files
}

async fn run(pool: &Pool, addr: &NodeAddr, command: &str) -> Result<String, String> {
    pool.exec(addr, command)
        .await
        .map(|o| o.stdout)
        .map_err(|e| e.to_string())
}

/// Reads keepalived.conf and its includes (nested up to four deep).
async fn read_keepalived(
    pool: &Pool,
    addr: &NodeAddr,
) -> Option<Result<keepalived::Keepalived, String>> {
    let main = "/etc/keepalived/keepalived.conf".to_string();
    let mut files: Vec<(String, String)> = Vec::new();
    let mut patterns = vec![main];
    for _ in 0..4 {
        if patterns.is_empty() {
            break;
        }
        let out = match run(pool, addr, &pool.privileged(&cat_command(&patterns))).await {
            Ok(o) => o,
            Err(e) => return Some(Err(e)),
        };
        let found = split_files(&out);
        patterns.clear();
        for (path, text) in found {
            if files.iter().any(|(p, _)| *p == path) {
                continue;
            }
            match conf::parse(&text, &path, conf::Style::Keepalived) {
                Ok(roots) => patterns.extend(keepalived::includes(&roots)),
                Err(e) => return Some(Err(e.to_string())),
            }
            files.push((path, text));
        }
    }
    if files.is_empty() {
        return None;
    }
    let mut roots = Vec::new();
    for (path, text) in &files {
        match conf::parse(text, path, conf::Style::Keepalived) {
            Ok(r) => roots.extend(r),
            Err(e) => return Some(Err(e.to_string())),
        }
    }
    Some(Ok(keepalived::read(&roots)))
}

/// Reads one node.
pub async fn read_node(pool: &Pool, host: &str) -> Result<Node, InitError> {
    let addr = pool.node(host);
    let fail = |why: String| InitError::Node {
        host: host.to_string(),
        why,
    };
    pool.get(&addr).await.map_err(|e| fail(e.to_string()))?;
    let hostname = run(pool, &addr, "hostname -s 2>/dev/null || uname -n")
        .await
        .map_err(fail)?
        .trim()
        .to_string();
    let keepalived = read_keepalived(pool, &addr).await;
    let running = run(
        pool,
        &addr,
        "for d in haproxy nginx; do pgrep -x $d >/dev/null && echo $d; done; true",
    )
    .await
    .map_err(fail)?;
    let haproxy = if running.lines().any(|l| l == "haproxy") {
        let cmdline = run(
            pool,
            &addr,
            &pool.privileged("cat /proc/$(pgrep -o -x haproxy)/cmdline"),
        )
        .await
        .unwrap_or_default();
        let mut args = haproxy::config_args(&cmdline);
        if args.is_empty() {
            args.push("/etc/haproxy/haproxy.cfg".into());
        }
        Some(
            run(pool, &addr, &pool.privileged(&cat_command(&args)))
                .await
                .map(|out| haproxy::read(&split_files(&out), &addr.hostname)),
        )
    } else {
        None
    };
    let nginx = if running.lines().any(|l| l == "nginx") {
        Some(
            pool.exec(&addr, &pool.privileged("nginx -T"))
                .await
                .map_err(|e| e.to_string())
                .and_then(|o| o.ok("nginx -T").map_err(|e| e.to_string()))
                .and_then(|dump| nginx::read(&dump).map_err(|e| e.to_string())),
        )
    } else {
        None
    };
    let resolved = resolve_names(pool, &addr, &haproxy, &nginx).await;
    Ok(Node {
        resolved,
        host: host.to_string(),
        hostname: if hostname.is_empty() {
            host.to_string()
        } else {
            hostname
        },
        keepalived,
        haproxy,
        nginx,
    })
}

/// The server host names in the configuration that are names, not addresses, as the node
/// resolves them (a name in the balancer's own /etc/hosts may mean nothing elsewhere).
async fn resolve_names(
    pool: &Pool,
    addr: &NodeAddr,
    haproxy: &Option<Result<haproxy::Haproxy, String>>,
    nginx: &Option<Result<nginx::Nginx, String>>,
) -> Vec<(String, String)> {
    let mut names: Vec<String> = Vec::new();
    let servers = haproxy
        .iter()
        .flatten()
        .flat_map(|h| {
            h.backends
                .iter()
                .flat_map(|b| b.servers.iter().map(|s| s.1.clone()))
        })
        .chain(nginx.iter().flatten().flat_map(|n| {
            n.upstreams
                .iter()
                .flat_map(|u| u.servers.iter().map(|s| s.address.clone()))
        }));
    for address in servers {
        let host = address
            .rsplit_once(':')
            .map_or(address.as_str(), |(h, _)| h);
        let plain = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
        if plain && host.parse::<std::net::IpAddr>().is_err() && !names.iter().any(|n| n == host) {
            names.push(host.to_string());
        }
    }
    if names.is_empty() {
        return Vec::new();
    }
    let out = run(
        pool,
        addr,
        &format!("getent hosts {}; true", names.join(" ")),
    )
    .await
    .unwrap_or_default();
    let mut found = Vec::new();
    for line in out.lines() {
        let mut words = line.split_whitespace();
        let Some(ip) = words.next() else { continue };
        for name in words {
            if names.iter().any(|n| n == name) {
                found.push((name.to_string(), ip.to_string()));
            }
        }
    }
    found
}

/// The kinds that run on every node read.
pub fn kinds(nodes: &[Node]) -> Vec<BalancerKind> {
    let mut out = Vec::new();
    if nodes.iter().all(|n| n.haproxy.is_some()) {
        out.push(BalancerKind::Haproxy);
    }
    if nodes.iter().all(|n| n.nginx.is_some()) {
        let plus = nodes
            .iter()
            .all(|n| matches!(&n.nginx, Some(Ok(x)) if !x.plus_api.is_empty()));
        out.push(if plus {
            BalancerKind::NginxPlus
        } else {
            BalancerKind::Nginx
        });
    }
    out
}

/// The `vrrp_instance` names on the first node.
pub fn instances(nodes: &[Node]) -> Vec<String> {
    match nodes.first().and_then(|n| n.keepalived.as_ref()) {
        Some(Ok(k)) => k.instances.iter().map(|i| i.name.clone()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_stay_live_and_everything_else_is_quoted() {
        assert_eq!(
            glob_word("/etc/keepalived/conf.d/*.conf"),
            "/etc/keepalived/conf.d/*.conf"
        );
        assert_eq!(glob_word("/etc/a b;rm"), "/etc/a\\ b\\;rm");
    }

    #[test]
    fn a_multi_file_read_splits_at_its_marks() {
        let out = format!("{FILE_MARK}/a.cfg\nglobal\n\n{FILE_MARK}/b.cfg\nbackend x\n");
        let files = split_files(&out);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0], ("/a.cfg".to_string(), "global\n\n".to_string()));
        assert_eq!(files[1].1, "backend x\n");
    }
}
