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

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::action::Action;
    use crate::app::tests::{app, app_from, PROFILE};
    use crate::ops::{Confirmation, Outcome};

    fn press(a: &mut App, code: KeyCode) -> Vec<Effect> {
        a.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn type_in(a: &mut App, text: &str) {
        for c in text.chars() {
            press(a, KeyCode::Char(c));
        }
    }

    /// What the runner reports for `command` on both balancers: lb1 answered `lb1`,
    /// lb2 refused with `lb2`'s first line when it is given.
    pub(crate) fn answered(command: &str, lb1: &str, lb2: Result<&str, &str>) -> Action {
        let (after2, outcome) = match lb2 {
            Ok(text) => (serde_json::json!({ "answer": text }), Outcome::Done),
            Err(why) => (
                serde_json::json!({ "answer": why, "error": why }),
                Outcome::PartlyDone {
                    failed: vec![("lb2".into(), why.into())],
                },
            ),
        };
        Action::Acted(Box::new(Report {
            operation: Operation::Runtime {
                balancer: None,
                command: command.into(),
            },
            cluster: "shop".into(),
            target: "shop".into(),
            balancers: vec!["lb1".into(), "lb2".into()],
            before: serde_json::Value::Null,
            after: serde_json::json!({ "lb1": { "answer": lb1 }, "lb2": after2 }),
            outcome,
            moved: None,
            forced: Vec::new(),
            started: chrono::Local::now(),
            took: Duration::from_millis(3),
            audit: crate::ops::runtime::NOT_AUDITED.into(),
            batch: None,
        }))
    }

    #[test]
    fn colon_opens_the_prompt_which_edits_and_esc_cancels() {
        let mut a = app();
        press(&mut a, KeyCode::Char(':'));
        assert_eq!(a.ui.mode, Mode::Runtime);
        type_in(&mut a, "show infx");
        press(&mut a, KeyCode::Backspace);
        type_in(&mut a, "o");
        assert_eq!(a.runtime.input, "show info");
        assert_eq!(a.ui.filter, "", "the prompt is not the filter");
        let q = press(&mut a, KeyCode::Char('q'));
        assert!(q.is_empty(), "q is typed, it does not quit");
        assert_eq!(a.runtime.input, "show infoq");
        assert!(press(&mut a, KeyCode::Esc).is_empty());
        assert_eq!(a.ui.mode, Mode::Normal);
        assert!(a.runtime.history.is_empty(), "nothing was sent");
        press(&mut a, KeyCode::Char(':'));
        assert_eq!(a.runtime.input, "", "a new prompt starts empty");
        assert!(press(&mut a, KeyCode::Enter).is_empty());
        assert_eq!(a.ui.mode, Mode::Runtime, "an empty line is not sent");
        assert!(a
            .flash
            .as_ref()
            .is_some_and(|(_, m)| m.starts_with("no command given")));
    }

    #[test]
    fn a_read_goes_at_once_and_its_answers_open_in_the_overlay() {
        let mut a = app();
        press(&mut a, KeyCode::Char(':'));
        type_in(&mut a, "show info");
        let effects = press(&mut a, KeyCode::Enter);
        let [Effect::Run { plan, forced, .. }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        assert_eq!(
            plan.operation,
            Operation::Runtime {
                balancer: None,
                command: "show info".into()
            }
        );
        assert_eq!(plan.balancers, vec!["lb1", "lb2"]);
        assert!(!forced);
        assert_eq!(a.ui.mode, Mode::Normal, "no dialog for a read");
        assert!(a.running.is_none(), "a read does not hold quit back");
        let events = a.cluster.events.len();
        a.update(answered(
            "show info",
            "Name: HAProxy",
            Err("Unknown command"),
        ));
        assert_eq!(a.ui.mode, Mode::RuntimeAnswer);
        assert_eq!(a.cluster.events.len(), events, "reads are not events");
        let shown = crate::ops::runtime::answers(a.runtime.answer.as_deref().expect("kept"));
        assert_eq!(shown[0].text, "Name: HAProxy");
        assert_eq!(shown[1].failed.as_deref(), Some("Unknown command"));
        press(&mut a, KeyCode::Down);
        assert_eq!(a.ui.mode, Mode::RuntimeAnswer, "arrows scroll");
        press(&mut a, KeyCode::Char(':'));
        assert_eq!(a.ui.mode, Mode::Runtime, ": asks the next command");
        press(&mut a, KeyCode::Up);
        assert_eq!(a.runtime.input, "show info", "Up recalls the last one");
        press(&mut a, KeyCode::Down);
        assert_eq!(a.runtime.input, "");
        press(&mut a, KeyCode::Esc);
        a.update(Action::Runtime);
        press(&mut a, KeyCode::Esc);
        assert_eq!(a.ui.mode, Mode::Normal);
    }

    #[test]
    fn a_change_is_confirmed_with_the_clusters_name_in_production() {
        let mut a = app();
        press(&mut a, KeyCode::Char(':'));
        type_in(&mut a, "set server be_web/web1 weight 50");
        assert!(press(&mut a, KeyCode::Enter).is_empty());
        assert_eq!(a.ui.mode, Mode::Confirm);
        let c = a.confirm.as_ref().expect("dialog");
        assert_eq!(
            c.plan.confirmation,
            Confirmation::Typed {
                name: "shop".into(),
                because: "shop is production".into()
            }
        );
        type_in(&mut a, "shop");
        let effects = press(&mut a, KeyCode::Enter);
        let [Effect::Run { plan, .. }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        assert_eq!(plan.target, "shop");
        assert!(a.running.is_some(), "a change holds quit until it reports");
        let events = a.cluster.events.len();
        a.update(answered("set server be_web/web1 weight 50", "", Ok("")));
        assert_eq!(a.ui.mode, Mode::RuntimeAnswer);
        assert_eq!(a.cluster.events.len(), events + 1, "a change is an event");
        assert!(a.running.is_none());

        let mut staging = app_from(&PROFILE.replace("production", "staging"));
        staging.update(Action::Runtime);
        type_in(&mut staging, "disable server be_web/web2");
        press(&mut staging, KeyCode::Enter);
        let c = staging.confirm.as_ref().expect("dialog");
        assert_eq!(c.plan.confirmation, Confirmation::YesNo);
    }

    #[test]
    fn read_only_sends_reads_and_refuses_changes_with_a_sentence() {
        let mut a = app();
        a.read_only = true;
        a.update(Action::Runtime);
        type_in(&mut a, "get weight be_web/web1");
        let effects = press(&mut a, KeyCode::Enter);
        assert!(
            matches!(effects.as_slice(), [Effect::Run { .. }]),
            "{effects:?}"
        );
        a.update(Action::Runtime);
        type_in(&mut a, "show info; set server be_web/web1 state maint");
        let effects = press(&mut a, KeyCode::Enter);
        let [Effect::Refuse { operation, reason }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        assert!(!operation.is_read());
        assert_eq!(reason, READ_ONLY);
        assert_eq!(a.ui.mode, Mode::Normal);
        assert!(a.confirm.is_none());
        let said = a
            .flash
            .as_ref()
            .map(|(_, m)| m.as_str())
            .unwrap_or_default();
        assert!(
            said.starts_with("read-only: runtime 'show info; set server"),
            "{said}"
        );
    }
}
