//! The one lab every scenario shares. The lab exists once on a machine while cargo runs
//! tests on parallel threads, so each scenario holds [`LAB`] for its whole run. The first
//! scenario brings the lab up (`scripts/lab up` clears whatever an earlier run left), each
//! one finds it at its baseline (brought back there when a scenario before it failed
//! midway), and the last one to finish takes it down, whether it passed or not.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The repository: scripts/lab, profiles and the binary's working directory.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scripts/lab ARGS…` and returns what it printed.
pub fn lab(args: &[&str]) -> Output {
    Command::new(root().join("scripts/lab"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("scripts/lab")
}

/// Runs `scripts/lab ARGS…`; a failure fails the scenario with its output.
pub fn lab_ok(args: &[&str]) {
    let o = lab(args);
    assert!(
        o.status.success(),
        "scripts/lab {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Where the lab keeps its nodes' files (LBDECK_LAB_STATE or the script's default).
pub fn state_dir() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let o = lab(&["state-dir"]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    })
}

/// The shared lab, held by the scenario that runs.
struct Shared {
    /// The lab as `scripts/lab up` left it; None while it is down.
    baseline: Option<Baseline>,
    /// Selected scenarios yet to finish; None until the first one starts.
    left: Option<usize>,
}

static LAB: Mutex<Shared> = Mutex::new(Shared {
    baseline: None,
    left: None,
});

/// How long a lab a scenario just left may take to settle (a preempting MASTER sending
/// its first advert, HAProxy's `rise 2` checks after a restart) before it is built again.
const SETTLE: Duration = Duration::from_secs(3);

/// Runs scenario `name` (one of the tests named `all`) on the shared lab; without
/// LBDECK_LAB=1 it only says that it did not run.
pub fn run(name: &str, all: &[&str], body: fn()) {
    if std::env::var("LBDECK_LAB").as_deref() != Ok("1") {
        eprintln!(
            "lab test {name} skipped: set LBDECK_LAB=1 and run as root (scripts/test does both)"
        );
        return;
    }
    // A scenario that failed poisons the lock; the lab is checked just below all the same.
    let mut turn = Turn(LAB.lock().unwrap_or_else(PoisonError::into_inner));
    turn.0.left.get_or_insert_with(|| selected(all));
    turn.ready(name);
    body();
}

/// libtest's options that take a value (`--skip` is read on its own).
const VALUE_OPTIONS: [&str; 6] = [
    "--test-threads",
    "--logfile",
    "--color",
    "--format",
    "--shuffle-seed",
    "-Z",
];

/// How many of the tests named `all` this run's arguments select: libtest's filters
/// (any one contained in the name, or equal to it with `--exact`) less its `--skip`s.
/// Counted too high, the lab stays up at the end; too low, it goes down early and the
/// next scenario brings it up again.
fn selected(all: &[&str]) -> usize {
    let (mut filters, mut skips, mut exact) = (Vec::new(), Vec::new(), false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--exact" {
            exact = true;
        } else if arg == "--skip" {
            skips.extend(args.next());
        } else if let Some(skip) = arg.strip_prefix("--skip=") {
            skips.push(skip.to_string());
        } else if VALUE_OPTIONS.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    let matches = |name: &str, f: &String| {
        if exact {
            name == f
        } else {
            name.contains(f.as_str())
        }
    };
    all.iter()
        .filter(|n| filters.is_empty() || filters.iter().any(|f| matches(n, f)))
        .filter(|n| !skips.iter().any(|f| matches(n, f)))
        .count()
}

/// One scenario's hold on the lab; the last one down takes the lab down.
struct Turn(MutexGuard<'static, Shared>);

impl Turn {
    /// The lab up and at its baseline.
    fn ready(&mut self, name: &str) {
        if let Some(baseline) = &self.0.baseline {
            let started = Instant::now();
            let off = baseline.wait(SETTLE);
            if off.is_empty() {
                return;
            }
            eprintln!(
                "lab: not at its baseline before {name} after {:?} ({}): building it again",
                started.elapsed(),
                off.join("; ")
            );
        }
        self.0.baseline = None;
        lab_ok(&["up"]);
        BUILDS.fetch_add(1, Ordering::SeqCst);
        self.0.baseline = Some(Baseline::read());
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let shared = &mut *self.0;
        let Some(left) = shared.left.as_mut() else {
            return;
        };
        *left = left.saturating_sub(1);
        if *left == 0 {
            // Also after an `up` that failed midway: whatever it built goes.
            let _ = lab(&["down"]);
            shared.baseline = None;
        }
    }
}

/// How many times this run built the lab: the CentOS-like pair added to one build is
/// gone with the next.
static BUILDS: AtomicUsize = AtomicUsize::new(0);

/// The CentOS-like pair's files as `scripts/lab centos up` left them, with the build of
/// the lab they were added to.
static CENTOS: Mutex<Option<(usize, Files)>> = Mutex::new(None);

/// Files and their contents.
type Files = Vec<(PathBuf, Vec<u8>)>;

/// Files on the CentOS-like pair that its scenarios edit and must leave as they found
/// them.
const CENTOS_FILES: [&str; 2] = ["etc/nginx/upstreams/web.conf", "etc/keepalived/maintenance"];

/// The CentOS-like pair (lb3, lb4: `scripts/lab centos up`) on the lab and at its
/// baseline, for a scenario that holds the lab: added once per build of the lab, so its
/// few scenarios share one bring-up, and again when a scenario before left it otherwise.
pub fn centos_pair() {
    let mut added = CENTOS.lock().unwrap_or_else(PoisonError::into_inner);
    let build = BUILDS.load(Ordering::SeqCst);
    if let Some((at, files)) = added.as_ref().filter(|(at, _)| *at == build) {
        let started = Instant::now();
        loop {
            let off = centos_deviations(files);
            if off.is_empty() {
                return;
            }
            if started.elapsed() >= SETTLE {
                eprintln!(
                    "lab: the CentOS-like pair (added at build {at}) is off its baseline ({}): adding it again",
                    off.join("; ")
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    lab_ok(&["centos", "up"]);
    let files = ["lb3", "lb4"]
        .iter()
        .flat_map(|node| CENTOS_FILES.iter().map(move |f| node_path(node, f)))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    *added = Some((build, files));
}

/// What is not as `centos up` left it: files, daemons, the VIP on lb3 alone.
fn centos_deviations(files: &Files) -> Vec<String> {
    let mut off: Vec<String> = files
        .iter()
        .filter(|(p, bytes)| std::fs::read(p).ok().as_ref() != Some(bytes))
        .map(|(p, _)| format!("{} changed", p.display()))
        .collect();
    for node in ["lb3", "lb4"] {
        for d in BALANCER_DAEMONS {
            match process_state(node, d) {
                Some(state) if !state.starts_with('T') && !state.starts_with('Z') => {}
                _ => off.push(format!("{d} on {node} is not running")),
            }
        }
    }
    let vip = String::from_utf8_lossy(&lab(&["centos", "vip"]).stdout)
        .trim()
        .to_string();
    if vip != "lb3" {
        off.push(format!("its VIP is on {vip}, not on lb3 alone"));
    }
    off
}

/// Files on the balancers that scenarios edit (drains, failovers by priority or track
/// file) and must leave as they found them.
const BALANCER_FILES: [&str; 4] = [
    "etc/nginx/conf.d/upstream.conf",
    "etc/haproxy/haproxy.cfg",
    "etc/keepalived/keepalived.conf",
    "etc/keepalived/maintenance",
];

/// The backends' nginx site, which the health-500 drill edits.
const BACKEND_FILES: [&str; 1] = ["etc/nginx/conf.d/web.conf"];

/// Daemons each kind of node runs, by pid file under the node's /run.
const BALANCER_DAEMONS: [&str; 4] = ["keepalived", "haproxy", "nginx", "sshd"];
const BACKEND_DAEMONS: [&str; 2] = ["nginx", "sshd"];

/// Processes the fault drills start and their lifts stop.
const DRILL_PROCESSES: [&str; 2] = ["trickle", "dropproxy"];

/// The lab's state right after `up`, checked without starting lbdeck: a few file reads,
/// /proc and half a dozen short commands.
struct Baseline {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Baseline {
    fn read() -> Baseline {
        let files = nodes()
            .flat_map(|(node, balancer)| {
                let files: &[&str] = if balancer {
                    &BALANCER_FILES
                } else {
                    &BACKEND_FILES
                };
                files.iter().map(move |f| node_path(node, f))
            })
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (p, bytes)
            })
            .collect();
        Baseline { files }
    }

    /// What is not as `up` left it, once it has been so for `limit` (empty: all is).
    fn wait(&self, limit: Duration) -> Vec<String> {
        let started = Instant::now();
        loop {
            let off = self.deviations();
            if off.is_empty() || started.elapsed() >= limit {
                return off;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn deviations(&self) -> Vec<String> {
        let mut off: Vec<String> = self
            .files
            .iter()
            .filter(|(p, bytes)| std::fs::read(p).ok().as_ref() != Some(bytes))
            .map(|(p, _)| format!("{} changed", p.display()))
            .collect();
        for (node, balancer) in nodes() {
            let daemons: &[&str] = if balancer {
                &BALANCER_DAEMONS
            } else {
                &BACKEND_DAEMONS
            };
            for d in daemons {
                match process_state(node, d) {
                    Some(state) if !state.starts_with('T') && !state.starts_with('Z') => {}
                    Some(state) => off.push(format!("{d} on {node} is {state}")),
                    None => off.push(format!("{d} on {node} is not running")),
                }
            }
            for p in DRILL_PROCESSES {
                if process_state(node, p).is_some() {
                    off.push(format!("{p} still runs on {node}"));
                }
            }
            // The lab has no firewall of its own: any table is a fault or a test's.
            let tables = output("ip", &["netns", "exec", &ns(node), "nft", "list", "tables"]);
            if !tables.trim().is_empty() {
                off.push(format!("nft on {node}: {}", tables.trim()));
            }
        }
        off.extend(links_down());
        off.extend(servers_not_ready("lb1"));
        off.extend(servers_not_ready("lb2"));
        let vip = String::from_utf8_lossy(&lab(&["vip"]).stdout)
            .trim()
            .to_string();
        if vip != "lb1" {
            off.push(format!("the VIP is on {vip}, not on lb1 alone"));
        }
        off
    }
}

/// Each node and whether it is a balancer.
fn nodes() -> impl Iterator<Item = (&'static str, bool)> {
    [
        ("lb1", true),
        ("lb2", true),
        ("web1", false),
        ("web2", false),
        ("web3", false),
    ]
    .into_iter()
}

fn ns(node: &str) -> String {
    format!("lbd-{node}")
}

fn node_path(node: &str, path: &str) -> PathBuf {
    Path::new(state_dir()).join("nodes").join(node).join(path)
}

/// The state letter and word from /proc of the process in `node`'s /run/NAME.pid
/// ("S (sleeping)", "T (stopped)"); None when it does not run.
fn process_state(node: &str, name: &str) -> Option<String> {
    let pid = std::fs::read_to_string(node_path(node, &format!("run/{name}.pid"))).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .map(|s| s.trim().to_string())
}

/// Nodes whose link is down, as the lab's switch sees its ports.
fn links_down() -> Vec<String> {
    output(
        "ip",
        &["-n", "lbd-sw", "-o", "link", "show", "master", "br0"],
    )
    .lines()
    .filter(|l| !l.contains(" state UP "))
    .map(|l| {
        let port = l.split(": ").nth(1).unwrap_or(l);
        format!("link of {} down", port.split('@').next().unwrap_or(port))
    })
    .collect()
}

/// HAProxy servers on a balancer that are not up and ready (drained, in maintenance,
/// down).
fn servers_not_ready(node: &str) -> Vec<String> {
    let ip = if node == "lb1" {
        "10.77.0.11"
    } else {
        "10.77.0.12"
    };
    let state = output(
        "ip",
        &[
            "netns",
            "exec",
            "lbd-admin",
            "sh",
            "-c",
            &format!("echo 'show servers state be_web' | socat -t2 - TCP:{ip}:9999"),
        ],
    );
    let servers: Vec<Vec<&str>> = state
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 6 && f[1] == "be_web")
        .collect();
    if servers.len() != 3 {
        return vec![format!("HAProxy on {node} lists {} servers", servers.len())];
    }
    servers
        .iter()
        .filter(|f| f[5] != "2" || f[6] != "0")
        .map(|f| {
            format!(
                "{} on {node}: operational state {}, admin state {}",
                f[3], f[5], f[6]
            )
        })
        .collect()
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}
