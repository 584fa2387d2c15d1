//! The terminal and the run loop. One task owns the `App`: key events, source results and
//! a slow tick arrive on channels; after one message the rest are drained, `update` runs,
//! and a frame is drawn only when something changed and at most every [`MIN_FRAME`].

use std::io::{self, Stdout, Write};
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use crossterm::{execute, terminal};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use crate::action::{Action, Effect};
use crate::app::App;
use crate::config::profile::Profile;
use crate::sources::Poller;

/// Shortest time between frames: bursts of updates (every target answering within a few
/// milliseconds of each other) coalesce into one frame.
pub const MIN_FRAME: Duration = Duration::from_millis(30);

/// How often ages and the clock are refreshed when nothing else happens.
const TICK: Duration = Duration::from_secs(1);

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Puts the terminal back as the shell had it. Safe to call twice.
pub fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

fn setup() -> io::Result<Term> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    terminal::enable_raw_mode()?;
    execute!(
        io::stdout(),
        terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    )?;
    Terminal::new(CrosstermBackend::new(io::stdout()))
}

/// Runs the console until the operator quits or SIGTERM/SIGHUP arrives.
/// With `stats`, frames are forced every [`crate::frames::HEARTBEAT`] and measured.
pub async fn run(
    mut app: App,
    profile: &Profile,
    stats: Option<crate::frames::FrameStats>,
) -> anyhow::Result<()> {
    // Credentials first: a key passphrase is asked on the plain terminal, once.
    let remote = Remote::for_profile(profile);
    let mut term = setup()?;
    let result = run_loop(&mut app, profile, &mut term, remote, stats).await;
    restore();
    result
}

async fn run_loop(
    app: &mut App,
    profile: &Profile,
    term: &mut Term,
    remote: Remote,
    mut stats: Option<crate::frames::FrameStats>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, mut rx) = mpsc::channel(4096);
    let poller = Poller::spawn(profile, tx.clone());
    let pool = remote.pool.clone();
    let _stop_followers = AbortOnDrop(remote.spawn(&tx, profile.poll_interval));
    drop(tx);
    // Actions run off the loop and report back here.
    let (acted_tx, mut acted_rx) = mpsc::channel::<Action>(16);
    // The terminal's events come through a task of their own: polling crossterm's
    // EventStream on every turn of this loop would spin on its reader lock each time.
    let (ev_tx, mut events) = mpsc::channel::<io::Result<Event>>(256);
    let _reader = AbortOnDrop(vec![tokio::spawn(async move {
        let mut stream = EventStream::new();
        while let Some(ev) = stream.next().await {
            if ev_tx.send(ev).await.is_err() {
                break;
            }
        }
    })]);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut heartbeat = tokio::time::interval(crate::frames::HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let size = term.size()?;
    app.update(Action::Resize(size.width, size.height));
    let mut last_frame = Instant::now() - MIN_FRAME;
    let mut timeline = Timeline::open(&app.profile_name);
    let mut actions = Vec::with_capacity(64);
    loop {
        let wait = MIN_FRAME.saturating_sub(last_frame.elapsed());
        tokio::select! {
            ev = events.recv() => match ev {
                Some(Ok(Event::Key(k))) => actions.push(Action::Key(k)),
                Some(Ok(Event::Resize(w, h))) => actions.push(Action::Resize(w, h)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(u) = rx.recv() => actions.push(Action::Update(u)),
            Some(a) = acted_rx.recv() => actions.push(a),
            _ = tick.tick() => actions.push(Action::Tick(Instant::now())),
            _ = heartbeat.tick(), if stats.is_some() => app.dirty = true,
            _ = sigterm.recv() => return Ok(()),
            _ = sighup.recv() => return Ok(()),
            _ = tokio::time::sleep(wait), if app.dirty => {}
        }
        while let Ok(u) = rx.try_recv() {
            actions.push(Action::Update(u));
        }
        if !actions.is_empty() {
            actions.push(Action::Tick(Instant::now()));
        }
        let mut actions_later: Vec<Action> = Vec::new();
        for action in actions.drain(..) {
            for effect in app.update(action) {
                match effect {
                    Effect::Quit => return Ok(()),
                    Effect::PollNow => poller.poll_now(),
                    Effect::LoadAudit => {
                        let lines = crate::ops::audit::path()
                            .and_then(|p| std::fs::read_to_string(p).ok())
                            .map(|t| {
                                t.lines()
                                    .rev()
                                    .take(200)
                                    .map(str::to_string)
                                    .collect::<Vec<_>>()
                            })
                            .map(|mut v| {
                                v.reverse();
                                v
                            })
                            .unwrap_or_default();
                        actions_later.push(Action::AuditLoaded(lines));
                    }
                    Effect::MoveVip { failback } => {
                        let tx = acted_tx.clone();
                        let profile = profile.clone();
                        let pool = pool.clone();
                        tokio::spawn(async move {
                            let done = move_vip(&profile, failback, pool.as_deref(), &tx).await;
                            let _ = tx.send(done).await;
                        });
                    }
                    Effect::SetDrain { target, drain } => {
                        let tx = acted_tx.clone();
                        let profile = profile.clone();
                        let pool = pool.clone();
                        tokio::spawn(async move {
                            let want = if drain {
                                crate::ops::drain::Want::Drain
                            } else {
                                crate::ops::drain::Want::Ready
                            };
                            let started = chrono::Local::now();
                            let report =
                                crate::ops::drain::apply(&profile, &target, want, pool.as_deref())
                                    .await;
                            let audit = crate::ops::cli::record(
                                &profile,
                                want.action(),
                                &target,
                                Some(&report),
                                report.outcome.clone(),
                                started,
                            );
                            let done = report.outcome == crate::ops::Outcome::Done;
                            let summary = format!(
                                "{} in {} ms ({audit})",
                                report.outcome,
                                report.took.as_millis()
                            );
                            let _ = tx
                                .send(Action::Acted {
                                    action: want.action().into(),
                                    target,
                                    summary,
                                    done,
                                })
                                .await;
                        });
                    }
                    Effect::Shell(host) => {
                        let said = shell(
                            term,
                            app,
                            &mut events,
                            &mut rx,
                            pool.as_deref(),
                            profile,
                            &host,
                        )
                        .await;
                        app.flash = Some((Instant::now(), said));
                        app.dirty = true;
                        if let Some(s) = stats.as_mut() {
                            s.paused();
                        }
                        last_frame = Instant::now() - MIN_FRAME;
                    }
                }
            }
        }
        for action in actions_later {
            app.update(action);
        }
        timeline.write(&app.cluster.events);
        if app.dirty && last_frame.elapsed() >= MIN_FRAME {
            let started = Instant::now();
            draw(term, app)?;
            app.dirty = false;
            last_frame = Instant::now();
            if let Some(s) = stats.as_mut() {
                s.frame(
                    started,
                    last_frame - started,
                    app.cluster.oldest_poll(last_frame),
                );
            }
        }
    }
}

/// The timeline as JSON lines (`$XDG_STATE_HOME/lbdeck/timeline.jsonl`): every event,
/// with the profile, appended as it happens. Failing to write it never stops the console.
struct Timeline {
    file: Option<std::fs::File>,
    profile: String,
    written: u64,
}

impl Timeline {
    fn open(profile: &str) -> Timeline {
        let file = crate::config::state_dir().and_then(|dir| {
            std::fs::create_dir_all(&dir).ok()?;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("timeline.jsonl"))
                .ok()
        });
        Timeline {
            file,
            profile: profile.to_string(),
            written: 0,
        }
    }

    fn write(&mut self, log: &crate::model::EventLog) {
        if log.total() == self.written {
            return;
        }
        if let Some(f) = self.file.as_mut() {
            let mut buf = String::new();
            for e in log.since(self.written) {
                let line = serde_json::json!({
                    "time": e.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
                    "profile": self.profile,
                    "level": e.level,
                    "subject": e.subject,
                    "text": e.text,
                });
                buf.push_str(&line.to_string());
                buf.push('\n');
            }
            if f.write_all(buf.as_bytes()).is_err() {
                self.file = None;
            }
        }
        self.written = log.total();
    }
}

/// A failover/failback from the console: the same plan, pre-checks, run and audit as
/// `lbdeck failover`, reported back as an action result.
async fn move_vip(
    profile: &Profile,
    failback: bool,
    pool: Option<&crate::ssh::Pool>,
    tx: &mpsc::Sender<Action>,
) -> Action {
    use crate::ops::failover::{self, Direction};
    let dir = if failback {
        Direction::Failback
    } else {
        Direction::Failover
    };
    let action = dir.action().to_string();
    let started = chrono::Local::now();
    let Some(pool) = pool else {
        return Action::Acted {
            action,
            target: String::new(),
            summary: "failed: no SSH".into(),
            done: false,
        };
    };
    let status = crate::status::collect(profile, None).await;
    let mut plan = failover::plan(profile, &status, dir);
    if dir == Direction::Failback && plan.blockers.is_empty() {
        if let Some(b) = failover::failback_blocker(profile, &plan, pool).await {
            plan.blockers.push(b);
        }
    }
    if !plan.blockers.is_empty() {
        let reason = format!("pre-checks failed: {}", plan.blockers.join("; "));
        let refused = crate::ops::Outcome::Refused {
            reason: reason.clone(),
        };
        let _ = crate::ops::cli::record(profile, &action, &plan.node, None, refused, started);
        return Action::Acted {
            action,
            target: plan.node,
            summary: format!("refused: {reason}"),
            done: false,
        };
    }
    let t0 = Instant::now();
    let progress = |line: String| {
        let _ = tx.try_send(Action::Progress(line));
    };
    let (outcome, timing, before, after) =
        failover::run(profile, &plan, dir, pool, &progress).await;
    let report = crate::ops::drain::Report {
        balancers: profile.balancers().map(|b| b.name.clone()).collect(),
        before,
        after,
        outcome: outcome.clone(),
        took: t0.elapsed(),
    };
    let audit = crate::ops::cli::record(
        profile,
        &action,
        &plan.node,
        Some(&report),
        outcome.clone(),
        started,
    );
    let done = outcome == crate::ops::Outcome::Done;
    let summary = if done {
        format!("{} ({audit})", failover::describe(&plan, &timing))
    } else {
        format!("{outcome} ({audit})")
    };
    Action::Acted {
        action,
        target: plan.node,
        summary,
        done,
    }
}

/// Hands the terminal to a shell on `host` until it exits. Sources keep running and the
/// model keeps updating meanwhile; the console is redrawn as it was afterwards. Returns
/// the status-line message.
async fn shell(
    term: &mut Term,
    app: &mut App,
    events: &mut mpsc::Receiver<io::Result<Event>>,
    rx: &mut mpsc::Receiver<crate::sources::SourceUpdate>,
    pool: Option<&crate::ssh::Pool>,
    profile: &Profile,
    host: &str,
) -> String {
    use russh::ChannelMsg;
    let Some(pool) = pool else {
        return "SSH is not available here".into();
    };
    let ssh_config = crate::ssh::config::load_user_config();
    let addr = crate::ssh::config::resolve(host, &profile.ssh, ssh_config.as_ref());
    app.flash = Some((
        Instant::now(),
        format!("connecting to {}@{}…", addr.user, addr.known_hosts_name()),
    ));
    let _ = draw(term, app);
    let conn = match pool.get(&addr).await {
        Ok(c) => c,
        Err(e) => return crate::text::clip(&e.to_string(), 300),
    };
    let (cols, rows) = terminal::size().unwrap_or((80, 24));
    let mut channel = match crate::ssh::shell::open(&conn, cols, rows).await {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    let mut out = io::stdout();
    let _ = execute!(out, terminal::LeaveAlternateScreen, crossterm::cursor::Show);
    let _ = write!(
        out,
        "\r\nlbdeck: shell on {} ({}@{}); exit it to return to the console\r\n",
        host,
        addr.user,
        addr.known_hosts_name()
    );
    let _ = out.flush();
    let mut status = None;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(Ok(Event::Key(k))) => {
                    let bytes = crate::ssh::shell::key_bytes(&k);
                    if !bytes.is_empty() && channel.data_bytes(bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Event::Resize(w, h))) => {
                    app.update(Action::Resize(w, h));
                    let _ = channel.window_change(u32::from(w), u32::from(h), 0, 0).await;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            msg = channel.wait() => match msg {
                Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                    let _ = out.write_all(&data);
                    let _ = out.flush();
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                // OpenSSH sends EOF, then the exit status, then close.
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            },
            Some(u) = rx.recv() => {
                app.update(Action::Update(u));
            }
        }
    }
    let _ = execute!(
        out,
        terminal::EnterAlternateScreen,
        terminal::Clear(terminal::ClearType::All),
        crossterm::cursor::Hide
    );
    // A fresh Terminal has empty buffers, so the next frame is drawn whole.
    // (`Terminal::clear` would ask the terminal for the cursor position, and that answer
    // would be read by the event stream instead.)
    if let Ok(fresh) = Terminal::new(CrosstermBackend::new(io::stdout())) {
        *term = fresh;
    }
    app.update(Action::Tick(Instant::now()));
    match status {
        Some(code) => format!("shell on {host} ended (exit {code})"),
        None => format!("shell on {host} ended"),
    }
}

/// What lbdeck follows over SSH: keepalived on each balancer, nginx access logs.
pub struct Remote {
    /// keepalived followers.
    pub vrrp: Vec<crate::sources::vrrp::VrrpTarget>,
    /// Access-log followers.
    pub logs: Vec<crate::sources::access_log::LogTarget>,
    /// The shared connections (None when nothing is followed over SSH).
    pub pool: Option<std::sync::Arc<crate::ssh::Pool>>,
}

impl Remote {
    /// The followers a profile asks for, with credentials loaded (a passphrase may be
    /// asked on the terminal, so call this before the screen is taken).
    pub fn for_profile(profile: &Profile) -> Remote {
        let vrrp = crate::sources::vrrp::targets(profile);
        let logs = crate::sources::access_log::targets(profile);
        let nodes = vrrp
            .iter()
            .map(|t| &t.addr)
            .chain(logs.iter().map(|t| &t.addr));
        // Always a pool, for `s`; passphrases are asked only when something is followed
        // over SSH from the start (the screen cannot prompt later).
        let following = !vrrp.is_empty() || !logs.is_empty();
        let pool = Some(crate::ssh::pool::for_profile(profile, nodes, following));
        Remote { vrrp, logs, pool }
    }

    /// Starts every follower.
    pub fn spawn(
        self,
        tx: &mpsc::Sender<crate::sources::SourceUpdate>,
        every: Duration,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(pool) = self.pool else {
            return Vec::new();
        };
        if self.vrrp.is_empty() && self.logs.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<tokio::task::JoinHandle<()>> = self
            .vrrp
            .into_iter()
            .map(|t| tokio::spawn(t.follow(pool.clone(), tx.clone())))
            .collect();
        out.extend(
            self.logs
                .into_iter()
                .map(|t| tokio::spawn(t.follow(pool.clone(), tx.clone(), every))),
        );
        out
    }
}

/// Stops background tasks when the loop ends, however it ends.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

fn draw(term: &mut Term, app: &App) -> io::Result<()> {
    execute!(io::stdout(), terminal::BeginSynchronizedUpdate)?;
    term.draw(|f| crate::ui::draw(f, app))?;
    execute!(io::stdout(), terminal::EndSynchronizedUpdate)?;
    io::stdout().flush()
}
