//! The console in a terminal. One task owns the `App`: key events, source results,
//! operation reports and a slow tick arrive on channels; after one message the rest are
//! drained, `update` runs, effects go to the [`effects::Runner`], and a frame is drawn
//! only when something changed and at most every [`MIN_FRAME`].

mod effects;
mod remote;
mod shell;
mod terminal;
mod timeline;

use std::io;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::{interval, interval_at, Interval, MissedTickBehavior};

use crate::action::{Action, Effect};
use crate::app::App;
use crate::config::profile::Profile;
use crate::fleet::Fleet;
use crate::frames::FrameStats;
use crate::sources::group::Group;
use crate::sources::{Poller, SourceUpdate};
use remote::AbortOnDrop;
pub use remote::Remote;
pub use terminal::restore;
use terminal::Term;

/// Shortest time between frames: bursts of updates (every target answering within a few
/// milliseconds of each other) coalesce into one frame.
pub const MIN_FRAME: Duration = Duration::from_millis(30);

/// How often ages and the clock are refreshed when nothing else happens.
const TICK: Duration = Duration::from_secs(1);

/// Runs the console until the operator quits or SIGTERM/SIGHUP arrives.
/// With `stats`, frames are forced every [`crate::frames::HEARTBEAT`] and measured.
pub async fn run(app: App, stats: Option<FrameStats>) -> anyhow::Result<()> {
    run_fleet(Fleet::single(app), stats).await
}

/// Runs the console on a fleet: every cluster polled, the overview or one cluster in
/// front, until the operator quits or SIGTERM/SIGHUP arrives.
pub async fn run_fleet(mut fleet: Fleet, stats: Option<FrameStats>) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        anyhow::bail!(
            "the console needs a terminal on stdin and stdout; for scripts use \
             `lbdeck status`, `lbdeck traffic` or `lbdeck check`"
        );
    }
    // Credentials first: a key passphrase is asked on the plain terminal, once.
    let remotes: Vec<Option<Remote>> = fleet
        .members
        .iter()
        .map(|m| m.app().map(|a| Remote::for_profile(&a.profile)))
        .collect();
    let mut term = terminal::setup()?;
    let result = run_loop(&mut fleet, &mut term, remotes, stats).await;
    restore();
    result
}

/// One cluster's machinery: its runner (with its pollers), its SSH followers, and the
/// task that tags what they send with the cluster.
struct Running {
    runner: effects::Runner,
    round: usize,
    timeline: timeline::Timeline,
    _tasks: AbortOnDrop,
}

/// A channel whose messages carry the cluster they came from.
type Tagged<T> = mpsc::Sender<(usize, T)>;

/// Starts cluster `index`'s pollers and followers, at `every`, sending to `tx` and
/// `acted_tx` tagged with `index`; read through Prometheus, it joins `group`.
fn start(
    index: usize,
    profile: &Profile,
    remote: Remote,
    every: Duration,
    (tx, acted_tx): (&Tagged<SourceUpdate>, &Tagged<Action>),
    group: Option<&mut Group>,
) -> (Running, tokio::time::Instant) {
    let (own_tx, mut own) = mpsc::channel::<SourceUpdate>(1024);
    let (own_acted, mut acted) = mpsc::channel::<Action>(16);
    let pool = remote.pool.clone();
    let poller = Poller::spawn_in(profile, own_tx.clone(), pool.clone(), group);
    poller.set_interval(every);
    let (rounds_from, round) = (poller.start(), poller.round());
    let mut tasks = remote.spawn(&own_tx, profile.poll_interval);
    drop(own_tx);
    let (tx, acted_tx) = (tx.clone(), acted_tx.clone());
    tasks.push(tokio::spawn(async move {
        while let Some(u) = own.recv().await {
            if tx.send((index, u)).await.is_err() {
                return;
            }
        }
    }));
    tasks.push(tokio::spawn(async move {
        while let Some(a) = acted.recv().await {
            if acted_tx.send((index, a)).await.is_err() {
                return;
            }
        }
    }));
    let running = Running {
        runner: effects::Runner::new(profile, pool, poller, own_acted),
        round,
        timeline: timeline::Timeline::open(profile),
        _tasks: AbortOnDrop(tasks),
    };
    (running, rounds_from)
}

async fn run_loop(
    fleet: &mut Fleet,
    term: &mut Term,
    remotes: Vec<Option<Remote>>,
    stats: Option<FrameStats>,
) -> anyhow::Result<()> {
    let (tx, sources) = mpsc::channel(4096);
    let (acted_tx, acted) = mpsc::channel::<(usize, Action)>(16);
    let mut running: Vec<Option<Running>> = Vec::new();
    let mut rounds_from = None;
    let (mut groups, group_of) = groups(fleet);
    for (i, remote) in remotes.into_iter().enumerate() {
        let started = match (remote, fleet.members[i].app()) {
            (Some(remote), Some(app)) => {
                // The fleet set each cluster's pace: the front's own, the others'
                // background one.
                let every = app.cluster.poll_interval;
                let group = group_of[i].map(|g| &mut groups[g]);
                let (r, from) = start(i, &app.profile, remote, every, (&tx, &acted_tx), group);
                rounds_from.get_or_insert(from);
                Some(r)
            }
            _ => None,
        };
        running.push(started);
    }
    let _groups = AbortOnDrop(groups.into_iter().map(Group::spawn).collect());
    drop((tx, acted_tx));
    let (keys, _reader) = terminal_events();
    let mut inputs = Inputs {
        keys,
        sources,
        acted,
        clock: Clock::new(
            stats.is_some(),
            rounds_from.unwrap_or_else(tokio::time::Instant::now),
        )?,
    };
    let size = term.size()?;
    fleet.update(Action::Resize(size.width, size.height));
    let round = |fleet: &Fleet, running: &[Option<Running>]| {
        fleet
            .front
            .and_then(|i| running.get(i)?.as_ref())
            .map_or(0, |r| r.round)
    };
    let mut frames = Frames::new(stats, round(fleet, &running));
    loop {
        let wait = fleet.is_dirty().then(|| frames.due_in(fleet.is_urgent()));
        let Some(inputs_now) = inputs.next(wait, fleet).await? else {
            return Ok(());
        };
        let operator = Frames::operator(&inputs_now);
        frames.round = round(fleet, &running);
        frames.count(&inputs_now, fleet.front);
        let batch = !inputs_now.is_empty();
        for input in inputs_now {
            if let Input::Screen(Action::Resize(w, h)) = input {
                terminal::fit(term, w, h)?;
            }
            let effects = match input {
                Input::Screen(a) => fleet.update(a),
                Input::Cluster(i, a) => fleet.update_cluster(i, a),
            };
            for (i, effect) in effects {
                if effect == Effect::Quit {
                    return Ok(());
                }
                let Some(r) = running.get(i).and_then(Option::as_ref) else {
                    continue;
                };
                match r.runner.run(effect) {
                    Some(Effect::Quit) => return Ok(()),
                    Some(Effect::Shell(host)) => {
                        let (keys, sources) = (&mut inputs.keys, &mut inputs.sources);
                        let opened = Instant::now();
                        let ended =
                            shell::shell(term, fleet, keys, sources, r.runner.pool(), &host).await;
                        r.runner.shell_ended(&host, opened.elapsed(), ended.clone());
                        if let Some(app) = fleet.front_app_mut() {
                            app.flash = Some((Instant::now(), ended.unwrap_or_else(|e| e)));
                        }
                        fleet.dirty = true;
                        frames.paused();
                    }
                    _ => {}
                }
            }
        }
        if batch {
            // Ages count from now; the time moving on alone is the clock's tick to draw.
            fleet.settle(Instant::now());
        }
        if fleet.is_dirty() {
            frames.batch(operator);
        }
        for (m, r) in fleet.members.iter().zip(running.iter_mut()) {
            if let (Some(app), Some(r)) = (m.app(), r.as_mut()) {
                r.timeline.write(&app.cluster.events);
            }
        }
        frames.draw_if_due(term, fleet)?;
    }
}

/// The fleet's clusters read through Prometheus, grouped by server (and extra
/// matchers): each group of two or more asks once a round for all its clusters, at the
/// fastest background pace among them. Also each member's group, if any.
fn groups(fleet: &Fleet) -> (Vec<Group>, Vec<Option<usize>>) {
    use crate::sources::prometheus::Plan;
    let profiles: Vec<Option<&Profile>> = fleet
        .members
        .iter()
        .map(|m| m.app().map(|a| &a.profile))
        .collect();
    let plans: Vec<Option<Plan>> = profiles
        .iter()
        .map(|p| {
            p.filter(|p| p.source == crate::config::profile::SourceKind::Prometheus)
                .and_then(Plan::for_profile)
        })
        .collect();
    let chosen: Vec<Option<&Plan>> = plans.iter().map(Option::as_ref).collect();
    let mut of = vec![None; fleet.members.len()];
    let mut groups = Vec::new();
    for members in crate::sources::prometheus::groups(&chosen) {
        let of_members = || members.iter().filter_map(|&i| profiles[i]);
        let every = of_members().map(Profile::background_every).min();
        let timeout = of_members().map(|p| p.timeout).max();
        let (Some(every), Some(timeout)) = (every, timeout) else {
            continue;
        };
        for &i in &members {
            of[i] = Some(groups.len());
        }
        groups.push(Group::new(every, timeout));
    }
    (groups, of)
}

/// One input for the fleet: the screen's (keys, resize, time) or a cluster's own.
enum Input {
    /// For the screen.
    Screen(Action),
    /// From cluster `.0`'s sources or runner.
    Cluster(usize, Action),
}

/// Everything the loop waits on.
struct Inputs {
    keys: mpsc::Receiver<io::Result<Event>>,
    sources: mpsc::Receiver<(usize, SourceUpdate)>,
    acted: mpsc::Receiver<(usize, Action)>,
    clock: Clock,
}

impl Inputs {
    /// Waits for the next input (or until a frame is due after `wait`), then takes every
    /// source update already queued. None: time to leave (signal, terminal gone).
    async fn next(
        &mut self,
        wait: Option<Duration>,
        fleet: &mut Fleet,
    ) -> io::Result<Option<Vec<Input>>> {
        let mut actions = Vec::new();
        let frame_due = async {
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = self.keys.recv() => match ev {
                Some(Ok(Event::Key(k))) => actions.push(Input::Screen(Action::Key(k))),
                Some(Ok(Event::Resize(w, h))) => actions.push(Input::Screen(Action::Resize(w, h))),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(None),
            },
            Some((i, u)) = self.sources.recv() => actions.push(Input::Cluster(i, Action::Update(u))),
            Some((i, a)) = self.acted.recv() => actions.push(Input::Cluster(i, a)),
            beat = self.clock.next() => match beat {
                Beat::Tick => actions.push(Input::Screen(Action::Tick(Instant::now()))),
                Beat::Heartbeat => fleet.dirty = true,
                Beat::Stop => return Ok(None),
            },
            _ = frame_due => {}
        }
        while let Ok((i, u)) = self.sources.try_recv() {
            actions.push(Input::Cluster(i, Action::Update(u)));
        }
        Ok(Some(actions))
    }
}

/// The terminal's events, read by a task of their own: polling crossterm's EventStream
/// on every turn of the loop would spin on its reader lock each time.
fn terminal_events() -> (mpsc::Receiver<io::Result<Event>>, AbortOnDrop) {
    let (tx, rx) = mpsc::channel::<io::Result<Event>>(256);
    let reader = tokio::spawn(async move {
        let mut stream = EventStream::new();
        while let Some(ev) = stream.next().await {
            if tx.send(ev).await.is_err() {
                break;
            }
        }
    });
    (rx, AbortOnDrop(vec![reader]))
}

/// What the clock says.
enum Beat {
    /// Ages and the clock move on.
    Tick,
    /// Force a frame (measuring with `--frame-stats`).
    Heartbeat,
    /// SIGTERM or SIGHUP: leave.
    Stop,
}

/// The slow tick, the measuring heartbeat and the signals that end the console.
struct Clock {
    tick: Interval,
    heartbeat: Option<Interval>,
    sigterm: Signal,
    sighup: Signal,
}

impl Clock {
    /// The tick keeps the polls' schedule (`rounds_from`): where the poll interval is a
    /// second, the clock and a round's results share one frame and one wakeup.
    fn new(measuring: bool, rounds_from: tokio::time::Instant) -> io::Result<Clock> {
        let every = |mut i: Interval| {
            i.set_missed_tick_behavior(MissedTickBehavior::Skip);
            i
        };
        Ok(Clock {
            tick: every(interval_at(rounds_from, TICK)),
            heartbeat: measuring.then(|| every(interval(crate::frames::HEARTBEAT))),
            sigterm: signal(SignalKind::terminate())?,
            sighup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Beat {
        let heartbeat = async {
            match self.heartbeat.as_mut() {
                Some(h) => h.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.tick.tick() => Beat::Tick,
            _ = heartbeat => Beat::Heartbeat,
            _ = self.sigterm.recv() => Beat::Stop,
            _ = self.sighup.recv() => Beat::Stop,
        }
    }
}

/// How long a change that nobody typed (the clock's tick, poll results) waits for others
/// to join it: a round's results and the tick land in one frame a second, not two.
const SETTLE: Duration = Duration::from_millis(100);

/// Frame pacing and, with `--frame-stats`, measuring.
struct Frames {
    last: Instant,
    /// Since when an undrawn change waits, and whether the operator caused it.
    pending: Option<(Instant, bool)>,
    /// Answers a round brings, and how many of the open round's are still out: once all
    /// are in, nothing is left to wait [`SETTLE`] for. None from the round's frame until
    /// the clock's next tick opens another.
    round: usize,
    awaiting: Option<usize>,
    stats: Option<FrameStats>,
}

impl Frames {
    fn new(stats: Option<FrameStats>, round: usize) -> Frames {
        Frames {
            last: Instant::now() - MIN_FRAME,
            pending: None,
            round,
            awaiting: Some(round),
            stats,
        }
    }

    /// Follows the round of the cluster in front: the clock's tick starts one (it keeps
    /// the polls' schedule), each poll's answer comes in.
    fn count(&mut self, inputs: &[Input], front: Option<usize>) {
        for input in inputs {
            match input {
                Input::Screen(Action::Tick(_)) => self.awaiting = Some(self.round),
                Input::Cluster(
                    i,
                    Action::Update(
                        SourceUpdate::Balancer { .. }
                        | SourceUpdate::Health { .. }
                        | SourceUpdate::Vip { .. },
                    ),
                ) if Some(*i) == front => {
                    self.awaiting = self.awaiting.map(|n| n.saturating_sub(1))
                }
                _ => {}
            }
        }
    }

    /// Whether the operator caused a batch of input (keys, resizes, operation results).
    fn operator(inputs: &[Input]) -> bool {
        inputs.iter().any(|input| {
            matches!(
                input,
                Input::Screen(Action::Key(_) | Action::Resize(..))
                    | Input::Cluster(_, Action::Acted(_) | Action::Progress(_))
            )
        })
    }

    /// Notes a change to draw: the operator's as soon as the pacing allows; the rest may
    /// wait [`SETTLE`] for company.
    fn batch(&mut self, operator: bool) {
        let (since, was) = self.pending.unwrap_or((Instant::now(), false));
        self.pending = Some((since, was || operator));
    }

    /// Time left before the pending change may be drawn (none for urgent news).
    fn due_in(&self, urgent: bool) -> Duration {
        let paced = MIN_FRAME.saturating_sub(self.last.elapsed());
        match self.pending {
            _ if urgent => Duration::ZERO,
            // Measured frames (`--frame-stats`) keep their 50 ms beat: no settling.
            Some((since, false)) if self.stats.is_none() && self.awaiting != Some(0) => {
                paced.max(SETTLE.saturating_sub(since.elapsed()))
            }
            _ => paced,
        }
    }

    /// The terminal was away (a shell): draw at once, and don't count the gap.
    fn paused(&mut self) {
        if let Some(s) = self.stats.as_mut() {
            s.paused();
        }
        self.last = Instant::now() - MIN_FRAME;
    }

    fn draw_if_due(&mut self, term: &mut Term, fleet: &mut Fleet) -> io::Result<()> {
        if !fleet.is_dirty() || !self.due_in(fleet.is_urgent()).is_zero() {
            return Ok(());
        }
        let started = Instant::now();
        terminal::draw(term, fleet)?;
        fleet.drawn();
        self.pending = None;
        if self.awaiting == Some(0) {
            self.awaiting = None;
        }
        self.last = Instant::now();
        if let Some(s) = self.stats.as_mut() {
            let oldest = fleet
                .front_app()
                .and_then(|app| app.cluster.oldest_poll(self.last));
            s.frame(started, self.last - started, oldest);
        }
        Ok(())
    }
}
