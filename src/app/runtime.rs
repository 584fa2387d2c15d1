//! The console's runtime prompt: `:` opens a one-line prompt in the status line; Enter
//! sends the command to every HAProxy of the pair through the same plan and runner as
//! `lbdeck runtime`. `show`, `get` and `help` go at once; anything else opens the usual
//! confirmation (refused under `--read-only`). The answers open in an overlay.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Mode};
use crate::action::Effect;
use crate::ops::{Operation, Report};

/// Commands the prompt remembers for Up.
const HISTORY: usize = 50;

/// The longest command the prompt takes (HAProxy's own line limit is larger; nobody
/// types more).
const MAX_INPUT: usize = 512;

/// Why a change is refused under `--read-only`.
const READ_ONLY: &str = "--read-only: only show, get and help may be sent";

/// The prompt's state: what is typed, what was sent, and the last answer.
#[derive(Debug, Clone, Default)]
pub struct Prompt {
    /// The command being typed.
    pub input: String,
    /// Commands sent, oldest first.
    pub history: Vec<String>,
    /// How far back Up has gone (None: the line being typed).
    recalled: Option<usize>,
    /// The last answer, shown by the overlay.
    pub answer: Option<Box<Report>>,
}

impl App {
    /// Opens the prompt on an empty line.
    pub(super) fn open_prompt(&mut self) {
        self.runtime.input.clear();
        self.runtime.recalled = None;
        self.ui.mode = Mode::Runtime;
    }

    /// A key typed into the prompt.
    pub(super) fn on_prompt_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let control = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.ui.mode = Mode::Normal,
            KeyCode::Enter => return self.send_prompt(),
            KeyCode::Backspace => {
                self.runtime.input.pop();
            }
            KeyCode::Up => self.recall(true),
            KeyCode::Down => self.recall(false),
            KeyCode::Char('u') if control => self.runtime.input.clear(),
            KeyCode::Char('c') if control => self.ui.mode = Mode::Normal,
            KeyCode::Char(c) if !control && self.runtime.input.chars().count() < MAX_INPUT => {
                self.runtime.input.push(c);
            }
            _ => {}
        }
        Vec::new()
    }

    /// Up (`older`) and Down through the commands sent; Down past the newest clears
    /// the line.
    fn recall(&mut self, older: bool) {
        let n = self.runtime.history.len();
        let next = match (self.runtime.recalled, older) {
            _ if n == 0 => return,
            (None, true) => Some(0),
            (Some(i), true) => Some((i + 1).min(n - 1)),
            (None | Some(0), false) => None,
            (Some(i), false) => Some(i - 1),
        };
        self.runtime.recalled = next;
        self.runtime.input =
            next.map_or_else(String::new, |i| self.runtime.history[n - 1 - i].clone());
    }

    /// Enter: a read goes at once, a change to its confirmation (or is refused under
    /// `--read-only`, said and audited).
    fn send_prompt(&mut self) -> Vec<Effect> {
        let command = match crate::ops::runtime::check(&self.runtime.input) {
            Ok(c) => c,
            Err(e) => {
                self.say(e.to_string());
                return Vec::new();
            }
        };
        self.ui.mode = Mode::Normal;
        self.runtime.history.retain(|c| *c != command);
        self.runtime.history.push(command.clone());
        let excess = self.runtime.history.len().saturating_sub(HISTORY);
        self.runtime.history.drain(..excess);
        let op = Operation::Runtime {
            balancer: None,
            command,
        };
        if !op.is_read() {
            if self.read_only {
                self.say(format!(
                    "read-only: {op} is refused: only show, get and help may be sent"
                ));
                return vec![Effect::Refuse {
                    operation: op,
                    reason: READ_ONLY.into(),
                }];
            }
            return self.ask(op);
        }
        match crate::ops::plan(&self.profile, &self.cluster, &op, None) {
            Ok(plan) => {
                self.say(format!("{op}: asking {}…", plan.balancers.join(", ")));
                vec![Effect::Run {
                    plan: Box::new(plan),
                    failed_over: None,
                    forced: false,
                }]
            }
            Err(e) => {
                self.say(e.to_string());
                Vec::new()
            }
        }
    }

    /// A runtime command's report: its answers open in the overlay (unless another
    /// dialog or prompt is open meanwhile; then the status line says where they are).
    pub(super) fn runtime_answered(&mut self, r: &Report) {
        if matches!(r.outcome, crate::ops::Outcome::Refused { .. }) {
            return;
        }
        self.runtime.answer = Some(Box::new(r.clone()));
        if self.ui.mode == Mode::Normal {
            self.ui.overlay_scroll = 0;
            self.ui.mode = Mode::RuntimeAnswer;
        } else if r.operation.is_read() {
            self.say(format!("{}: {}", r.operation, r.summary()));
        }
    }
}
