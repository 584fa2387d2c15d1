//! The terminal itself: taken (raw mode, alternate screen, a panic hook that gives it
//! back), given back, and drawn on in synchronized updates.

use std::io::{self, Stdout, Write};

use crossterm::{execute, terminal};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::app::App;

/// The console's terminal.
pub type Term = Terminal<CrosstermBackend<Stdout>>;

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
        CrosstermBackend::new(io::stdout()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
        },
    )
}

/// Follows a resize: the next frame is drawn whole at the new size.
pub fn fit(term: &mut Term, w: u16, h: u16) -> io::Result<()> {
    term.resize(Rect::new(0, 0, w, h))
}

/// Draws one frame as a synchronized update (no tearing in terminals that support it).
pub fn draw(term: &mut Term, app: &App) -> io::Result<()> {
    execute!(io::stdout(), terminal::BeginSynchronizedUpdate)?;
    term.draw(|f| crate::ui::draw(f, app))?;
    execute!(io::stdout(), terminal::EndSynchronizedUpdate)?;
    io::stdout().flush()
}
