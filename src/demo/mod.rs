//! `lbdeck demo`: a simulated cluster in-process on loopback that speaks the real wire
//! formats — HAProxy's runtime API over TCP, nginx stub_status with its upstream file and
//! access log, or the NGINX Plus API; backend health endpoints, a VIP check, and SSH nodes
//! running keepalived — with living traffic. The console reaches it through the same
//! profile, sources, screens and actions as a real cluster.

mod http;
pub mod metrics;
mod nginx;
mod plus;
mod sim;
pub mod ssh;
pub mod vrrp;

use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::profile::{BalancerKind, Profile};
pub use sim::Sim;

/// Backends in the demo cluster.
pub const DEMO_BACKENDS: usize = 6;

/// The HAProxy backend, or nginx upstream, that the demo balancers proxy to.
const BACKEND: &str = "be_web";

/// A running demo cluster; dropping it stops every server.
pub struct Demo {
    /// The generated profile pointing at the demo's servers.
    pub profile: Profile,
    /// The simulation (for tests and actions).
    pub sim: Arc<Mutex<Sim>>,
    tasks: Vec<JoinHandle<()>>,
    /// Holds the demo's SSH key and known_hosts files for as long as it runs.
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds on a loopback address of its own when the system allows (Linux routes all of
/// 127/8 to lo), else on 127.0.0.1.
async fn bind(preferred: &str) -> std::io::Result<TcpListener> {
    match TcpListener::bind((preferred, 0)).await {
        Ok(l) => Ok(l),
        Err(_) => TcpListener::bind(("127.0.0.1", 0)).await,
    }
}

/// Loopback address of a demo node (Linux routes all of 127/8 to lo).
fn node_ip(lb: Option<usize>, backend: usize) -> String {
    match lb {
        Some(i) => format!("127.0.0.{}", 11 + i),
        None => format!("127.0.{}.{}", backend / 200, 21 + (backend % 200)),
    }
}

/// SSH listeners on one port shared by every node address (a profile has one SSH port).
async fn ssh_listeners(ips: &[String]) -> anyhow::Result<(u16, Vec<TcpListener>)> {
    for _ in 0..10 {
        let first = bind(&ips[0]).await?;
        let port = first.local_addr()?.port();
        let mut all = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind((ip.as_str(), port)).await {
                Ok(l) => all.push(l),
                Err(_) => break,
            }
        }
        if all.len() == ips.len() {
            return Ok((port, all));
        }
    }
    anyhow::bail!("could not find one free SSH port on every demo address")
}

/// Starts the demo cluster: a balancer pair of `kind` with keepalived, reachable over
/// SSH, and `backends` backends.
pub async fn start(kind: BalancerKind, backends: usize) -> anyhow::Result<Demo> {
    use russh::keys::{ssh_key::LineEnding, Algorithm, PrivateKey};
    let sim = Arc::new(Mutex::new(Sim::new(backends.max(1))));
    let count = match sim.lock() {
        Ok(mut s) => {
            s.access_log = kind == BalancerKind::Nginx;
            s.backends.len()
        }
        Err(_) => 0,
    };
    let mut tasks = vec![sim::spawn_ticker(sim.clone())];

    // SSH: a client key and each node's host key, written where the profile points, so
    // the console authenticates and verifies host keys exactly as with real nodes.
    let dir = tempfile::tempdir()?;
    let client = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)?;
    let client_file = dir.path().join("id_ed25519");
    std::fs::write(&client_file, client.to_openssh(LineEnding::LF)?.as_bytes())?;
    let mut nodes: Vec<(String, Option<usize>, String)> = (0..2)
        .map(|i| (format!("lb{}", i + 1), Some(i), node_ip(Some(i), 0)))
        .collect();
    nodes.extend((0..count).map(|i| (format!("web{}", i + 1), None, node_ip(None, i))));
    let ips: Vec<String> = nodes.iter().map(|n| n.2.clone()).collect();
    let (ssh_port, listeners) = ssh_listeners(&ips).await?;
    let mut known_hosts = String::new();
    for ((name, lb, ip), listener) in nodes.into_iter().zip(listeners) {
        let host_key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)?;
        known_hosts.push_str(&format!(
            "[{ip}]:{ssh_port} {}\n",
            host_key.public_key().to_openssh()?
        ));
        let info = ssh::NodeInfo {
            name,
            lb,
            vip: "127.0.0.100".into(),
        };
        tasks.push(ssh::serve(
            listener,
            host_key,
            client.public_key().clone(),
            info,
            sim.clone(),
        ));
    }
    let known_file = dir.path().join("known_hosts");
    std::fs::write(&known_file, known_hosts)?;

    let mut toml = format!(
        "name = \"demo\"\nenvironment = \"lab\"\npoll_interval = \"1s\"\ntimeout = \"1s\"\n\
         background_interval = \"2s\"\n\
         [ssh]\nuser = \"root\"\nport = {ssh_port}\nidentity_file = {:?}\nknown_hosts = {:?}\n",
        client_file.display().to_string(),
        known_file.display().to_string()
    );
    let vip = bind("127.0.0.100").await?;
    let vip_addr = vip.local_addr()?;
    tasks.push(http::serve(vip, http::Route::Vip, sim.clone()));
    toml.push_str(&format!(
        "[vip]\naddress = \"{}\"\ncheck_url = \"http://{vip_addr}/\"\n",
        vip_addr.ip()
    ));

    for (i, name) in ["lb1", "lb2"].iter().enumerate() {
        let host = node_ip(Some(i), 0);
        toml.push_str(&format!(
            "[[balancers]]\nname = \"{name}\"\nhost = \"{host}\"\nkind = \"{kind}\"\nbackend = \"{BACKEND}\"\n"
        ));
        let l = bind(&host).await?;
        let addr = l.local_addr()?;
        match kind {
            BalancerKind::Haproxy => {
                tasks.push(sim::serve_runtime_api(l, i, sim.clone()));
                toml.push_str(&format!("runtime_api = \"tcp://{addr}\"\n"));
            }
            BalancerKind::NginxPlus => {
                tasks.push(http::serve(l, http::Route::PlusApi(i), sim.clone()));
                toml.push_str(&format!("status_url = \"http://{addr}/api\"\n"));
            }
            BalancerKind::Nginx => {
                tasks.push(http::serve(l, http::Route::StubStatus(i), sim.clone()));
                toml.push_str(&format!(
                    "status_url = \"http://{addr}/nginx_status\"\naccess_log = \"/var/log/nginx/access.log\"\n"
                ));
            }
        }
        toml.push_str(
            "[balancers.keepalived]\nnotify_fifo = \"/run/keepalived.fifo\"\n\
             failover = { method = \"track_file\", path = \"/etc/keepalived/maintenance\", value = \"-100\" }\n",
        );
    }
    for i in 0..count {
        let l = bind(&node_ip(None, i)).await?;
        let addr = l.local_addr()?;
        let name = match sim.lock() {
            Ok(mut s) => {
                s.backends[i].address = addr.to_string();
                s.backends[i].name.clone()
            }
            Err(_) => format!("web{}", i + 1),
        };
        tasks.push(http::serve(l, http::Route::Health(i), sim.clone()));
        toml.push_str(&format!(
            "[[backends]]\nname = \"{name}\"\naddress = \"{addr}\"\nhealth_url = \"http://{addr}/health\"\n"
        ));
    }
    if kind == BalancerKind::Nginx {
        if let Ok(mut s) = sim.lock() {
            let conf = nginx::upstream_conf(BACKEND, s.backends.iter().map(|b| b.address.as_str()));
            for files in &mut s.files {
                files.insert(nginx::UPSTREAM_FILE.into(), conf.clone());
            }
        }
    }
    let mut profile = Profile::parse("(demo profile)", &toml)?;
    profile.origin = crate::config::profile::Origin::Demo;
    Ok(Demo {
        profile,
        sim,
        tasks,
        _dir: dir,
    })
}
