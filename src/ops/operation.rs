//! The one value every change is: built from a console key or a command-line argument,
//! and carried unchanged through plan, confirmation, execution on every balancer,
//! read-back, report and audit.

use std::fmt;

use serde::Serialize;

/// One change an operator can make to a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Change one backend's state on every balancer of the pair.
    Server {
        /// The backend, by its name in the profile (the HAProxy server name).
        backend: String,
        /// What to do with it.
        change: ServerChange,
    },
    /// Move the VIP on purpose.
    Vip {
        /// Which way.
        direction: Direction,
    },
    /// Rolling maintenance: each backend in turn drained, worked on, healthy again and
    /// back in rotation.
    Roll {
        /// The backends, in the order taken.
        backends: Vec<String>,
        /// Run on each while it is out of rotation (over SSH).
        exec: Option<String>,
    },
    /// An interactive shell on a node: anything can change from there, so it is
    /// refused under `--read-only` and audited like the other operations.
    Shell {
        /// The host the shell is opened on.
        host: String,
    },
    /// A raw HAProxy runtime-API command: `show`, `get` and `help` only read (see
    /// [`Operation::is_read`]); anything else is confirmed and audited like a change.
    Runtime {
        /// The one balancer it goes to; every balancer of the pair when None.
        balancer: Option<String>,
        /// The command line, as HAProxy gets it.
        command: String,
    },
}

/// What can be done to a backend on every balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerChange {
    /// No new sessions; open ones finish (sticky clients keep coming back).
    Drain,
    /// Back in rotation: drain and maintenance lifted.
    Ready,
    /// Out of rotation at once: no traffic at all, persistent clients included.
    Maint,
    /// A new load-balancing weight.
    Weight(Weight),
    /// Close every session open on it now.
    KillSessions,
    /// Health checks on (true) or off.
    Health(bool),
    /// Agent checks on (true) or off.
    Agent(bool),
}

/// A weight change: absolute, relative to the initial weight, by a step from the
/// current one, or back to the initial (configured) weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Weight {
    /// This weight.
    To(u32),
    /// This percentage of the initial weight (HAProxy's `N%`).
    Percent(u32),
    /// The current weight plus (or minus) this.
    By(i32),
    /// The weight the configuration gives it.
    Initial,
}

impl Weight {
    /// Reads `7`, `50%`, `+1`, `-10` or `initial`.
    pub fn parse(s: &str) -> Result<Weight, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not a weight: expected N, N%, +N, -N or initial");
        if s == "initial" {
            return Ok(Weight::Initial);
        }
        if let Some(p) = s.strip_suffix('%') {
            return p.parse().map(Weight::Percent).map_err(|_| bad());
        }
        if s.starts_with(['+', '-']) {
            return s.parse().map(Weight::By).map_err(|_| bad());
        }
        s.parse().map(Weight::To).map_err(|_| bad())
    }

    /// The weight it sets, given the current and the initial one (HAProxy caps at 256).
    pub fn resolve(self, current: u32, initial: u32) -> u32 {
        match self {
            Weight::To(n) => n,
            Weight::Percent(p) => (u64::from(initial) * u64::from(p) / 100) as u32,
            Weight::By(d) => (i64::from(current) + i64::from(d)).clamp(0, 256) as u32,
            Weight::Initial => initial,
        }
        .min(256)
    }

    /// Whether it may take the backend out of rotation (weight 0).
    fn may_zero(self) -> bool {
        matches!(
            self,
            Weight::To(0) | Weight::Percent(0) | Weight::By(i32::MIN..=-1)
        )
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weight::To(n) => write!(f, "{n}"),
            Weight::Percent(p) => write!(f, "{p}%"),
            Weight::By(d) => write!(f, "{d:+}"),
            Weight::Initial => f.write_str("initial"),
        }
    }
}

/// Which way the VIP moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Away from the MASTER, by the profile's failover method.
    Failover,
    /// Undo a failover: the track file back to 0, keepalived started, or the priority
    /// restored, so the VIP returns home.
    Failback,
}

/// The shapes, for wording.
#[derive(Clone, Copy)]
enum Kind {
    Drain,
    Ready,
    Maint,
    Weight,
    Kill,
    Health,
    Agent,
    Failover,
    Failback,
    Roll,
    Shell,
    Runtime,
}

impl Operation {
    /// Drain `backend`.
    pub fn drain(backend: &str) -> Operation {
        Operation::Server {
            backend: backend.to_string(),
            change: ServerChange::Drain,
        }
    }

    /// Put `backend` back in rotation.
    pub fn ready(backend: &str) -> Operation {
        Operation::Server {
            backend: backend.to_string(),
            change: ServerChange::Ready,
        }
    }

    /// Any change to `backend`.
    pub fn server(backend: &str, change: ServerChange) -> Operation {
        Operation::Server {
            backend: backend.to_string(),
            change,
        }
    }

    /// Fail over (away from the MASTER).
    pub const FAILOVER: Operation = Operation::Vip {
        direction: Direction::Failover,
    };

    /// Fail back (the VIP home again).
    pub const FAILBACK: Operation = Operation::Vip {
        direction: Direction::Failback,
    };

    fn kind(&self) -> Kind {
        match self {
            Operation::Server { change, .. } => match change {
                ServerChange::Drain => Kind::Drain,
                ServerChange::Ready => Kind::Ready,
                ServerChange::Maint => Kind::Maint,
                ServerChange::Weight(_) => Kind::Weight,
                ServerChange::KillSessions => Kind::Kill,
                ServerChange::Health(_) => Kind::Health,
                ServerChange::Agent(_) => Kind::Agent,
            },
            Operation::Vip {
                direction: Direction::Failover,
            } => Kind::Failover,
            Operation::Vip {
                direction: Direction::Failback,
            } => Kind::Failback,
            Operation::Roll { .. } => Kind::Roll,
            Operation::Shell { .. } => Kind::Shell,
            Operation::Runtime { .. } => Kind::Runtime,
        }
    }

    /// The word the audit log, the events and the CLI use: drain, undrain, maint,
    /// weight, kill-sessions, health, agent, failover, failback.
    pub fn verb(&self) -> &'static str {
        match self.kind() {
            Kind::Drain => "drain",
            Kind::Ready => "undrain",
            Kind::Maint => "maint",
            Kind::Weight => "weight",
            Kind::Kill => "kill-sessions",
            Kind::Health => "health",
            Kind::Agent => "agent",
            Kind::Failover => "failover",
            Kind::Failback => "failback",
            Kind::Roll => "roll",
            Kind::Shell => "shell",
            Kind::Runtime => "runtime",
        }
    }

    /// The backend a server change acts on.
    pub fn backend(&self) -> Option<&str> {
        match self {
            Operation::Server { backend, .. } => Some(backend),
            Operation::Vip { .. }
            | Operation::Shell { .. }
            | Operation::Roll { .. }
            | Operation::Runtime { .. } => None,
        }
    }

    /// What the change sets, when it takes a value: "7", "+1", "initial", "on", "off".
    pub fn argument(&self) -> Option<String> {
        let on = |b: bool| if b { "on" } else { "off" }.to_string();
        match self {
            Operation::Server { change, .. } => match change {
                ServerChange::Weight(w) => Some(w.to_string()),
                ServerChange::Health(b) | ServerChange::Agent(b) => Some(on(*b)),
                _ => None,
            },
            Operation::Runtime { command, .. } => Some(command.clone()),
            _ => None,
        }
    }

    /// The server change, when it is one.
    pub fn change(&self) -> Option<ServerChange> {
        match self {
            Operation::Server { change, .. } => Some(*change),
            _ => None,
        }
    }

    /// Whether it takes a backend out of rotation (the capacity guard applies): drain,
    /// maintenance, a weight that may reach 0.
    pub fn removes_capacity(&self) -> bool {
        match self.change() {
            Some(ServerChange::Drain | ServerChange::Maint) => true,
            Some(ServerChange::Weight(w)) => w.may_zero(),
            _ => false,
        }
    }

    /// Whether it only reads (a runtime `show`, `get` or `help`): sent at once, not
    /// audited, allowed under `--read-only`.
    pub fn is_read(&self) -> bool {
        matches!(self, Operation::Runtime { command, .. } if super::runtime::is_free(command))
    }

    /// Whether it cuts clients off (their open sessions end): the name must be typed.
    pub fn cuts_sessions(&self) -> bool {
        self.change() == Some(ServerChange::KillSessions)
    }

    /// The ongoing form for the status line: "draining", "failing over from"…
    pub fn doing(&self) -> &'static str {
        match self.kind() {
            Kind::Drain => "draining",
            Kind::Ready => "undraining",
            Kind::Maint => "stopping all traffic to",
            Kind::Weight => "setting the weight of",
            Kind::Kill => "killing the sessions of",
            Kind::Health => "switching health checks of",
            Kind::Agent => "switching agent checks of",
            Kind::Failover => "failing over from",
            Kind::Failback => "failing back to",
            Kind::Roll => "rolling through",
            Kind::Shell => "opening a shell on",
            Kind::Runtime => "sending a runtime command to",
        }
    }

    /// The dialog's title verb: "Drain", "Weight +1 for", "Fail over from"…
    pub fn title(&self) -> String {
        let arg = self.argument().unwrap_or_default();
        match self.kind() {
            Kind::Drain => "Drain".into(),
            Kind::Ready => "Undrain".into(),
            Kind::Maint => "Maintenance for".into(),
            Kind::Weight => format!("Weight {arg} for"),
            Kind::Kill => "Kill the sessions of".into(),
            Kind::Health => format!("Health checks {arg} for"),
            Kind::Agent => format!("Agent checks {arg} for"),
            Kind::Failover => "Fail over from".into(),
            Kind::Failback => "Fail back to".into(),
            Kind::Roll => "Roll through".into(),
            Kind::Shell => "Shell on".into(),
            Kind::Runtime => "Runtime command on".into(),
        }
    }

    /// What happens, in one sentence, for the dialog.
    pub fn explain(&self) -> &'static str {
        match self.kind() {
            Kind::Drain => "No new sessions go to it; open ones finish. The state is read back from each balancer.",
            Kind::Ready => "It goes back into rotation (READY: drain and maintenance lifted). The state is read back from each balancer.",
            Kind::Maint => "MAINT: out of rotation at once, persistent clients too; open sessions are not cut. Read back from each balancer.",
            Kind::Weight => "Its share of new sessions changes; weight 0 takes it out of rotation. Read back from each balancer.",
            Kind::Kill => "Every session open on it ends now, on each balancer: clients see their connection cut.",
            Kind::Health => "HAProxy stops (or starts) checking it; with checks off its last state stays. Read back from each balancer.",
            Kind::Agent => "HAProxy stops (or starts) asking its agent. Read back from each balancer.",
            Kind::Failover => "Pre-checks first (peer BACKUP and answering, backends healthy); the profile's method triggers it.",
            Kind::Failback => "The profile's failover method is undone on that node; lbdeck follows the VIP home.",
            Kind::Roll => "One at a time: drain, wait for its sessions, run the profile's roll_exec, wait until healthy, back in rotation. Stops at the first step that fails (while it runs, R pauses it before the next backend and Esc stops it after the current one).",
            Kind::Shell => "An interactive shell on the node; exit it to return to the console.",
            Kind::Runtime => "Sent as typed to each HAProxy; nothing is read back: check it with a show or get command.",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.backend()) {
            (_, Some(b)) => match self.argument() {
                Some(a) => write!(f, "{} {b} {a}", self.verb()),
                None => write!(f, "{} {b}", self.verb()),
            },
            (Operation::Shell { host }, None) => write!(f, "shell {host}"),
            (Operation::Roll { backends, .. }, None) => write!(f, "roll {}", backends.join(", ")),
            (Operation::Runtime { balancer, command }, None) => {
                let on = balancer
                    .as_deref()
                    .map(|b| format!(" on {b}"))
                    .unwrap_or_default();
                write!(f, "runtime{on} '{}'", crate::text::sanitize(command))
            }
            _ => f.write_str(self.verb()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_names_itself_everywhere() {
        let d = Operation::drain("web2");
        assert_eq!(d.verb(), "drain");
        assert_eq!(d.backend(), Some("web2"));
        assert!(d.removes_capacity());
        assert_eq!(d.to_string(), "drain web2");
        let r = Operation::ready("web2");
        assert_eq!((r.verb(), r.removes_capacity()), ("undrain", false));
        assert_eq!(Operation::FAILOVER.to_string(), "failover");
        assert_eq!(Operation::FAILBACK.backend(), None);
        assert_eq!(Operation::FAILBACK.title(), "Fail back to");
        assert_eq!(
            serde_json::to_value(&d).expect("json"),
            serde_json::json!({"op": "server", "backend": "web2", "change": "drain"})
        );
        let w = Operation::server("web1", ServerChange::Weight(Weight::To(7)));
        assert_eq!(w.to_string(), "weight web1 7");
        assert!(!w.removes_capacity());
        assert!(Operation::server("web1", ServerChange::Weight(Weight::By(-1))).removes_capacity());
        assert!(Operation::server("web1", ServerChange::Maint).removes_capacity());
        assert!(Operation::server("web1", ServerChange::KillSessions).cuts_sessions());
        assert_eq!(
            Operation::server("web1", ServerChange::Health(false)).to_string(),
            "health web1 off"
        );
        assert_eq!(
            serde_json::to_value(&w).expect("json"),
            serde_json::json!({"op": "server", "backend": "web1", "change": {"weight": {"to": 7}}})
        );
    }

    #[test]
    fn weights_parse_and_resolve_as_haproxy_would() {
        let p = |s: &str| Weight::parse(s).expect(s);
        assert_eq!(p("7"), Weight::To(7));
        assert_eq!(p("50%"), Weight::Percent(50));
        assert_eq!(p("+1"), Weight::By(1));
        assert_eq!(p("-10"), Weight::By(-10));
        assert_eq!(p("initial"), Weight::Initial);
        assert!(Weight::parse("heavy").is_err());
        assert_eq!(p("50%").resolve(3, 10), 5);
        assert_eq!(p("-10").resolve(3, 10), 0);
        assert_eq!(p("+1").resolve(256, 10), 256);
        assert_eq!(p("initial").resolve(3, 10), 10);
        assert_eq!(p("-1").to_string(), "-1");
    }
}
