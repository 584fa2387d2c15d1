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
    /// An interactive shell on a node: anything can change from there, so it is
    /// refused under `--read-only` and audited like the other operations.
    Shell {
        /// The host the shell is opened on.
        host: String,
    },
}

/// What can be done to a backend on every balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerChange {
    /// No new sessions; open ones finish.
    Drain,
    /// Back in rotation.
    Ready,
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

/// The four shapes, for wording.
#[derive(Clone, Copy)]
enum Kind {
    Drain,
    Ready,
    Failover,
    Failback,
    Shell,
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
            Operation::Server {
                change: ServerChange::Drain,
                ..
            } => Kind::Drain,
            Operation::Server {
                change: ServerChange::Ready,
                ..
            } => Kind::Ready,
            Operation::Vip {
                direction: Direction::Failover,
            } => Kind::Failover,
            Operation::Vip {
                direction: Direction::Failback,
            } => Kind::Failback,
            Operation::Shell { .. } => Kind::Shell,
        }
    }

    /// The word the audit log, the events and the CLI use: drain, undrain, failover,
    /// failback.
    pub fn verb(&self) -> &'static str {
        match self.kind() {
            Kind::Drain => "drain",
            Kind::Ready => "undrain",
            Kind::Failover => "failover",
            Kind::Failback => "failback",
            Kind::Shell => "shell",
        }
    }

    /// The backend a server change acts on.
    pub fn backend(&self) -> Option<&str> {
        match self {
            Operation::Server { backend, .. } => Some(backend),
            Operation::Vip { .. } | Operation::Shell { .. } => None,
        }
    }

    /// Whether it takes a backend out of rotation (the capacity guard applies).
    pub fn removes_capacity(&self) -> bool {
        matches!(
            self,
            Operation::Server {
                change: ServerChange::Drain,
                ..
            }
        )
    }

    /// The ongoing form for the status line: "draining", "failing over from"…
    pub fn doing(&self) -> &'static str {
        match self.kind() {
            Kind::Drain => "draining",
            Kind::Ready => "undraining",
            Kind::Failover => "failing over from",
            Kind::Failback => "failing back to",
            Kind::Shell => "opening a shell on",
        }
    }

    /// The dialog's title verb: "Drain", "Undrain", "Fail over from", "Fail back to".
    pub fn title(&self) -> &'static str {
        match self.kind() {
            Kind::Drain => "Drain",
            Kind::Ready => "Undrain",
            Kind::Failover => "Fail over from",
            Kind::Failback => "Fail back to",
            Kind::Shell => "Shell on",
        }
    }

    /// What happens, in one sentence, for the dialog.
    pub fn explain(&self) -> &'static str {
        match self.kind() {
            Kind::Drain => "No new sessions go to it; open ones finish. The state is read back from each balancer.",
            Kind::Ready => "It goes back into rotation. The state is read back from each balancer.",
            Kind::Failover => "Pre-checks first (peer BACKUP and answering, backends healthy); the profile's method triggers it.",
            Kind::Failback => "The profile's failover method is undone on that node; lbdeck follows the VIP home.",
            Kind::Shell => "An interactive shell on the node; exit it to return to the console.",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.backend()) {
            (_, Some(b)) => write!(f, "{} {b}", self.verb()),
            (Operation::Shell { host }, None) => write!(f, "shell {host}"),
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
    }
}
