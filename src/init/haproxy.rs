//! What `init` needs from haproxy.cfg: the runtime API sockets, the stats pages, the
//! Prometheus exporter, each backend's servers and health check, the frontends that use
//! them, and whether a server-state file keeps runtime changes over a reload.

/// One `stats socket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// `tcp://host:port` or `unix:///path`, as a profile's `runtime_api` takes it (a TCP
    /// socket on every address gets `host`).
    pub api: String,
    /// Bound to loopback only (unreachable from the admin host).
    pub loopback: bool,
    /// `level admin`.
    pub admin: bool,
    /// Where it is.
    pub at: String,
}

/// A `listen`/`frontend` port serving something lbdeck reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The port.
    pub port: u16,
    /// The path (`/stats`, `/metrics`).
    pub path: String,
    /// Where it is.
    pub at: String,
}

/// One `backend` (or `listen` with servers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its name.
    pub name: String,
    /// Its servers: name, address, where.
    pub servers: Vec<(String, String, String)>,
    /// The `option httpchk` path, when set.
    pub check_path: Option<String>,
    /// Where it is.
    pub at: String,
}

/// A frontend's ports and the backend it sends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    /// Its name.
    pub name: String,
    /// The ports it binds.
    pub ports: Vec<u16>,
    /// `default_backend` (or the `listen` section itself).
    pub backend: Option<String>,
}

/// HAProxy's configuration on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Haproxy {
    /// Every `stats socket`.
    pub sockets: Vec<Socket>,
    /// Every `stats uri` page.
    pub stats: Vec<Page>,
    /// The Prometheus exporter, when a frontend serves it.
    pub prometheus: Option<Page>,
    /// Every backend with servers.
    pub backends: Vec<Backend>,
    /// Every frontend.
    pub frontends: Vec<Frontend>,
    /// `server-state-file`, when set.
    pub server_state_file: Option<String>,
}

/// The config files the running HAProxy was started with (`-f`, several allowed; a
/// directory stands for its `*.cfg`), from its command line; none when it is not running.
pub fn config_args(cmdline: &str) -> Vec<String> {
    let words: Vec<&str> = cmdline
        .split(['\0', ' '])
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| w[0] == "-f")
        .map(|w| w[1].to_string())
        .collect()
}

fn port_of(bind: &str) -> Option<u16> {
    bind.rsplit(':').next()?.parse().ok()
}

/// The section being read: its kind and name, and what it gathered so far.
#[derive(Default)]
struct Section {
    kind: String,
    name: String,
    ports: Vec<u16>,
    backend: Option<Backend>,
    default_backend: Option<String>,
    stats_uri: Option<(String, usize)>,
    exporter: bool,
}

impl Section {
    /// What the section said, into `h` (`file` for where it was).
    fn close(self, file: &str, h: &mut Haproxy) {
        let Section {
            kind,
            name,
            ports,
            backend,
            default_backend,
            stats_uri,
            exporter,
        } = self;
        if let Some(b) = backend.filter(|b| !b.servers.is_empty()) {
            h.backends.push(b);
        }
        if !matches!(kind.as_str(), "frontend" | "listen") {
            return;
        }
        if let Some((uri, line)) = stats_uri {
            for p in &ports {
                h.stats.push(Page {
                    port: *p,
                    path: uri.clone(),
                    at: format!("{file}:{line}"),
                });
            }
        }
        if exporter {
            if let Some(p) = ports.first() {
                h.prometheus = Some(Page {
                    port: *p,
                    path: "/metrics".into(),
                    at: format!("{file}: {kind} {name}"),
                });
            }
        }
        let backend = default_backend.or_else(|| (kind == "listen").then(|| name.clone()));
        h.frontends.push(Frontend {
            name,
            ports,
            backend,
        });
    }
}

/// Reads haproxy.cfg text (the files in order: `(path, text)`); `host` stands for a
/// socket bound to every address.
pub fn read(files: &[(String, String)], host: &str) -> Haproxy {
    let mut h = Haproxy::default();
    for (file, text) in files {
        let mut section: Option<Section> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let text = raw.split('#').next().unwrap_or("");
            let words: Vec<&str> = text.split_whitespace().collect();
            let Some(first) = words.first() else { continue };
            let at = format!("{file}:{line}");
            if !raw.starts_with(char::is_whitespace)
                && matches!(
                    *first,
                    "global"
                        | "defaults"
                        | "frontend"
                        | "backend"
                        | "listen"
                        | "peers"
                        | "resolvers"
                        | "userlist"
                        | "program"
                        | "cache"
                        | "mailers"
                        | "http-errors"
                        | "ring"
                )
            {
                if let Some(done) = section.take() {
                    done.close(file, &mut h);
                }
                let name = words.get(1).unwrap_or(&"").to_string();
                let backend = matches!(*first, "backend" | "listen").then(|| Backend {
                    name: name.clone(),
                    servers: Vec::new(),
                    check_path: None,
                    at: at.clone(),
                });
                section = Some(Section {
                    kind: first.to_string(),
                    name,
                    backend,
                    ..Section::default()
                });
                continue;
            }
            // Lines before the first section have no section to gather into.
            let mut none = Section::default();
            let sec = section.as_mut().unwrap_or(&mut none);
            match (*first, words.get(1).copied()) {
                ("stats", Some("socket")) => {
                    let Some(addr) = words.get(2) else { continue };
                    let admin = words.windows(2).any(|w| w == ["level", "admin"]);
                    let (api, loopback) = if let Some(tcp) = addr.strip_prefix("ipv4@") {
                        let (ip, port) = tcp.rsplit_once(':').unwrap_or(("", tcp));
                        let on = if ip.is_empty() || ip == "0.0.0.0" || ip == "*" {
                            host
                        } else {
                            ip
                        };
                        (format!("tcp://{on}:{port}"), ip.starts_with("127."))
                    } else if addr.starts_with('/') {
                        (format!("unix://{addr}"), false)
                    } else {
                        continue;
                    };
                    h.sockets.push(Socket {
                        api,
                        loopback,
                        admin,
                        at,
                    });
                }
                ("stats", Some("uri")) => {
                    sec.stats_uri = words.get(2).map(|u| (u.to_string(), line));
                }
                ("bind", Some(b)) => sec.ports.extend(port_of(b.split(',').next().unwrap_or(b))),
                ("default_backend", Some(b)) => sec.default_backend = Some(b.to_string()),
                ("http-request", Some("use-service"))
                    if words.get(2) == Some(&"prometheus-exporter") =>
                {
                    sec.exporter = true;
                }
                ("server", Some(name)) => {
                    if let (Some(b), Some(addr)) = (sec.backend.as_mut(), words.get(2)) {
                        b.servers.push((name.to_string(), addr.to_string(), at));
                    }
                }
                ("option", Some("httpchk")) => {
                    if let Some(b) = sec.backend.as_mut() {
                        // `option httpchk GET /health [HTTP/1.1]`, or just a path.
                        b.check_path = words[2..]
                            .iter()
                            .find(|w| w.starts_with('/'))
                            .map(|w| w.to_string());
                    }
                }
                ("server-state-file", Some(f)) => h.server_state_file = Some(f.to_string()),
                _ => {}
            }
        }
        if let Some(done) = section {
            done.close(file, &mut h);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str = "global\n    stats socket ipv4@0.0.0.0:9999 level admin\n    stats socket /run/haproxy/admin.sock mode 600 level admin\ndefaults\n    mode http\nfrontend fe_web\n    bind :8000\n    default_backend be_web\nbackend be_web\n    balance roundrobin\n    option httpchk GET /health\n    server web1 10.77.0.21:80\n    server web2 10.77.0.22:80\nlisten stats\n    bind :8404\n    stats enable\n    stats uri /stats\nfrontend prometheus\n    bind :8405\n    http-request use-service prometheus-exporter if { path /metrics }\n";

    #[test]
    fn the_lab_config_gives_sockets_pages_and_servers() {
        let h = read(
            &[("/etc/haproxy/haproxy.cfg".into(), LAB.into())],
            "10.77.0.11",
        );
        assert_eq!(
            h.sockets
                .iter()
                .map(|s| (s.api.as_str(), s.admin))
                .collect::<Vec<_>>(),
            vec![
                ("tcp://10.77.0.11:9999", true),
                ("unix:///run/haproxy/admin.sock", true)
            ]
        );
        assert_eq!(
            h.stats,
            vec![Page {
                port: 8404,
                path: "/stats".into(),
                at: "/etc/haproxy/haproxy.cfg:17".into()
            }]
        );
        assert_eq!(h.prometheus.as_ref().map(|p| p.port), Some(8405));
        assert_eq!(h.backends.len(), 1);
        let b = &h.backends[0];
        assert_eq!(
            (b.name.as_str(), b.check_path.as_deref()),
            ("be_web", Some("/health"))
        );
        assert_eq!(
            b.servers[1],
            (
                "web2".into(),
                "10.77.0.22:80".into(),
                "/etc/haproxy/haproxy.cfg:13".into()
            )
        );
        let fe = h
            .frontends
            .iter()
            .find(|f| f.name == "fe_web")
            .expect("fe_web");
        assert_eq!(
            (fe.ports.clone(), fe.backend.as_deref()),
            (vec![8000], Some("be_web"))
        );
    }

    #[test]
    fn the_running_process_names_its_config_files() {
        assert_eq!(
            config_args("/usr/sbin/haproxy\0-Ws\0-f\0/etc/haproxy/haproxy.cfg\0-f\0/etc/haproxy/conf.d\0-p\0/run/haproxy.pid\0"),
            vec!["/etc/haproxy/haproxy.cfg", "/etc/haproxy/conf.d"]
        );
        assert!(config_args("").is_empty());
    }
}
