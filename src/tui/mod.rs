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
use crate::frames::FrameStats;
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
pub async fn run(mut app: App, profile: &Profile, stats: Option<FrameStats>) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        anyhow::bail!(
            "the console needs a terminal on stdin and stdout; for scripts use \
             `lbdeck status`, `lbdeck traffic` or `lbdeck check`"
        );
    }
    // Credentials first: a key passphrase is asked on the plain terminal, once.
    let remote = Remote::for_profile(profile);
    let mut term = terminal::setup()?;
    let result = run_loop(&mut app, profile, &mut term, remote, stats).await;
    restore();
    result
}

async fn run_loop(
    app: &mut App,
    profile: &Profile,
    term: &mut Term,
    remote: Remote,
    stats: Option<FrameStats>,
) -> anyhow::Result<()> {
    let (tx, sources) = mpsc::channel(4096);
    let pool = remote.pool.clone();
    let poller = Poller::spawn(profile, tx.clone(), pool.clone());
    let (rounds_from, round) = (poller.start(), poller.round());
    let _followers = AbortOnDrop(remote.spawn(&tx, profile.poll_interval));
    drop(tx);
    let (acted_tx, acted) = mpsc::channel::<Action>(16);
    let runner = effects::Runner::new(profile, pool, poller, acted_tx);
    let (keys, _reader) = terminal_events();
    let mut inputs = Inputs {
        keys,
        sources,
        acted,
        clock: Clock::new(stats.is_some(), rounds_from)?,
    };
    let size = term.size()?;
    app.update(Action::Resize(size.width, size.height));
    let mut frames = Frames::new(stats, round);
    let mut timeline = timeline::Timeline::open(profile);
    loop {
        let wait = app.dirty.then(|| frames.due_in(app.urgent));
        let Some(actions) = inputs.next(wait, app).await? else {
            return Ok(());
        };
        let operator = Frames::operator(&actions);
        frames.count(&actions);
        let batch = !actions.is_empty();
        for action in actions {
            if let Action::Resize(w, h) = action {
                terminal::fit(term, w, h)?;
            }
            for effect in app.update(action) {
                match runner.run(effect) {
                    Some(Effect::Quit) => return Ok(()),
                    Some(Effect::Shell(host)) => {
                        let (keys, sources) = (&mut inputs.keys, &mut inputs.sources);
                        let opened = Instant::now();
                        let ended =
                            shell::shell(term, app, keys, sources, runner.pool(), &host).await;
                        runner.shell_ended(&host, opened.elapsed(), ended.clone());
                        app.flash = Some((Instant::now(), ended.unwrap_or_else(|e| e)));
                        app.dirty = true;
                        frames.paused();
                    }
                    _ => {}
                }
            }
        }
        if batch {
            // Ages count from now; the time moving on alone is the clock's tick to draw.
            let dirty = app.dirty;
            app.update(Action::Tick(Instant::now()));
            app.dirty = dirty;
        }
        if app.dirty {
            frames.batch(operator);
        }
        timeline.write(&app.cluster.events);
        frames.draw_if_due(term, app)?;
    }
}

/// Everything the loop waits on.
struct Inputs {
    keys: mpsc::Receiver<io::Result<Event>>,
    sources: mpsc::Receiver<SourceUpdate>,
    acted: mpsc::Receiver<Action>,
    clock: Clock,
}

impl Inputs {
    /// Waits for the next input (or until a frame is due after `wait`), then takes every
    /// source update already queued. None: time to leave (signal, terminal gone).
    async fn next(
        &mut self,
        wait: Option<Duration>,
        app: &mut App,
    ) -> io::Result<Option<Vec<Action>>> {
        let mut actions = Vec::new();
        let frame_due = async {
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = self.keys.recv() => match ev {
                Some(Ok(Event::Key(k))) => actions.push(Action::Key(k)),
                Some(Ok(Event::Resize(w, h))) => actions.push(Action::Resize(w, h)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(None),
            },
            Some(u) = self.sources.recv() => actions.push(Action::Update(u)),
            Some(a) = self.acted.recv() => actions.push(a),
            beat = self.clock.next() => match beat {
                Beat::Tick => actions.push(Action::Tick(Instant::now())),
                Beat::Heartbeat => app.dirty = true,
                Beat::Stop => return Ok(None),
            },
            _ = frame_due => {}
        }
        while let Ok(u) = self.sources.try_recv() {
            actions.push(Action::Update(u));
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

    /// Follows the round: the clock's tick starts one (it keeps the polls' schedule),
    /// each poll's answer comes in.
    fn count(&mut self, actions: &[Action]) {
        for a in actions {
            match a {
                Action::Tick(_) => self.awaiting = Some(self.round),
                Action::Update(
                    SourceUpdate::Balancer { .. }
                    | SourceUpdate::Health { .. }
                    | SourceUpdate::Vip { .. },
                ) => self.awaiting = self.awaiting.map(|n| n.saturating_sub(1)),
                _ => {}
            }
        }
    }

    /// Whether the operator caused a batch of input (keys, resizes, operation results).
    fn operator(actions: &[Action]) -> bool {
        actions.iter().any(|a| {
            matches!(
                a,
                Action::Key(_) | Action::Resize(..) | Action::Acted(_) | Action::Progress(_)
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

    fn draw_if_due(&mut self, term: &mut Term, app: &mut App) -> io::Result<()> {
        if !app.dirty || !self.due_in(app.urgent).is_zero() {
            return Ok(());
        }
        let started = Instant::now();
        terminal::draw(term, app)?;
        app.dirty = false;
        app.urgent = false;
        self.pending = None;
        if self.awaiting == Some(0) {
            self.awaiting = None;
        }
        self.last = Instant::now();
        if let Some(s) = self.stats.as_mut() {
            s.frame(
                started,
                self.last - started,
                app.cluster.oldest_poll(self.last),
            );
        }
        Ok(())
    }
}
