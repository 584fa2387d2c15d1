//! Frame statistics (`--frame-stats FILE`): how long each frame took to render and how
//! long the console went without one. With it on, the run loop redraws every
//! [`HEARTBEAT`] even when nothing changed, so a loop held up by anything (a slow node, a
//! blocking call) shows as a gap. One JSON line per second, and a summary line at exit:
//!
//! `{"unix":1764086400.5,"frames":20,"render_p50_ms":0.4,"render_p99_ms":0.9,
//! "render_max_ms":1.1,"max_gap_ms":52.0,"oldest_data_ms":1010.0}`
//!
//! `oldest_data_ms` is the age of the oldest polled value on screen: near the poll
//! interval while polling keeps its schedule.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often a frame is forced while statistics are on.
pub const HEARTBEAT: Duration = Duration::from_millis(50);

/// Render times and gaps, written out every second.
pub struct FrameStats {
    file: std::fs::File,
    window_start: Instant,
    last_frame: Option<Instant>,
    window: Window,
    total: Window,
}

#[derive(Default)]
struct Window {
    renders: Vec<Duration>,
    max_gap: Duration,
    oldest_data: Duration,
}

impl Window {
    fn add(&mut self, took: Duration, gap: Option<Duration>, oldest: Option<Duration>) {
        self.renders.push(took);
        self.oldest_data = self.oldest_data.max(oldest.unwrap_or_default());
        if let Some(g) = gap {
            self.max_gap = self.max_gap.max(g);
        }
    }

    fn line(&mut self, summary: bool) -> String {
        self.renders.sort_unstable();
        let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
        let at = |q: f64| {
            self.renders
                .get(((self.renders.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        serde_json::json!({
            "unix": unix,
            "summary": summary,
            "frames": self.renders.len(),
            "render_p50_ms": ms(at(0.5)),
            "render_p99_ms": ms(at(0.99)),
            "render_max_ms": ms(self.renders.last().copied().unwrap_or_default()),
            "max_gap_ms": ms(self.max_gap),
            "oldest_data_ms": ms(self.oldest_data),
        })
        .to_string()
    }
}

impl FrameStats {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> std::io::Result<FrameStats> {
        Ok(FrameStats {
            file: std::fs::File::create(path)?,
            window_start: Instant::now(),
            last_frame: None,
            window: Window::default(),
            total: Window::default(),
        })
    }

    /// One frame drawn: started at `started`, took `took`, showing data up to `oldest`
    /// old.
    pub fn frame(&mut self, started: Instant, took: Duration, oldest: Option<Duration>) {
        let gap = self
            .last_frame
            .map(|l| started.saturating_duration_since(l));
        self.window.add(took, gap, oldest);
        self.total.add(took, gap, oldest);
        self.last_frame = Some(started + took);
        if self.window_start.elapsed() >= Duration::from_secs(1) {
            let line = self.window.line(false);
            let _ = writeln!(self.file, "{line}");
            self.window = Window::default();
            self.window_start = Instant::now();
        }
    }

    /// The terminal was handed to something else (an SSH shell): the pause is not a gap.
    pub fn paused(&mut self) {
        self.last_frame = None;
    }
}

impl Drop for FrameStats {
    fn drop(&mut self) {
        let line = self.total.line(true);
        let _ = writeln!(self.file, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_render_quantiles_and_the_longest_gap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.jsonl");
        {
            let mut s = FrameStats::create(&path).expect("create");
            let t0 = Instant::now();
            for i in 0..100u64 {
                let took = Duration::from_micros(100 + i * 10);
                // Frames every 50 ms, one late by 200 ms.
                let extra = if i == 50 { 200 } else { 0 };
                let oldest = Duration::from_millis(900 + i);
                s.frame(
                    t0 + Duration::from_millis(i * 50 + extra),
                    took,
                    Some(oldest),
                );
            }
            s.paused();
            s.frame(
                t0 + Duration::from_secs(60),
                Duration::from_micros(100),
                None,
            );
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let last: serde_json::Value =
            serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
        assert_eq!(last["summary"], true);
        assert_eq!(last["frames"], 101);
        assert_eq!(last["render_max_ms"], 1.09);
        assert_eq!(last["render_p50_ms"], 0.59);
        assert_eq!(last["oldest_data_ms"], 999.0);
        // The 200 ms hold-up shows, the pause for a shell does not.
        let gap = last["max_gap_ms"].as_f64().expect("number");
        assert!((249.0..251.0).contains(&gap), "{gap}");
    }
}
