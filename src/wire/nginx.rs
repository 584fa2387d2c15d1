//! nginx open source: the `stub_status` page.

use super::ParseError;
use crate::state::ServerState;

/// The state an upstream `server` line gives: the `down` flag is how an operator takes a
/// server out of open-source nginx (maintenance); without it the server is ready.
pub fn upstream_state(down: bool) -> ServerState {
    if down {
        ServerState::Maint
    } else {
        ServerState::Up
    }
}

/// One reading of nginx's stub_status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct StubStatus {
    /// Open client connections, waiting ones included.
    pub active: u64,
    /// Connections accepted since start (counter).
    pub accepts: u64,
    /// Connections handled since start (counter).
    pub handled: u64,
    /// Requests since start (counter).
    pub requests: u64,
    /// Connections reading a request header.
    pub reading: u64,
    /// Connections writing a response.
    pub writing: u64,
    /// Idle keep-alive connections.
    pub waiting: u64,
}

/// Parses the four-line stub_status text (trailing spaces and CRLF tolerated).
pub fn parse(text: &str) -> Result<StubStatus, ParseError> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().ok_or(ParseError::Empty {
        what: "stub_status",
    })?;
    let active = first
        .strip_prefix("Active connections:")
        .ok_or_else(|| ParseError::expected("stub_status", "\"Active connections: N\"", first))
        .and_then(|v| number("Active connections", v.trim()))?;
    let header = lines.next().unwrap_or_default();
    if header != "server accepts handled requests" {
        return Err(ParseError::expected(
            "stub_status",
            "\"server accepts handled requests\"",
            header,
        ));
    }
    let counters = lines.next().unwrap_or_default();
    let nums: Vec<&str> = counters.split_whitespace().collect();
    if nums.len() != 3 {
        return Err(ParseError::expected(
            "stub_status",
            "three counters",
            counters,
        ));
    }
    let rw = lines.next().unwrap_or_default();
    let field = |name: &str| -> Result<u64, ParseError> {
        let mut words = rw.split_whitespace();
        while let Some(w) = words.next() {
            if w.trim_end_matches(':') == name {
                return number(name, words.next().unwrap_or_default());
            }
        }
        Err(ParseError::expected(
            "stub_status",
            "\"Reading: N Writing: N Waiting: N\"",
            rw,
        ))
    };
    Ok(StubStatus {
        active,
        accepts: number("accepts", nums[0])?,
        handled: number("handled", nums[1])?,
        requests: number("requests", nums[2])?,
        reading: field("Reading")?,
        writing: field("Writing")?,
        waiting: field("Waiting")?,
    })
}

fn number(what: &str, s: &str) -> Result<u64, ParseError> {
    s.parse()
        .map_err(|_| ParseError::expected("stub_status", &format!("a number for {what}"), s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_real_capture() {
        let s = parse(include_str!("../../tests/fixtures/nginx/stub_status.txt")).expect("parses");
        assert_eq!(s.active, 1);
        assert_eq!((s.accepts, s.handled, s.requests), (52, 52, 52));
        assert_eq!((s.reading, s.writing, s.waiting), (0, 1, 0));
    }

    #[test]
    fn rejects_other_pages_with_a_sentence() {
        let err = parse("<html>404 Not Found</html>").expect_err("rejected");
        assert!(
            err.to_string()
                .contains("expected \"Active connections: N\""),
            "{err}"
        );
        let err = parse("Active connections: 1\nserver accepts handled requests\n 1 2\n")
            .expect_err("rejected");
        assert!(err.to_string().contains("three counters"));
        assert!(parse("").is_err());
    }

    #[test]
    fn the_down_flag_is_maintenance() {
        assert_eq!(upstream_state(true), ServerState::Maint);
        assert_eq!(upstream_state(false), ServerState::Up);
    }

    #[test]
    fn tolerates_crlf() {
        let text = "Active connections: 3 \r\nserver accepts handled requests\r\n 7 7 9 \r\nReading: 0 Writing: 1 Waiting: 2 \r\n";
        assert_eq!(parse(text).expect("parses").waiting, 2);
    }
}
