//! Driving the real console in tmux: start it, read the screen, press keys.

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static N: AtomicUsize = AtomicUsize::new(0);

/// A tmux session on a server of its own; the server is killed on drop. (Sessions that
/// shared one server raced it: killing the last one makes the server exit, and a session
/// started meanwhile could reach the exiting server and fail.)
pub struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// Starts `command` (a shell line) in a detached session of `w`×`h`.
    pub fn start(command: &str, w: u16, h: u16) -> Tmux {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let socket = format!("lbdeck-test-{}-{n}", std::process::id());
        let session = format!("s{n}");
        let t = Tmux { socket, session };
        let status = t
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                &t.session,
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .arg(format!("{command}; echo EXITED $?; sleep 30"))
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed (scripts/test installs it)");
        assert!(status.success(), "tmux new-session failed");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// The visible screen as text.
    pub fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends tmux key names or literal text.
    pub fn keys(&self, keys: &[&str]) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    /// Sends literal text (no key-name lookup).
    pub fn type_text(&self, text: &str) {
        let status = self
            .cmd()
            .args(["send-keys", "-l", "-t", &self.session, text])
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    /// Waits until `pred(screen)` holds; panics with the last screen after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if started.elapsed() > limit {
                panic!("waited {limit:?} for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pid of the program the session's shell started.
    pub fn program_pid(&self) -> u32 {
        let out = self
            .cmd()
            .args(["list-panes", "-t", &self.session, "-F", "#{pane_pid}"])
            .output()
            .expect("list-panes");
        let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out = Command::new("pgrep")
            .args(["-P", &shell])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no child of shell {shell}"))
    }

    /// Resizes the window.
    pub fn resize(&self, w: u16, h: u16) {
        let status = self
            .cmd()
            .args([
                "resize-window",
                "-t",
                &self.session,
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .status()
            .expect("resize-window");
        assert!(status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// The lbdeck binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lbdeck")
}

/// Every line of a screen is at most `w` columns and there are `h` of them: no garbled
/// layout, no wrapped lines.
pub fn assert_fits(screen: &str, w: usize, h: usize) {
    let lines: Vec<&str> = screen.lines().collect();
    assert!(lines.len() <= h, "{} lines > {h}:\n{screen}", lines.len());
    for l in &lines {
        let width = unicode_width::UnicodeWidthStr::width(*l);
        assert!(width <= w, "line of {width} > {w} columns: {l:?}");
    }
}

/// The audit log at `path`, one string per line: the given fields joined by spaces,
/// e.g. `["action", "result"]` → "drain done".
pub fn audit_entries(path: &std::path::Path, fields: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("audit log {}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("an audit line is JSON");
            fields
                .iter()
                .map(|f| v[*f].as_str().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}
