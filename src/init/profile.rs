//! The profile `init` writes from what two balancers' configuration says: TOML with a
//! comment giving where each value came from, the differences between the two, and what
//! could not be found with how to add it.

use std::fmt::Write as _;

use super::{haproxy, keepalived, nginx, InitError, Node};
use crate::config::log_format::DEFAULT_FORMAT;
use crate::config::profile::BalancerKind;

/// What the operator chose or gave on the command line.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    /// The profile's name.
    pub name: String,
    /// Which balancing daemon, when both run.
    pub kind: Option<BalancerKind>,
    /// Which `vrrp_instance`, when there are several.
    pub instance: Option<String>,
    /// `[ssh] user`, when given.
    pub user: Option<String>,
    /// `[ssh] identity_file`, when given.
    pub identity_file: Option<String>,
    /// `[ssh] known_hosts`, when given.
    pub known_hosts: Option<String>,
    /// `[ssh] sudo`.
    pub sudo: bool,
}

/// The profile and what goes with it.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// The profile's TOML.
    pub text: String,
    /// What could not be found, each with how to add it.
    pub missing: Vec<String>,
    /// Where the two balancers disagree.
    pub differences: Vec<String>,
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A backend as one balancer's configuration has it.
struct Server {
    name: String,
    address: String,
    /// The path HAProxy checks it on.
    check: Option<String>,
    /// Where it is.
    at: String,
}

/// One balancer's block and what it lacks.
struct Block {
    text: String,
    missing: Vec<String>,
    /// The backends' servers.
    servers: Vec<Server>,
    /// The port the VIP serves on and where that was found.
    serve_port: Option<u16>,
    /// The priority of the chosen instance.
    priority: Option<u8>,
}

fn kind_name(kind: BalancerKind) -> &'static str {
    match kind {
        BalancerKind::Nginx => "nginx",
        BalancerKind::NginxPlus => "nginx-plus",
        BalancerKind::Haproxy => "haproxy",
    }
}

fn haproxy_block(
    node: &Node,
    h: &haproxy::Haproxy,
    out: &mut String,
    missing: &mut Vec<String>,
) -> (Vec<Server>, Option<u16>) {
    let name = &node.hostname;
    // The runtime API: an admin-level TCP socket reachable from here, else an admin unix
    // socket on the balancer (reached over SSH), else any socket (read-only).
    let api = h
        .sockets
        .iter()
        .find(|s| s.admin && s.api.starts_with("tcp://") && !s.loopback)
        .or_else(|| {
            h.sockets
                .iter()
                .find(|s| s.admin && s.api.starts_with("unix://"))
        })
        .or_else(|| h.sockets.iter().find(|s| !s.loopback));
    match api {
        Some(s) => {
            let _ = writeln!(out, "runtime_api = {}   # {}{}", q(&s.api), s.at, if s.admin { "" } else { " (not level admin: lbdeck can watch, not act)" });
            if !s.admin {
                missing.push(format!(
                    "{name}: the runtime API at {} is not `level admin`: add `level admin` to that `stats socket` line ({}) so drain and the other changes work",
                    s.api, s.at
                ));
            }
        }
        None => missing.push(format!(
            "{name}: no `stats socket`: add `stats socket /run/haproxy/admin.sock mode 660 level admin` to the global section of haproxy.cfg and reload HAProxy"
        )),
    }
    if let Some(p) = h.stats.first() {
        let _ = writeln!(
            out,
            "status_url = {}   # {}",
            q(&format!("http://{}:{}{}", node_host(node), p.port, p.path)),
            p.at
        );
    }
    let fe = h.frontends.iter().find(|f| {
        f.backend
            .as_ref()
            .is_some_and(|b| h.backends.iter().any(|x| &x.name == b))
    });
    let backend = fe
        .and_then(|f| f.backend.as_ref())
        .and_then(|b| h.backends.iter().find(|x| &x.name == b))
        .or_else(|| h.backends.first());
    let Some(b) = backend else {
        missing.push(format!("{name}: no backend with servers in haproxy.cfg"));
        return (Vec::new(), None);
    };
    let _ = writeln!(out, "backend = {}   # {}", q(&b.name), b.at);
    for other in h.backends.iter().filter(|x| x.name != b.name) {
        let _ = writeln!(
            out,
            "# also: backend {} ({} servers) at {}",
            other.name,
            other.servers.len(),
            other.at
        );
    }
    if let Some(p) = &h.prometheus {
        let _ = writeln!(
            out,
            "# Prometheus exporter: http://{}:{}{} ({})",
            node_host(node),
            p.port,
            p.path,
            p.at
        );
    }
    if h.server_state_file.is_none() {
        let _ = writeln!(
            out,
            "# no server-state-file: a reload puts drained servers back (lbdeck raises that as drift)"
        );
    }
    let servers = b
        .servers
        .iter()
        .map(|(n, a, at)| Server {
            name: n.clone(),
            address: a.clone(),
            check: b.check_path.clone(),
            at: at.clone(),
        })
        .collect();
    (servers, fe.and_then(|f| f.ports.first().copied()))
}

fn node_host(node: &Node) -> &str {
    &node.host
}

fn nginx_block(
    node: &Node,
    n: &nginx::Nginx,
    plus: bool,
    out: &mut String,
    missing: &mut Vec<String>,
) -> (Vec<Server>, Option<u16>) {
    let name = &node.hostname;
    if plus {
        if let Some(api) = n.plus_api.first() {
            let _ = writeln!(
                out,
                "status_url = {}   # {}",
                q(&format!(
                    "http://{}:{}{}",
                    node_host(node),
                    api.port,
                    api.path.trim_end_matches('/')
                )),
                api.at
            );
        }
    } else {
        match n.stub_status.first() {
            Some(s) => {
                let _ = writeln!(out, "status_url = {}   # {}", q(&format!("http://{}:{}{}", node_host(node), s.port, s.path)), s.at);
            }
            None => missing.push(format!(
                "{name}: no stub_status location: add `server {{ listen 8080; location = /nginx_status {{ stub_status; allow <admin host>; deny all; }} }}` (e.g. in /etc/nginx/conf.d/status.conf), reload nginx, then set status_url = \"http://{}:8080/nginx_status\"",
                node_host(node)
            )),
        }
    }
    let proxied = n.proxied.iter().find_map(|(u, port)| {
        n.upstreams
            .iter()
            .find(|x| &x.name == u)
            .map(|x| (x, *port))
    });
    let upstream = proxied.map(|(u, _)| u).or_else(|| n.upstreams.first());
    let Some(u) = upstream else {
        missing.push(format!("{name}: no upstream block in nginx -T"));
        return (Vec::new(), None);
    };
    let _ = writeln!(out, "backend = {}   # {}:{}", q(&u.name), u.file, u.line);
    if !plus {
        let _ = writeln!(
            out,
            "upstream_file = {}   # where upstream {} is",
            q(&u.file),
            u.name
        );
    }
    if u.hashed {
        let _ = writeln!(out, "# upstream {} hashes clients (ip_hash/hash): a `down` server keeps its share of the hash", u.name);
    }
    for other in n.upstreams.iter().filter(|x| x.name != u.name) {
        let _ = writeln!(
            out,
            "# also: upstream {} at {}:{}",
            other.name, other.file, other.line
        );
    }
    let port = proxied.map(|(_, p)| p);
    // The access log of the server that proxies to the upstream, else any.
    let log = n
        .access_logs
        .iter()
        .find(|l| port.is_some() && l.port == port)
        .or_else(|| n.access_logs.first());
    match log {
        Some(l) => {
            let format = n
                .log_formats
                .iter()
                .find(|(k, _)| *k == l.format)
                .map(|(_, f)| f.clone());
            match format.filter(|f| nginx::format_has_upstream(f)) {
                Some(f) => {
                    let _ = writeln!(out, "access_log = {}   # {}", q(&l.path), l.at);
                    if f != DEFAULT_FORMAT {
                        let _ = writeln!(out, "access_log_format = {}   # log_format {}", q(&f), l.format);
                    }
                }
                None => missing.push(format!(
                    "{name}: the access log {} (log_format {}, {}) has no $upstream_addr, so per-backend traffic cannot be read: add `log_format lbdeck '{}';` to the http block, use it there (`access_log {} lbdeck;`), reload nginx, then set access_log = \"{}\"",
                    l.path, l.format, l.at, DEFAULT_FORMAT, l.path, l.path
                )),
            }
        }
        None => missing.push(format!("{name}: no access_log in nginx -T")),
    }
    let servers = u
        .servers
        .iter()
        .map(|s| Server {
            name: name_of(&s.address),
            address: s.address.clone(),
            check: None,
            at: format!("{}:{}", u.file, s.line),
        })
        .collect();
    (servers, port)
}

/// The `health_url` line for a backend, when the default (`http://ADDRESS/`) will not do:
/// HAProxy checks another path, or its host name resolves only on the balancer.
fn health_url(nodes: &[Node], address: &str, check: Option<&str>) -> Option<String> {
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "80"));
    let here =
        std::net::ToSocketAddrs::to_socket_addrs(&(host, port.parse().unwrap_or(80))).is_ok();
    let elsewhere = nodes.iter().find_map(|n| {
        n.resolved
            .iter()
            .find(|(name, _)| name == host)
            .map(|(_, ip)| (n, ip))
    });
    let (target, why) = match elsewhere {
        Some((n, ip)) if !here => (
            format!("{ip}:{port}"),
            format!(
                "{host} does not resolve here; {} resolves it to {ip}",
                n.hostname
            ),
        ),
        _ if check.is_some() => (address.to_string(), "option httpchk".to_string()),
        _ => return None,
    };
    let target = target.strip_suffix(":80").unwrap_or(&target);
    Some(format!(
        "health_url = {}   # {why}",
        q(&format!("http://{target}{}", check.unwrap_or("/")))
    ))
}

/// A backend's name from its address: the host's first label, or the IP.
fn name_of(address: &str) -> String {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    if host.parse::<std::net::IpAddr>().is_ok() {
        host.to_string()
    } else {
        host.split('.').next().unwrap_or(host).to_string()
    }
}

fn keepalived_block(
    node: &Node,
    k: &keepalived::Keepalived,
    instance: &keepalived::Instance,
    peer_priority: Option<u8>,
    out: &mut String,
    missing: &mut Vec<String>,
) {
    let name = &node.hostname;
    let _ = writeln!(out, "[balancers.keepalived]");
    let _ = writeln!(
        out,
        "instance = {}   # {} (priority {}{})",
        q(&instance.name),
        instance.at,
        instance.priority,
        if instance.nopreempt {
            ", nopreempt"
        } else {
            ""
        }
    );
    // lbdeck-notify (contrib/) appends every transition to a file any number of consoles
    // follow; its optional argument is another file.
    let script = instance
        .notify
        .as_deref()
        .filter(|n| n.contains("lbdeck-notify"));
    if let Some(script) = script {
        let mut words = script.split_whitespace();
        let path = words.next().unwrap_or(script);
        match words.next() {
            Some(file) => {
                let _ = writeln!(
                    out,
                    "notify_log = {}   # {path}'s file, {}",
                    q(file),
                    instance.at
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "# notify log: {path} appends each transition to {} (followed by default)",
                    crate::wire::keepalived::DEFAULT_NOTIFY_LOG
                );
            }
        }
    }
    if let Some((path, at)) = &k.notify_fifo {
        let _ = writeln!(out, "notify_fifo = {}   # {at}", q(path));
    }
    if script.is_none() && k.notify_fifo.is_none() {
        missing.push(format!(
            "{name}: keepalived pushes no transitions lbdeck can follow, so roles are read from its dump every 10 s: install contrib/lbdeck-notify as /usr/local/libexec/lbdeck-notify and add `notify /usr/local/libexec/lbdeck-notify root` to vrrp_instance {} (any number of consoles follow it), or `notify_fifo /run/keepalived.fifo` to global_defs (one reader)",
            instance.name
        ));
    }
    let track = instance.track_files.iter().find_map(|(t, weight)| {
        k.track_files
            .iter()
            .find(|f| &f.name == t)
            .map(|f| (f, *weight))
    });
    match track {
        Some((f, weight)) => {
            let value = keepalived::failover_value(
                weight,
                instance.priority.max(peer_priority.unwrap_or(0)),
                instance
                    .priority
                    .min(peer_priority.unwrap_or(instance.priority)),
            );
            let _ = writeln!(
                out,
                "failover = {{ method = \"track_file\", path = {}, value = \"{value}\" }}   # vrrp_track_file {} at {} (weight {weight})",
                q(&f.path), f.name, f.at
            );
        }
        None => {
            let _ = writeln!(
                out,
                "failover = {{ method = \"stop_daemon\" }}   # no track file in {}: stopping keepalived hands the VIP over (the peer takes it on the priority-0 advert)",
                instance.name
            );
            if instance.nopreempt {
                missing.push(format!("{name}: {} has nopreempt: after a failover the VIP stays on the peer until it fails or stops", instance.name));
            }
        }
    }
}

/// Writes the profile for `nodes` (the pair, in the order given).
pub fn write(nodes: &[Node], choice: &Choice) -> Result<Written, InitError> {
    let kinds = super::kinds(nodes);
    let kind = match (choice.kind, kinds.as_slice()) {
        (Some(k), found) => {
            let running = found.iter().any(|f| *f == k || (k == BalancerKind::Nginx && *f == BalancerKind::NginxPlus));
            if !running {
                return Err(InitError::Choose(format!(
                    "{} does not run on every node (found: {})",
                    kind_name(k),
                    if found.is_empty() { "neither nginx nor HAProxy".into() } else { found.iter().map(|k| kind_name(*k)).collect::<Vec<_>>().join(", ") }
                )));
            }
            k
        }
        (None, [one]) => *one,
        (None, []) => {
            return Err(InitError::Choose(
                "neither nginx nor HAProxy runs on every node given (lbdeck looks for the running process)".into(),
            ))
        }
        (None, several) => {
            return Err(InitError::Choose(format!(
                "both {} run on these nodes: pick one with --kind {}",
                several.iter().map(|k| kind_name(*k)).collect::<Vec<_>>().join(" and "),
                several.iter().map(|k| kind_name(*k)).collect::<Vec<_>>().join("|")
            )))
        }
    };
    let mut w = Written::default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `lbdeck init {}` on {}: what the balancers' own",
        nodes
            .iter()
            .map(|n| n.host.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        chrono::Local::now().format("%Y-%m-%d %H:%M")
    );
    let _ = writeln!(
        out,
        "# configuration says, each value with where it was found. `lbdeck check` tests it."
    );
    let _ = writeln!(out, "name = {}", q(&choice.name));
    let _ = writeln!(
        out,
        "environment = \"production\"   # every change asks for a name typed; staging or lab: y/n"
    );
    let _ = writeln!(out);
    let mut ssh = String::new();
    if let Some(u) = &choice.user {
        let _ = writeln!(ssh, "user = {}", q(u));
    }
    if let Some(i) = &choice.identity_file {
        let _ = writeln!(ssh, "identity_file = {}", q(i));
    }
    if let Some(k) = &choice.known_hosts {
        let _ = writeln!(ssh, "known_hosts = {}", q(k));
    }
    if choice.sudo {
        let _ = writeln!(
            ssh,
            "sudo = true   # `lbdeck sudoers --profile {}` prints the rules it needs",
            choice.name
        );
    }
    if !ssh.is_empty() {
        let _ = writeln!(out, "[ssh]\n{ssh}");
    }

    // keepalived: the instance, on each node.
    let names = super::instances(nodes);
    let instance_name = match (&choice.instance, names.as_slice()) {
        (Some(i), found) if found.contains(i) => Some(i.clone()),
        (Some(i), found) => {
            return Err(InitError::Choose(format!(
                "no vrrp_instance {i} on {} (found: {})",
                nodes[0].hostname,
                found.join(", ")
            )))
        }
        (None, []) => None,
        (None, [one]) => Some(one.clone()),
        (None, several) => {
            return Err(InitError::Choose(format!(
                "keepalived has several vrrp_instances ({}): pick one with --instance NAME (one profile each)",
                several.join(", ")
            )))
        }
    };
    let instance_of = |n: &Node| -> Option<(keepalived::Keepalived, keepalived::Instance)> {
        let k = n.keepalived.as_ref()?.as_ref().ok()?;
        let i = k
            .instances
            .iter()
            .find(|i| Some(&i.name) == instance_name.as_ref())?;
        Some((k.clone(), i.clone()))
    };
    let vip = nodes
        .iter()
        .find_map(|n| instance_of(n).and_then(|(_, i)| i.vips.first().cloned()));

    let mut blocks = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut text = String::new();
        let mut missing = Vec::new();
        let _ = writeln!(text, "[[balancers]]");
        let _ = writeln!(text, "name = {}   # its host name", q(&node.hostname));
        let _ = writeln!(text, "host = {}", q(&node.host));
        let _ = writeln!(text, "kind = {}", q(kind_name(kind)));
        let (servers, serve_port) = match kind {
            BalancerKind::Haproxy => match &node.haproxy {
                Some(Ok(h)) => haproxy_block(node, h, &mut text, &mut missing),
                Some(Err(e)) => {
                    missing.push(format!(
                        "{}: haproxy.cfg could not be read: {e}",
                        node.hostname
                    ));
                    (Vec::new(), None)
                }
                None => (Vec::new(), None),
            },
            BalancerKind::Nginx | BalancerKind::NginxPlus => match &node.nginx {
                Some(Ok(n)) => nginx_block(
                    node,
                    n,
                    kind == BalancerKind::NginxPlus,
                    &mut text,
                    &mut missing,
                ),
                Some(Err(e)) => {
                    missing.push(format!("{}: nginx -T failed: {e}", node.hostname));
                    (Vec::new(), None)
                }
                None => (Vec::new(), None),
            },
        };
        let peer = nodes
            .get(1 - i.min(1))
            .and_then(instance_of)
            .map(|(_, p)| p.priority);
        let priority = match (instance_of(node), &node.keepalived) {
            (Some((k, inst)), _) => {
                keepalived_block(node, &k, &inst, peer, &mut text, &mut missing);
                Some(inst.priority)
            }
            (None, Some(Err(e))) => {
                missing.push(format!(
                    "{}: keepalived.conf could not be read: {e}",
                    node.hostname
                ));
                None
            }
            (None, _) => {
                missing.push(format!("{}: no keepalived.conf (/etc/keepalived/keepalived.conf) with that instance: roles and failover are not shown", node.hostname));
                None
            }
        };
        blocks.push(Block {
            text,
            missing,
            servers,
            serve_port,
            priority,
        });
    }

    // The pair agrees?
    if let [a, b] = nodes {
        let ia = instance_of(a).map(|(_, i)| i);
        let ib = instance_of(b).map(|(_, i)| i);
        if let (Some(ia), Some(ib)) = (&ia, &ib) {
            if ia.vips != ib.vips {
                w.differences.push(format!(
                    "VIPs differ: {} has {}, {} has {}",
                    a.hostname,
                    ia.vips.join(" "),
                    b.hostname,
                    ib.vips.join(" ")
                ));
            }
            if ia.vrid != ib.vrid {
                w.differences.push(format!(
                    "virtual_router_id differs: {} {:?}, {} {:?}",
                    a.hostname, ia.vrid, b.hostname, ib.vrid
                ));
            }
            if ia.priority == ib.priority {
                w.differences.push(format!(
                    "both have priority {} in {}: which one holds the VIP is left to chance",
                    ia.priority, ia.name
                ));
            }
        }
        let sa: Vec<_> = blocks[0]
            .servers
            .iter()
            .map(|s| (s.name.clone(), s.address.clone()))
            .collect();
        let sb: Vec<_> = blocks[1]
            .servers
            .iter()
            .map(|s| (s.name.clone(), s.address.clone()))
            .collect();
        for s in sa.iter().filter(|s| !sb.contains(s)) {
            w.differences
                .push(format!("{} {} is on {} only", s.0, s.1, a.hostname));
        }
        for s in sb.iter().filter(|s| !sa.contains(s)) {
            w.differences
                .push(format!("{} {} is on {} only", s.0, s.1, b.hostname));
        }
    }

    if let Some(vip) = &vip {
        let _ = writeln!(out, "[vip]");
        let _ = writeln!(
            out,
            "address = {}   # virtual_ipaddress of {}",
            q(vip),
            instance_name.as_deref().unwrap_or("")
        );
        if let Some(port) = blocks.iter().find_map(|b| b.serve_port) {
            let url = if port == 80 {
                format!("http://{vip}/")
            } else {
                format!("http://{vip}:{port}/")
            };
            let _ = writeln!(
                out,
                "check_url = {}   # the port that serves the backends",
                q(&url)
            );
        }
        let _ = writeln!(out);
    } else {
        w.missing
            .push("no VIP found in keepalived.conf: the console shows no VIP holder".into());
    }
    // The MASTER by configuration first (higher priority), as operators list them.
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(blocks[*i].priority));
    for i in order.iter() {
        out.push_str(&blocks[*i].text);
        out.push('\n');
    }
    // Backends: the union over both balancers, in the first's order.
    let mut seen: Vec<(String, String)> = Vec::new();
    for b in &blocks {
        for Server {
            name,
            address,
            check,
            at,
        } in &b.servers
        {
            if seen.iter().any(|(n, a)| n == name || a == address) {
                continue;
            }
            seen.push((name.clone(), address.clone()));
            let _ = writeln!(out, "[[backends]]");
            let _ = writeln!(out, "name = {}   # {at}", q(name));
            let _ = writeln!(out, "address = {}", q(address));
            if let Some(url) = health_url(nodes, address, check.as_deref()) {
                let _ = writeln!(out, "{url}");
            }
            out.push('\n');
        }
    }
    for b in blocks {
        w.missing.extend(b.missing);
    }
    if !w.differences.is_empty() {
        out.push_str("# The two balancers differ:\n");
        for d in &w.differences {
            let _ = writeln!(out, "#   {d}");
        }
    }
    if !w.missing.is_empty() {
        out.push_str("# Not found (how to add it):\n");
        for m in &w.missing {
            let _ = writeln!(out, "#   {m}");
        }
    }
    w.text = out;
    Ok(w)
}
