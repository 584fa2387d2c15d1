//! The fleet: every cluster of a profile directory in one console. Each cluster keeps
//! its own [`App`] (its model, selection, dialogs) and its own pollers, so switching is
//! a change of which one is in front, never a reconnect. Like `App::update`, the
//! fleet's `update` is pure: an action in, state changed, effects out, each tagged with
//! the cluster it is for.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::action::{Action, Effect};
use crate::app::keys::Keymap;
use crate::app::{cycle, step, App};
use crate::config::profile::Environment;
use crate::config::theme::{Theme, ThemeSet};
use crate::model::{Alert, Level, Role};

/// How long a status-line message stays on the overview.
const FLASH_FOR: Duration = Duration::from_secs(3);

/// The longest filter or picker text kept.
const MAX_TYPED: usize = 64;

/// One cluster of the fleet: its console, or why its profile could not be used.
pub struct Member {
    /// The profile's name (its file's name when the profile is broken).
    pub name: String,
    /// The cluster's console, or the profile's one-line error (file:line:col: what).
    pub state: Result<Box<App>, String>,
}

impl Member {
    /// The cluster's console, when its profile loaded.
    pub fn app(&self) -> Option<&App> {
        self.state.as_deref().ok()
    }

    fn app_mut(&mut self) -> Option<&mut App> {
        self.state.as_deref_mut().ok()
    }

    /// The profile's environment (broken profiles have none).
    pub fn environment(&self) -> Option<Environment> {
        self.app().map(|a| a.environment)
    }
}

/// What keys do on the overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetMode {
    /// Keys go through the keymap.
    Normal,
    /// Keys edit the cluster filter.
    Filter,
    /// The overview's help is open.
    Help,
}

/// The overview's sort columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetSort {
    /// Production first, then by name.
    Environment,
    /// By name.
    Name,
    /// The worst alarm first.
    Alarm,
    /// The fewest healthy backends first.
    Healthy,
    /// The busiest first.
    Traffic,
}

const SORTS: [FleetSort; 5] = [
    FleetSort::Environment,
    FleetSort::Name,
    FleetSort::Alarm,
    FleetSort::Healthy,
    FleetSort::Traffic,
];

impl FleetSort {
    /// The column's name, as the status line says it.
    pub fn label(self) -> &'static str {
        match self {
            FleetSort::Environment => "environment",
            FleetSort::Name => "name",
            FleetSort::Alarm => "alarm",
            FleetSort::Healthy => "healthy",
            FleetSort::Traffic => "req/s",
        }
    }
}

/// The cluster picker: what is typed and which match is highlighted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Picker {
    /// Typed so far.
    pub typed: String,
    /// The highlighted match (position in [`Fleet::picks`]).
    pub selected: usize,
}

/// Where the overview is looking.
#[derive(Debug, Clone)]
pub struct FleetUi {
    /// What keys do.
    pub mode: FleetMode,
    /// The applied filter (case-insensitive substring of name or environment).
    pub filter: String,
    /// Sort column.
    pub sort: FleetSort,
    /// Sort reversed.
    pub descending: bool,
    /// The selected cluster (member index).
    pub selected: Option<usize>,
    /// The picker, when open (over the overview or a cluster).
    pub picker: Option<Picker>,
}

/// How the pair's keepalived roles add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pair {
    /// One MASTER.
    Ok,
    /// More than one balancer holds the VIP.
    SplitBrain,
    /// keepalived answered and no balancer is MASTER.
    NoMaster,
    /// No role known (no keepalived in the profile, or not read yet).
    Unknown,
}

/// One overview row: a cluster as the overview shows it.
#[derive(Debug, Clone)]
pub struct Row {
    /// Member index.
    pub index: usize,
    /// Cluster name.
    pub name: String,
    /// Environment (none for a broken profile).
    pub environment: Option<Environment>,
    /// The VIP check: serving or not (none: not probed).
    pub vip: Option<bool>,
    /// Each balancer's keepalived role, by name: None where keepalived is not watched
    /// (the profile has no keepalived block for it), Some(None) while not known yet.
    pub roles: Vec<(String, Option<Option<Role>>)>,
    /// How the roles add up.
    pub pair: Pair,
    /// Backends in rotation, of all.
    pub in_rotation: Option<(usize, usize)>,
    /// Backends our probe finds healthy, of all.
    pub healthy: (usize, usize),
    /// Requests per second over the balancers.
    pub req_rate: Option<f64>,
    /// The worst current alert.
    pub worst: Option<Alert>,
    /// How long ago a balancer last answered.
    pub age: Option<Duration>,
    /// The profile's one-line error (broken profiles).
    pub error: Option<String>,
}

/// Every cluster, the one in front, and the overview's own screen state.
pub struct Fleet {
    /// Every cluster, in profile-file order.
    pub members: Vec<Member>,
    /// The cluster open in front; none while the overview shows.
    pub front: Option<usize>,
    /// Opened on one profile (`--profile`): no overview to go back to.
    pub single: bool,
    /// The overview's screen state.
    pub ui: FleetUi,
    /// Key bindings.
    pub keymap: Keymap,
    /// Available themes.
    pub themes: ThemeSet,
    /// Index of the theme in use (every cluster uses it).
    pub theme_index: usize,
    /// NO_COLOR is set.
    pub no_color: bool,
    /// The theme in use, resolved.
    pub theme: Theme,
    /// The time the screen shows.
    pub now: Instant,
    /// Something on the overview changed since the last frame.
    pub dirty: bool,
    /// Status-line message.
    pub flash: Option<(Instant, String)>,
    /// Terminal size.
    pub size: (u16, u16),
}

impl Fleet {
    /// A fleet of `members`; the overview shows first. Every console uses the fleet's
    /// theme and is marked as opened from a fleet.
    pub fn new(
        members: Vec<Member>,
        keymap: Keymap,
        themes: ThemeSet,
        theme_index: usize,
        no_color: bool,
    ) -> Fleet {
        let theme = crate::app::resolve_theme(&themes, theme_index, no_color);
        let mut fleet = Fleet {
            members,
            front: None,
            single: false,
            ui: FleetUi {
                mode: FleetMode::Normal,
                filter: String::new(),
                sort: FleetSort::Environment,
                descending: false,
                selected: None,
                picker: None,
            },
            keymap,
            themes,
            theme_index,
            no_color,
            theme,
            now: Instant::now(),
            dirty: true,
            flash: None,
            size: (80, 24),
        };
        for m in &mut fleet.members {
            if let Some(app) = m.app_mut() {
                app.in_fleet = true;
                app.set_theme(theme_index);
                pace(app, false);
            }
        }
        fleet.ui.selected = fleet.rows().first().map(|r| r.index);
        fleet
    }

    /// A console on one cluster: it stays in front, with no overview behind it.
    pub fn single(app: App) -> Fleet {
        let (keymap, themes, index, no_color) = (
            app.keymap.clone(),
            app.themes.clone(),
            app.theme_index,
            app.no_color,
        );
        let member = Member {
            name: app.profile.name.clone(),
            state: Ok(Box::new(app)),
        };
        let mut fleet = Fleet::new(vec![member], keymap, themes, index, no_color);
        fleet.single = true;
        fleet.front = Some(0);
        if let Some(app) = fleet.members[0].app_mut() {
            app.in_fleet = false;
            pace(app, true);
        }
        fleet
    }

    /// The cluster in front, if one is.
    pub fn front_app(&self) -> Option<&App> {
        self.front.and_then(|i| self.members.get(i)?.app())
    }

    /// The cluster in front, to change.
    pub fn front_app_mut(&mut self) -> Option<&mut App> {
        let i = self.front?;
        self.members.get_mut(i)?.app_mut()
    }

    /// Something on screen changed since the last frame.
    pub fn is_dirty(&self) -> bool {
        self.dirty
            || match self.front_app() {
                Some(app) => app.dirty,
                None => self.apps().any(|a| a.dirty),
            }
    }

    /// A role or VIP move on screen: drawn at once.
    pub fn is_urgent(&self) -> bool {
        match self.front_app() {
            Some(app) => app.urgent,
            None => self.apps().any(|a| a.urgent),
        }
    }

    /// A frame was drawn: nothing is pending.
    pub fn drawn(&mut self) {
        self.dirty = false;
        for m in &mut self.members {
            if let Some(app) = m.app_mut() {
                app.dirty = false;
                app.urgent = false;
            }
        }
    }

    /// Moves the clock of what is on screen to `now` without asking for a frame of its
    /// own (the clock's tick moves every cluster's, once a second).
    pub fn settle(&mut self, now: Instant) {
        let dirty = self.is_dirty();
        self.now = now;
        if let Some(app) = self.front_app_mut() {
            app.update(Action::Tick(now));
        }
        if !dirty {
            self.drawn();
        }
    }

    fn apps(&self) -> impl Iterator<Item = &App> {
        self.members.iter().filter_map(Member::app)
    }

    /// Applies an action for the screen (keys, resize, time) and returns what the run
    /// loop must do, each effect with the cluster it is for ([`Effect::Quit`] is for the
    /// whole console, whatever its index).
    pub fn update(&mut self, action: Action) -> Vec<(usize, Effect)> {
        match action {
            Action::Tick(now) => {
                self.now = now;
                // The other clusters' alarms are counted once a tick: the badge is at
                // most a second behind, and a burst of results costs no recount.
                self.badge();
                for m in &mut self.members {
                    if let Some(app) = m.app_mut() {
                        app.update(Action::Tick(now));
                    }
                }
                if self
                    .flash
                    .as_ref()
                    .is_some_and(|(t, _)| now.saturating_duration_since(*t) > FLASH_FOR)
                {
                    self.flash = None;
                    self.dirty = true;
                }
                Vec::new()
            }
            Action::Resize(w, h) => {
                self.size = (w, h);
                self.dirty = true;
                for m in &mut self.members {
                    if let Some(app) = m.app_mut() {
                        app.update(Action::Resize(w, h));
                    }
                }
                Vec::new()
            }
            Action::Key(key) if key.kind == crossterm::event::KeyEventKind::Release => Vec::new(),
            Action::Key(key) if self.ui.picker.is_some() => {
                self.dirty = true;
                self.on_picker_key(key)
            }
            action => match self.front {
                Some(i) => self.for_front(i, action),
                None => {
                    self.dirty = true;
                    self.on_overview(action)
                }
            },
        }
    }

    /// Applies an action that came from cluster `index`'s own sources or runner (a
    /// poll's result, an operation's report).
    pub fn update_cluster(&mut self, index: usize, action: Action) -> Vec<(usize, Effect)> {
        let Some(app) = self.members.get_mut(index).and_then(Member::app_mut) else {
            return Vec::new();
        };
        let effects = app.update(action);
        self.route(index, effects)
    }

    /// An action for the cluster in front; what only the fleet can do is done here.
    fn for_front(&mut self, index: usize, action: Action) -> Vec<(usize, Effect)> {
        let Some(app) = self.members.get_mut(index).and_then(Member::app_mut) else {
            return Vec::new();
        };
        let effects = app.update(action);
        // A theme changed in front is everyone's.
        let theme = app.theme_index;
        if theme != self.theme_index {
            self.use_theme(theme);
        }
        self.route(index, effects)
    }

    /// Cluster `index`'s effects, with the fleet's own taken out.
    fn route(&mut self, index: usize, effects: Vec<Effect>) -> Vec<(usize, Effect)> {
        let mut out = Vec::new();
        for e in effects {
            match e {
                Effect::PickCluster => self.open_picker(),
                Effect::Back => out.extend(self.back()),
                e => out.push((index, e)),
            }
        }
        out
    }

    /// The overview's keys.
    fn on_overview(&mut self, action: Action) -> Vec<(usize, Effect)> {
        let Action::Key(key) = action else {
            return self.overview_action(action);
        };
        match self.ui.mode {
            FleetMode::Help => {
                self.ui.mode = FleetMode::Normal;
                Vec::new()
            }
            FleetMode::Filter => {
                if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
                    return self.overview_action(Action::Quit);
                }
                match edit_text(&mut self.ui.filter, key) {
                    Edit::Done => self.ui.mode = FleetMode::Normal,
                    Edit::Cancel => {
                        self.ui.filter.clear();
                        self.ui.mode = FleetMode::Normal;
                    }
                    Edit::Edited | Edit::Other => {}
                }
                self.keep_selection();
                Vec::new()
            }
            FleetMode::Normal => {
                if key.code == KeyCode::Esc && !self.ui.filter.is_empty() {
                    self.ui.filter.clear();
                    self.keep_selection();
                    return Vec::new();
                }
                match self.keymap.action(&key).cloned() {
                    Some(a) => self.overview_action(a),
                    None => Vec::new(),
                }
            }
        }
    }

    /// A bindable action on the overview.
    fn overview_action(&mut self, action: Action) -> Vec<(usize, Effect)> {
        let page = (usize::from(self.size.1) / 3).max(1) as isize;
        match action {
            Action::Quit => return self.quit(),
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-page),
            Action::PageDown => self.move_selection(page),
            Action::Top => self.move_selection(isize::MIN / 2),
            Action::Bottom => self.move_selection(isize::MAX / 2),
            Action::Detail => {
                if let Some(i) = self.ui.selected {
                    return self.open(i);
                }
            }
            Action::Filter => self.ui.mode = FleetMode::Filter,
            Action::Help => self.ui.mode = FleetMode::Help,
            Action::SortNext => {
                self.ui.sort = cycle(&SORTS, self.ui.sort, 1);
                self.ui.descending = false;
                self.say(format!("sorted by {}", self.ui.sort.label()));
            }
            Action::SortReverse => {
                self.ui.descending = !self.ui.descending;
                self.say(format!("sorted by {}, reversed", self.ui.sort.label()));
            }
            Action::CycleTheme => {
                let next = (self.theme_index + 1) % self.themes.themes.len().max(1);
                self.use_theme(next);
                self.say(format!("theme: {}", self.theme.name));
            }
            Action::Clusters => self.open_picker(),
            Action::Refresh => {
                self.say("polling every cluster now".into());
                return self.open_indices().map(|i| (i, Effect::PollNow)).collect();
            }
            Action::Back => {}
            other => self.say(format!(
                "{}: open a cluster first (Enter); actions act on the cluster in front",
                other.name().replace('_', " ")
            )),
        }
        Vec::new()
    }

    /// Quits, unless an operation confirmed in some cluster still runs: that cluster
    /// is asked, and says so (the console quits when it reports).
    fn quit(&mut self) -> Vec<(usize, Effect)> {
        let running = self
            .members
            .iter()
            .position(|m| m.app().is_some_and(|a| a.running.is_some()));
        match running {
            Some(i) => {
                let out = self.update_cluster(i, Action::Quit);
                if let Some((_, text)) = self.members[i].app().and_then(|a| a.flash.clone()) {
                    self.say(format!("{}: {text}", self.members[i].name));
                }
                out
            }
            None => vec![(0, Effect::Quit)],
        }
    }

    fn open_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.app().is_some())
            .map(|(i, _)| i)
    }

    /// Brings cluster `index` to the front: polled at its own interval from now, the
    /// one it replaces at its background interval.
    pub fn open(&mut self, index: usize) -> Vec<(usize, Effect)> {
        let Some(m) = self.members.get(index) else {
            return Vec::new();
        };
        if let Err(e) = &m.state {
            let text = format!("{}: the profile cannot be used: {e}", m.name);
            self.say(text);
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.front == Some(index) {
            return out;
        }
        out.extend(self.send_back());
        self.front = Some(index);
        self.ui.selected = Some(index);
        let (theme, size, now) = (self.theme_index, self.size, self.now);
        if let Some(app) = self.members[index].app_mut() {
            app.set_theme(theme);
            app.ui.size = size;
            app.now = now;
            app.dirty = true;
            out.push((index, pace(app, true)));
            out.push((index, Effect::PollNow));
        }
        self.badge();
        out
    }

    /// Back to the overview (none on a console opened on one profile).
    fn back(&mut self) -> Vec<(usize, Effect)> {
        if self.single {
            return Vec::new();
        }
        let out = self.send_back().into_iter().collect();
        self.front = None;
        self.dirty = true;
        out
    }

    /// The cluster in front goes to the background pace.
    fn send_back(&mut self) -> Option<(usize, Effect)> {
        let i = self.front?;
        let app = self.members.get_mut(i)?.app_mut()?;
        app.others_alarming = 0;
        Some((i, pace(app, false)))
    }

    fn use_theme(&mut self, index: usize) {
        self.theme_index = index;
        self.theme = crate::app::resolve_theme(&self.themes, index, self.no_color);
        for m in &mut self.members {
            if let Some(app) = m.app_mut() {
                app.set_theme(index);
            }
        }
        self.dirty = true;
    }

    fn say(&mut self, text: String) {
        self.flash = Some((self.now, text));
        self.dirty = true;
    }

    /// The header badge of the cluster in front: how many others have an error-level
    /// alert.
    fn badge(&mut self) {
        let Some(front) = self.front.filter(|_| !self.single) else {
            return;
        };
        let now = self.now;
        let alarming = self
            .members
            .iter()
            .enumerate()
            .filter(|(i, m)| *i != front && m.app().is_some_and(|a| alarming(a, now)))
            .count();
        if let Some(app) = self.front_app_mut() {
            if app.others_alarming != alarming {
                app.others_alarming = alarming;
                app.dirty = true;
            }
        }
    }

    /// How many clusters have an error-level alert.
    pub fn alarming(&self) -> usize {
        self.apps().filter(|a| alarming(a, self.now)).count()
    }

    fn open_picker(&mut self) {
        if self.single {
            return;
        }
        self.ui.picker = Some(Picker::default());
        self.dirty = true;
    }

    fn on_picker_key(&mut self, key: KeyEvent) -> Vec<(usize, Effect)> {
        let Some(mut picker) = self.ui.picker.take() else {
            return Vec::new();
        };
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return self.quit();
        }
        let picks = picks(&self.members, &picker.typed);
        match key.code {
            KeyCode::Up => picker.selected = step(picker.selected, -1, picks.len()),
            KeyCode::Down => picker.selected = step(picker.selected, 1, picks.len()),
            _ => match edit_text(&mut picker.typed, key) {
                Edit::Cancel => return Vec::new(),
                Edit::Done => {
                    return match picks.get(picker.selected) {
                        Some(&i) => self.open(i),
                        None => {
                            self.say(format!("no cluster matches {:?}", picker.typed));
                            Vec::new()
                        }
                    };
                }
                Edit::Edited => picker.selected = 0,
                Edit::Other => {}
            },
        }
        self.ui.picker = Some(picker);
        Vec::new()
    }

    /// The picker's matches for what is typed, best first (member indices); with
    /// nothing typed yet, every cluster in the overview's order.
    pub fn picks(&self) -> Vec<usize> {
        let typed = self.ui.picker.as_ref().map_or("", |p| p.typed.as_str());
        if typed.is_empty() {
            return self.rows().iter().map(|r| r.index).collect();
        }
        picks(&self.members, typed)
    }

    fn move_selection(&mut self, delta: isize) {
        let rows = self.rows();
        let current = self
            .ui
            .selected
            .and_then(|s| rows.iter().position(|r| r.index == s))
            .unwrap_or(0);
        self.ui.selected = rows.get(step(current, delta, rows.len())).map(|r| r.index);
    }

    /// Selects the first visible cluster when the selected one is filtered out.
    fn keep_selection(&mut self) {
        let rows = self.rows();
        if !rows.iter().any(|r| Some(r.index) == self.ui.selected) {
            self.ui.selected = rows.first().map(|r| r.index);
        }
    }

    /// The overview's rows, filtered and sorted.
    pub fn rows(&self) -> Vec<Row> {
        let needle = self.ui.filter.to_lowercase();
        let mut rows: Vec<Row> = self
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                needle.is_empty()
                    || m.name.to_lowercase().contains(&needle)
                    || m.environment()
                        .is_some_and(|e| e.to_string().contains(&needle))
            })
            .map(|(i, m)| row(i, m, self.now))
            .collect();
        let sort = self.ui.sort;
        rows.sort_by(|a, b| {
            let ord = compare(sort, a, b).then_with(|| a.index.cmp(&b.index));
            if self.ui.descending {
                ord.reverse()
            } else {
                ord
            }
        });
        rows
    }
}

/// Paces a cluster for the front (its `poll_interval`) or the background (its
/// `background_interval`): what counts as stale, and the span rates are measured over,
/// follow the pace, so a background cluster is not called stale between its polls.
fn pace(app: &mut App, front: bool) -> Effect {
    let every = if front {
        app.profile.poll_interval
    } else {
        app.profile.background_every()
    };
    app.cluster.poll_interval = every;
    Effect::Pace { every, front }
}

/// Whether a cluster has an error-level alert.
fn alarming(app: &App, now: Instant) -> bool {
    app.cluster
        .alerts(now)
        .iter()
        .any(|a| a.level == Level::Error)
}

fn compare(sort: FleetSort, a: &Row, b: &Row) -> std::cmp::Ordering {
    // Production first; broken profiles last.
    let env = |r: &Row| match r.environment {
        Some(Environment::Production) => 0,
        Some(Environment::Staging) => 1,
        Some(Environment::Lab) => 2,
        None => 3,
    };
    let worst = |r: &Row| {
        if r.error.is_some() {
            5
        } else {
            r.worst.as_ref().map_or(0, |a| a.level as u8 + 1)
        }
    };
    let name = a.name.to_lowercase().cmp(&b.name.to_lowercase());
    match sort {
        FleetSort::Environment => env(a).cmp(&env(b)).then(name),
        FleetSort::Name => name,
        FleetSort::Alarm => worst(b).cmp(&worst(a)).then(name),
        FleetSort::Healthy => a.healthy.0.cmp(&b.healthy.0).then(name),
        FleetSort::Traffic => b
            .req_rate
            .unwrap_or(-1.0)
            .total_cmp(&a.req_rate.unwrap_or(-1.0))
            .then(name),
    }
}

/// A member as an overview row.
fn row(index: usize, m: &Member, now: Instant) -> Row {
    let app = match &m.state {
        Ok(app) => app,
        Err(e) => {
            return Row {
                index,
                name: m.name.clone(),
                environment: None,
                vip: None,
                roles: Vec::new(),
                pair: Pair::Unknown,
                in_rotation: None,
                healthy: (0, 0),
                req_rate: None,
                worst: None,
                age: None,
                error: Some(e.clone()),
            }
        }
    };
    let c = &app.cluster;
    let roles: Vec<(String, Option<Option<Role>>)> = c
        .balancers
        .iter()
        .map(|b| (b.name.clone(), b.vrrp.as_ref().map(|v| v.role)))
        .collect();
    let known = roles.iter().filter(|(_, r)| r.flatten().is_some()).count();
    let masters = roles
        .iter()
        .filter(|(_, r)| r.flatten() == Some(Role::Master))
        .count();
    let pair = match (known, masters, c.vip_holders().len()) {
        (0, _, _) => Pair::Unknown,
        (_, m, h) if m > 1 || h > 1 => Pair::SplitBrain,
        (_, 0, _) => Pair::NoMaster,
        _ => Pair::Ok,
    };
    let rates: Vec<f64> = c
        .balancers
        .iter()
        .filter_map(|b| b.metrics.req_rate)
        .collect();
    let alerts = c.alerts(now);
    Row {
        index,
        name: m.name.clone(),
        environment: Some(app.environment),
        vip: c.vip.serving(),
        roles,
        pair,
        in_rotation: c.in_rotation().map(|n| (n, c.backends.len())),
        healthy: (c.healthy(), c.backends.len()),
        req_rate: (!rates.is_empty()).then(|| rates.iter().sum()),
        worst: alerts.into_iter().max_by_key(|a| a.level),
        age: c.last_poll().map(|l| now.saturating_duration_since(l.at)),
        error: None,
    }
}

/// The members whose name matches `typed` as a fuzzy subsequence, best first: a
/// substring beats a scattered match, an earlier one a later one, a shorter name a longer.
fn picks(members: &[Member], typed: &str) -> Vec<usize> {
    let typed = typed.to_lowercase();
    let mut scored: Vec<(usize, usize, usize)> = members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| fuzzy(&typed, &m.name.to_lowercase()).map(|s| (s, m.name.len(), i)))
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, _, i)| i).collect()
}

/// How well `needle` matches `hay` (lower is better), or None when its characters do
/// not all appear in order.
fn fuzzy(needle: &str, hay: &str) -> Option<usize> {
    if let Some(at) = hay.find(needle) {
        return Some(at);
    }
    let mut chars = hay.char_indices();
    let (mut first, mut last) = (None, 0);
    for n in needle.chars() {
        let (at, _) = chars.by_ref().find(|(_, c)| *c == n)?;
        first.get_or_insert(at);
        last = at;
    }
    // Scattered matches rank after every substring match: the spread counts.
    Some(1000 + last - first.unwrap_or(0))
}

/// What a key did to a line being typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// Enter: keep it.
    Done,
    /// Esc: drop it.
    Cancel,
    /// A character typed or removed.
    Edited,
    /// Anything else.
    Other,
}

/// Applies a key to a line being typed (Ctrl-U clears it).
fn edit_text(text: &mut String, key: KeyEvent) -> Edit {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => Edit::Cancel,
        KeyCode::Enter => Edit::Done,
        KeyCode::Backspace => {
            text.pop();
            Edit::Edited
        }
        KeyCode::Char('u') if ctrl => {
            text.clear();
            Edit::Edited
        }
        KeyCode::Char(c) if !ctrl && text.chars().count() < MAX_TYPED => {
            text.push(c);
            Edit::Edited
        }
        _ => Edit::Other,
    }
}

#[cfg(test)]
pub(crate) mod tests;
