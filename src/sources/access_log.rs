//! Per-backend traffic for open-source nginx, which has no per-upstream counters: its
//! access log is followed over SSH (`tail -F`, so rotation is survived) and each line's
//! `$upstream_addr`, `$upstream_status` and `$upstream_response_time` — one value per
//! attempt — are counted per backend over a sliding window.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::log_format::{LogFormat, DEFAULT_FORMAT};

/// How long the sliding window for counts and percentiles is.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Rates are taken over this recent part of the window, so they follow changes (a
/// drained backend falls to 0 within seconds) like the balancers' own req/s.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// The format is judged on this many of the newest lines: a balancer whose log held
/// only foreign lines while it was BACKUP is followed again a few lines after it
/// becomes MASTER, not after its whole history is outweighed.
pub(crate) const RECENT_LINES: usize = 40;

/// Fewer recent lines than this say nothing about the format.
const JUDGED_FROM: usize = 20;

/// How many of a log's recent lines match its format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LineMatch {
    /// Lines looked at.
    pub lines: usize,
    /// Lines the format reads.
    pub matched: usize,
}

/// How many of a followed log's recent lines its format reads, and which format that is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogLines {
    /// The counts over the newest lines.
    #[serde(flatten)]
    pub seen: LineMatch,
    /// Which format: `lbdeck` (the recommended one) or `access_log_format` (the profile's).
    pub format: &'static str,
}

impl LineMatch {
    /// Enough lines were seen and most of them do not match.
    pub fn mismatched(&self) -> bool {
        self.lines >= JUDGED_FROM && (self.lines - self.matched) * 2 > self.lines
    }
}

/// How many of `text`'s last [`RECENT_LINES`] lines `format` reads (tail's own notices
/// left out): what `check` reports per balancer.
pub fn match_lines(format: &LogFormat, text: &str) -> LineMatch {
    let mut tally = LineTally::default();
    for line in text.lines().filter(|l| !l.starts_with("tail:")) {
        tally.push(parse_line(format, line).is_some());
    }
    tally.counts()
}

/// Whether each of the newest lines matched the format.
#[derive(Debug, Default)]
struct LineTally {
    recent: VecDeque<bool>,
}

impl LineTally {
    fn push(&mut self, matched: bool) {
        if self.recent.len() == RECENT_LINES {
            self.recent.pop_front();
        }
        self.recent.push_back(matched);
    }

    fn counts(&self) -> LineMatch {
        LineMatch {
            lines: self.recent.len(),
            matched: self.recent.iter().filter(|m| **m).count(),
        }
    }
}

/// Most samples kept per backend: bounds memory at high request rates (percentiles then
/// describe the most recent requests).
const MAX_SAMPLES: usize = 100_000;

/// Reads one log line written in `format`: the upstream attempts it records.
pub fn parse_line(format: &LogFormat, line: &str) -> Option<LogLine> {
    let [addr, status, time, request_time] = format.fields(line)?;
    let addrs = split_attempts(addr?);
    let statuses = status.map(split_attempts).unwrap_or_default();
    let times = time.map(split_attempts).unwrap_or_default();
    let attempts = addrs
        .iter()
        .enumerate()
        .filter(|(_, a)| a.contains(':') && **a != "-")
        .map(|(i, a)| Attempt {
            addr: a.to_string(),
            status: statuses.get(i).and_then(|s| s.parse().ok()),
            seconds: times.get(i).and_then(|s| s.parse().ok()),
        })
        .collect();
    Some(LogLine {
        attempts,
        request_time: request_time.and_then(|s| s.parse().ok()),
    })
}

/// Multi-attempt values: `a, b` (retries) and `a : b` (internal redirects); nginx
/// always writes the separators with spaces, so `host:port` stays whole.
fn split_attempts(s: &str) -> Vec<&str> {
    s.split(" : ")
        .flat_map(|group| group.split(", "))
        .map(str::trim)
        .collect()
}

/// One attempt at an upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// `host:port` of the backend tried.
    pub addr: String,
    /// Its status (502 when nginx could not connect).
    pub status: Option<u16>,
    /// `$upstream_response_time` for it, seconds.
    pub seconds: Option<f64>,
}

/// What one log line says about upstreams.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Attempts in order; the last one served the response.
    pub attempts: Vec<Attempt>,
    /// `$request_time`, seconds.
    pub request_time: Option<f64>,
}

/// Per-backend numbers over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BackendTraffic {
    /// Backend `host:port`.
    pub addr: String,
    /// Attempts in the last `window_s` seconds.
    pub requests: u64,
    /// Seconds `requests` and `responses` cover: since following began, at most
    /// [`WINDOW`].
    pub window_s: f64,
    /// Attempts per second over the last `rate_window_s` seconds.
    pub req_rate: f64,
    /// 5xx answers per second over the same span.
    pub err_rate: f64,
    /// Seconds the rates cover: since following began, at most [`RATE_WINDOW`].
    pub rate_window_s: f64,
    /// 2xx, 4xx, 5xx attempts in the last `window_s` seconds.
    pub responses: [u64; 3],
    /// Upstream response time percentiles, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
}

/// Sliding-window counters per backend.
#[derive(Debug, Default)]
pub struct Window {
    samples: HashMap<String, VecDeque<(Instant, u16, Option<f64>)>>,
    started: Option<Instant>,
}

impl Window {
    /// A window whose spans count from `at`, when following began: lines come later, and
    /// a span counted from the first line would make rates higher than the counts.
    pub fn starting(at: Instant) -> Window {
        Window {
            started: Some(at),
            ..Window::default()
        }
    }

    /// Counts a log line seen at `at`.
    pub fn add(&mut self, line: &LogLine, at: Instant) {
        self.started.get_or_insert(at);
        for a in &line.attempts {
            if !self.samples.contains_key(&a.addr) {
                self.samples.insert(a.addr.clone(), VecDeque::new());
            }
            let Some(q) = self.samples.get_mut(&a.addr) else {
                continue;
            };
            if q.len() == MAX_SAMPLES {
                q.pop_front();
            }
            q.push_back((at, a.status.unwrap_or(0), a.seconds));
        }
    }

    /// Drops what is older than the window and summarises the rest.
    pub fn snapshot(&mut self, now: Instant) -> Vec<BackendTraffic> {
        let followed = self
            .started
            .map_or(WINDOW, |s| now.saturating_duration_since(s));
        let window_s = followed.min(WINDOW).as_secs_f64();
        let span = followed.min(RATE_WINDOW).as_secs_f64().max(1.0);
        let mut out = Vec::new();
        for (addr, q) in self.samples.iter_mut() {
            while q
                .front()
                .is_some_and(|(t, _, _)| now.saturating_duration_since(*t) > WINDOW)
            {
                q.pop_front();
            }
            let mut times: Vec<f64> = q.iter().filter_map(|s| s.2).collect();
            times.sort_by(f64::total_cmp);
            let pct = |p: f64| -> Option<f64> {
                if times.is_empty() {
                    return None;
                }
                let i = ((p * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1;
                Some(times[i] * 1000.0)
            };
            let class =
                |lo: u16, hi: u16| q.iter().filter(|s| (lo..hi).contains(&s.1)).count() as u64;
            let fives = class(500, 600);
            let recent = || {
                q.iter()
                    .filter(|s| now.saturating_duration_since(s.0) <= RATE_WINDOW)
            };
            out.push(BackendTraffic {
                addr: addr.clone(),
                requests: q.len() as u64,
                window_s,
                req_rate: recent().count() as f64 / span,
                err_rate: recent().filter(|s| (500..600).contains(&s.1)).count() as f64 / span,
                rate_window_s: span,
                responses: [class(200, 300), class(400, 500), fives],
                p50_ms: pct(0.50),
                p95_ms: pct(0.95),
                p99_ms: pct(0.99),
            });
        }
        out.sort_by(|a, b| a.addr.cmp(&b.addr));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt() -> LogFormat {
        LogFormat::parse(DEFAULT_FORMAT).expect("format")
    }

    #[test]
    fn lines_captured_from_the_lab_balancer() {
        let f = fmt();
        let lines: Vec<LogLine> = include_str!("../../tests/fixtures/nginx/access_lbdeck.log")
            .lines()
            .map(|l| parse_line(&f, l).unwrap_or_else(|| panic!("unparsed: {l}")))
            .collect();
        assert!(lines.len() >= 10);
        let retried = lines
            .iter()
            .find(|l| l.attempts.len() == 2)
            .expect("a retried request");
        assert_eq!(retried.attempts[0].addr, "10.77.0.22:80");
        assert_eq!(retried.attempts[0].status, Some(502));
        assert_eq!(retried.attempts[1].addr, "10.77.0.23:80");
        assert_eq!(retried.attempts[1].status, Some(200));
        assert_eq!(retried.attempts[1].seconds, Some(0.0));
    }

    #[test]
    fn multi_attempt_and_redirect_values() {
        assert_eq!(
            split_attempts("10.0.0.2:80, 10.0.0.3:80 : 10.0.0.4:8080"),
            vec!["10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:8080"]
        );
        assert_eq!(split_attempts("502, 200 : 200"), vec!["502", "200", "200"]);
        assert_eq!(split_attempts("0.001, 0.004"), vec!["0.001", "0.004"]);
        assert_eq!(split_attempts("-"), vec!["-"]);
        let f = fmt();
        let line = r#"1.2.3.4 - - [25/Nov/2026:13:50:44 +0000] "GET / HTTP/1.1" 499 0 "-" "x" ua="-" us="-" urt="-" rt=0.000"#;
        assert_eq!(
            parse_line(&f, line).map(|l| l.attempts.len()),
            Some(0),
            "no upstream: not counted"
        );
        assert!(parse_line(&f, "garbage").is_none());
    }

    #[test]
    fn window_rates_and_percentiles() {
        let mut w = Window::default();
        let t0 = Instant::now();
        for i in 0..100u32 {
            let line = LogLine {
                attempts: vec![Attempt {
                    addr: "10.0.0.21:80".into(),
                    status: Some(if i % 10 == 0 { 503 } else { 200 }),
                    seconds: Some(f64::from(i + 1) / 1000.0),
                }],
                request_time: None,
            };
            w.add(&line, t0 + Duration::from_millis(u64::from(i) * 100));
        }
        let s = w.snapshot(t0 + Duration::from_secs(10));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].requests, 100);
        assert!((s[0].req_rate - 10.0).abs() < 0.01, "{}", s[0].req_rate);
        assert!((s[0].err_rate - 1.0).abs() < 0.01);
        let quiet = w.snapshot(t0 + Duration::from_secs(30));
        assert_eq!(quiet[0].req_rate, 0.0, "rates follow the last seconds");
        assert_eq!(quiet[0].requests, 100, "counts cover the whole window");
        assert_eq!(s[0].responses, [90, 0, 10]);
        assert_eq!(s[0].p50_ms, Some(50.0));
        assert_eq!(s[0].p95_ms, Some(95.0));
        assert_eq!(s[0].p99_ms, Some(99.0));
        let later = w.snapshot(t0 + Duration::from_secs(100));
        assert_eq!(later[0].requests, 0, "old samples leave the window");
    }

    #[test]
    fn the_format_is_judged_on_recent_lines_only() {
        let f = fmt();
        let good = include_str!("../../tests/fixtures/nginx/access_lbdeck.log")
            .lines()
            .next()
            .expect("a line");
        let mut tally = LineTally::default();
        // A BACKUP's log: hours of lines in another format.
        for _ in 0..5000 {
            tally.push(parse_line(&f, "10.0.0.1 - - [x] \"GET /nginx_status\" 200 97").is_some());
        }
        assert!(tally.counts().mismatched());
        // It becomes MASTER: traffic in the right format.
        for _ in 0..21 {
            tally.push(parse_line(&f, good).is_some());
        }
        assert_eq!(
            tally.counts(),
            LineMatch {
                lines: 40,
                matched: 21
            }
        );
        assert!(
            !tally.counts().mismatched(),
            "followed again within 21 lines"
        );
        let text = format!("tail: file truncated\n{good}\ngarbage\n");
        assert_eq!(
            match_lines(&f, &text),
            LineMatch {
                lines: 2,
                matched: 1
            }
        );
    }

    #[test]
    fn counts_and_rates_cover_the_spans_they_say() {
        let t0 = Instant::now();
        let mut w = Window::starting(t0);
        // The first line arrives 0.4 s after following began: 42 lines in 5 s.
        for i in 0..42u64 {
            let line = LogLine {
                attempts: vec![Attempt {
                    addr: "10.0.0.21:80".into(),
                    status: Some(200),
                    seconds: Some(0.001),
                }],
                request_time: None,
            };
            w.add(&line, t0 + Duration::from_millis(400 + i * 100));
        }
        let s = w.snapshot(t0 + Duration::from_secs(5));
        assert_eq!(s[0].requests, 42);
        assert_eq!(s[0].window_s, 5.0);
        assert_eq!(s[0].rate_window_s, 5.0);
        assert!((s[0].req_rate - 8.4).abs() < 1e-9, "{}", s[0].req_rate);
        assert_eq!(
            s[0].req_rate * s[0].rate_window_s,
            s[0].requests as f64,
            "within the rate window, count and rate agree"
        );
        let later = w.snapshot(t0 + Duration::from_secs(30));
        assert_eq!(later[0].window_s, 30.0);
        assert_eq!(later[0].rate_window_s, RATE_WINDOW.as_secs_f64());
    }
}

/// Where and how to follow one balancer's access log.
#[derive(Debug, Clone)]
pub struct LogTarget {
    /// Balancer index (profile order).
    pub index: usize,
    /// SSH address.
    pub addr: crate::ssh::NodeAddr,
    /// The log file on the node.
    pub path: String,
    /// Its format.
    pub format: LogFormat,
    /// Which format, in words (see [`LogLines::format`]).
    pub format_name: &'static str,
}

impl LogTarget {
    /// The access logs a profile asks lbdeck to follow (nginx balancers with
    /// `access_log`), their hosts reached through `resolver`.
    pub fn for_profile(
        profile: &crate::config::profile::Profile,
        resolver: &crate::ssh::Resolver,
    ) -> Vec<LogTarget> {
        profile
            .balancers()
            .enumerate()
            .filter(|(_, b)| b.kind == crate::config::profile::BalancerKind::Nginx)
            .filter_map(|(index, b)| {
                let path = b.access_log.clone()?;
                let text = b.access_log_format.as_deref().unwrap_or(DEFAULT_FORMAT);
                let format = LogFormat::parse(text).ok()?;
                let format_name = if text == DEFAULT_FORMAT {
                    "lbdeck"
                } else {
                    "access_log_format"
                };
                Some(LogTarget {
                    index,
                    addr: resolver.resolve(&b.host),
                    path,
                    format,
                    format_name,
                })
            })
            .collect()
    }

    /// Follows the log (surviving rotation) and sends a window summary every `every`,
    /// until the receiver goes away; reconnects as needed.
    pub async fn follow(
        self,
        pool: std::sync::Arc<crate::ssh::Pool>,
        tx: tokio::sync::mpsc::Sender<super::SourceUpdate>,
        every: Duration,
    ) {
        let mut window = Window::starting(Instant::now());
        loop {
            let err = match self.follow_once(&pool, &tx, every, &mut window).await {
                Ok(()) => return,
                Err(e) => e,
            };
            let update = super::SourceUpdate::Traffic {
                index: self.index,
                at: Instant::now(),
                result: Err(err),
                lines: None,
            };
            if tx.send(update).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn follow_once(
        &self,
        pool: &crate::ssh::Pool,
        tx: &tokio::sync::mpsc::Sender<super::SourceUpdate>,
        every: Duration,
        window: &mut Window,
    ) -> Result<(), super::FetchError> {
        let lost = |e: crate::ssh::SshError| super::FetchError(e.to_string());
        let conn = pool.get(&self.addr).await.map_err(lost)?;
        let cmd = pool.privileged(&format!(
            "exec tail -n0 -F {}",
            crate::ssh::shell_quote(&self.path)
        ));
        let mut lines = conn.stream_lines(&cmd).await.map_err(lost)?;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut tally = LineTally::default();
        loop {
            tokio::select! {
                line = lines.recv() => match line {
                    // tail's own notices (file truncated, replaced) are not log lines.
                    Some(l) if l.starts_with("tail:") => {}
                    Some(l) => {
                        let parsed = parse_line(&self.format, &l);
                        tally.push(parsed.is_some());
                        if let Some(parsed) = parsed {
                            window.add(&parsed, Instant::now());
                        }
                    }
                    None => return Err(super::FetchError(format!("{}: the access log stream ended", self.addr.alias))),
                },
                _ = tick.tick() => {
                    let counts = tally.counts();
                    let result = if counts.mismatched() {
                        Err(super::FetchError(format!(
                            "{}: {} of the last {} lines of {} do not match the profile's access_log_format",
                            self.addr.alias, counts.lines - counts.matched, counts.lines, self.path
                        )))
                    } else {
                        Ok(window.snapshot(Instant::now()))
                    };
                    let lines = Some(LogLines { seen: counts, format: self.format_name });
                    let update = super::SourceUpdate::Traffic { index: self.index, at: Instant::now(), result, lines };
                    if tx.send(update).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

impl LogTarget {
    /// Reads the log's last lines over `pool` and counts how many its format reads (for
    /// `check`: a format that matches nothing leaves the traffic pane empty).
    pub async fn check_format(
        &self,
        pool: &crate::ssh::Pool,
    ) -> Result<LineMatch, super::FetchError> {
        let cmd = pool.privileged(&format!(
            "tail -n {RECENT_LINES} {}",
            crate::ssh::shell_quote(&self.path)
        ));
        let out = pool
            .exec(&self.addr, &cmd)
            .await
            .and_then(|o| o.ok(&format!("reading {}", self.path)))
            .map_err(|e| super::FetchError(e.to_string()))?;
        Ok(match_lines(&self.format, &out))
    }
}
