//! `s`: the terminal handed to an SSH shell on a node until it exits, while sources keep
//! updating the model; the console is drawn whole again afterwards.

use std::io::{self, Write};
use std::time::Instant;

use crossterm::event::Event;
use crossterm::{execute, terminal};
use tokio::sync::mpsc;

use super::terminal::{draw, Term};
use crate::action::Action;
use crate::app::App;
use crate::fleet::Fleet;

/// Hands the terminal to a shell on `host` until it exits. Sources keep running and the
/// model keeps updating meanwhile; the console is redrawn as it was afterwards. Returns
/// the status-line message (Err: the shell could not be opened).
pub async fn shell(
    term: &mut Term,
    fleet: &mut Fleet,
    events: &mut mpsc::Receiver<io::Result<Event>>,
    rx: &mut mpsc::Receiver<(usize, crate::sources::SourceUpdate)>,
    pool: Option<&crate::ssh::Pool>,
    host: &str,
) -> Result<String, String> {
    use russh::ChannelMsg;
    let Some(pool) = pool else {
        return Err("SSH is not available here".into());
    };
    let addr = pool.node(host);
    let name = fleet
        .front_app()
        .map_or(host.to_string(), |app| node_name(app, host));
    if let Some(app) = fleet.front_app_mut() {
        app.flash = Some((
            Instant::now(),
            format!("connecting to {}@{}…", addr.user, addr.known_hosts_name()),
        ));
    }
    let _ = draw(term, fleet);
    let conn = match pool.get(&addr).await {
        Ok(c) => c,
        Err(e) => return Err(crate::text::clip(&e.to_string(), 300)),
    };
    let (cols, rows) = terminal::size().unwrap_or((80, 24));
    let mut channel = match crate::ssh::shell::open(&conn, cols, rows).await {
        Ok(c) => c,
        Err(e) => return Err(e.to_string()),
    };
    let mut out = io::stdout();
    // A clean screen: never the transcript of the shell before.
    let _ = execute!(
        out,
        terminal::LeaveAlternateScreen,
        terminal::Clear(terminal::ClearType::All),
        terminal::Clear(terminal::ClearType::Purge),
        crossterm::cursor::MoveTo(0, 0),
        crossterm::cursor::Show
    );
    let _ = write!(
        out,
        "lbdeck: shell on {} ({}@{}); exit it to return to the console\r\n",
        name,
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
                    fleet.update(Action::Resize(w, h));
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
            Some((i, u)) = rx.recv() => {
                fleet.update_cluster(i, Action::Update(u));
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
    if let Ok(fresh) = super::terminal::fresh() {
        *term = fresh;
    }
    fleet.update(Action::Tick(Instant::now()));
    match status {
        Some(code) => Ok(format!("shell on {name} ended (exit {code})")),
        None => Ok(format!("shell on {name} ended")),
    }
}

/// The node's name in the profile ("balancer lb2", "backend web3"), else its address.
fn node_name(app: &App, host: &str) -> String {
    let balancer = app.cluster.balancers.iter().find(|b| b.host == host);
    let backend = app.cluster.backends.iter().find(|b| {
        b.address
            .rsplit_once(':')
            .map_or(b.address.as_str(), |(h, _)| h)
            == host
    });
    match (balancer, backend) {
        (Some(b), _) => format!("balancer {}", b.name),
        (None, Some(b)) => format!("backend {}", b.name),
        (None, None) => host.to_string(),
    }
}
