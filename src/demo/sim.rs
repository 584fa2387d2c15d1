//! The simulation behind the demo: traffic that rises and falls, sessions that follow
//! it, one backend that fails its health check now and then, and a runtime API that
//! answers like HAProxy 2.6.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::model::ServerState;

/// Simulation step.
const STEP: Duration = Duration::from_millis(250);

/// The flapping backend is down for this part of every cycle (seconds).
const FLAP_CYCLE: f64 = 90.0;
const FLAP_DOWN: (f64, f64) = (45.0, 65.0);

/// One simulated backend.
#[derive(Debug, Clone)]
pub struct SimBackend {
    /// Name (web1…).
    pub name: String,
    /// Where its health endpoint listens.
    pub address: String,
    /// Health endpoint answers 200.
    pub up: bool,
    /// Administrative state per balancer (UP = ready).
    pub admin: [ServerState; 2],
    /// Current sessions per balancer.
    pub sessions: [f64; 2],
    /// Sessions since start per balancer.
    pub stot: [u64; 2],
    /// Responses 2xx, 4xx, 5xx per balancer.
    pub hrsp: [[u64; 3]; 2],
    /// Typical response time, ms.
    pub rtime_ms: f64,
    /// Load-balancing weight per balancer (HAProxy's user weight, nginx's `weight=`).
    pub weight: [u32; 2],
    /// The configured weight.
    pub iweight: u32,
    /// Health checks enabled per balancer (`disable health` turns them off).
    pub checks: [bool; 2],
    /// What each balancer counts of its failures and state changes.
    pub faults: [Faults; 2],
    /// Seconds its health endpoint failed, in total.
    pub down_s: f64,
    carry: [f64; 2],
}

impl SimBackend {
    /// Whether balancer `lb` sends it requests: up (or its checks off: the balancer
    /// keeps its last state), ready there, weight above 0.
    pub fn serves(&self, lb: usize) -> bool {
        (self.up || !self.checks[lb]) && self.admin[lb] == ServerState::Up && self.weight[lb] > 0
    }
}

/// What a balancer counts about a server beyond its traffic: failures seen while
/// sending it requests, failed checks, the busiest moment, the last state change.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Most sessions at once.
    pub smax: u64,
    /// Connections that failed (`econ`; NGINX Plus `fails`).
    pub econ: u64,
    /// Responses that broke off (`eresp`).
    pub eresp: u64,
    /// Connections retried (`wretr`).
    pub retries: u64,
    /// Requests sent to another server (`wredis`).
    pub redispatches: u64,
    /// Checks failed (`chkfail`).
    pub chkfail: u64,
    /// UP to DOWN transitions (`chkdown`).
    pub chkdown: u64,
    /// Simulated second of the last state change.
    pub changed_at: f64,
}

/// HAProxy's check interval in the demo's configuration, seconds.
const CHECK_EVERY: f64 = 2.0;
/// Failed checks before HAProxy marks a server DOWN (`fall`).
const FALL: u64 = 3;
/// Bytes a request carries to a backend, and a response back, on average.
const REQUEST_BYTES: u64 = 420;
const RESPONSE_BYTES: u64 = 5120;

/// The simulated cluster.
#[derive(Debug)]
pub struct Sim {
    /// Seconds simulated.
    pub t: f64,
    /// Which balancer carries the traffic (the last one to hold the VIP).
    pub master: usize,
    /// keepalived on the pair.
    pub pair: super::vrrp::Pair,
    /// Emit access-log lines (the nginx demo).
    pub access_log: bool,
    /// Backends.
    pub backends: Vec<SimBackend>,
    /// Requests per balancer since start.
    pub requests: [u64; 2],
    /// Connections accepted per balancer.
    pub accepts: [u64; 2],
    /// Each balancer's files that lbdeck reads or edits over SSH: path → text.
    pub files: [BTreeMap<String, String>; 2],
    /// Who holds each balancer's lbdeck lock (one operator at a time).
    pub locks: [Option<String>; 2],
    rng: u64,
}

impl Sim {
    /// A cluster of `n` backends, lb1 holding the VIP.
    pub fn new(n: usize) -> Sim {
        let backends = (0..n)
            .map(|i| SimBackend {
                name: format!("web{}", i + 1),
                address: String::new(),
                up: true,
                admin: [ServerState::Up; 2],
                sessions: [0.0; 2],
                stot: [0; 2],
                hrsp: [[0; 3]; 2],
                rtime_ms: 8.0 + (i as f64 * 7.0) % 40.0,
                weight: [1; 2],
                iweight: 1,
                checks: [true; 2],
                faults: [Faults::default(); 2],
                down_s: 0.0,
                carry: [0.0; 2],
            })
            .collect();
        Sim {
            t: 0.0,
            master: 0,
            pair: super::vrrp::Pair::new(),
            access_log: false,
            backends,
            requests: [0; 2],
            accepts: [0; 2],
            files: Default::default(),
            locks: Default::default(),
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn noise(&mut self) -> f64 {
        // xorshift: deterministic, no dependency, good enough for wobble.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % 10_000) as f64 / 10_000.0
    }

    /// Whether balancer `lb` has a backend to send a request to: up, and neither drained
    /// nor in maintenance there.
    pub fn has_server(&self, lb: usize) -> bool {
        self.backends.iter().any(|b| b.serves(lb))
    }

    /// Advances the simulation by `dt` seconds.
    pub fn step(&mut self, dt: f64) {
        self.t += dt;
        self.pair.step(self.t);
        let Some(holder) = self.pair.holder else {
            // No balancer holds the VIP: nothing is served.
            for b in &mut self.backends {
                b.sessions = [0.0; 2];
            }
            return;
        };
        self.master = holder;
        let flapper = self.backends.len().min(4).saturating_sub(1);
        let phase = self.t % FLAP_CYCLE;
        let master = holder;
        let checked = (self.t / CHECK_EVERY).floor() != ((self.t - dt) / CHECK_EVERY).floor();
        if let Some(b) = self.backends.get_mut(flapper) {
            let up = !(FLAP_DOWN.0..FLAP_DOWN.1).contains(&phase);
            b.failing(up, self.t, dt, checked, master);
        }
        let total_rps = 120.0 + 60.0 * (self.t / 20.0).sin() + 20.0 * self.noise();
        let m = self.master;
        let eligible: Vec<usize> = (0..self.backends.len())
            .filter(|&i| self.backends[i].serves(m))
            .collect();
        let weights: u32 = eligible.iter().map(|&i| self.backends[i].weight[m]).sum();
        let served = if eligible.is_empty() {
            0.0
        } else {
            total_rps * dt
        };
        let whole = served as u64;
        self.requests[m] += whole;
        self.accepts[m] += whole / 4;
        for i in 0..self.backends.len() {
            let n = self.noise();
            let b = &mut self.backends[i];
            let serving = eligible.contains(&i);
            let share = if serving {
                total_rps * f64::from(b.weight[m]) / f64::from(weights.max(1))
            } else {
                0.0
            };
            let target = if serving {
                share * b.rtime_ms / 1000.0 * 4.0 + n * 2.0
            } else {
                0.0
            };
            // Sessions drain smoothly (half-life ~1.5 s) rather than vanishing.
            b.sessions[m] += (target - b.sessions[m]) * (dt / 1.5).min(1.0);
            b.faults[m].smax = b.faults[m].smax.max(b.sessions[m].round() as u64);
            if !serving && b.sessions[m] < 0.5 {
                b.sessions[m] = 0.0;
            }
            if serving {
                b.carry[m] += share * dt;
                let k = b.carry[m].floor();
                b.carry[m] -= k;
                let k = k as u64;
                b.stot[m] += k;
                let errors = if n > 0.97 { 1 } else { 0 };
                let not_found = if n < 0.05 { 1 } else { 0 };
                b.hrsp[m][2] += errors.min(k);
                // Now and then a 5xx is a response the backend broke off.
                b.faults[m].eresp += u64::from(n > 0.995).min(k);
                b.hrsp[m][1] += not_found.min(k.saturating_sub(errors));
                b.hrsp[m][0] += k.saturating_sub(errors + not_found);
                if self.access_log {
                    let (errors, not_found) =
                        (errors.min(k), not_found.min(k.saturating_sub(errors)));
                    let stamp = chrono::Local::now().format("%d/%b/%Y:%H:%M:%S %z");
                    for r in 0..k {
                        let status = if r < errors {
                            500
                        } else if r < errors + not_found {
                            404
                        } else {
                            200
                        };
                        let secs = b.rtime_ms * (0.5 + (r as f64 * 0.37 + n) % 1.0) / 1000.0;
                        let line = format!(
                            "127.0.0.1 - - [{stamp}] \"GET / HTTP/1.1\" {status} 5 \"-\" \"demo\" ua=\"{}\" us=\"{status}\" urt=\"{secs:.3}\" rt={secs:.3}",
                            b.address
                        );
                        let _ = self
                            .pair
                            .events
                            .send(super::vrrp::NodeEvent::Log { lb: m, line });
                    }
                }
            }
            let other = 1 - m;
            b.sessions[other] = 0.0;
        }
    }

    /// Seconds since the server's last state change on balancer `lb`.
    fn since_change(&self, lb: usize, i: usize) -> u64 {
        (self.t - self.backends[i].faults[lb].changed_at).max(0.0) as u64
    }

    /// The last health check's duration on balancer `lb`, ms: about a tenth of the
    /// backend's response time, wobbling.
    fn check_ms(&self, lb: usize, i: usize) -> u64 {
        let b = &self.backends[i];
        let wobble = ((self.t / CHECK_EVERY).floor() + (i + lb) as f64)
            .sin()
            .abs()
            * 2.0;
        (b.rtime_ms / 10.0 + wobble).round() as u64
    }

    /// HAProxy's view of a server on balancer `lb`.
    pub(super) fn status(&self, lb: usize, i: usize) -> (&'static str, &'static str) {
        let b = &self.backends[i];
        let up = b.up || !b.checks[lb];
        let check = |seen| if b.checks[lb] { seen } else { "" };
        match (b.admin[lb], up) {
            (ServerState::Maint, _) => ("MAINT", ""),
            (ServerState::Drain, true) => ("DRAIN", check("L7OK")),
            (_, false) => ("DOWN", "L7STS"),
            _ => ("UP", check("L7OK")),
        }
    }

    /// `show stat` as HAProxy prints it (a subset of the columns, as older versions do).
    pub fn show_stat(&self, lb: usize) -> String {
        let mut out = String::from(
            "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,\n",
        );
        let fe_scur: f64 = self.backends.iter().map(|b| b.sessions[lb]).sum();
        out.push_str(&format!(
            "fe_web,FRONTEND,,,{},,,{},,,,,,,,,,OPEN,,,,,,,,,1,2,0,,,,0,,,,,,,0,{},0,{},{},0,,,,{},,,,,,,,,,,,,\n",
            fe_scur.round(),
            self.requests[lb],
            self.requests[lb],
            0,
            0,
            self.requests[lb]
        ));
        let (mut scur, mut stot, mut h) = (0.0, 0u64, [0u64; 3]);
        for (i, b) in self.backends.iter().enumerate() {
            let (status, check) = self.status(lb, i);
            scur += b.sessions[lb];
            stot += b.stot[lb];
            for (total, n) in h.iter_mut().zip(b.hrsp[lb]) {
                *total += n;
            }
            let rtime = if b.stot[lb] > 0 {
                format!("{}", b.rtime_ms.round())
            } else {
                "0".into()
            };
            let f = &b.faults[lb];
            out.push_str(&format!(
                "be_web,{},0,0,{},{},,{},{},{},,0,,{},{},{},{},{status},{},1,0,{},{},{},{},,1,3,{},,{},,2,0,,0,{check},200,{},0,{},0,{},{},0,0,,,,0,0,,,,,0,,,0,0,{rtime},{rtime},\n",
                b.name,
                b.sessions[lb].round(),
                f.smax,
                b.stot[lb],
                b.stot[lb] * REQUEST_BYTES,
                b.stot[lb] * RESPONSE_BYTES,
                f.econ,
                f.eresp,
                f.retries,
                f.redispatches,
                b.weight[lb],
                f.chkfail,
                f.chkdown,
                self.since_change(lb, i),
                b.down_s as u64,
                i + 1,
                b.stot[lb],
                self.check_ms(lb, i),
                b.hrsp[lb][0],
                b.hrsp[lb][1],
                b.hrsp[lb][2],
            ));
        }
        out.push_str(&format!(
            "be_web,BACKEND,0,0,{},,,{},,,,,,0,0,0,0,UP,{},{},0,,0,5,0,,1,3,0,,{},,1,0,,0,,,,0,{},0,{},{},0,,,,{},0,0,,,,,0,,,0,0,0,0,\n",
            scur.round(),
            stot,
            self.backends.len(),
            self.backends.len(),
            stot,
            h[0],
            h[1],
            h[2],
            stot
        ));
        out.push('\n');
        out
    }

    /// `show info`.
    pub fn show_info(&self, lb: usize) -> String {
        let conns: f64 = self.backends.iter().map(|b| b.sessions[lb]).sum();
        format!(
            "Name: HAProxy\nVersion: 2.6.12-demo\nRelease_date: 2023/03/20\nNbthread: 2\nPid: {}\nUptime_sec: {}\nCurrConns: {}\nCumReq: {}\n\n",
            4000 + lb,
            self.t as u64 + 3600,
            conns.round(),
            self.requests[lb]
        )
    }

    /// `show servers state be_web`.
    pub fn show_servers_state(&self, lb: usize) -> String {
        let mut out = String::from("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n");
        for (i, b) in self.backends.iter().enumerate() {
            let op = if b.up { 2 } else { 0 };
            let admin = match b.admin[lb] {
                ServerState::Maint => 1,
                ServerState::Drain => 8,
                _ => 0,
            };
            // CHK_ST_CONFIGURED, plus CHK_ST_ENABLED while checks run; no agent.
            let checks = if b.checks[lb] { 6 } else { 2 };
            out.push_str(&format!(
                "3 be_web {} {} 127.0.0.1 {op} {admin} {} {} {} 15 3 3 {checks} 0 0 0 - 80 - 0 0 - - 0\n",
                i + 1,
                b.name,
                b.weight[lb],
                b.iweight,
                self.since_change(lb, i),
            ));
        }
        out.push('\n');
        out
    }

    /// `set server be_web/NAME state ready|drain|maint`: the answer HAProxy gives.
    pub fn set_state(&mut self, lb: usize, server: &str, state: &str) -> String {
        let t = self.t;
        let Some(b) = self.backends.iter_mut().find(|b| b.name == server) else {
            return "No such server.\n\n".into();
        };
        b.faults[lb].changed_at = t;
        b.admin[lb] = match state {
            "ready" => ServerState::Up,
            "drain" => ServerState::Drain,
            "maint" => ServerState::Maint,
            _ => {
                return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n".into()
            }
        };
        "\n".into()
    }

    /// `set server be_web/NAME weight N[%]`: the answer HAProxy gives (roundrobin: any
    /// weight from 0 to 256; `N%` of the configured weight).
    pub fn set_weight(&mut self, lb: usize, server: &str, weight: &str) -> String {
        let Some(b) = self.backends.iter_mut().find(|b| b.name == server) else {
            return "No such server.\n\n".into();
        };
        let n = match weight.strip_suffix('%') {
            Some(p) => p.parse::<u32>().ok().map(|p| b.iweight * p / 100),
            None => weight.parse::<u32>().ok(),
        };
        match n {
            Some(n) if n <= 256 => {
                b.weight[lb] = n;
                "\n".into()
            }
            _ => "Require <weight> or <weight%>.\n\n".into(),
        }
    }

    /// `get weight be_web/NAME`.
    pub fn get_weight(&self, lb: usize, server: &str) -> String {
        match self.backends.iter().find(|b| b.name == server) {
            Some(b) => format!("{} (initial {})\n\n", b.weight[lb], b.iweight),
            None => "No such server.\n\n".into(),
        }
    }

    /// `enable|disable health|agent be_web/NAME`; the demo's servers have health checks
    /// and no agent, as HAProxy answers for such servers.
    pub fn set_checks(&mut self, lb: usize, server: &str, what: &str, on: bool) -> String {
        let Some(b) = self.backends.iter_mut().find(|b| b.name == server) else {
            return "No such server.\n\n".into();
        };
        if what == "agent" {
            return "Agent was not configured on this server, cannot enable.\n\n".into();
        }
        b.checks[lb] = on;
        "\n".into()
    }

    /// `shutdown sessions server be_web/NAME`: its sessions on `lb` end at once.
    pub fn shutdown_sessions(&mut self, lb: usize, server: &str) -> String {
        match self.backends.iter_mut().find(|b| b.name == server) {
            Some(b) => {
                b.sessions[lb] = 0.0;
                "\n".into()
            }
            None => "No such server.\n\n".into(),
        }
    }

    /// nginx stub_status for balancer `lb`.
    pub fn stub_status(&self, lb: usize) -> String {
        let active: f64 = self.backends.iter().map(|b| b.sessions[lb]).sum::<f64>() + 1.0;
        let writing = (active / 3.0).round();
        format!(
            "Active connections: {} \nserver accepts handled requests\n {} {} {} \nReading: 0 Writing: {} Waiting: {} \n",
            active.round(),
            self.accepts[lb],
            self.accepts[lb],
            self.requests[lb],
            writing,
            (active - writing).max(0.0).round()
        )
    }
}

impl SimBackend {
    /// Its health endpoint is `up` (or not) at simulated second `t`, `dt` after the last
    /// step; `checked` when the balancers ran a check in between. Going down is seen by
    /// the balancer carrying traffic first as failed connections, retried elsewhere.
    fn failing(&mut self, up: bool, t: f64, dt: f64, checked: bool, master: usize) {
        if up != self.up {
            for f in &mut self.faults {
                f.changed_at = t;
            }
            if !up {
                let f = &mut self.faults[master];
                f.econ += 2;
                f.retries += 2;
                f.redispatches += 1;
                for f in &mut self.faults {
                    f.chkfail += FALL;
                    f.chkdown += 1;
                }
            }
        } else if !up && checked {
            for f in &mut self.faults {
                f.chkfail += 1;
            }
        }
        if !up {
            self.down_s += dt;
        }
        self.up = up;
    }
}

#[cfg(test)]
impl Sim {
    /// A simulation of `n` backends at 127.0.0.21:80 and on, as the demo binds them.
    pub fn with_addresses(n: usize) -> Sim {
        let mut sim = Sim::new(n);
        for (i, b) in sim.backends.iter_mut().enumerate() {
            b.address = format!("127.0.0.{}:80", 21 + i);
        }
        sim
    }

    /// Requests backend `i` gets from balancer `lb` over the next `seconds`.
    pub fn requests_over(&mut self, i: usize, lb: usize, seconds: f64) -> u64 {
        let before = self.backends[i].stot[lb];
        for _ in 0..(seconds / STEP.as_secs_f64()) as usize {
            self.step(STEP.as_secs_f64());
        }
        self.backends[i].stot[lb] - before
    }
}

/// Advances the simulation in real time.
pub fn spawn_ticker(sim: Arc<Mutex<Sim>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(STEP);
        loop {
            iv.tick().await;
            if let Ok(mut s) = sim.lock() {
                s.step(STEP.as_secs_f64());
            }
        }
    })
}

/// The runtime API of simulated balancer `lb`: one command line per connection.
pub fn serve_runtime_api(listener: TcpListener, lb: usize, sim: Arc<Mutex<Sim>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sim = sim.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut line = String::new();
                let mut reader = BufReader::new(r);
                let read =
                    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
                if !matches!(read, Ok(Ok(n)) if n > 0) {
                    return;
                }
                let mut answer = String::new();
                for command in line.trim().split(';').map(str::trim) {
                    answer.push_str(&answer_command(&sim, lb, command));
                }
                let _ = w.write_all(answer.as_bytes()).await;
                let _ = w.shutdown().await;
            });
        }
    })
}

/// `help` as HAProxy 2.6 answers it at level admin, cut to the commands the simulation
/// answers.
const HELP: &str = "The following commands are valid at this level:
  disable agent                           : disable agent checks
  disable health                          : disable health checks
  enable agent                            : enable agent checks
  enable health                           : enable health checks
  get weight <bk>/<srv>                   : report a server's current weight
  help [<command>]                        : list matching or all commands
  set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl
  show info [desc|json|typed|float]*      : report information about the running process
  show servers state [<backend>]          : dump volatile server information (all or for a single backend)
  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server
  shutdown sessions server <bk>/<srv>     : kill sessions on a server

";

fn answer_command(sim: &Arc<Mutex<Sim>>, lb: usize, command: &str) -> String {
    let Ok(mut s) = sim.lock() else {
        return "Internal error.\n\n".into();
    };
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["help", ..] => HELP.into(),
        ["show", "stat", ..] => s.show_stat(lb),
        ["show", "info", ..] => s.show_info(lb),
        ["show", "servers", "state", ..] => s.show_servers_state(lb),
        ["set", "server", target, what @ ("state" | "weight"), value] => {
            match target.split_once('/') {
                Some(("be_web", server)) if *what == "state" => s.set_state(lb, server, value),
                Some(("be_web", server)) => s.set_weight(lb, server, value),
                Some(_) => "No such backend.\n\n".into(),
                None => "Require 'backend/server'.\n\n".into(),
            }
        }
        ["get", "weight", target] => match target.split_once('/') {
            Some(("be_web", server)) => s.get_weight(lb, server),
            Some(_) => "No such backend.\n\n".into(),
            None => "Require 'backend/server'.\n\n".into(),
        },
        [verb @ ("enable" | "disable"), what @ ("health" | "agent"), target] => {
            match target.split_once('/') {
                Some(("be_web", server)) => s.set_checks(lb, server, what, *verb == "enable"),
                Some(_) => "No such backend.\n\n".into(),
                None => "Require 'backend/server'.\n\n".into(),
            }
        }
        ["shutdown", "sessions", "server", target] => match target.split_once('/') {
            Some(("be_web", server)) => s.shutdown_sessions(lb, server),
            Some(_) => "No such backend.\n\n".into(),
            None => "Require 'backend/server'.\n\n".into(),
        },
        _ => "Unknown command, but maybe one of the following ones is a better match:\n  help [<command>]                        : list matching or all commands\n  quit                                    : disconnect\n\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{haproxy, nginx};

    #[test]
    fn the_runtime_prompt_is_answered_as_haproxy_answers() {
        let sim = Arc::new(Mutex::new(Sim::new(2)));
        let ask = |lb: usize, c: &str| answer_command(&sim, lb, c);
        assert!(ask(0, "help").starts_with("The following commands are valid at this level:"));
        assert!(ask(0, "bogus").starts_with("Unknown command"));
        assert_eq!(ask(0, "set server be_web/web1 weight 50"), "\n");
        assert_eq!(ask(0, "get weight be_web/web1"), "50 (initial 1)\n\n");
        assert_eq!(ask(1, "get weight be_web/web1"), "1 (initial 1)\n\n");
        assert_eq!(
            ask(0, "set server be_web/web9 state maint"),
            "No such server.\n\n"
        );
    }

    #[test]
    fn the_simulation_speaks_the_formats_our_parsers_read() {
        let mut sim = Sim::new(6);
        for _ in 0..40 {
            sim.step(0.25);
        }
        let rows = haproxy::parse_stat(&sim.show_stat(0)).expect("csv");
        let servers: Vec<_> = rows
            .iter()
            .filter(|r| r.kind == Some(haproxy::RowKind::Server))
            .collect();
        assert_eq!(servers.len(), 6);
        assert!(
            servers.iter().all(|r| r.responses().unwrap_or(0) > 0),
            "traffic flows to every backend"
        );
        assert!(haproxy::parse_info(&sim.show_info(0)).is_ok());
        let st = nginx::parse(&sim.stub_status(0)).expect("stub_status");
        assert!(st.requests > 0);
        let state =
            haproxy::parse_servers_state(&sim.show_servers_state(1)).expect("servers state");
        assert_eq!(state.len(), 6);
    }

    #[test]
    fn the_flapping_backend_leaves_the_counters_a_real_haproxy_would() {
        let mut sim = Sim::new(6);
        for _ in 0..(50.0 / 0.25) as usize {
            sim.step(0.25);
        }
        let rows = haproxy::parse_stat(&sim.show_stat(0)).expect("csv");
        let row = |name: &str| rows.iter().find(|r| r.svname == name).expect(name).clone();
        let (web1, web4) = (row("web1"), row("web4"));
        assert_eq!(web4.status, "DOWN", "web4 flaps from 45 s");
        assert!(web4.econ >= Some(2) && web4.wretr >= Some(2) && web4.wredis >= Some(1));
        assert!(
            web4.chkfail > Some(FALL) && web4.downtime >= Some(4),
            "{web4:?}"
        );
        assert!(web4.lastchg <= Some(5), "it changed 5 s ago: {web4:?}");
        assert!(web1.lastchg >= Some(50), "web1 never changed: {web1:?}");
        assert_eq!(
            (web1.econ, web1.chkfail, web1.downtime),
            (Some(0), Some(0), Some(0))
        );
        assert!(web1.bin > Some(0) && web1.bout > web1.bin && web1.smax >= web1.scur);
        assert!(web1.check_duration.is_some_and(|ms| ms < 10), "{web1:?}");
        let backup = haproxy::parse_stat(&sim.show_stat(1)).expect("csv");
        let web4_lb2 = backup.iter().find(|r| r.svname == "web4").expect("web4");
        assert_eq!(
            web4_lb2.econ,
            Some(0),
            "the backup balancer sent it nothing to fail"
        );
        assert_eq!(web4_lb2.chkfail, web4.chkfail, "both balancers check it");
    }

    #[test]
    fn a_drained_backend_empties_and_gets_no_new_requests() {
        let mut sim = Sim::new(3);
        for _ in 0..20 {
            sim.step(0.25);
        }
        assert_eq!(sim.set_state(0, "web2", "drain"), "\n");
        let before = sim.backends[1].stot[0];
        for _ in 0..40 {
            sim.step(0.25);
        }
        assert_eq!(sim.backends[1].sessions[0], 0.0);
        assert_eq!(sim.backends[1].stot[0], before);
        assert_eq!(sim.set_state(0, "nope", "drain"), "No such server.\n\n");
    }
}
