//! What `init` needs from `nginx -T`: each upstream with its servers and the file and line
//! it is in, the `stub_status` location, the NGINX Plus API, and the access logs with their
//! `log_format`s.

use super::conf::{nginx_dump_files, parse, walk, ConfError, Directive, Style};

/// One server of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    /// `host:port` as written.
    pub address: String,
    /// `weight=`.
    pub weight: Option<u32>,
    /// `down`.
    pub down: bool,
    /// `backup`.
    pub backup: bool,
    /// Its line.
    pub line: usize,
}

/// One `upstream` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Its name.
    pub name: String,
    /// Its servers.
    pub servers: Vec<UpstreamServer>,
    /// `ip_hash` (or `hash`) is set: weights and `down` behave as nginx documents for it.
    pub hashed: bool,
    /// The file it is in.
    pub file: String,
    /// Its line.
    pub line: usize,
}

/// A location in a `server` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The port the server listens on.
    pub port: u16,
    /// The location's path.
    pub path: String,
    /// Where it is.
    pub at: String,
}

/// One `access_log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    /// The file.
    pub path: String,
    /// The `log_format` name (`combined` when none is named).
    pub format: String,
    /// The port of the server block it is in (none: http-wide).
    pub port: Option<u16>,
    /// Where it is.
    pub at: String,
}

/// nginx's configuration on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nginx {
    /// Every upstream.
    pub upstreams: Vec<Upstream>,
    /// `stub_status` locations.
    pub stub_status: Vec<Location>,
    /// NGINX Plus `api` locations.
    pub plus_api: Vec<Location>,
    /// Access logs.
    pub access_logs: Vec<AccessLog>,
    /// `log_format` name → format text.
    pub log_formats: Vec<(String, String)>,
    /// Ports of the servers that `proxy_pass` to an upstream: upstream → ports.
    pub proxied: Vec<(String, u16)>,
}

fn listen_port(d: &Directive) -> Option<u16> {
    let a = d.arg(0)?;
    a.rsplit(':').next()?.parse().ok()
}

/// Reads an `nginx -T` dump.
pub fn read(dump: &str) -> Result<Nginx, ConfError> {
    let mut n = Nginx::default();
    for (file, text) in nginx_dump_files(dump) {
        let roots = parse(&text, &file, Style::Nginx)?;
        for d in walk(&roots) {
            match d.name() {
                "upstream" if d.block.is_some() => n.upstreams.push(Upstream {
                    name: d.arg(0).unwrap_or("").to_string(),
                    servers: d
                        .all("server")
                        .filter_map(|s| {
                            let address = s.arg(0)?.to_string();
                            let flags = &s.words[2..];
                            Some(UpstreamServer {
                                address,
                                weight: flags
                                    .iter()
                                    .find_map(|f| f.strip_prefix("weight=")?.parse().ok()),
                                down: flags.iter().any(|f| f == "down"),
                                backup: flags.iter().any(|f| f == "backup"),
                                line: s.line,
                            })
                        })
                        .collect(),
                    hashed: d.first("ip_hash").is_some() || d.first("hash").is_some(),
                    file: file.clone(),
                    line: d.line,
                }),
                "log_format" => {
                    if let Some(name) = d.arg(0) {
                        let rest: Vec<&str> = d.words[2..]
                            .iter()
                            .map(String::as_str)
                            .filter(|w| !w.starts_with("escape="))
                            .collect();
                        n.log_formats.push((name.to_string(), rest.join("")));
                    }
                }
                "access_log" if d.arg(0).is_some_and(|p| p != "off") => {
                    n.access_logs.push(AccessLog {
                        path: d.arg(0).unwrap_or("").to_string(),
                        format: d.arg(1).unwrap_or("combined").to_string(),
                        port: None,
                        at: d.at(),
                    });
                }
                "server" if d.block.is_some() => {
                    let ports: Vec<u16> = d.all("listen").filter_map(listen_port).collect();
                    let port = ports.first().copied().unwrap_or(80);
                    for inner in walk(d.children()) {
                        match inner.name() {
                            "location" => {
                                let path = inner.words.last().cloned().unwrap_or_default();
                                let loc = Location {
                                    port,
                                    path,
                                    at: inner.at(),
                                };
                                if inner.first("stub_status").is_some() {
                                    n.stub_status.push(loc.clone());
                                }
                                if inner.first("api").is_some() {
                                    n.plus_api.push(loc);
                                }
                            }
                            "proxy_pass" => {
                                if let Some(to) = inner.arg(0).and_then(|u| {
                                    let rest = u.split("://").nth(1)?;
                                    Some(rest.split(['/', ':']).next()?.to_string())
                                }) {
                                    n.proxied.push((to, port));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // Each access log gets the port of the server block it is in.
    for l in &mut n.access_logs {
        if l.port.is_none() {
            if let Some(port) = server_port_of(dump, &l.at) {
                l.port = Some(port);
            }
        }
    }
    Ok(n)
}

/// The port of the server block holding the directive at `at`, when one does.
fn server_port_of(dump: &str, at: &str) -> Option<u16> {
    for (file, text) in nginx_dump_files(dump) {
        let roots = parse(&text, &file, Style::Nginx).ok()?;
        for d in walk(&roots)
            .into_iter()
            .filter(|d| d.name() == "server" && d.block.is_some())
        {
            if walk(d.children()).iter().any(|i| i.at() == at) {
                return d.all("listen").filter_map(listen_port).next().or(Some(80));
            }
        }
    }
    None
}

/// Whether a `log_format` carries what lbdeck needs for per-backend traffic.
pub fn format_has_upstream(format: &str) -> bool {
    format.contains("$upstream_addr")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "nginx: configuration file /etc/nginx/nginx.conf test is successful\n# configuration file /etc/nginx/nginx.conf:\nhttp {\n    log_format main '$remote_addr [$time_local] \"$request\" '\n                    '$status';\n    include /etc/nginx/conf.d/*.conf;\n}\n\n# configuration file /etc/nginx/conf.d/upstream.conf:\nupstream be_web {\n    server 10.77.0.21:80 max_fails=1 weight=3;\n    server 10.77.0.22:80 down;\n    server 10.77.0.23:80 backup;\n}\n\n# configuration file /etc/nginx/conf.d/lb.conf:\nlog_format lbdeck '$remote_addr ua=\"$upstream_addr\"';\nserver {\n    listen 80 default_server;\n    access_log /var/log/nginx/access.log lbdeck;\n    location / { proxy_pass http://be_web; }\n}\nserver {\n    listen 8080;\n    access_log off;\n    location = /nginx_status { stub_status; }\n}\n";

    #[test]
    fn a_dump_gives_upstreams_stub_status_and_logs() {
        let n = read(DUMP).expect("reads");
        let up = &n.upstreams[0];
        assert_eq!(
            (up.name.as_str(), up.file.as_str(), up.line),
            ("be_web", "/etc/nginx/conf.d/upstream.conf", 1)
        );
        assert_eq!(up.servers[0].weight, Some(3));
        assert!(up.servers[1].down && up.servers[2].backup);
        assert_eq!(
            n.stub_status,
            vec![Location {
                port: 8080,
                path: "/nginx_status".into(),
                at: "/etc/nginx/conf.d/lb.conf:10".into()
            }]
        );
        assert_eq!(n.proxied, vec![("be_web".to_string(), 80)]);
        assert_eq!(n.access_logs.len(), 1);
        assert_eq!(
            (n.access_logs[0].format.as_str(), n.access_logs[0].port),
            ("lbdeck", Some(80))
        );
        let lbdeck = n
            .log_formats
            .iter()
            .find(|(k, _)| k == "lbdeck")
            .expect("format");
        assert!(format_has_upstream(&lbdeck.1));
        let main = n
            .log_formats
            .iter()
            .find(|(k, _)| k == "main")
            .expect("main");
        assert!(!format_has_upstream(&main.1));
    }
}
