//! The console's state and its pure `update`: one action in, state changed, effects out.
//! No terminal and no I/O here, so every behaviour is tested headless.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::action::{Action, Effect};
use crate::app::keys::Keymap;
use crate::config::profile::{Environment, Profile};
use crate::config::theme::{Theme, ThemeSet};
use crate::model::Cluster;
use crate::ops::{Confirmation, Direction, Operation, ServerChange, Weight};

/// The panes that take focus, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The balancer pane.
    Balancers,
    /// The backend table.
    Backends,
    /// The event log.
    Events,
}

const PANES: [Pane; 3] = [Pane::Balancers, Pane::Backends, Pane::Events];

/// What keys currently do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keys go through the keymap.
    Normal,
    /// Keys edit the backend filter.
    Filter,
    /// The help overlay is open.
    Help,
    /// A confirmation dialog is open.
    Confirm,
    /// The audit log viewer is open.
    Audit,
    /// The alerts list is open.
    Alerts,
    /// A backend's detail view is open.
    Detail,
    /// Keys edit the runtime prompt's command.
    Runtime,
    /// The runtime command's answers are open.
    RuntimeAnswer,
}

/// An operation waiting for the operator's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// The plan shown: the operation, its target, pre-checks and how to confirm.
    pub plan: crate::ops::Plan,
    /// What has been typed so far (when the name must be typed).
    pub typed: String,
    /// The profile's `allow_force`.
    pub allow_force: bool,
    /// A batch: the plan above shows all of it; this is what runs.
    pub batch: Option<crate::ops::batch::Batch>,
}

impl Confirm {
    /// The word typed to act past pre-checks that `--force` may override.
    pub const FORCE: &'static str = "force";

    /// A failed pre-check: the dialog then offers only Esc, or typing [`Confirm::FORCE`]
    /// when [`Confirm::forceable`].
    pub fn blocked(&self) -> bool {
        !self.plan.blockers(false).is_empty()
    }

    /// Every failed pre-check is one `--force` overrides and the profile lets the
    /// console force (`allow_force`).
    pub fn forceable(&self) -> bool {
        self.allow_force && self.blocked() && self.plan.blockers(true).is_empty()
    }
}

pub mod columns;
mod detail;
pub mod keys;
pub mod runtime;

pub use columns::SortKey;
use columns::SORT_KEYS;

/// Where the screen is looking.
#[derive(Debug, Clone)]
pub struct UiState {
    /// The focused pane.
    pub focus: Pane,
    /// What keys do.
    pub mode: Mode,
    /// The applied filter (case-insensitive substring of name or address).
    pub filter: String,
    /// The audit viewer shows every cluster's lines, not only this one's.
    pub audit_all: bool,
    /// The audit viewer shows the pair's shared log (every operator's actions), not the
    /// local one.
    pub audit_pair: bool,
    /// Audit viewer scroll: lines back from the newest (0 shows the newest).
    pub audit_scroll: usize,
    /// How far back the last frame's audit list went, and how many lines it had room
    /// for: scrolling stops where the oldest page is full.
    pub audit_extent: std::cell::Cell<(usize, usize)>,
    /// `/` was pressed on a kept filter: it stays shown until the first character typed
    /// replaces it (Backspace edits it instead).
    pub filter_replace: bool,
    /// Sort column.
    pub sort: SortKey,
    /// Sort descending.
    pub descending: bool,
    /// The selected backend, by name (stable while rows move).
    pub selected_backend: Option<String>,
    /// The selected balancer.
    pub selected_balancer: usize,
    /// Event log scroll: 0 shows the newest.
    pub event_scroll: usize,
    /// How many event lines the last frame had room for: scrolling back stops where
    /// the oldest page is full, so a scrolled-back view is never one line and blanks.
    pub event_rows: std::cell::Cell<usize>,
    /// How far the help or alerts overlay is scrolled (lines from its top).
    pub overlay_scroll: usize,
    /// Terminal size.
    pub size: (u16, u16),
    /// Marked backends, by name: an action acts on all of them as one batch.
    pub marked: std::collections::BTreeSet<String>,
    /// The traffic pane shows connections instead of req/s.
    pub traffic_connections: bool,
    /// The backend the detail view shows, by name (it stays while the selection moves).
    pub detail: Option<String>,
}

/// Everything the console knows and shows.
pub struct App {
    /// The cluster's state.
    pub cluster: Cluster,
    /// Shown in the header.
    pub profile_name: String,
    /// Environment of the profile.
    pub environment: Environment,
    /// Running on the simulated demo cluster.
    pub demo: bool,
    /// Key bindings.
    pub keymap: Keymap,
    /// The keymap file the bindings were read from (or would be, when it exists), for
    /// help to name.
    pub keymap_path: Option<std::path::PathBuf>,
    /// Available themes.
    pub themes: ThemeSet,
    /// Index of the theme in use.
    pub theme_index: usize,
    /// NO_COLOR is set: themes lose their colours.
    pub no_color: bool,
    /// The theme in use, resolved (colourless under NO_COLOR).
    pub theme: Theme,
    /// Screen state.
    pub ui: UiState,
    /// The time the screen shows (advanced by ticks and updates).
    pub now: Instant,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// What changed is a role or VIP move: it is drawn at once, without waiting for the
    /// frame pacing (such news is rare, and its lag is what operators watch).
    pub urgent: bool,
    /// Status-line message (theme switched, etc.).
    pub flash: Option<(Instant, String)>,
    /// `--read-only`: every action is refused and hidden.
    pub read_only: bool,
    /// The open confirmation, in [`Mode::Confirm`].
    pub confirm: Option<Confirm>,
    /// A drain in progress: the backend and when it was confirmed, until its sessions
    /// reach 0.
    pub draining: Option<(String, Instant)>,
    /// Esc has offered to undo the drain being watched: the next Esc does what it does
    /// otherwise (back to the fleet), not offer it again.
    pub undo_offered: bool,
    /// The profile the console watches (what operations are planned against).
    pub profile: Profile,
    /// The balancer this console last failed over from (until failed back).
    pub failed_over: Option<String>,
    /// An operation confirmed here and not yet reported back: its operation and target.
    pub running: Option<(Operation, String)>,
    /// Quit was asked while an operation ran: the console quits when it reports.
    pub quit_asked: bool,
    /// The audit log lines shown by the viewer, newest last.
    pub audit: Vec<String>,
    /// The pair's shared audit log as last read for the viewer (None while it is read):
    /// its lines, newest last, and each balancer that could not be read, with why.
    pub shared_audit: Option<(Vec<String>, Vec<String>)>,
    /// When each current alert was first seen, by [`alert_key`] (for its age).
    pub alert_since: HashMap<String, Instant>,
    /// The runtime prompt: what is typed, sent, and answered.
    pub runtime: runtime::Prompt,
    /// Opened from the fleet overview: Esc goes back to it, the picker switches.
    pub in_fleet: bool,
    /// How many other clusters of the fleet have an error-level alert (the header's
    /// badge).
    pub others_alarming: usize,
    start: (Instant, DateTime<Local>),
}

/// What a drain in progress can wait on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DrainSignal {
    /// Open sessions, summed over the balancers that count them (HAProxy).
    Sessions(u64),
    /// Requests per second to it in the access logs (nginx).
    Requests(f64),
    /// Neither is known.
    Nothing,
}

/// How long a status-line message stays.
const FLASH_FOR: Duration = Duration::from_secs(3);

impl App {
    /// A console for `profile`, before any poll.
    pub fn new(
        profile: &Profile,
        keymap: Keymap,
        themes: ThemeSet,
        theme_index: usize,
        no_color: bool,
    ) -> App {
        let now = Instant::now();
        let theme_index = theme_index.min(themes.themes.len().saturating_sub(1));
        let mut app = App {
            cluster: crate::status::new_cluster(profile),
            profile_name: crate::text::clip(&profile.name, 40),
            environment: profile.environment,
            demo: false,
            keymap,
            keymap_path: crate::config::config_dir().map(|d| d.join("keys.toml")),
            themes,
            theme_index,
            no_color,
            theme: Theme::default(),
            ui: UiState {
                focus: Pane::Backends,
                mode: Mode::Normal,
                filter: String::new(),
                filter_replace: false,
                audit_all: false,
                audit_pair: false,
                audit_scroll: 0,
                audit_extent: std::cell::Cell::new((0, 1)),
                sort: SortKey::Config,
                descending: false,
                selected_backend: None,
                selected_balancer: 0,
                event_scroll: 0,
                event_rows: std::cell::Cell::new(1),
                overlay_scroll: 0,
                size: (80, 24),
                marked: Default::default(),
                traffic_connections: false,
                detail: None,
            },
            now,
            dirty: true,
            urgent: false,
            flash: None,
            read_only: false,
            confirm: None,
            draining: None,
            undo_offered: false,
            failed_over: None,
            running: None,
            quit_asked: false,
            audit: Vec::new(),
            shared_audit: None,
            alert_since: HashMap::new(),
            runtime: runtime::Prompt::default(),
            in_fleet: false,
            others_alarming: 0,
            profile: profile.clone(),
            start: (now, Local::now()),
        };
        app.apply_theme();
        app
    }

    /// Fixes the wall clock that corresponds to `now` (tests use it for stable output).
    pub fn set_clock(&mut self, now: Instant, wall: DateTime<Local>) {
        self.now = now;
        self.start = (now, wall);
    }

    /// Wall-clock time of an instant.
    pub fn wall(&self, at: Instant) -> DateTime<Local> {
        let (i0, w0) = self.start;
        if at >= i0 {
            w0 + chrono::Duration::from_std(at - i0).unwrap_or_default()
        } else {
            w0 - chrono::Duration::from_std(i0 - at).unwrap_or_default()
        }
    }

    /// Uses theme `index` of the set (the fleet keeps every cluster on one theme).
    pub fn set_theme(&mut self, index: usize) {
        if index != self.theme_index && index < self.themes.themes.len() {
            self.theme_index = index;
            self.apply_theme();
        }
    }

    fn apply_theme(&mut self) {
        self.theme = resolve_theme(&self.themes, self.theme_index, self.no_color);
    }

    /// Applies one action and returns what the run loop must do.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        let was_dirty = self.dirty;
        self.dirty = true;
        match action {
            Action::Key(key) => return self.on_key(key),
            Action::Resize(w, h) => self.ui.size = (w, h),
            Action::Update(u) => {
                let vrrp = matches!(u, crate::sources::SourceUpdate::Vrrp { .. });
                let wall = self.wall(u.at());
                if self.cluster.apply(u, wall) {
                    self.urgent |= vrrp;
                } else {
                    // keepalived's slow reading confirmed what is shown: no frame for it.
                    self.dirty = was_dirty;
                }
                self.keep_selection();
                self.watch_drain(wall);
                self.track_alerts();
            }
            Action::Tick(now) => {
                self.now = now;
                self.track_alerts();
                if self
                    .flash
                    .as_ref()
                    .is_some_and(|(t, _)| now.saturating_duration_since(*t) > FLASH_FOR)
                {
                    self.flash = None;
                }
            }
            Action::Quit => return self.quit(),
            Action::Help => self.toggle_overlay(Mode::Help),
            Action::Alerts => self.toggle_overlay(Mode::Alerts),
            Action::Runtime => self.open_prompt(),
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-(self.page() as isize)),
            Action::PageDown => self.move_selection(self.page() as isize),
            Action::Top => self.move_selection(isize::MIN / 2),
            Action::Bottom => self.move_selection(isize::MAX / 2),
            Action::NextPane => self.ui.focus = cycle(&PANES, self.ui.focus, 1),
            Action::PrevPane => self.ui.focus = cycle(&PANES, self.ui.focus, -1),
            Action::Filter => {
                self.ui.mode = Mode::Filter;
                self.ui.focus = Pane::Backends;
                self.ui.filter_replace = !self.ui.filter.is_empty();
            }
            Action::SortNext => {
                self.ui.sort = cycle(&SORT_KEYS, self.ui.sort, 1);
                self.ui.descending = self.ui.sort.descending_by_default();
                self.say(format!("sorted by {}", self.ui.sort.label()));
            }
            Action::SortReverse => {
                self.ui.descending = !self.ui.descending;
                self.say(format!(
                    "sorted by {} {}",
                    self.ui.sort.label(),
                    if self.ui.descending {
                        "descending"
                    } else {
                        "ascending"
                    }
                ));
            }
            Action::CycleTheme => {
                self.theme_index = (self.theme_index + 1) % self.themes.themes.len().max(1);
                self.apply_theme();
                let off = if self.no_color {
                    " (colours off: NO_COLOR)"
                } else {
                    ""
                };
                self.say(format!("theme: {}{off}", self.theme.name));
            }
            Action::TrafficMetric => {
                self.ui.traffic_connections = !self.ui.traffic_connections;
                let what = if self.ui.traffic_connections {
                    "connections"
                } else {
                    "req/s"
                };
                self.say(format!("traffic: {what}"));
            }
            Action::Drain => return self.act_on_backends(ServerChange::Drain),
            Action::Undrain => return self.act_on_backends(ServerChange::Ready),
            Action::Maint => return self.act_on_backends(ServerChange::Maint),
            Action::WeightUp => return self.act_on_backends(ServerChange::Weight(Weight::By(1))),
            Action::WeightDown => {
                return self.act_on_backends(ServerChange::Weight(Weight::By(-1)))
            }
            Action::WeightUpTen => {
                return self.act_on_backends(ServerChange::Weight(Weight::By(10)))
            }
            Action::WeightDownTen => {
                return self.act_on_backends(ServerChange::Weight(Weight::By(-10)))
            }
            Action::WeightInitial => {
                return self.act_on_backends(ServerChange::Weight(Weight::Initial))
            }
            Action::KillSessions => return self.act_on_backends(ServerChange::KillSessions),
            Action::HealthChecks => {
                let on = !self.checks_running();
                return self.act_on_backends(ServerChange::Health(on));
            }
            Action::Mark => self.mark(),
            Action::Roll if matches!(self.running, Some((Operation::Roll { .. }, _))) => {
                return vec![Effect::PauseRoll];
            }
            Action::Roll => {
                let mut backends: Vec<String> = self.ui.marked.iter().cloned().collect();
                if backends.is_empty() {
                    match self.backend_to_act_on("roll through") {
                        Some(b) => backends.push(b),
                        None => return Vec::new(),
                    }
                }
                backends.sort_by(|a, b| natural(a, b));
                self.ui.marked.clear();
                return self.ask(Operation::Roll {
                    backends,
                    exec: self.profile.roll_exec.clone(),
                });
            }
            Action::ClearMarks => {
                let n = std::mem::take(&mut self.ui.marked).len();
                self.say(format!("{n} backend(s) unmarked"));
            }
            Action::Progress(line) if self.quit_asked => {
                self.say(format!("{line} · quitting when it ends"))
            }
            // A roll's steps are a list worth keeping: they go to the event log too.
            Action::Progress(line) if matches!(self.running, Some((Operation::Roll { .. }, _))) => {
                let wall = self.wall(self.now);
                self.cluster
                    .events
                    .push(wall, crate::model::Level::Info, "roll", line.clone());
                self.say(line);
            }
            Action::Progress(line) => self.say(line),
            Action::Audit => return vec![Effect::LoadAudit],
            Action::AuditLoaded(lines) => {
                self.audit = lines;
                self.ui.audit_scroll = 0;
                self.ui.mode = Mode::Audit;
            }
            Action::SharedAuditLoaded { lines, unread } => {
                self.shared_audit = Some((lines, unread));
            }
            Action::Failover => return self.ask(Operation::FAILOVER),
            Action::Failback => return self.ask(Operation::FAILBACK),
            Action::Acted(report) => return self.acted(&report),
            Action::Shell => {
                return match self.shell_target() {
                    Some(host) if self.read_only && !self.profile.shell_in_read_only => {
                        let reason = "--read-only: a shell could change anything \
                                      (shell_in_read_only = true in the profile allows it)"
                            .to_string();
                        self.say(format!("read-only: the shell on {host} is refused"));
                        vec![Effect::Refuse {
                            operation: Operation::Shell { host },
                            reason,
                        }]
                    }
                    Some(host) => vec![Effect::Shell(host)],
                    None => {
                        self.say("select a balancer or backend first (Tab to its pane)".into());
                        Vec::new()
                    }
                };
            }
            Action::Refresh => {
                self.say("polling now".into());
                return vec![Effect::PollNow];
            }
            Action::Detail => self.open_detail(),
            Action::Clusters if self.in_fleet => return vec![Effect::PickCluster],
            Action::Clusters => self.say(
                "one cluster is open: start lbdeck without --profile to see every cluster".into(),
            ),
            Action::Back if self.in_fleet => return vec![Effect::Back],
            Action::Back => self.dirty = was_dirty,
        }
        Vec::new()
    }

    /// `change` on the marked backends as one batch, or on the selected one when none is
    /// marked: planned and its confirmation opened.
    fn act_on_backends(&mut self, change: ServerChange) -> Vec<Effect> {
        // What the balancers' kind cannot do is said, not offered.
        let why = self
            .profile
            .balancers()
            .find_map(|b| crate::ops::drain::unsupported(b.kind, change));
        if let Some(why) = why {
            self.say(why.to_string());
            return Vec::new();
        }
        let marked: Vec<String> = self.ui.marked.iter().cloned().collect();
        if marked.len() > 1 {
            let ops = marked
                .iter()
                .map(|b| Operation::server(b, change))
                .collect();
            return self.ask_batch(ops);
        }
        let op = Operation::server("", change);
        let backend = match marked.into_iter().next() {
            Some(b) => b,
            None => match self.backend_to_act_on(op.verb()) {
                Some(b) => b,
                None => return Vec::new(),
            },
        };
        self.ask(Operation::server(&backend, change))
    }

    /// Whether the balancers run health checks on the backends an action would act on
    /// (a check result is reported for one of them).
    fn checks_running(&self) -> bool {
        let names: Vec<String> = if self.ui.marked.is_empty() {
            self.selected_backend()
                .map(|i| self.cluster.backends[i].name.clone())
                .into_iter()
                .collect()
        } else {
            self.ui.marked.iter().cloned().collect()
        };
        // Switched off from here: they are off. Otherwise a check result says they run;
        // a server in maintenance shows none either way, so they count as running.
        if names.iter().any(|n| self.cluster.checks_off.contains(n)) {
            return false;
        }
        self.cluster
            .backends
            .iter()
            .filter(|b| names.contains(&b.name))
            .flat_map(|b| b.views.iter().flatten())
            .any(|v| !v.check.is_empty() || v.admin == Some(crate::model::ServerState::Maint))
    }

    /// Marks (or unmarks) the selected backend and moves to the next, as htop's space does.
    fn mark(&mut self) {
        let Some(i) = self
            .selected_backend()
            .filter(|_| self.ui.focus == Pane::Backends)
        else {
            self.say("select a backend first (Tab to the backend table) to mark it".into());
            return;
        };
        let name = self.cluster.backends[i].name.clone();
        if !self.ui.marked.remove(&name) {
            self.ui.marked.insert(name);
        }
        self.move_selection(1);
        let n = self.ui.marked.len();
        self.say(format!(
            "{n} marked: the next action acts on every marked backend as one batch (U unmarks)"
        ));
    }

    /// Plans several server changes as one batch and opens its confirmation; refused
    /// (each audited) under `--read-only`.
    fn ask_batch(&mut self, ops: Vec<Operation>) -> Vec<Effect> {
        if let Some(refused) = self.refuse_while_rolling(&ops) {
            return refused;
        }
        if self.read_only {
            let verb = ops.first().map_or("", |o| o.verb());
            self.say(format!(
                "read-only: {verb} is refused (started with --read-only)"
            ));
            return ops
                .into_iter()
                .map(|operation| Effect::Refuse {
                    operation,
                    reason: "--read-only".into(),
                })
                .collect();
        }
        match crate::ops::batch::plan(&self.profile, &self.cluster, &ops) {
            Ok(batch) => {
                let Some(plan) = batch.as_plan() else {
                    return Vec::new();
                };
                self.confirm = Some(Confirm {
                    plan,
                    typed: String::new(),
                    allow_force: self.profile.allow_force,
                    batch: Some(batch),
                });
                self.ui.mode = Mode::Confirm;
            }
            Err(e) => self.say(e.to_string()),
        }
        Vec::new()
    }

    /// The selected backend, when the backend table has the focus (else says why not).
    fn backend_to_act_on(&mut self, verb: &str) -> Option<String> {
        if self.ui.focus != Pane::Backends {
            self.say(format!(
                "select a backend first (Tab to the backend table) to {verb} it"
            ));
            return None;
        }
        let Some(i) = self.selected_backend() else {
            let why = if self.ui.filter.is_empty() {
                "no backend is selected".to_string()
            } else {
                format!("no backend matches the filter /{}", self.ui.filter)
            };
            self.say(format!("{why}: nothing to {verb}"));
            return None;
        };
        Some(self.cluster.backends[i].name.clone())
    }

    /// Plans `op` on the pair as the console sees it and opens its confirmation: the
    /// pre-checks, and y/n or the name typed, as the plan's risk says. Under
    /// `--read-only` it is refused instead, said and audited like any refusal.
    fn ask(&mut self, op: Operation) -> Vec<Effect> {
        if let Some(refused) = self.refuse_while_rolling(std::slice::from_ref(&op)) {
            return refused;
        }
        if self.read_only {
            self.say(format!(
                "read-only: {} is refused (started with --read-only)",
                op.verb()
            ));
            return vec![Effect::Refuse {
                operation: op,
                reason: "--read-only".into(),
            }];
        }
        match crate::ops::plan(
            &self.profile,
            &self.cluster,
            &op,
            self.failed_over.as_deref(),
        ) {
            Ok(plan) => {
                self.confirm = Some(Confirm {
                    plan,
                    typed: String::new(),
                    allow_force: self.profile.allow_force,
                    batch: None,
                });
                self.ui.mode = Mode::Confirm;
            }
            Err(e) => self.say(e.to_string()),
        }
        Vec::new()
    }

    /// A change asked for while this console's roll runs is refused at once (said and
    /// audited): the roll holds the pair's lock, so it could only be refused after its
    /// dialog, and the console would follow it in the roll's place — R and Esc would no
    /// longer reach the roll, left paused with the lock held.
    fn refuse_while_rolling(&mut self, ops: &[Operation]) -> Option<Vec<Effect>> {
        if !matches!(self.running, Some((Operation::Roll { .. }, _))) {
            return None;
        }
        let verb = ops.first().map_or("", |o| o.verb());
        self.say(format!(
            "{verb} is refused while the roll runs (R pauses or goes on, Esc stops it)"
        ));
        Some(
            ops.iter()
                .map(|op| Effect::Refuse {
                    operation: op.clone(),
                    reason: "a roll is running in this console".into(),
                })
                .collect(),
        )
    }

    /// Quits, unless an operation confirmed here is still running: then the console
    /// says so and quits when it reports (its result and audit line are not lost); a
    /// second quit leaves at once.
    fn quit(&mut self) -> Vec<Effect> {
        match &self.running {
            Some((op, target)) if !self.quit_asked => {
                self.quit_asked = true;
                let what = format!("{} {target}", op.verb());
                self.say(format!(
                    "{what} is still running: lbdeck quits when it ends (recorded in the audit log) · quit again to leave now"
                ));
                Vec::new()
            }
            _ => vec![Effect::Quit],
        }
    }

    /// An operation ended: the event log, the status line and what the console tracks
    /// (a drain in progress, the node failed over from).
    fn acted(&mut self, r: &crate::ops::Report) -> Vec<Effect> {
        if self
            .running
            .as_ref()
            .is_some_and(|(op, target)| *op == r.operation && *target == r.target)
        {
            self.running = None;
            if self.quit_asked {
                return vec![Effect::Quit];
            }
        }
        if let Operation::Runtime { .. } = r.operation {
            self.runtime_answered(r);
            if r.operation.is_read() {
                return Vec::new();
            }
        }
        let level = match &r.outcome {
            crate::ops::Outcome::Done => crate::model::Level::Ok,
            crate::ops::Outcome::Refused { .. } => crate::model::Level::Warn,
            _ => crate::model::Level::Error,
        };
        let text = format!("{}: {} ({})", r.operation, r.summary(), r.audit);
        let wall = self.wall(self.now);
        self.cluster
            .events
            .push(wall, level, &r.target, text.clone());
        match (&r.operation, r.done()) {
            (Operation::Vip { direction }, true) => {
                self.failed_over = (*direction == Direction::Failover).then(|| r.target.clone());
            }
            (Operation::Server { backend, change }, done) => match change {
                ServerChange::Weight(w) if done => {
                    // What every balancer read back: "weight 7".
                    let set = r
                        .after
                        .as_object()
                        .and_then(|m| m.values().next())
                        .and_then(|v| v.as_str())
                        .and_then(|s| s.strip_prefix("weight "))
                        .and_then(|n| n.parse().ok());
                    match (w, set) {
                        (Weight::Initial, _) | (_, None) => {
                            self.cluster.weights_set.remove(backend);
                        }
                        (_, Some(n)) => {
                            self.cluster.weights_set.insert(backend.clone(), n);
                        }
                    }
                }
                ServerChange::Health(on) if done => {
                    if *on {
                        self.cluster.checks_off.remove(backend);
                    } else {
                        self.cluster.checks_off.insert(backend.clone());
                    }
                }
                ServerChange::Drain | ServerChange::Maint if done => {
                    self.cluster.drained.insert(backend.clone());
                    self.draining = Some((backend.clone(), self.now));
                    self.undo_offered = false;
                }
                ServerChange::Ready => {
                    if done {
                        self.cluster.drained.remove(backend);
                    }
                    if self.draining.as_ref().is_some_and(|d| &d.0 == backend) {
                        self.draining = None;
                    }
                }
                _ => {}
            },
            _ => {}
        }
        self.say(text);
        // Show the new state now rather than at the next round.
        vec![Effect::PollNow]
    }

    /// What a drain in progress waits on, for the backend being drained.
    fn drain_signal(&self) -> Option<(&str, Instant, DrainSignal)> {
        let (name, since) = self.draining.as_ref()?;
        let b = self.cluster.backends.iter().find(|b| &b.name == name)?;
        let signal = match (b.sessions(), b.req_rate()) {
            (Some(n), _) => DrainSignal::Sessions(n),
            (None, Some(r)) => DrainSignal::Requests(r),
            (None, None) => DrainSignal::Nothing,
        };
        Some((name, *since, signal))
    }

    /// The status line's drain progress: what is waited on and how far it is.
    pub fn drain_progress(&self) -> Option<String> {
        let (name, since, signal) = self.drain_signal()?;
        let secs = self.now.saturating_duration_since(since).as_secs_f64();
        let left = match signal {
            DrainSignal::Sessions(n) => format!("{n} session(s)"),
            DrainSignal::Requests(r) => format!("{r:.1} req/s in the access logs"),
            DrainSignal::Nothing => "nothing to count".into(),
        };
        // Once Esc has offered the undo, the undrain key does it.
        let undo = if self.undo_offered {
            self.keymap.hint(&Action::Undrain)
        } else {
            "Esc".to_string()
        };
        Some(format!(
            "draining {name} ({undo} undoes): {left} after {secs:.0} s"
        ))
    }

    /// Ends a drain when what it waits on is reached: no sessions left where balancers
    /// count them, else no request in the access logs' window; where nothing can be
    /// counted it ends at once and says so.
    fn watch_drain(&mut self, wall: DateTime<Local>) {
        let Some((name, since, signal)) = self.drain_signal() else {
            return;
        };
        let secs = self.now.saturating_duration_since(since).as_secs_f64();
        let ended = match signal {
            DrainSignal::Sessions(0) => {
                format!("{name} drained: no sessions left after {secs:.1} s")
            }
            DrainSignal::Requests(r) if r <= 0.0 => {
                format!("{name} drained: no request in the access logs' window after {secs:.1} s")
            }
            DrainSignal::Nothing => format!(
                "{name} drained on every balancer; they report no per-server sessions or \
                 requests (nginx without access_log): old workers finish what they hold"
            ),
            _ => return,
        };
        let name = name.to_string();
        self.cluster
            .events
            .push(wall, crate::model::Level::Ok, &name, ended);
        self.draining = None;
    }

    fn on_confirm_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(c) = self.confirm.as_mut() else {
            self.ui.mode = Mode::Normal;
            return Vec::new();
        };
        let cancel = |app: &mut App| {
            app.confirm = None;
            app.ui.mode = Mode::Normal;
            app.say("cancelled".into());
            Vec::new()
        };
        if key.code == KeyCode::Esc
            || (key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL))
        {
            return cancel(self);
        }
        let forcing = c.forceable();
        if c.blocked() && !forcing {
            self.say("a pre-check failed: this cannot be confirmed (Esc closes)".into());
            return Vec::new();
        }
        let typed = match &c.plan.confirmation {
            _ if forcing => Some(Confirm::FORCE.to_string()),
            Confirmation::Typed { name, .. } => Some(name.clone()),
            Confirmation::YesNo => None,
        };
        match (key.code, typed) {
            (KeyCode::Char('y') | KeyCode::Char('Y'), None) => self.confirmed(false),
            (KeyCode::Enter, Some(name)) if c.typed == name => self.confirmed(forcing),
            (KeyCode::Enter, Some(name)) => {
                self.say(format!("type {name} exactly, or Esc"));
                Vec::new()
            }
            (KeyCode::Backspace, Some(_)) => {
                c.typed.pop();
                Vec::new()
            }
            (KeyCode::Char(ch), Some(_)) if c.typed.chars().count() < 64 => {
                c.typed.push(ch);
                Vec::new()
            }
            (_, None) => cancel(self),
            _ => Vec::new(),
        }
    }

    /// The open dialog was confirmed (`forced`: past pre-checks `--force` overrides, by
    /// `force` typed): the plan goes to the runner.
    fn confirmed(&mut self, forced: bool) -> Vec<Effect> {
        let Some(c) = self.confirm.take() else {
            return Vec::new();
        };
        self.ui.mode = Mode::Normal;
        let op = &c.plan.operation;
        if let Some(batch) = c.batch {
            self.say(format!(
                "{} {} on every balancer…",
                op.doing(),
                c.plan.target
            ));
            if let Some(last) = batch.plans.last() {
                self.running = Some((last.operation.clone(), last.target.clone()));
            }
            self.ui.marked.clear();
            return vec![Effect::RunBatch {
                batch: Box::new(batch),
                forced,
            }];
        }
        let what = match op {
            Operation::Vip { .. } => "pre-checks, then following the VIP…",
            Operation::Server { .. } | Operation::Shell { .. } => "on every balancer…",
            Operation::Roll { .. } => "one at a time (Esc stops after the current one)…",
            Operation::Runtime { .. } => "…",
        };
        self.say(format!("{} {} {what}", op.doing(), c.plan.target));
        self.running = Some((op.clone(), c.plan.target.clone()));
        vec![Effect::Run {
            plan: Box::new(c.plan),
            failed_over: self.failed_over.clone(),
            forced,
        }]
    }

    fn say(&mut self, text: String) {
        self.flash = Some((self.now, text));
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == crossterm::event::KeyEventKind::Release {
            self.dirty = false;
            return Vec::new();
        }
        match self.ui.mode {
            Mode::Confirm => self.on_confirm_key(key),
            Mode::Runtime => self.on_prompt_key(key),
            Mode::RuntimeAnswer if self.keymap.action(&key) == Some(&Action::Runtime) => {
                self.update(Action::Runtime)
            }
            Mode::Audit => match key.code {
                KeyCode::Char('a') => {
                    self.ui.audit_all = !self.ui.audit_all;
                    self.ui.audit_scroll = 0;
                    Vec::new()
                }
                // Back in time (up) and forward, as the event pane scrolls.
                KeyCode::Up
                | KeyCode::Down
                | KeyCode::PageUp
                | KeyCode::PageDown
                | KeyCode::Home
                | KeyCode::End
                | KeyCode::Char('k' | 'j' | 'g' | 'G') => {
                    let (oldest, page) = self.ui.audit_extent.get();
                    let page = page.max(1);
                    let now = self.ui.audit_scroll;
                    self.ui.audit_scroll = match key.code {
                        KeyCode::Up | KeyCode::Char('k') => now + 1,
                        KeyCode::Down | KeyCode::Char('j') => now.saturating_sub(1),
                        KeyCode::PageUp => now + page,
                        KeyCode::PageDown => now.saturating_sub(page),
                        KeyCode::Home | KeyCode::Char('g') => oldest,
                        _ => 0,
                    }
                    .min(oldest);
                    Vec::new()
                }
                // The pair's log is read anew each time it is shown.
                KeyCode::Char('p') => {
                    self.ui.audit_scroll = 0;
                    self.ui.audit_pair = !self.ui.audit_pair;
                    if self.ui.audit_pair {
                        self.shared_audit = None;
                        vec![Effect::LoadSharedAudit]
                    } else {
                        Vec::new()
                    }
                }
                _ => {
                    self.ui.mode = Mode::Normal;
                    Vec::new()
                }
            },
            Mode::Filter => {
                let replace = std::mem::take(&mut self.ui.filter_replace);
                match key.code {
                    KeyCode::Esc => {
                        self.ui.filter.clear();
                        self.ui.mode = Mode::Normal;
                    }
                    KeyCode::Enter => self.ui.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        self.ui.filter.pop();
                    }
                    KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        self.ui.filter.clear()
                    }
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        return self.quit();
                    }
                    KeyCode::Char(c)
                        if !key.modifiers.contains(KeyModifiers::CONTROL)
                            && (replace || self.ui.filter.chars().count() < 64) =>
                    {
                        if replace {
                            self.ui.filter.clear();
                        }
                        self.ui.filter.push(c);
                    }
                    KeyCode::Up | KeyCode::Down => {
                        self.move_selection(if key.code == KeyCode::Up { -1 } else { 1 });
                    }
                    _ => {}
                }
                self.keep_selection();
                Vec::new()
            }
            Mode::Help | Mode::Alerts | Mode::Detail | Mode::RuntimeAnswer => {
                let action = self.keymap.action(&key).cloned();
                let page = self.page() as isize;
                let scroll = match action {
                    Some(Action::Quit) if key.code != KeyCode::Char('q') => return self.quit(),
                    Some(Action::CycleTheme) => return self.update(Action::CycleTheme),
                    Some(Action::Up) => -1,
                    Some(Action::Down) => 1,
                    Some(Action::PageUp) => -page,
                    Some(Action::PageDown) => page,
                    Some(Action::Top) => isize::MIN / 2,
                    Some(Action::Bottom) => isize::MAX / 2,
                    _ => {
                        // Any other key (Esc, ?, q) closes the overlay, as in htop.
                        self.ui.mode = Mode::Normal;
                        return Vec::new();
                    }
                };
                // The overlay clamps what is past its end when it draws.
                self.ui.overlay_scroll = step(self.ui.overlay_scroll, scroll, 10_000);
                Vec::new()
            }
            Mode::Normal => {
                if key.code == KeyCode::Esc && !self.ui.filter.is_empty() {
                    self.ui.filter.clear();
                    return Vec::new();
                }
                if key.code == KeyCode::Esc && !self.ui.marked.is_empty() {
                    return self.update(Action::ClearMarks);
                }
                // Esc during a roll stops it once the backend in hand is back.
                if key.code == KeyCode::Esc
                    && matches!(self.running, Some((Operation::Roll { .. }, _)))
                {
                    self.say("the roll stops once the current backend is back in rotation".into());
                    return vec![Effect::StopRoll];
                }
                // Esc during a drain offers to undo it, once: declined, Esc goes back to
                // doing what it does (in a fleet, back to the overview).
                if key.code == KeyCode::Esc && !self.read_only && !self.undo_offered {
                    if let Some((target, _)) = self.draining.clone() {
                        self.undo_offered = true;
                        return self.ask(Operation::ready(&target));
                    }
                }
                match self.keymap.action(&key).cloned() {
                    Some(a) => self.update(a),
                    None => {
                        self.dirty = false;
                        Vec::new()
                    }
                }
            }
        }
    }

    /// Opens an overlay at its top, or closes it when it is the one open.
    fn toggle_overlay(&mut self, overlay: Mode) {
        self.ui.overlay_scroll = 0;
        self.ui.mode = if self.ui.mode == overlay {
            Mode::Normal
        } else {
            overlay
        };
    }

    /// Notes when each current alert first showed and forgets those that ended.
    fn track_alerts(&mut self) {
        let now = self.now;
        let current: Vec<String> = self
            .cluster
            .alerts(now)
            .iter()
            .map(|a| alert_key(&a.text))
            .collect();
        self.alert_since.retain(|k, _| current.contains(k));
        for k in current {
            self.alert_since.entry(k).or_insert(now);
        }
    }

    /// How long an alert has been showing.
    pub fn alert_age(&self, text: &str) -> Duration {
        self.alert_since
            .get(&alert_key(text))
            .map_or(Duration::ZERO, |since| {
                self.now.saturating_duration_since(*since)
            })
    }

    fn page(&self) -> usize {
        (self.ui.size.1 as usize / 3).max(1)
    }

    fn move_selection(&mut self, delta: isize) {
        match self.ui.focus {
            Pane::Balancers => {
                let n = self.cluster.balancers.len();
                self.ui.selected_balancer = step(self.ui.selected_balancer, delta, n);
            }
            Pane::Backends => {
                let rows = self.visible_backends();
                if rows.is_empty() {
                    return;
                }
                let current = self
                    .ui
                    .selected_backend
                    .as_ref()
                    .and_then(|name| {
                        rows.iter()
                            .position(|&i| self.cluster.backends[i].name == *name)
                    })
                    .unwrap_or(0);
                let next = if self.ui.selected_backend.is_none() {
                    0
                } else {
                    step(current, delta, rows.len())
                };
                self.ui.selected_backend = Some(self.cluster.backends[rows[next]].name.clone());
            }
            Pane::Events => {
                let n = self.cluster.events.len();
                let oldest_page = n.saturating_sub(self.ui.event_rows.get().max(1));
                // Up scrolls back in time; the list shows newest at the bottom.
                self.ui.event_scroll = step(self.ui.event_scroll, -delta, oldest_page + 1);
            }
        }
    }

    /// Selects the first visible backend when nothing (visible) is selected.
    fn keep_selection(&mut self) {
        let rows = self.visible_backends();
        let visible = self
            .ui
            .selected_backend
            .as_ref()
            .is_some_and(|name| rows.iter().any(|&i| self.cluster.backends[i].name == *name));
        if !visible {
            self.ui.selected_backend = rows.first().map(|&i| self.cluster.backends[i].name.clone());
        }
    }

    /// Backend indices after filter and sort, in display order.
    pub fn visible_backends(&self) -> Vec<usize> {
        let needle = self.ui.filter.to_lowercase();
        let mut rows: Vec<usize> = self
            .cluster
            .backends
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                needle.is_empty()
                    || b.name.to_lowercase().contains(&needle)
                    || b.address.to_lowercase().contains(&needle)
            })
            .map(|(i, _)| i)
            .collect();
        let backends = &self.cluster.backends;
        let key = self.ui.sort;
        rows.sort_by(|&a, &b| {
            let (x, y) = (&backends[a], &backends[b]);
            let ord = key.compare(x, y).then_with(|| a.cmp(&b));
            if self.ui.descending {
                ord.reverse()
            } else {
                ord
            }
        });
        rows
    }

    /// The host `s` opens a shell on: the selected balancer's host, or the selected
    /// backend's address host, depending on the focused pane.
    pub fn shell_target(&self) -> Option<String> {
        match self.ui.focus {
            Pane::Balancers => self
                .cluster
                .balancers
                .get(self.ui.selected_balancer)
                .map(|b| b.host.clone()),
            Pane::Backends => self
                .selected_backend()
                .map(|i| crate::ssh::host_of(&self.cluster.backends[i].address)),
            Pane::Events => None,
        }
    }

    /// The selected backend's index, if any.
    pub fn selected_backend(&self) -> Option<usize> {
        let name = self.ui.selected_backend.as_ref()?;
        self.cluster.backends.iter().position(|b| b.name == *name)
    }
}

/// Theme `index` of `themes`, colourless under NO_COLOR.
pub fn resolve_theme(themes: &ThemeSet, index: usize, no_color: bool) -> Theme {
    let t = themes.themes.get(index).cloned().unwrap_or_default();
    if no_color {
        t.without_colour()
    } else {
        t
    }
}

/// An alert's identity over time: what is wrong, before the colon and without the
/// parenthesised detail, so its age does not restart when a figure or reason in it
/// changes ("no answer for 12s", "(3 health changes in 60s)").
pub fn alert_key(text: &str) -> String {
    let what = text.split(": ").next().unwrap_or(text);
    let mut depth = 0usize;
    what.chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect()
}

/// Compares names so that web2 sorts before web10.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (head, tail) = s.split_at(s.len() - digits);
        (head.to_string(), tail.parse::<u64>().unwrap_or(0))
    };
    split(a).cmp(&split(b)).then_with(|| a.cmp(b))
}

/// `current` moved by `delta` within `0..len`, stopping at either end.
pub(crate) fn step(current: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (current as isize)
        .saturating_add(delta)
        .clamp(0, len as isize - 1) as usize
}

/// The item `delta` places after `current` in `all`, wrapping around.
pub(crate) fn cycle<T: Copy + PartialEq>(all: &[T], current: T, delta: isize) -> T {
    let i = all.iter().position(|x| *x == current).unwrap_or(0) as isize;
    let n = all.len() as isize;
    all[((i + delta).rem_euclid(n)) as usize]
}

#[cfg(test)]
pub(crate) mod tests;
