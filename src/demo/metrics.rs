//! `lbdeck demo --metrics`: many simulated clusters as Prometheus sees a real fleet. Each
//! balancer is a scrape target of its own, at an address of its own in 127.77/16 on one
//! port, answering `/metrics` in HAProxy's built-in exporter's format, with keepalived's
//! state as node_exporter's textfile collector relays it (the same host, so lbdeck finds
//! it). Profiles reading the fleet through Prometheus are written for the overview.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{http, sim, Sim, BACKEND};
use crate::model::Role;

/// The states of `haproxy_server_status`, one series each (HAProxy 2.6).
const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];

/// The states of `haproxy_server_check_status`, one series each (HAProxy 2.6).
const CHECK_STATES: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];

/// The response classes of `…_http_responses_total`, and where the simulation keeps
/// each (2xx, 4xx, 5xx; none for the others).
const CODES: [(&str, Option<usize>); 6] = [
    ("1xx", None),
    ("2xx", Some(0)),
    ("3xx", None),
    ("4xx", Some(1)),
    ("5xx", Some(2)),
    ("other", None),
];

/// The most simulated balancers: 127.77.0.1 to 127.77.199.250.
pub const MAX_BALANCERS: usize = 200 * 250;

/// Balancer `k`'s loopback address (Linux routes all of 127/8 to lo).
fn address(k: usize) -> String {
    format!("127.77.{}.{}", k / 250, k % 250 + 1)
}

/// keepalived's state as `keepalived_vrrp_state` numbers it.
fn vrrp_number(role: Role) -> u8 {
    match role {
        Role::Master => 2,
        Role::Backup => 1,
        Role::Fault => 3,
        _ => 0,
    }
}

/// Balancer `lb`'s `/metrics`: what HAProxy's exporter says of the demo's backend and
/// process, and keepalived's state.
pub fn exposition(s: &Sim, lb: usize) -> String {
    let mut out = String::with_capacity(256 * s.backends.len());
    let (mut scur, mut stot, mut hrsp) = (0.0, 0u64, [0u64; 3]);
    for (i, b) in s.backends.iter().enumerate() {
        let (state, check) = s.status(lb, i);
        let labels = format!("proxy=\"{BACKEND}\",server=\"{}\"", b.name);
        for st in SERVER_STATES {
            let on = u8::from(st == state);
            let _ = writeln!(out, "haproxy_server_status{{{labels},state=\"{st}\"}} {on}");
        }
        if !check.is_empty() {
            for st in CHECK_STATES {
                let on = u8::from(st == check);
                let _ = writeln!(
                    out,
                    "haproxy_server_check_status{{{labels},state=\"{st}\"}} {on}"
                );
            }
        }
        let sessions = b.sessions[lb].round();
        let _ = writeln!(
            out,
            "haproxy_server_current_sessions{{{labels}}} {sessions}"
        );
        let _ = writeln!(out, "haproxy_server_weight{{{labels}}} {}", b.weight[lb]);
        let _ = writeln!(
            out,
            "haproxy_server_sessions_total{{{labels}}} {}",
            b.stot[lb]
        );
        for (code, at) in CODES {
            let n = at.map_or(0, |k| b.hrsp[lb][k]);
            let _ = writeln!(
                out,
                "haproxy_server_http_responses_total{{{labels},code=\"{code}\"}} {n}"
            );
        }
        scur += sessions;
        stot += b.stot[lb];
        for (total, n) in hrsp.iter_mut().zip(b.hrsp[lb]) {
            *total += n;
        }
    }
    let proxy = format!("proxy=\"{BACKEND}\"");
    let _ = writeln!(out, "haproxy_backend_current_sessions{{{proxy}}} {scur}");
    let _ = writeln!(out, "haproxy_backend_current_queue{{{proxy}}} 0");
    let _ = writeln!(out, "haproxy_backend_sessions_total{{{proxy}}} {stot}");
    for (code, at) in CODES {
        let n = at.map_or(0, |k| hrsp[k]);
        let _ = writeln!(
            out,
            "haproxy_backend_http_responses_total{{{proxy},code=\"{code}\"}} {n}"
        );
    }
    let _ = writeln!(out, "haproxy_process_current_connections {scur}");
    let _ = writeln!(out, "haproxy_process_uptime_seconds {}", s.t as u64 + 3600);
    let _ = writeln!(
        out,
        "haproxy_process_build_info{{version=\"2.6.12-demo\"}} 1"
    );
    let node = &s.pair.nodes[lb];
    let _ = writeln!(out, "keepalived_up {}", u8::from(node.running));
    let _ = writeln!(
        out,
        "keepalived_vrrp_state{{iname=\"VI_1\",intf=\"lo\",vrid=\"51\"}} {}",
        vrrp_number(node.role)
    );
    out
}

/// The simulated fleet behind `--metrics`; dropping it stops every server.
pub struct MetricsFleet {
    /// Each cluster's profile: its name and text.
    pub profiles: Vec<(String, String)>,
    /// Every scrape target (`address:port`), two per cluster.
    pub targets: Vec<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for MetricsFleet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What the profiles of a metrics fleet say beyond their balancers.
#[derive(Debug, Clone)]
pub struct FleetShape {
    /// Simulated clusters (two balancers each).
    pub clusters: usize,
    /// Servers behind each.
    pub servers: usize,
    /// The port every balancer's exporter listens on.
    pub port: u16,
    /// The Prometheus server the profiles point at.
    pub prometheus: String,
    /// How often a cluster is polled, in front or not: the scrape interval (asking
    /// Prometheus more often finds nothing new).
    pub interval: String,
}

/// Starts `shape.clusters` simulated HAProxy pairs, each balancer's exporter on its own
/// loopback address at `shape.port`.
pub async fn start(shape: &FleetShape) -> anyhow::Result<MetricsFleet> {
    if shape.clusters * 2 > MAX_BALANCERS {
        anyhow::bail!("at most {} clusters", MAX_BALANCERS / 2);
    }
    let mut fleet = MetricsFleet {
        profiles: Vec::new(),
        targets: Vec::new(),
        tasks: Vec::new(),
    };
    for c in 0..shape.clusters {
        let mut s = Sim::new(shape.servers.max(1));
        // A fleet is not all alike: every tenth cluster has web2 drained, every
        // twenty-fifth has failed over to lb2.
        if c % 10 == 4 {
            if let Some(b) = s.backends.get_mut(1) {
                b.admin = [crate::model::ServerState::Drain; 2];
            }
        }
        if c % 25 == 7 {
            s.pair.nodes[0].track = -100;
        }
        let sim = Arc::new(Mutex::new(s));
        fleet.tasks.push(sim::spawn_ticker(sim.clone()));
        let name = format!("fleet-{:03}", c + 1);
        let environment = match c % 10 {
            0 => "production",
            1..=3 => "staging",
            _ => "lab",
        };
        let mut toml = format!(
            "name = \"{name}\"\nenvironment = \"{environment}\"\npoll_interval = \"{0}\"\n\
             background_interval = \"{0}\"\ntimeout = \"4s\"\nsource = \"prometheus\"\n\
             [prometheus]\nurl = \"{1}\"\n",
            shape.interval, shape.prometheus
        );
        for lb in 0..2 {
            let ip = address(c * 2 + lb);
            let listener = TcpListener::bind((ip.as_str(), shape.port))
                .await
                .map_err(|e| anyhow::anyhow!("{ip}:{}: {e}", shape.port))?;
            fleet
                .tasks
                .push(http::serve(listener, http::Route::Metrics(lb), sim.clone()));
            let target = format!("{ip}:{}", shape.port);
            let _ = write!(
                toml,
                "[[balancers]]\nname = \"lb{}\"\nhost = \"{ip}\"\nkind = \"haproxy\"\n\
                 backend = \"{BACKEND}\"\nprometheus_instance = \"{target}\"\n\
                 [balancers.keepalived]\ninstance = \"VI_1\"\n",
                lb + 1
            );
            fleet.targets.push(target);
        }
        if let Ok(s) = sim.lock() {
            // Socket addresses: lbdeck probes no backend, the fleet is read through
            // Prometheus alone.
            for b in &s.backends {
                let _ = write!(
                    toml,
                    "[[backends]]\nname = \"{0}\"\naddress = \"unix:/run/demo/{0}.sock\"\n",
                    b.name
                );
            }
        }
        crate::config::profile::Profile::parse(&name, &toml)?;
        fleet.profiles.push((name, toml));
    }
    Ok(fleet)
}

impl MetricsFleet {
    /// Writes `DIR/profiles/NAME.toml` for every cluster and `DIR/targets.json`, the
    /// targets in Prometheus' `file_sd_configs` format (job `haproxy`).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let profiles = dir.join("profiles");
        std::fs::create_dir_all(&profiles)?;
        for (name, text) in &self.profiles {
            std::fs::write(profiles.join(format!("{name}.toml")), text)?;
        }
        let targets = serde_json::to_string_pretty(&self.file_sd())?;
        std::fs::write(dir.join("targets.json"), targets)?;
        Ok(())
    }

    /// The targets as Prometheus' `file_sd_configs` reads them (job `haproxy`).
    pub fn file_sd(&self) -> serde_json::Value {
        serde_json::json!([{ "targets": self.targets, "labels": { "job": "haproxy" } }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::Profile;

    #[test]
    fn a_balancers_metrics_are_one_hot_states_and_values_as_haproxy_exports_them() {
        let mut s = Sim::new(3);
        s.step(1.0);
        s.backends[1].admin[0] = crate::model::ServerState::Drain;
        let text = exposition(&s, 0);
        let line = |prefix: &'static str| text.lines().filter(move |l| l.starts_with(prefix));
        let web2: Vec<&str> = line("haproxy_server_status{proxy=\"be_web\",server=\"web2\"")
            .filter(|l| l.ends_with(" 1"))
            .collect();
        assert_eq!(
            web2,
            vec!["haproxy_server_status{proxy=\"be_web\",server=\"web2\",state=\"DRAIN\"} 1"]
        );
        assert_eq!(line("haproxy_server_status{").count(), 3 * 5);
        assert_eq!(line("haproxy_server_check_status{").count(), 3 * 16);
        assert!(text.contains("keepalived_vrrp_state{iname=\"VI_1\",intf=\"lo\",vrid=\"51\"} 2\n"));
        assert!(exposition(&s, 1)
            .contains("keepalived_vrrp_state{iname=\"VI_1\",intf=\"lo\",vrid=\"51\"} 1\n"));
    }

    #[tokio::test]
    async fn every_cluster_gets_a_profile_read_through_prometheus() {
        // A port free now; the fleet's addresses are its own, so it stays free there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let shape = FleetShape {
            clusters: 3,
            servers: 2,
            port,
            prometheus: "http://127.0.0.1:9090".into(),
            interval: "5s".into(),
        };
        let fleet = start(&shape).await.expect("fleet");
        assert_eq!(fleet.targets.len(), 6);
        let body = reqwest::get(format!("http://{}/metrics", fleet.targets[5]))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("body");
        assert!(
            body.contains("haproxy_server_status{proxy=\"be_web\",server=\"web2\",state=\"UP\"} 1")
        );
        for (name, text) in &fleet.profiles {
            let p = Profile::parse(name, text).expect("profile");
            assert!(p.prometheus_ready().is_ok(), "{name}");
            assert_eq!(p.backends().count(), 2);
        }
    }
}
