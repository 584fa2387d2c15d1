//! The terminal itself: taken (raw mode, alternate screen, a panic hook that gives it
//! back), given back, and drawn on in synchronized updates, each frame one write.

use std::io::{self, Write};

use crossterm::{execute, queue, terminal};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::fleet::Fleet;

/// The console's terminal.
pub type Term = Terminal<CrosstermBackend<Batched>>;

/// What the terminal is sent, held until [`send`] writes it out in one system call: ratatui
/// and crossterm flush after the frame, after hiding the cursor and around each
/// synchronized update, which would be four writes to the terminal a frame.
#[derive(Default)]
pub struct Batched(Vec<u8>);

impl Write for Batched {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// Holds on: [`send`] writes.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes out what the terminal was given since the last time, in one go.
fn send(term: &mut Term) -> io::Result<()> {
    let out = &mut term.backend_mut().writer_mut().0;
    if out.is_empty() {
        return Ok(());
    }
    let mut stdout = io::stdout().lock();
    let sent = stdout.write_all(out).and_then(|()| stdout.flush());
    out.clear();
    sent
}

/// Puts the terminal back as the shell had it. Safe to call twice.
pub fn restore() {
    // Only a terminal this run took: otherwise the escapes would land in a pipe or log.
    if !TAKEN.swap(false, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// The terminal is in raw mode on the alternate screen (set by [`setup`]).
static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Takes the terminal: raw mode, alternate screen, hidden cursor; a panic restores it
/// before the message is printed.
pub fn setup() -> io::Result<Term> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    TAKEN.store(true, std::sync::atomic::Ordering::SeqCst);
    terminal::enable_raw_mode()?;
    execute!(
        io::stdout(),
        terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    )?;
    fresh()
}

/// A terminal of the screen's current size. Its viewport is fixed: asking the terminal
/// for its size on every frame costs a system call or two, so the size changes only on
/// the resize events the loop passes to [`fit`].
pub fn fresh() -> io::Result<Term> {
    let (w, h) = terminal::size()?;
    Terminal::with_options(
        CrosstermBackend::new(Batched::default()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
        },
    )
}

/// Follows a resize: the next frame is drawn whole at the new size.
pub fn fit(term: &mut Term, w: u16, h: u16) -> io::Result<()> {
    term.resize(Rect::new(0, 0, w, h))?;
    send(term)
}

/// Draws one frame as a synchronized update (no tearing in terminals that support it),
/// written to the terminal at once.
pub fn draw(term: &mut Term, fleet: &Fleet) -> io::Result<()> {
    queue!(term.backend_mut(), terminal::BeginSynchronizedUpdate)?;
    term.draw(|f| crate::ui::fleet::draw(f, fleet))?;
    queue!(term.backend_mut(), terminal::EndSynchronizedUpdate)?;
    send(term)
}
