//! The event log: state changes with wall-clock timestamps, newest last, bounded.

use std::collections::VecDeque;

use chrono::{DateTime, Local};
use serde::Serialize;

/// Events kept in memory; older ones are dropped (the JSON-lines log keeps everything).
pub const EVENT_CAP: usize = 2000;

/// How bad an event or alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Something recovered.
    Ok,
    /// Routine information.
    Info,
    /// Needs a look.
    Warn,
    /// Broken.
    Error,
}

impl Level {
    /// The word for a level, so severity reads without colour (the console and
    /// `status` say the same).
    pub fn word(self) -> &'static str {
        match self {
            Level::Error => "ALARM",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Ok => "ok",
        }
    }
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// When it was seen.
    pub time: DateTime<Local>,
    /// How bad.
    pub level: Level,
    /// Which node or backend.
    pub subject: String,
    /// What happened, as a sentence.
    pub text: String,
}

/// Bounded list of events.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    entries: VecDeque<Event>,
    total: u64,
}

impl EventLog {
    /// Records an event.
    pub fn push(&mut self, time: DateTime<Local>, level: Level, subject: &str, text: String) {
        if self.entries.len() == EVENT_CAP {
            self.entries.pop_front();
        }
        self.total += 1;
        self.entries.push_back(Event {
            time,
            level,
            subject: subject.to_string(),
            text,
        });
    }

    /// Events held, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Event> + ExactSizeIterator {
        self.entries.iter()
    }

    /// Number held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Events ever recorded (including dropped ones).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The events recorded after the first `seen` (as counted by [`EventLog::total`]).
    pub fn since(&self, seen: u64) -> impl Iterator<Item = &Event> {
        let new = (self.total.saturating_sub(seen) as usize).min(self.entries.len());
        self.entries.iter().skip(self.entries.len() - new)
    }
}
