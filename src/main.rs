//! The `lbdeck` command: parses arguments, loads configuration, and hands over to the
//! console, the demo or a one-shot command. Errors in configuration print one line and
//! exit 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use lbdeck::app::keys::Keymap;
use lbdeck::app::App;
use lbdeck::config::profile::{BalancerKind, Profile, SourceKind};
use lbdeck::config::theme::ThemeSet;
use lbdeck::config::{config_dir, state_dir, ConfigError};
use lbdeck::fleet::{Fleet, Member};

/// lbdeck — an operations console for load-balanced web clusters: an nginx or HAProxy
/// balancer pair kept highly available by keepalived, and the backends behind it.
///
/// It shows balancer traffic, each backend's health and state as every balancer sees
/// it, and who holds the VIP, on one screen, refreshed every poll interval. Values that
/// could not be refreshed are marked stale with their age.
#[derive(Debug, Parser)]
#[command(name = "lbdeck", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    target: Target,

    #[command(flatten)]
    look: Look,

    #[command(flatten)]
    guard: Guard,

    #[command(flatten)]
    dir: ProfileDir,

    /// Log file (default: $XDG_STATE_HOME/lbdeck/lbdeck.log). The screen never shows logs.
    #[arg(long, global = true, value_name = "FILE")]
    log_file: Option<PathBuf>,

    #[command(flatten)]
    measure: Measure,

    #[command(flatten)]
    read: Read,

    #[command(subcommand)]
    command: Option<Command>,
}

/// Where the console and `status` read a cluster from.
#[derive(Debug, Clone, Default, Args)]
struct Read {
    /// Read the balancers and keepalived from the profile's [prometheus] server
    /// (`prometheus`) or from the nodes themselves (`direct`); default: the profile's
    /// `source`, and in the fleet overview and `status --all` Prometheus wherever a
    /// profile has [prometheus] and every balancer a prometheus_instance. Actions always
    /// go to the nodes.
    #[arg(long, value_enum)]
    source: Option<SourceArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SourceArg {
    /// Poll every node: status pages, runtime API, keepalived over SSH.
    Direct,
    /// PromQL instant queries to the profile's [prometheus] server.
    Prometheus,
}

impl SourceArg {
    fn kind(self) -> SourceKind {
        match self {
            SourceArg::Direct => SourceKind::Direct,
            SourceArg::Prometheus => SourceKind::Prometheus,
        }
    }
}

/// Which cluster.
#[derive(Debug, Clone, Default, Args)]
struct Target {
    /// Cluster profile: a NAME (looked up in $XDG_CONFIG_HOME/lbdeck/profiles/ then
    /// ./profiles/) or a path to a .toml file.
    #[arg(short, long, env = "LBDECK_PROFILE")]
    profile: Option<String>,
}

/// Where the fleet's profiles are.
#[derive(Debug, Clone, Default, Args)]
struct ProfileDir {
    /// The profile directory the fleet overview opens when no --profile is given, and
    /// `status --all` polls (default: $XDG_CONFIG_HOME/lbdeck/profiles/, then
    /// ./profiles/).
    #[arg(long, value_name = "DIR")]
    profiles: Option<PathBuf>,
}

/// How the console looks and answers keys.
#[derive(Debug, Clone, Default, Args)]
struct Look {
    /// Colour theme (dark, light, high-contrast, catppuccin-mocha, gruvbox, or one of
    /// yours in $XDG_CONFIG_HOME/lbdeck/themes/). `t` cycles themes live.
    #[arg(long, env = "LBDECK_THEME")]
    theme: Option<String>,

    /// Keymap file (default: $XDG_CONFIG_HOME/lbdeck/keys.toml when it exists).
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
}

/// How a server change is confirmed and forced.
#[derive(Debug, Clone, Default, Args)]
struct Act {
    /// Confirmed: do not ask.
    #[arg(long)]
    yes: bool,
    /// The name to type, for changes that need it typed, when there is no terminal (the
    /// backend's; the profile's for a batch of several).
    #[arg(long, value_name = "NAME")]
    confirm: Option<String>,
    /// Act even if a balancer's state could not be read first (recorded in the audit
    /// line as forced). Without it such an action is refused (exit 3).
    #[arg(long)]
    force: bool,
}

/// What a roll does when a backend's sessions do not end in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Timeout {
    /// Kill them and go on.
    Kill,
    /// Put the backend back untouched and go on.
    Skip,
    /// Stop, leaving it drained.
    Abort,
}

/// A balancing daemon, for `init --kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KindArg {
    /// nginx (open source, or NGINX Plus when its API is configured).
    Nginx,
    /// HAProxy.
    Haproxy,
}

impl KindArg {
    fn kind(self) -> BalancerKind {
        match self {
            KindArg::Nginx => BalancerKind::Nginx,
            KindArg::Haproxy => BalancerKind::Haproxy,
        }
    }
}

/// A switch's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnOff {
    /// Switched on.
    On,
    /// Switched off.
    Off,
}

/// Whether anything may change a cluster.
#[derive(Debug, Clone, Default, Args)]
struct Guard {
    /// Refuse every action that changes a cluster (drain, failover, a shell…), in the
    /// console and on the command line.
    #[arg(long)]
    read_only: bool,
}

/// Measuring the console.
#[derive(Debug, Clone, Default, Args)]
struct Measure {
    /// Measure the console: frames are drawn at least every 50 ms and one JSON line per
    /// second (render time p50/p99/max, longest gap between frames) goes to FILE, with a
    /// summary line at exit. For benchmarks and fault drills.
    #[arg(long, value_name = "FILE")]
    frame_stats: Option<PathBuf>,
}

/// Each command's own flags, with those given before the command merged in (so
/// `lbdeck --profile shop drain web2` and `lbdeck drain --profile shop web2` agree).
#[derive(Debug, Clone, Default)]
struct Settings {
    target: Target,
    look: Look,
    guard: Guard,
    measure: Measure,
    source: Option<SourceArg>,
}

impl Cli {
    /// `--profiles DIR`, given before or after the command.
    fn profile_dir(&self) -> Option<&std::path::Path> {
        let sub = match &self.command {
            Some(Command::Watch { dir, .. }) | Some(Command::Status { dir, .. }) => {
                dir.profiles.as_deref()
            }
            _ => None,
        };
        sub.or(self.dir.profiles.as_deref())
    }

    fn settings(&self) -> Settings {
        let none = (None, None, None, None);
        let (t, l, g, m) = match &self.command {
            None => none,
            Some(Command::Watch {
                target,
                look,
                guard,
                measure,
                ..
            }) => (Some(target), Some(look), Some(guard), Some(measure)),
            Some(Command::Demo {
                look,
                guard,
                measure,
                ..
            }) => (None, Some(look), Some(guard), Some(measure)),
            Some(Command::Status { target, .. })
            | Some(Command::Traffic { target, .. })
            | Some(Command::Sudoers { target }) => (Some(target), None, None, None),
            Some(Command::Drain { target, guard, .. })
            | Some(Command::Ready { target, guard, .. })
            | Some(Command::Maint { target, guard, .. })
            | Some(Command::Weight { target, guard, .. })
            | Some(Command::KillSessions { target, guard, .. })
            | Some(Command::Health { target, guard, .. })
            | Some(Command::Agent { target, guard, .. })
            | Some(Command::Roll { target, guard, .. })
            | Some(Command::Failover { target, guard, .. })
            | Some(Command::Failback { target, guard, .. })
            | Some(Command::Runtime { target, guard, .. }) => {
                (Some(target), None, Some(guard), None)
            }
            Some(Command::Check { target, look, .. }) => (Some(target), Some(look), None, None),
            Some(Command::Init { .. } | Command::Completions { .. } | Command::Man) => none,
        };
        let source = match &self.command {
            Some(Command::Watch { read, .. }) | Some(Command::Status { read, .. }) => read.source,
            _ => None,
        };
        Settings {
            source: source.or(self.read.source),
            target: Target {
                profile: t
                    .and_then(|t| t.profile.clone())
                    .or_else(|| self.target.profile.clone()),
            },
            look: Look {
                theme: l
                    .and_then(|l| l.theme.clone())
                    .or_else(|| self.look.theme.clone()),
                keys: l
                    .and_then(|l| l.keys.clone())
                    .or_else(|| self.look.keys.clone()),
            },
            guard: Guard {
                read_only: g.is_some_and(|g| g.read_only) || self.guard.read_only,
            },
            measure: Measure {
                frame_stats: m
                    .and_then(|m| m.frame_stats.clone())
                    .or_else(|| self.measure.frame_stats.clone()),
            },
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the console on a cluster profile (the default when --profile is given);
    /// without one, the fleet overview of every profile.
    Watch {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        dir: ProfileDir,
        #[command(flatten)]
        look: Look,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        measure: Measure,
        #[command(flatten)]
        read: Read,
    },
    /// Open the console on a simulated cluster on loopback: no setup needed.
    Demo {
        #[command(flatten)]
        look: Look,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        measure: Measure,
        /// Which balancer pair to simulate.
        #[arg(long, value_enum, default_value_t = DemoKind::Haproxy)]
        kind: DemoKind,
        /// Number of backends.
        #[arg(long, default_value_t = lbdeck::demo::DEMO_BACKENDS, value_parser = backend_count)]
        backends: usize,
        /// Simulate a fleet: an HAProxy, an nginx and an NGINX Plus pair at once, shown
        /// in the fleet overview (Enter opens one, Esc comes back).
        #[arg(long, conflicts_with = "kind")]
        fleet: bool,
        /// Instead of the console, serve HAProxy-exporter `/metrics` (with keepalived's
        /// state) for --clusters simulated HAProxy pairs: each balancer a scrape target
        /// of its own at an address in 127.77/16 on PORT, until SIGTERM or Ctrl-C. Prints
        /// the targets (Prometheus file_sd JSON), or with --write writes them and the
        /// clusters' profiles.
        #[arg(long, value_name = "PORT", conflicts_with = "fleet")]
        metrics: Option<u16>,
        /// With --metrics: how many clusters.
        #[arg(long, default_value_t = 200, requires = "metrics")]
        clusters: usize,
        /// With --metrics: servers behind each cluster.
        #[arg(long, default_value_t = 10, value_parser = backend_count, requires = "metrics")]
        servers: usize,
        /// With --metrics: write DIR/profiles/NAME.toml (read through Prometheus) and
        /// DIR/targets.json (file_sd_configs).
        #[arg(long, value_name = "DIR", requires = "metrics")]
        write: Option<PathBuf>,
        /// With --metrics: the Prometheus server the profiles read from.
        #[arg(
            long,
            value_name = "URL",
            default_value = "http://127.0.0.1:9090",
            requires = "metrics"
        )]
        prometheus: String,
        /// With --metrics: the profiles' poll and background interval (Prometheus' scrape
        /// interval: asking more often finds nothing new).
        #[arg(
            long,
            value_name = "DURATION",
            default_value = "5s",
            requires = "metrics"
        )]
        interval: String,
    },
    /// Poll every source once and print a snapshot: a table, or JSON with --json.
    /// Unreachable parts are reported inside the snapshot; the exit code is 0 unless the
    /// profile itself is unusable.
    Status {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        dir: ProfileDir,
        #[command(flatten)]
        read: Read,
        /// Print JSON (profile, vip, balancers, backends with health and per-balancer
        /// state, alerts): indented on a terminal, one compact line otherwise (for
        /// scripts and `jq`). With --all: one compact line per cluster.
        #[arg(long)]
        json: bool,
        /// Indent the JSON even when stdout is not a terminal.
        #[arg(long, requires = "json")]
        pretty: bool,
        /// Poll the simulated demo cluster instead of a profile.
        #[arg(long, conflicts_with = "profile")]
        demo: bool,
        /// Poll every profile found ($XDG_CONFIG_HOME/lbdeck/profiles/, ./profiles/) at
        /// once: one line per cluster (VIP holder, balancers up, backends healthy, first
        /// alert). Exit code 1 when any cluster has an alert or a broken profile.
        #[arg(long, conflicts_with_all = ["profile", "demo"])]
        all: bool,
    },
    /// Follow the nginx balancers' access logs over SSH for a while and print per-backend
    /// traffic: requests, req/s, 5xx/s and p50/p95/p99 upstream response time.
    Traffic {
        #[command(flatten)]
        target: Target,
        /// How long to follow the logs.
        #[arg(long = "for", default_value = "10s", value_parser = humantime::parse_duration)]
        period: std::time::Duration,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Drain a backend on every balancer of the pair (no new sessions; existing ones
    /// finish), then read the state back from each. Asks for confirmation on a terminal
    /// (the backend's name for the last healthy backend or a production profile); without
    /// a terminal needs --yes (or --confirm NAME for those). Exit 0 only when every
    /// balancer confirmed; 3 when refused.
    Drain {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        /// The backend: its name in the profile (the HAProxy server, the nginx upstream server).
        backend: String,
        /// Return only when its sessions have fallen to 0 (or fail at --timeout).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        /// Confirmed: do not ask.
        #[arg(long)]
        yes: bool,
        /// The backend's name, for actions that need it typed, when there is no terminal.
        #[arg(long, value_name = "NAME")]
        confirm: Option<String>,
        /// Act even if a balancer's state could not be read first (recorded in the
        /// audit line as forced). Without it such an action is refused (exit 3).
        #[arg(long)]
        force: bool,
    },
    /// Put backends back in rotation (READY: drain and maintenance lifted) on every
    /// balancer, then read it back. `undrain` is the same command.
    #[command(alias = "undrain")]
    Ready {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        act: Act,
        /// The backends: their names in the profile. Several act as one confirmed batch.
        #[arg(required = true)]
        backends: Vec<String>,
    },
    /// Put backends in maintenance (MAINT) on every balancer: out of rotation at once,
    /// persistent and sticky clients too (a drain lets those finish); open sessions are
    /// not cut. nginx open source marks the server `down` (as its drain does).
    Maint {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        act: Act,
        /// The backends: their names in the profile. Several act as one confirmed batch.
        #[arg(required = true)]
        backends: Vec<String>,
    },
    /// Set backends' weight on every balancer and read it back: `N` (0–256; 0 takes it
    /// out of rotation), `N%` of the configured weight, `+N`/`-N` from the current one,
    /// or `initial` (the configured weight; on nginx the server line byte for byte as it
    /// was). HAProxy's static algorithms take only 0% and 100%; nginx takes 1 and up.
    #[command(allow_negative_numbers = true)]
    Weight {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        act: Act,
        /// The backends, by their names in the profile.
        #[arg(required = true, value_name = "BACKEND")]
        backends: Vec<String>,
        /// The weight, last: `7`, `50%`, `+1`, `-10` or `initial`.
        #[arg(required = true, value_name = "WEIGHT")]
        weight: String,
    },
    /// End every session open on backends, on every HAProxy of the pair (`shutdown
    /// sessions server`): clients are cut off. The name must be typed (--confirm NAME
    /// without a terminal).
    KillSessions {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        act: Act,
        /// The backends: their names in the profile.
        #[arg(required = true)]
        backends: Vec<String>,
    },
    /// Switch HAProxy's health checks of backends on or off on every balancer (off: the
    /// server keeps its last state whatever it answers).
    Health {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        act: Act,
        /// on or off.
        switch: OnOff,
        /// The backends: their names in the profile.
        #[arg(required = true)]
        backends: Vec<String>,
    },
    /// Rolling maintenance: for each backend in turn — drain it on every balancer, wait
    /// for its sessions to end, run --exec on it over SSH (its output shown), wait until
    /// our probe and every balancer see it healthy, put it back — then the next. The
    /// capacity guard runs before each drain; a failed step stops the roll where it is
    /// (said, and in the audit log, whose lines carry the roll's id). Confirmed once.
    Roll {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        act: Act,
        /// The backends, in the order to take them.
        #[arg(required = true)]
        backends: Vec<String>,
        /// Run this on each backend while it is out of rotation (e.g. `systemctl restart
        /// apache2`), over SSH as the profile's SSH user; a non-zero exit stops the roll.
        #[arg(long, value_name = "CMD")]
        exec: Option<String>,
        /// How long a backend may take to be healthy again.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        wait_healthy: std::time::Duration,
        /// How long a drained backend's sessions may take to end.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        drain_timeout: std::time::Duration,
        /// When sessions do not end in time: kill them, skip the backend, or abort. On a
        /// terminal lbdeck asks; without one the default is abort.
        #[arg(long, value_enum)]
        on_timeout: Option<Timeout>,
    },
    /// Switch HAProxy's agent checks of backends on or off on every balancer.
    Agent {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        act: Act,
        /// on or off.
        switch: OnOff,
        /// The backends: their names in the profile.
        #[arg(required = true)]
        backends: Vec<String>,
    },
    /// Move the VIP to the peer on purpose (the profile's failover method: write the track
    /// file or stop keepalived) after pre-checks, and follow it: when it left, arrived,
    /// and served again. Returns once the VIP has arrived (or fails after 30 s).
    Failover {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        /// Confirmed: do not ask.
        #[arg(long)]
        yes: bool,
        /// The MASTER's name, for production profiles when there is no terminal.
        #[arg(long, value_name = "NAME")]
        confirm: Option<String>,
    },
    /// Undo a failover (track file back to 0, or keepalived started) so the VIP returns to
    /// the node with the highest priority.
    Failback {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        /// Confirmed: do not ask.
        #[arg(long)]
        yes: bool,
        /// The node's name, for production profiles when there is no terminal.
        #[arg(long, value_name = "NAME")]
        confirm: Option<String>,
    },
    /// Check a profile, theme and keymap, then ask every balancer for what lbdeck will
    /// need from it: its status source, the SSH login (host key, authentication),
    /// `sudo -n`, keepalived's FIFO and JSON dump, the upstream file, the access log.
    /// ✓ or ✗ each, with the reason; exit 1 on any ✗.
    Check {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        look: Look,
        /// Only validate the files; connect to nothing.
        #[arg(long)]
        offline: bool,
    },
    /// Discover a balancer pair from its own configuration and write its profile: reads
    /// keepalived.conf (and includes), the running HAProxy's config files and `nginx -T` on
    /// both nodes over SSH, writes every value with the file:line it came from, lists the
    /// differences between the two and what it could not find (with how to add it), then
    /// runs `check` on the result. Exit 0 written and every check passed (so `lbdeck init A B
    /// && lbdeck` opens it), 1 written but a check failed,
    /// 2 nothing written.
    Init {
        /// The two balancers: addresses or ~/.ssh/config aliases.
        #[arg(num_args = 2, required = true, value_name = "HOST")]
        hosts: Vec<String>,
        /// The profile's name (default: the balancers' common host-name stem and the kind,
        /// e.g. lb-haproxy).
        #[arg(long)]
        name: Option<String>,
        /// Where to write (default: $XDG_CONFIG_HOME/lbdeck/profiles/NAME.toml).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the profile instead of writing it.
        #[arg(long)]
        dry_run: bool,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
        /// Which balancer, when both nginx and HAProxy run on the nodes.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Which vrrp_instance, when keepalived has several (one profile each).
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
        /// SSH user (default: ~/.ssh/config's, else root).
        #[arg(long)]
        user: Option<String>,
        /// SSH private key (default: ssh-agent and ~/.ssh/config's IdentityFile).
        #[arg(long, value_name = "FILE")]
        identity_file: Option<String>,
        /// known_hosts file (default: ~/.ssh/known_hosts).
        #[arg(long, value_name = "FILE")]
        known_hosts: Option<String>,
        /// Read the configuration through `sudo -n` (a non-root SSH user), and write
        /// `sudo = true` into the profile.
        #[arg(long)]
        sudo: bool,
        /// How long each SSH step may take.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Print a shell completion script, e.g. `lbdeck completions bash >
    /// /usr/share/bash-completion/completions/lbdeck` (the Debian package installs all
    /// three).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `lbdeck man | man -l -`.
    Man,
    /// Print, per balancer, the least sudoers rules the profile's SSH user needs to run
    /// lbdeck with `[ssh] sudo = true` (install with `visudo -f /etc/sudoers.d/lbdeck`).
    /// Commands no narrow rule can allow are listed as comments with the reason.
    Sudoers {
        #[command(flatten)]
        target: Target,
    },
    /// Send a command to HAProxy's runtime API on every HAProxy balancer of the pair (or
    /// --balancer NAME) and print each one's answer under its name, e.g.
    /// `lbdeck runtime --profile shop 'show servers state be_web'`. show, get and help
    /// only read: they run at once, under --read-only too. Anything else is confirmed
    /// (--yes, or --confirm NAME for production), audited, and refused under
    /// --read-only (exit 3). Exit 0 when every balancer took it, 1 when not every one.
    Runtime {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        guard: Guard,
        /// Only this balancer (its name in the profile).
        #[arg(long, value_name = "NAME")]
        balancer: Option<String>,
        /// Confirmed: do not ask.
        #[arg(long)]
        yes: bool,
        /// The balancer's name, or the profile's for every balancer, for production
        /// profiles when there is no terminal.
        #[arg(long, value_name = "NAME")]
        confirm: Option<String>,
        /// The command, as HAProxy's CLI takes it (quoted, or as several words).
        #[arg(required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DemoKind {
    Haproxy,
    Nginx,
    NginxPlus,
}

/// The `--frame-stats` file, created.
fn frame_stats(cli: &Settings) -> Result<Option<lbdeck::frames::FrameStats>, Failure> {
    cli.measure
        .frame_stats
        .as_deref()
        .map(|p| {
            lbdeck::frames::FrameStats::create(p)
                .map_err(|e| anyhow::anyhow!("--frame-stats {}: {e}", p.display()).into())
        })
        .transpose()
}

/// Backends in the demo: 1 to 2000.
fn backend_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=2000).contains(&n) => Ok(n),
        _ => Err(format!("expected a number from 1 to 2000, found {s:?}")),
    }
}

const AFTER_HELP: &str = "\
Examples:
  lbdeck demo                         the console on a simulated cluster (start here)
  lbdeck                              the fleet overview: every profile, one row each
  lbdeck --profile shop               the console on profiles/shop.toml
  lbdeck status --profile shop --json one snapshot for scripts
  lbdeck check --profile shop         validate a profile

Keys in the console: ? help, / filter, o sort, t theme, Tab next pane, q quit;
in a fleet: Enter opens a cluster, Esc back to the overview, C picks one by name.
Exit codes: 0 ok, 1 runtime failure, 2 bad arguments or configuration.";

/// Lines the log writer's queue holds before it drops new ones.
const LOG_QUEUE_LINES: usize = 1024;

/// How long work still running at exit may take to finish before lbdeck leaves anyway.
const QUIT_GRACE_MS: u64 = 50;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = init_logging(cli.log_file.clone());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lbdeck: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // Quit at once: SSH sessions, followers and blocking look-ups still running are
    // abandoned, not waited for (the terminal is already restored).
    runtime.shutdown_timeout(std::time::Duration::from_millis(QUIT_GRACE_MS));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            eprintln!("lbdeck: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Exit(code)) => ExitCode::from(code),
        Err(Failure::Usage(e)) => {
            eprintln!("lbdeck: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            lbdeck::tui::restore();
            eprintln!("lbdeck: {e:#}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    /// Ends with this exit code (0 included); the command printed its own messages.
    Exit(u8),
    Config(ConfigError),
    Usage(String),
    Runtime(anyhow::Error),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Config(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

fn load_profile(cli: &Settings) -> Result<(Profile, Option<String>), Failure> {
    let Some(name) = cli.target.profile.as_deref() else {
        return Err(Failure::Usage(
            "no profile given: use --profile NAME|PATH, or try `lbdeck demo` first".into(),
        ));
    };
    let mut loaded = Profile::load(name)?;
    match cli.source {
        Some(SourceArg::Direct) => loaded.profile.source = SourceKind::Direct,
        Some(SourceArg::Prometheus) => {
            loaded.profile.source = SourceKind::Prometheus;
            loaded
                .profile
                .prometheus_ready()
                .map_err(|(_, why)| Failure::Usage(format!("--source prometheus: {why}")))?;
        }
        None => {}
    }
    Ok((loaded.profile, loaded.path.map(|p| p.display().to_string())))
}

/// The theme set, the theme to start with, the keymap and NO_COLOR, as asked.
struct LookChosen {
    themes: ThemeSet,
    index: usize,
    keymap: Keymap,
    no_color: bool,
}

fn look(cli: &Settings) -> Result<LookChosen, Failure> {
    let themes = ThemeSet::load()?;
    let index = match cli.look.theme.as_deref() {
        None => themes.for_background(std::env::var("COLORFGBG").ok().as_deref()),
        Some(name) => themes.position(name).ok_or_else(|| {
            Failure::Usage(format!(
                "unknown theme {name:?}; available: {}",
                themes.names().join(", ")
            ))
        })?,
    };
    let keymap = match &cli.look.keys {
        Some(path) => Keymap::load(path, true)?,
        None => match config_dir() {
            Some(dir) => Keymap::load(&dir.join("keys.toml"), false)?,
            None => Keymap::default(),
        },
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    Ok(LookChosen {
        themes,
        index,
        keymap,
        no_color,
    })
}

fn new_app(cli: &Settings, look: &LookChosen, profile: &Profile) -> App {
    let mut app = App::new(
        profile,
        look.keymap.clone(),
        look.themes.clone(),
        look.index,
        look.no_color,
    );
    app.read_only = cli.guard.read_only;
    if let Some(path) = &cli.look.keys {
        app.keymap_path = Some(path.clone());
    }
    app
}

fn build_app(cli: &Settings, profile: &Profile) -> Result<App, Failure> {
    Ok(new_app(cli, &look(cli)?, profile))
}

/// What to do first, when there is no profile anywhere: one screen instead of an error.
fn first_run() -> String {
    let looked = lbdeck::config::profile::search_dirs()
        .iter()
        .map(|d| match d.is_relative() {
            true => format!("./{}", d.display()),
            false => d.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(" and ");
    format!(
        "lbdeck: no cluster profile yet (looked in {looked}).

  See it first           lbdeck demo              a simulated pair, nothing to set up
                         lbdeck demo --fleet      several simulated clusters
  Describe your pair     lbdeck init LB1 LB2      reads keepalived.conf, haproxy.cfg or
                                                  nginx -T over SSH and writes a profile
                                                  into the first of those directories
  Then                   lbdeck                   every profile there, one row each
                         lbdeck --profile NAME    one cluster
                         lbdeck check --profile NAME   what it can reach, and what not

  `lbdeck --help`, `man lbdeck` and the README say the rest (profiles, keys, sudo).
"
    )
}

/// The profile files the fleet opens: `--profiles DIR`, or the usual directories.
fn fleet_files(dir: Option<&std::path::Path>) -> Vec<PathBuf> {
    match dir {
        Some(d) => lbdeck::status::profile_files(&[d.to_path_buf()]),
        None => lbdeck::status::all_profile_files(),
    }
}

/// Every profile of the fleet's directory, each a console; a broken one keeps its error.
fn load_fleet(cli: &Settings, dir: Option<&std::path::Path>) -> Result<Fleet, Failure> {
    let files = fleet_files(dir);
    if files.is_empty() && dir.is_none() {
        lbdeck::out!("{}", first_run());
        return Err(Failure::Exit(0));
    }
    if files.is_empty() {
        let looked = match dir {
            Some(d) => d.display().to_string(),
            None => lbdeck::config::profile::search_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(" and "),
        };
        return Err(Failure::Usage(format!(
            "no profile given and none found in {looked}: use --profile NAME|PATH, \
             --profiles DIR, or try `lbdeck demo` first"
        )));
    }
    let look = look(cli)?;
    let members = files
        .iter()
        .map(|path| {
            let shown = path.display().to_string();
            match Profile::load(&shown) {
                Ok(mut loaded) => Member {
                    name: loaded.profile.name.clone(),
                    state: match loaded.profile.fleet_source(cli.source.map(SourceArg::kind)) {
                        Ok(()) => Ok(Box::new(new_app(cli, &look, &loaded.profile))),
                        Err(why) => Err(format!("--source prometheus: {why}")),
                    },
                },
                Err(mut e) => {
                    // The directory is the fleet's: the row names the file alone.
                    if let Some(name) = path.file_name() {
                        e.file = name.to_string_lossy().into_owned();
                    }
                    Member {
                        name: path
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or(shown),
                        state: Err(e.to_string()),
                    }
                }
            }
        })
        .collect();
    Ok(Fleet::new(
        members,
        look.keymap,
        look.themes,
        look.index,
        look.no_color,
    ))
}

/// `demo --fleet`: one simulated pair of each kind, kept running while the console is.
async fn demo_fleet(
    cli: &Settings,
    backends: usize,
) -> Result<(Fleet, Vec<lbdeck::demo::Demo>), Failure> {
    let look = look(cli)?;
    let mut demos = Vec::new();
    let mut members = Vec::new();
    for (kind, name) in [
        (BalancerKind::Haproxy, "demo-haproxy"),
        (BalancerKind::Nginx, "demo-nginx"),
        (BalancerKind::NginxPlus, "demo-nginx-plus"),
    ] {
        let mut demo = lbdeck::demo::start(kind, backends).await?;
        demo.profile.name = name.to_string();
        let mut app = new_app(cli, &look, &demo.profile);
        app.demo = true;
        members.push(Member {
            name: name.to_string(),
            state: Ok(Box::new(app)),
        });
        demos.push(demo);
    }
    let fleet = Fleet::new(members, look.keymap, look.themes, look.index, look.no_color);
    Ok((fleet, demos))
}

/// `demo --metrics`: the simulated fleet's exporters, until SIGTERM or Ctrl-C.
async fn metrics_demo(
    shape: &lbdeck::demo::metrics::FleetShape,
    write: Option<&std::path::Path>,
) -> Result<(), Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let fleet = lbdeck::demo::metrics::start(shape).await?;
    match write {
        Some(dir) => {
            fleet.write(dir)?;
            eprintln!(
                "lbdeck: {} clusters, {} exporters on port {}; profiles in {}, targets in {}",
                fleet.profiles.len(),
                fleet.targets.len(),
                shape.port,
                dir.join("profiles").display(),
                dir.join("targets.json").display()
            );
        }
        None => {
            lbdeck::outln!("{}", fleet.file_sd());
        }
    }
    let mut term = signal(SignalKind::terminate()).map_err(anyhow::Error::from)?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let set = cli.settings();
    match &cli.command {
        None | Some(Command::Watch { .. }) if set.target.profile.is_none() => {
            let fleet = load_fleet(&set, cli.profile_dir())?;
            lbdeck::tui::run_fleet(fleet, frame_stats(&set)?).await?;
        }
        None | Some(Command::Watch { .. }) => {
            let (profile, _) = load_profile(&set)?;
            let app = build_app(&set, &profile)?;
            lbdeck::tui::run(app, frame_stats(&set)?).await?;
        }
        Some(Command::Demo {
            metrics: Some(port),
            clusters,
            servers,
            write,
            prometheus,
            interval,
            ..
        }) => {
            let shape = lbdeck::demo::metrics::FleetShape {
                clusters: *clusters,
                servers: *servers,
                port: *port,
                prometheus: prometheus.clone(),
                interval: interval.clone(),
            };
            metrics_demo(&shape, write.as_deref()).await?;
        }
        Some(Command::Demo {
            backends,
            fleet: true,
            ..
        }) => {
            let (fleet, _demos) = demo_fleet(&set, *backends).await?;
            lbdeck::tui::run_fleet(fleet, frame_stats(&set)?).await?;
        }
        Some(Command::Demo { kind, backends, .. }) => {
            let kind = match kind {
                DemoKind::Haproxy => BalancerKind::Haproxy,
                DemoKind::Nginx => BalancerKind::Nginx,
                DemoKind::NginxPlus => BalancerKind::NginxPlus,
            };
            let demo = lbdeck::demo::start(kind, *backends).await?;
            let mut app = build_app(&set, &demo.profile)?;
            app.demo = true;
            lbdeck::tui::run(app, frame_stats(&set)?).await?;
        }
        Some(Command::Status {
            json,
            pretty,
            all: true,
            ..
        }) => {
            let source = set.source.map(SourceArg::kind);
            let report = lbdeck::status::collect_all(fleet_files(cli.profile_dir()), source).await;
            if *json && *pretty {
                lbdeck::outln!("{}", json_text(&report.clusters, true)?);
            } else if *json {
                let lines =
                    lbdeck::status::json_lines(&report).map_err(|e| Failure::Runtime(e.into()))?;
                lbdeck::out!("{lines}");
            } else {
                lbdeck::out!("{}", lbdeck::status::human_all(&report));
            }
            return Err(Failure::Exit(u8::from(report.trouble())));
        }
        Some(Command::Status {
            json, demo, pretty, ..
        }) => {
            let (report, _guard) = if *demo {
                let d =
                    lbdeck::demo::start(BalancerKind::Haproxy, lbdeck::demo::DEMO_BACKENDS).await?;
                // Let the simulation produce some traffic before the snapshot.
                tokio::time::sleep(std::time::Duration::from_millis(600)).await;
                (
                    lbdeck::status::collect(&d.profile, Some("(demo)".into())).await,
                    Some(d),
                )
            } else {
                let (profile, file) = load_profile(&set)?;
                (lbdeck::status::collect(&profile, file).await, None)
            };
            if *json {
                lbdeck::outln!("{}", json_text(&report, *pretty)?);
            } else {
                lbdeck::out!("{}", lbdeck::status::human(&report));
            }
        }
        Some(Command::Traffic { period, json, .. }) => {
            let (profile, _) = load_profile(&set)?;
            let report = lbdeck::status::traffic(&profile, *period).await;
            if *json {
                lbdeck::outln!("{}", json_text(&report, false)?);
            } else {
                lbdeck::out!("{}", lbdeck::status::traffic_human(&report));
            }
            // Nothing followed is a failure, whatever was printed.
            if report.balancers.is_empty() {
                let why: Vec<String> = report
                    .errors
                    .iter()
                    .map(|(who, e)| format!("{who}: {e}"))
                    .collect();
                eprintln!(
                    "lbdeck: no access log could be followed ({})",
                    if why.is_empty() {
                        "no balancer answered in time".to_string()
                    } else {
                        why.join("; ")
                    }
                );
                return Err(Failure::Exit(1));
            }
        }
        Some(Command::Drain {
            backend,
            wait,
            timeout,
            yes,
            confirm,
            force,
            ..
        }) => {
            let (profile, _) = load_profile(&set)?;
            let opts = action_options(
                &set,
                *yes,
                confirm,
                *force,
                Some(*timeout).filter(|_| *wait),
            );
            let op = lbdeck::ops::Operation::drain(backend);
            return Err(Failure::Exit(
                lbdeck::ops::cli::act(&profile, op, &opts).await,
            ));
        }
        Some(
            cmd @ (Command::Ready { .. }
            | Command::Maint { .. }
            | Command::Weight { .. }
            | Command::KillSessions { .. }
            | Command::Health { .. }
            | Command::Agent { .. }),
        ) => {
            let Some(asked) = server_change(cmd) else {
                return Ok(());
            };
            let (change, backends, act) = asked.map_err(|e| {
                Failure::Usage(format!("{e} (the weight comes last: weight web1 7)"))
            })?;
            let (profile, _) = load_profile(&set)?;
            let opts = action_options(&set, act.yes, &act.confirm, act.force, None);
            let ops: Vec<lbdeck::ops::Operation> = backends
                .iter()
                .map(|b| lbdeck::ops::Operation::server(b, change))
                .collect();
            return Err(Failure::Exit(
                lbdeck::ops::cli::act_all(&profile, ops, &opts).await,
            ));
        }
        Some(Command::Roll {
            act,
            backends,
            exec,
            wait_healthy,
            drain_timeout,
            on_timeout,
            ..
        }) => {
            use lbdeck::ops::roll::{OnTimeout, RollOptions};
            let (profile, _) = load_profile(&set)?;
            let opts = action_options(&set, act.yes, &act.confirm, act.force, None);
            let ropts = RollOptions {
                exec: exec.clone(),
                wait_healthy: *wait_healthy,
                drain_timeout: *drain_timeout,
            };
            let decide = on_timeout.map(|t| match t {
                Timeout::Kill => OnTimeout::Kill,
                Timeout::Skip => OnTimeout::Skip,
                Timeout::Abort => OnTimeout::Abort,
            });
            return Err(Failure::Exit(
                lbdeck::ops::cli::roll(&profile, backends, &ropts, decide, &opts).await,
            ));
        }
        Some(Command::Failover { yes, confirm, .. })
        | Some(Command::Failback { yes, confirm, .. }) => {
            let (profile, _) = load_profile(&set)?;
            let op = match &cli.command {
                Some(Command::Failback { .. }) => lbdeck::ops::Operation::FAILBACK,
                _ => lbdeck::ops::Operation::FAILOVER,
            };
            let opts = action_options(&set, *yes, confirm, false, None);
            return Err(Failure::Exit(
                lbdeck::ops::cli::act(&profile, op, &opts).await,
            ));
        }
        Some(Command::Check { offline, .. }) => {
            let (profile, file) = load_profile(&set)?;
            build_app(&set, &profile)?;
            lbdeck::outln!(
                "{}: ok — {} balancer(s), {} backend(s), poll every {}",
                file.unwrap_or_default(),
                profile.balancers.len(),
                profile.backends.len(),
                humantime::format_duration(profile.poll_interval)
            );
            if *offline {
                for b in profile.balancers() {
                    lbdeck::outln!("  {} ({}) via {}", b.name, b.kind, b.status_endpoint());
                }
                return Ok(());
            }
            let items = lbdeck::check::run(&profile).await;
            lbdeck::out!("{}", lbdeck::check::human(&items));
            if items.iter().any(|i| i.result.is_err()) {
                return Err(Failure::Exit(1));
            }
        }
        Some(Command::Init {
            hosts,
            name,
            out,
            dry_run,
            force,
            kind,
            instance,
            user,
            identity_file,
            known_hosts,
            sudo,
            timeout,
        }) => {
            let args = lbdeck::init::cli::Args {
                hosts: hosts.clone(),
                choice: lbdeck::init::Choice {
                    name: name.clone().unwrap_or_default(),
                    kind: kind.map(KindArg::kind),
                    instance: instance.clone(),
                    user: user.clone(),
                    identity_file: identity_file.clone(),
                    known_hosts: known_hosts.clone(),
                    sudo: *sudo,
                },
                out: out.clone(),
                dry_run: *dry_run,
                force: *force,
                timeout: *timeout,
            };
            return Err(Failure::Exit(lbdeck::init::cli::run(args).await));
        }
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "lbdeck", &mut out);
            lbdeck::out!("{}", String::from_utf8_lossy(&out));
        }
        Some(Command::Man) => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            let page = Cli::command().about(
                "an operations console for load-balanced web clusters (nginx or HAProxy pairs with keepalived)",
            );
            clap_mangen::Man::new(page)
                .render(&mut out)
                .map_err(|e| Failure::Runtime(e.into()))?;
            lbdeck::out!("{}", String::from_utf8_lossy(&out));
        }
        Some(Command::Sudoers { .. }) => {
            let (profile, _) = load_profile(&set)?;
            lbdeck::out!("{}", lbdeck::sudoers::render(&profile));
        }
        Some(Command::Runtime {
            balancer,
            yes,
            confirm,
            command,
            ..
        }) => {
            let (profile, _) = load_profile(&set)?;
            let opts = action_options(&set, *yes, confirm, false, None);
            let command = command.join(" ");
            return Err(Failure::Exit(
                lbdeck::ops::runtime::act(&profile, balancer.clone(), &command, &opts).await,
            ));
        }
    }
    Ok(())
}

/// JSON for scripts: one compact line unless stdout is a terminal or `pretty` is asked.
fn json_text(value: &impl serde::Serialize, pretty: bool) -> Result<String, Failure> {
    use std::io::IsTerminal;
    let text = if pretty || std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    text.map_err(|e| Failure::Runtime(e.into()))
}

/// How an action command was asked for (the same for every operation); `wait` is the
/// `--wait` limit when given.
/// A server change asked on the command line: the change, its backends, its flags.
type Asked<'a> = (lbdeck::ops::ServerChange, &'a [String], &'a Act);

/// The server change a command asks for; None for commands that are not one; Err for a
/// weight that does not read.
fn server_change(cmd: &Command) -> Option<Result<Asked<'_>, String>> {
    use lbdeck::ops::ServerChange;
    let on = |s: &OnOff| *s == OnOff::On;
    Some(Ok(match cmd {
        Command::Ready { backends, act, .. } => (ServerChange::Ready, backends, act),
        Command::Maint { backends, act, .. } => (ServerChange::Maint, backends, act),
        Command::KillSessions { backends, act, .. } => (ServerChange::KillSessions, backends, act),
        Command::Health {
            backends,
            act,
            switch,
            ..
        } => (ServerChange::Health(on(switch)), backends, act),
        Command::Agent {
            backends,
            act,
            switch,
            ..
        } => (ServerChange::Agent(on(switch)), backends, act),
        Command::Weight {
            backends,
            weight,
            act,
            ..
        } => match lbdeck::ops::Weight::parse(weight) {
            Ok(w) => (ServerChange::Weight(w), backends, act),
            Err(e) => return Some(Err(e)),
        },
        _ => return None,
    }))
}

fn action_options(
    cli: &Settings,
    yes: bool,
    confirm: &Option<String>,
    force: bool,
    wait: Option<std::time::Duration>,
) -> lbdeck::ops::cli::Options {
    lbdeck::ops::cli::Options {
        read_only: cli.guard.read_only,
        yes,
        confirm: confirm.clone(),
        force,
        wait: wait.is_some(),
        timeout: wait.unwrap_or_default(),
    }
}

/// Logs to a file only (the terminal belongs to the console). Failing to open the log
/// is not fatal.
fn init_logging(path: Option<PathBuf>) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let path = path.or_else(|| state_dir().map(|d| d.join("lbdeck.log")))?;
    let dir = path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    // A small queue: the default holds 128,000 lines, touched up front (4 MB resident)
    // for a log that gets a few lines a minute.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("LBDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
