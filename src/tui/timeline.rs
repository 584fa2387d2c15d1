//! The timeline as JSON lines (`$XDG_STATE_HOME/lbdeck/timeline.jsonl`, the demo's in
//! `demo-timeline.jsonl`): every event,
//! with the profile, appended as it happens. Failing to write it never stops the console.

use std::io::Write;

/// The open timeline file and how many events of the log are in it.
pub struct Timeline {
    file: Option<std::fs::File>,
    profile: String,
    written: u64,
}

impl Timeline {
    /// Opens (appends to) the timeline; without a state directory nothing is written.
    pub fn open(profile: &crate::config::profile::Profile) -> Timeline {
        // The demo keeps its own, as its audit log: playing with it never mixes with a
        // real cluster's record.
        let name = match profile.origin {
            crate::config::profile::Origin::Demo => "demo-timeline.jsonl",
            _ => "timeline.jsonl",
        };
        let file = crate::config::state_dir().and_then(|dir| {
            std::fs::create_dir_all(&dir).ok()?;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .ok()
        });
        Timeline {
            file,
            profile: profile.name.clone(),
            written: 0,
        }
    }

    /// Appends the events of `log` not written yet.
    pub fn write(&mut self, log: &crate::model::EventLog) {
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
