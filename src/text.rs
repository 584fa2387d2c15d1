//! Remote text made safe for the terminal: whatever a node sends (server names, status
//! strings, error messages) passes through here before it is drawn, so an escape
//! sequence can never reach the terminal raw.

/// Replaces control characters (ESC, C0, C1, DEL) with `�`-free visible escapes (`\x1b`),
/// keeping ordinary Unicode.
pub fn sanitize(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || ('\u{80}'..='\u{9f}').contains(&c)
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Sanitised and cut to `max` characters, with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    let clean = sanitize(s.trim());
    if clean.chars().count() <= max {
        clean
    } else {
        let mut out: String = clean.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Remote text as one sentence: line breaks and tabs (a daemon's multi-line answer)
/// become single spaces, then anything else unsafe is escaped as [`sanitize`] does.
pub fn sentence(s: &str) -> String {
    let joined = s
        .split(['\r', '\n', '\t'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    sanitize(&joined)
}

/// Like [`sanitize`] but keeps newlines (for multi-line reports printed to a terminal).
pub fn sanitize_multiline(s: &str) -> String {
    s.split('\n').map(sanitize).collect::<Vec<_>>().join("\n")
}

/// Where `outln!`/`out!` go when stdout fails: a closed pipe (`lbdeck status | head`)
/// ends the process quietly, as `cat` would; any other error is said on stderr.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("lbdeck: cannot write to stdout: {e}");
    std::process::exit(1);
}

/// `println!` that never panics: see [`stdout_failed`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::text::stdout_failed(e)
        }
    }};
}

/// `print!` that never panics: see [`stdout_failed`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout();
        if let Err(e) = write!(o, $($arg)*).and_then(|_| o.flush()) {
            $crate::text::stdout_failed(e)
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_answers_become_one_sentence() {
        assert_eq!(
            sentence("No such server.\r\n\r\n"),
            "No such server.",
            "no \\x0d\\x0a in a sentence"
        );
        assert_eq!(sentence("a\n\tb\x1b[2J"), "a b\\x1b[2J");
    }

    #[test]
    fn escape_sequences_never_pass() {
        let hostile = "web1\x1b]0;pwned\x07\x1b[2J\u{9b}31m";
        let clean = sanitize(hostile);
        assert!(!clean.chars().any(|c| c.is_control()));
        assert!(clean.starts_with("web1\\x1b]0;pwned\\x07"));
        assert_eq!(sanitize("plain café"), "plain café");
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("  ab ", 4), "ab");
    }
}
