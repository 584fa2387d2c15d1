//! The one `Action` enum: everything that can change the console's state. Bindable
//! variants are named in keymap files (snake_case); internal ones are `#[serde(skip)]`.

use std::time::Instant;

use crossterm::event::KeyEvent;
use serde::{Deserialize, Serialize};

use crate::sources::SourceUpdate;

/// Something that happened: a command the operator gave, input, or new data.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Leave the console.
    Quit,
    /// Show or hide the help overlay.
    Help,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// Move the selection a page up.
    PageUp,
    /// Move the selection a page down.
    PageDown,
    /// Jump to the first row.
    Top,
    /// Jump to the last row.
    Bottom,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Start typing a backend filter.
    Filter,
    /// Sort the backend table by the next column.
    SortNext,
    /// Reverse the sort order.
    SortReverse,
    /// Switch to the next theme.
    CycleTheme,
    /// Poll every source now instead of waiting for the next round.
    Refresh,
    /// Switch the traffic pane between requests per second and connections.
    TrafficMetric,
    /// Open a shell on the selected balancer or backend (SSH); the console comes back
    /// as it was when the shell exits.
    Shell,
    /// Drain the selected backend on every balancer (confirmed first).
    Drain,
    /// Put the selected backend back in rotation on every balancer (confirmed first).
    Undrain,
    /// Put the selected (or marked) backends in maintenance on every balancer.
    Maint,
    /// Raise the selected (or marked) backends' weight by 1 on every balancer.
    WeightUp,
    /// Lower their weight by 1.
    WeightDown,
    /// Raise their weight by 10.
    WeightUpTen,
    /// Lower their weight by 10.
    WeightDownTen,
    /// Put their weight back to the configured one.
    WeightInitial,
    /// End every session open on the selected (or marked) backends (name typed).
    KillSessions,
    /// Switch the selected (or marked) backends' health checks off, or on when they are off.
    HealthChecks,
    /// Mark or unmark the selected backend: an action then acts on every marked one as
    /// one confirmed batch.
    Mark,
    /// Unmark every backend.
    ClearMarks,
    /// Rolling maintenance over the marked backends (or the selected one): each drained,
    /// worked on (the profile's `roll_exec`), healthy again, back — one at a time.
    Roll,
    /// Move the VIP away from the MASTER (confirmed first; pre-checks, then followed).
    Failover,
    /// Undo a failover: the VIP back to the node with the highest priority.
    Failback,
    /// Show the audit log (the newest actions).
    Audit,
    /// List every current alert with its age and what to check.
    Alerts,
    /// Open the selected backend's detail: every balancer's view of it, its counters
    /// and its recent events.
    Detail,
    /// Open the runtime prompt: a command for HAProxy's runtime API on every balancer.
    Runtime,
    /// Open the cluster picker: type part of a cluster's name, Enter opens it.
    Clusters,
    /// Back from the cluster in front to the fleet overview.
    Back,
    /// A key press, resolved through the keymap (or typed into the filter).
    #[serde(skip)]
    Key(KeyEvent),
    /// The terminal was resized.
    #[serde(skip)]
    Resize(u16, u16),
    /// A source delivered a result.
    #[serde(skip)]
    Update(SourceUpdate),
    /// Progress of a running action (shown in the status line).
    #[serde(skip)]
    Progress(String),
    /// The audit log's newest lines, read for the viewer.
    #[serde(skip)]
    AuditLoaded(Vec<String>),
    /// The pair's shared audit log, read from every balancer for the viewer.
    #[serde(skip)]
    SharedAuditLoaded {
        /// Each line once, oldest first.
        lines: Vec<String>,
        /// Each balancer that could not be read, and why.
        unread: Vec<String>,
    },
    /// An operation ended (done, partly done, failed or refused), with its report.
    #[serde(skip)]
    Acted(Box<crate::ops::Report>),
    /// Time passed: ages and the clock move on.
    #[serde(skip)]
    Tick(Instant),
}

impl Action {
    /// Every bindable action with a one-line description, in help order.
    pub const BINDABLE: &'static [(Action, &'static str)] = &[
        (Action::Help, "show or hide this help"),
        (Action::Quit, "quit"),
        (Action::Up, "move up"),
        (Action::Down, "move down"),
        (Action::PageUp, "page up"),
        (Action::PageDown, "page down"),
        (Action::Top, "first row"),
        (Action::Bottom, "last row"),
        (Action::NextPane, "next pane"),
        (Action::PrevPane, "previous pane"),
        (Action::Filter, "filter backends (Enter keeps, Esc clears)"),
        (Action::SortNext, "sort backends by the next column"),
        (Action::SortReverse, "reverse the sort order"),
        (Action::CycleTheme, "next theme"),
        (Action::Refresh, "poll everything now"),
        (Action::TrafficMetric, "traffic pane: req/s ↔ connections"),
        (Action::Shell, "SSH into the selected balancer or backend"),
        (
            Action::Drain,
            "drain the selected backend on every balancer",
        ),
        (
            Action::Undrain,
            "ready: back in rotation (drain and maintenance lifted)",
        ),
        (
            Action::Maint,
            "maintenance: out of rotation at once, sticky clients too",
        ),
        (Action::WeightUp, "weight +1 on every balancer"),
        (Action::WeightDown, "weight −1 on every balancer"),
        (Action::WeightUpTen, "weight +10"),
        (Action::WeightDownTen, "weight −10"),
        (Action::WeightInitial, "weight back to the configured one"),
        (Action::KillSessions, "kill every open session (name typed)"),
        (Action::HealthChecks, "health checks off (or on again)"),
        (
            Action::Mark,
            "mark a backend: actions act on all marked at once",
        ),
        (Action::ClearMarks, "unmark every backend"),
        (
            Action::Roll,
            "rolling maintenance over the marked backends, one at a time",
        ),
        (Action::Failover, "fail over: move the VIP to the peer"),
        (Action::Failback, "fail back: the VIP home again"),
        (
            Action::Runtime,
            "HAProxy runtime API command (changes are confirmed)",
        ),
        (
            Action::Audit,
            "the audit log (in it: a every cluster, p the pair's log)",
        ),
        (
            Action::Alerts,
            "list every alert: its age and what to check",
        ),
        (
            Action::Detail,
            "the selected backend in detail, on every balancer",
        ),
        (Action::Clusters, "switch cluster: pick one by name"),
        (Action::Back, "back to the fleet overview"),
    ];

    /// The keymap name of a bindable action.
    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// What `update` asks the run loop to do; the loop owns all I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Restore the terminal and exit.
    Quit,
    /// Ask every source to poll now.
    PollNow,
    /// Hand the terminal to a shell on this host (a profile host or backend host).
    Shell(String),
    /// Read the audit log for the viewer.
    LoadAudit,
    /// Read the pair's shared audit log from every balancer for the viewer.
    LoadSharedAudit,
    /// Record an operation refused before it started (audited, then reported back).
    Refuse {
        /// What was refused.
        operation: crate::ops::Operation,
        /// Why.
        reason: String,
    },
    /// Stop the running roll once its current backend is back in rotation.
    StopRoll,
    /// Open the cluster picker (the fleet does; a console on one profile says so).
    PickCluster,
    /// Show the fleet overview again.
    Back,
    /// Poll the cluster at this interval from now on (the fleet's front cluster at its
    /// `poll_interval`, the others at their `background_interval`).
    Pace {
        /// The interval.
        every: std::time::Duration,
        /// The cluster is in front (read through Prometheus, it asks for everything on
        /// its own rather than with the others).
        front: bool,
    },
    /// Pause the running roll before its next backend, or let it go on.
    PauseRoll,
    /// Run a confirmed batch: the runner reads the pair again, plans it anew, runs each
    /// change and reports [`Action::Acted`] for each, then the batch's summary.
    RunBatch {
        /// What was confirmed.
        batch: Box<crate::ops::batch::Batch>,
        /// `force` was typed.
        forced: bool,
    },
    /// Run a confirmed plan: the runner reads the pair again, plans anew, acts, reads
    /// back and audits, then reports [`Action::Acted`].
    Run {
        /// What was confirmed.
        plan: Box<crate::ops::Plan>,
        /// The node this console failed over from (failback evidence).
        failed_over: Option<String>,
        /// `force` was typed: act past the pre-checks `--force` overrides (audited).
        forced: bool,
    },
}
