//! `lbdeck demo`: a simulated cluster in-process on loopback that speaks the real wire
//! formats — HAProxy's runtime API over TCP (or nginx stub_status over HTTP), backend
//! health endpoints and a VIP check — with living traffic. The console reaches it through
//! the same profile, sources and screens as a real cluster.

mod http;
mod sim;

use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::profile::{BalancerKind, Profile};
pub use sim::Sim;

/// Backends in the demo cluster.
pub const DEMO_BACKENDS: usize = 6;

/// A running demo cluster; dropping it stops every server.
pub struct Demo {
    /// The generated profile pointing at the demo's servers.
    pub profile: Profile,
    /// The simulation (for tests and actions).
    pub sim: Arc<Mutex<Sim>>,
    tasks: Vec<JoinHandle<()>>,
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

/// Starts the demo cluster: a balancer pair of `kind` and [`DEMO_BACKENDS`] backends.
pub async fn start(kind: BalancerKind, backends: usize) -> anyhow::Result<Demo> {
    let kind = if kind == BalancerKind::NginxPlus {
        BalancerKind::Haproxy
    } else {
        kind
    };
    let sim = Arc::new(Mutex::new(Sim::new(backends.max(1))));
    let mut tasks = vec![sim::spawn_ticker(sim.clone())];
    let mut toml = String::from(
        "name = \"demo\"\nenvironment = \"lab\"\npoll_interval = \"1s\"\ntimeout = \"1s\"\n",
    );

    let vip = bind("127.0.0.100").await?;
    let vip_addr = vip.local_addr()?;
    tasks.push(http::serve(vip, http::Route::Vip, sim.clone()));
    toml.push_str(&format!(
        "[vip]\naddress = \"{}\"\ncheck_url = \"http://{vip_addr}/\"\n",
        vip_addr.ip()
    ));

    for (i, name) in ["lb1", "lb2"].iter().enumerate() {
        let host = format!("127.0.0.{}", 11 + i);
        toml.push_str(&format!(
            "[[balancers]]\nname = \"{name}\"\nhost = \"{host}\"\nkind = \"{kind}\"\nbackend = \"be_web\"\n"
        ));
        match kind {
            BalancerKind::Haproxy | BalancerKind::NginxPlus => {
                let l = bind(&host).await?;
                let addr = l.local_addr()?;
                tasks.push(sim::serve_runtime_api(l, i, sim.clone()));
                toml.push_str(&format!("runtime_api = \"tcp://{addr}\"\n"));
            }
            BalancerKind::Nginx => {
                let l = bind(&host).await?;
                let addr = l.local_addr()?;
                tasks.push(http::serve(l, http::Route::StubStatus(i), sim.clone()));
                toml.push_str(&format!("status_url = \"http://{addr}/nginx_status\"\n"));
            }
        }
    }
    let count = sim.lock().map(|s| s.backends.len()).unwrap_or(0);
    for i in 0..count {
        let l = bind(&format!("127.0.0.{}", 21 + (i % 200))).await?;
        let addr = l.local_addr()?;
        let name = sim
            .lock()
            .map(|s| s.backends[i].name.clone())
            .unwrap_or_default();
        if let Ok(mut s) = sim.lock() {
            s.backends[i].address = addr.to_string();
        }
        tasks.push(http::serve(l, http::Route::Health(i), sim.clone()));
        toml.push_str(&format!(
            "[[backends]]\nname = \"{name}\"\naddress = \"{addr}\"\nhealth_url = \"http://{addr}/health\"\n"
        ));
    }
    let profile = Profile::parse("(demo profile)", &toml)?;
    Ok(Demo {
        profile,
        sim,
        tasks,
    })
}
