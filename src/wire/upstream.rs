//! Draining on nginx open source: the server keeps its line in the upstream block and
//! gains (or loses) the `down` flag — removing it would re-hash everyone under `ip_hash`.
//! Pure text edits here, on nginx's own tokens: comments (a commented-out `server` line
//! included) and every other upstream are left byte for byte. Also which file of an
//! `nginx -T` dump defines an upstream. The node-side steps (atomic write, `nginx -t`,
//! reload, roll back) are in `ops::drain`.

use std::ops::Range;

/// What an upstream file lacks for an edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No `upstream NAME {` block.
    #[error("no `upstream {0} {{` block")]
    NoBlock(String),
    /// The block never closes.
    #[error("upstream {0}: no closing brace")]
    Unclosed(String),
    /// The block has no line for the server.
    #[error("upstream {upstream} has no `server {address}` line")]
    NoServer {
        /// The upstream block.
        upstream: String,
        /// The server's address.
        address: String,
    },
    /// nginx takes weights from 1 up.
    #[error("weight {0} is out of nginx's range (1 or more)")]
    Weight(u32),
    /// No file of the `nginx -T` dump defines the upstream.
    #[error("no file in `nginx -T` defines `upstream {0} {{`")]
    NotInDump(String),
}

/// What a config token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A word or a quoted string.
    Word,
    /// `;`
    Semi,
    /// `{`
    Open,
    /// `}`
    Close,
}

/// One nginx config token and where it is.
#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    span: Range<usize>,
}

/// nginx's tokens of `text`: words (quoted strings whole), `;`, `{` and `}`. A `#` that
/// starts a token starts a comment to the end of the line, as in nginx's own reader.
fn tokens(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let single = match c {
            b';' => Some(Kind::Semi),
            b'{' => Some(Kind::Open),
            b'}' => Some(Kind::Close),
            _ => None,
        };
        if let Some(kind) = single {
            out.push(Token {
                kind,
                span: i..i + 1,
            });
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if c == b'"' || c == b'\'' {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
            out.push(Token {
                kind: Kind::Word,
                span: start..i,
            });
        } else {
            let start = i;
            while i < bytes.len()
                && !bytes[i].is_ascii_whitespace()
                && !matches!(bytes[i], b';' | b'{' | b'}')
            {
                i += 1;
            }
            out.push(Token {
                kind: Kind::Word,
                span: start..i,
            });
        }
    }
    out
}

/// A word as nginx reads it: quotes dropped.
fn word<'a>(text: &'a str, t: &Token) -> &'a str {
    let w = &text[t.span.clone()];
    let quoted = w.len() >= 2
        && (w.starts_with('"') && w.ends_with('"') || w.starts_with('\'') && w.ends_with('\''));
    if quoted {
        &w[1..w.len() - 1]
    } else {
        w
    }
}

/// One `server ADDRESS params…;` line of an upstream block: its words' tokens.
struct ServerLine {
    words: Vec<Token>,
    /// Where its `;` ends: a note lbdeck leaves on the line starts there.
    end: usize,
}

impl ServerLine {
    /// The parameters after the address.
    fn params<'a>(&'a self, text: &'a str) -> impl Iterator<Item = (&'a Token, &'a str)> + 'a {
        self.words.iter().skip(2).map(move |t| (t, word(text, t)))
    }
}

/// Whether a `server` line's address means the profile's `wanted` (`host:port`, or
/// `unix:/path`): written the same, or written without a port where nginx takes 80.
fn same_address(written: &str, wanted: &str) -> bool {
    if written == wanted {
        return true;
    }
    let has_port = if written.starts_with("unix:") {
        true
    } else if written.starts_with('[') {
        written.contains("]:")
    } else {
        written.contains(':')
    };
    !has_port && wanted.strip_suffix(":80") == Some(written)
}

/// The body of `upstream NAME { … }` as token indexes (after `{`, at `}`).
fn block(text: &str, toks: &[Token], upstream: &str) -> Result<Range<usize>, UpstreamError> {
    let mut depth = 0usize;
    let mut statement: Vec<usize> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::Word => statement.push(i),
            Kind::Semi => statement.clear(),
            Kind::Close => {
                depth = depth.saturating_sub(1);
                statement.clear();
            }
            Kind::Open => {
                let words: Vec<&str> = statement.iter().map(|&w| word(text, &toks[w])).collect();
                statement.clear();
                if words == ["upstream", upstream] {
                    return close_of(toks, i + 1)
                        .map(|end| i + 1..end)
                        .ok_or_else(|| UpstreamError::Unclosed(upstream.into()));
                }
                depth += 1;
            }
        }
    }
    Err(UpstreamError::NoBlock(upstream.into()))
}

/// Index of the `}` closing the block whose body starts at token `from`.
fn close_of(toks: &[Token], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(from) {
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close if depth == 0 => return Some(i),
            Kind::Close => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The `server` lines of the upstream block for `address` (usually one).
fn server_lines(
    text: &str,
    upstream: &str,
    address: &str,
) -> Result<Vec<ServerLine>, UpstreamError> {
    let toks = tokens(text);
    let body = block(text, &toks, upstream)?;
    let mut lines = Vec::new();
    let mut words: Vec<Token> = Vec::new();
    let mut depth = 0usize;
    for t in &toks[body] {
        match t.kind {
            Kind::Word => words.push(t.clone()),
            Kind::Open => {
                depth += 1;
                words.clear();
            }
            Kind::Close => {
                depth = depth.saturating_sub(1);
                words.clear();
            }
            Kind::Semi => {
                let line = std::mem::take(&mut words);
                let is_server = depth == 0
                    && line.len() >= 2
                    && word(text, &line[0]) == "server"
                    && same_address(word(text, &line[1]), address);
                if is_server {
                    lines.push(ServerLine {
                        words: line,
                        end: t.span.end,
                    });
                }
            }
        }
    }
    if lines.is_empty() {
        return Err(UpstreamError::NoServer {
            upstream: upstream.into(),
            address: address.into(),
        });
    }
    Ok(lines)
}

/// Applies byte-range replacements (none overlapping) to `text`.
fn splice(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for (range, with) in edits {
        out.replace_range(range, &with);
    }
    out
}

/// The bytes that remove a parameter token: the spaces or tabs before it (so that a
/// ` down` added by [`set_down`] goes without a trace), else those after it when it
/// starts its line.
fn removal(text: &str, t: &Token) -> Range<usize> {
    let before = text[..t.span.start].trim_end_matches([' ', '\t']).len();
    let at_line_start = before == 0 || text[..before].ends_with('\n');
    if before < t.span.start && !at_line_start {
        return before..t.span.end;
    }
    let after = text[t.span.end..].len() - text[t.span.end..].trim_start_matches([' ', '\t']).len();
    t.span.start..t.span.end + after
}

/// Sets or clears `down` on the `server ADDRESS …;` line of `upstream NAME { … }`,
/// leaving every other byte as it was. Errors say what was not found.
pub fn set_down(
    text: &str,
    upstream: &str,
    address: &str,
    down: bool,
) -> Result<String, UpstreamError> {
    let mut edits = Vec::new();
    for line in server_lines(text, upstream, address)? {
        let flags: Vec<&Token> = line
            .params(text)
            .filter(|(_, w)| *w == "down")
            .map(|(t, _)| t)
            .collect();
        match (down, flags.is_empty()) {
            (true, true) => {
                let end = line.words.last().map_or(0, |t| t.span.end);
                edits.push((end..end, " down".to_string()));
            }
            (false, false) => {
                edits.extend(flags.into_iter().map(|t| (removal(text, t), String::new())));
            }
            _ => {}
        }
    }
    Ok(splice(text, edits))
}

/// Whether the server is marked `down` in the block.
pub fn is_down(text: &str, upstream: &str, address: &str) -> Result<bool, UpstreamError> {
    let lines = server_lines(text, upstream, address)?;
    Ok(lines
        .iter()
        .any(|l| l.params(text).any(|(_, w)| w == "down")))
}

/// One `server` line of an upstream block, as its file has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    /// The address as written (`10.0.0.21:80`, `app2.internal`, `unix:/run/a.sock`).
    pub address: String,
    /// Marked `down`.
    pub down: bool,
    /// Its weight (nginx's default 1 when none is written).
    pub weight: u32,
    /// The configured weight: lbdeck's note on the line keeps it while lbdeck changed
    /// the weight, else the weight written.
    pub initial_weight: u32,
    /// Marked `backup`.
    pub backup: bool,
    /// The line (from 1) where its `server` statement starts.
    pub line: usize,
    /// The change the next drain or undrain would make ([`set_down`] with the flag
    /// flipped): the first changed line before and after.
    pub next: Option<(String, String)>,
}

/// What one read of an upstream file gave: the file and its servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRead {
    /// The file that defines the upstream.
    pub file: String,
    /// Every `server` line of the block, in file order.
    pub servers: Vec<UpstreamServer>,
}

/// The first line that differs between `before` and `after`, as (before, after).
fn first_changed_line(before: &str, after: &str) -> Option<(String, String)> {
    before
        .lines()
        .zip(after.lines())
        .find(|(a, b)| a != b)
        .map(|(a, b)| (a.to_string(), b.to_string()))
}

/// Every `server` line of the block: its address, whether it is marked `down`, where it
/// is and what the next drain or undrain of it would change.
pub fn servers(text: &str, upstream: &str) -> Result<Vec<UpstreamServer>, UpstreamError> {
    let toks = tokens(text);
    let body = block(text, &toks, upstream)?;
    let mut out = Vec::new();
    let mut words: Vec<&Token> = Vec::new();
    let mut depth = 0usize;
    for t in &toks[body] {
        match t.kind {
            Kind::Word => words.push(t),
            Kind::Open | Kind::Close => {
                depth = if t.kind == Kind::Open {
                    depth + 1
                } else {
                    depth.saturating_sub(1)
                };
                words.clear();
            }
            Kind::Semi => {
                let said: Vec<&str> = words.iter().map(|t| word(text, t)).collect();
                if let (0, ["server", address, params @ ..]) = (depth, said.as_slice()) {
                    let down = params.contains(&"down");
                    let line = text[..words[0].span.start].matches('\n').count() + 1;
                    let next = set_down(text, upstream, address, !down)
                        .ok()
                        .and_then(|edited| first_changed_line(text, &edited));
                    let weight = params
                        .iter()
                        .find_map(|w| w.strip_prefix("weight=").and_then(|n| n.parse().ok()))
                        .unwrap_or(1);
                    let initial_weight =
                        note(text, t.span.end).map_or(weight, |(_, w)| w.unwrap_or(1));
                    out.push(UpstreamServer {
                        address: address.to_string(),
                        down,
                        weight,
                        initial_weight,
                        backup: params.contains(&"backup"),
                        line,
                        next,
                    });
                }
                words.clear();
            }
        }
    }
    Ok(out)
}

/// The server's weight in the block (nginx's default 1 when none is written).
pub fn weight(text: &str, upstream: &str, address: &str) -> Result<u32, UpstreamError> {
    let lines = server_lines(text, upstream, address)?;
    Ok(written_weight(text, &lines).unwrap_or(1))
}

fn written_weight(text: &str, lines: &[ServerLine]) -> Option<u32> {
    lines
        .iter()
        .flat_map(|l| l.params(text))
        .find_map(|(_, w)| w.strip_prefix("weight=").and_then(|n| n.parse().ok()))
}

/// The note [`set_weight`] leaves after a server line's `;` the first time it changes
/// the weight, so that the configured weight can be put back byte for byte: by whoever
/// runs lbdeck next, and visible to anyone reading the file.
const NOTE: &str = " # lbdeck: initial weight";
/// The note's ending when no weight was written (nginx's default 1).
const UNWRITTEN: &str = " unwritten (nginx's 1)";

/// The note on a server line, if any: where it is and the weight it keeps (None: none
/// was written).
fn note(text: &str, end: usize) -> Option<(Range<usize>, Option<u32>)> {
    let rest = text.get(end..)?.strip_prefix(NOTE)?;
    if rest.starts_with(UNWRITTEN) {
        return Some((end..end + NOTE.len() + UNWRITTEN.len(), None));
    }
    let digits = rest.strip_prefix('=')?;
    let n = digits.len()
        - digits
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    let w = digits[..n].parse().ok()?;
    Some((end..end + NOTE.len() + 1 + n, Some(w)))
}

/// The server's current and initial weight: the initial one is what lbdeck's note keeps,
/// else the current one (nothing changed it).
pub fn weights(text: &str, upstream: &str, address: &str) -> Result<(u32, u32), UpstreamError> {
    let lines = server_lines(text, upstream, address)?;
    let current = written_weight(text, &lines).unwrap_or(1);
    let initial = lines
        .iter()
        .find_map(|l| note(text, l.end))
        .map_or(current, |(_, w)| w.unwrap_or(1));
    Ok((current, initial))
}

/// Sets `weight=N` on the server's line (replacing the one written, else added after the
/// last parameter) and notes the configured weight after the `;` the first time; `None`
/// puts the configured weight back and removes the note, leaving the line as it was
/// before lbdeck touched it. Every other byte stays as it was.
pub fn set_weight(
    text: &str,
    upstream: &str,
    address: &str,
    weight: Option<u32>,
) -> Result<String, UpstreamError> {
    if weight == Some(0) {
        return Err(UpstreamError::Weight(0));
    }
    let mut edits = Vec::new();
    for line in server_lines(text, upstream, address)? {
        let written: Vec<&Token> = line
            .params(text)
            .filter(|(_, w)| w.starts_with("weight="))
            .map(|(t, _)| t)
            .collect();
        let noted = note(text, line.end);
        let (new, note_edit) = match (weight, noted) {
            (Some(n), Some(_)) => (Some(n), None),
            (Some(n), None) => {
                let kept = match written.first() {
                    Some(t) => format!("{NOTE}={}", &word(text, t)["weight=".len()..]),
                    None => format!("{NOTE}{UNWRITTEN}"),
                };
                (Some(n), Some((line.end..line.end, kept)))
            }
            (None, Some((range, initial))) => (initial, Some((range, String::new()))),
            (None, None) => continue,
        };
        match (new, written.as_slice()) {
            (Some(n), []) => {
                let end = line.words.last().map_or(0, |t| t.span.end);
                edits.push((end..end, format!(" weight={n}")));
            }
            (Some(n), many) => {
                edits.extend(many.iter().map(|t| (t.span.clone(), format!("weight={n}"))))
            }
            (None, many) => {
                edits.extend(many.iter().map(|t| (removal(text, t), String::new())));
            }
        }
        edits.extend(note_edit);
    }
    Ok(splice(text, edits))
}

/// The line that starts each file in `nginx -T` output.
const DUMP_MARKER: &str = "# configuration file ";

/// The files of an `nginx -T` dump (every file nginx read, `include`d ones too), each
/// with its text, in the order nginx read them. Lines before the first file (nginx's
/// own "syntax is ok" sentences when stderr is mixed in) are skipped.
pub fn dump_files(dump: &str) -> Vec<(&str, &str)> {
    let mut files: Vec<(&str, usize)> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut at = 0;
    for line in dump.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(path) = bare
            .strip_prefix(DUMP_MARKER)
            .and_then(|p| p.strip_suffix(':'))
        {
            if !files.is_empty() {
                ends.push(at);
            }
            files.push((path, at + line.len()));
        }
        at += line.len();
    }
    ends.push(dump.len());
    files
        .into_iter()
        .zip(ends)
        .map(|((path, start), end)| (path, &dump[start..end]))
        .collect()
}

/// Whether `text` defines `upstream NAME { … }` outside comments.
pub fn defines(text: &str, upstream: &str) -> bool {
    block(text, &tokens(text), upstream).is_ok()
}

/// The file of an `nginx -T` dump that defines `upstream NAME { … }`.
pub fn file_defining(dump: &str, upstream: &str) -> Result<String, UpstreamError> {
    dump_files(dump)
        .into_iter()
        .find(|(_, text)| defines(text, upstream))
        .map(|(path, _)| path.to_string())
        .ok_or_else(|| UpstreamError::NotInDump(upstream.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "upstream be_web {\n    ip_hash;\n    # web2 is the big one\n    server 10.77.0.21:80 max_fails=1 fail_timeout=2s;\n    server 10.77.0.22:80 max_fails=1 fail_timeout=2s;\n}\nserver { listen 80; }\n";

    /// Several upstreams, host names, a unix socket, a backup server, parameters in any
    /// order, a trailing comment, a statement over several lines, and commented-out
    /// `server` lines (one of them for a server that is also live).
    const SHAPES: &str = include_str!("../../tests/fixtures/nginx/upstreams_shapes.conf");

    /// `(address, down)` of every server line.
    fn flags(text: &str, upstream: &str) -> Result<Vec<(String, bool)>, UpstreamError> {
        servers(text, upstream).map(|all| all.into_iter().map(|s| (s.address, s.down)).collect())
    }

    #[test]
    fn every_server_line_is_listed_with_its_down_flag() {
        let drained = set_down(CONF, "be_web", "10.77.0.22:80", true).expect("drain");
        assert_eq!(
            flags(&drained, "be_web").expect("servers"),
            vec![
                ("10.77.0.21:80".to_string(), false),
                ("10.77.0.22:80".to_string(), true)
            ]
        );
        assert_eq!(
            flags(CONF, "be_api"),
            Err(UpstreamError::NoBlock("be_api".into()))
        );
        // Commented-out lines are not servers; a `down` on a line of its own counts.
        assert_eq!(
            flags(SHAPES, "be_web").expect("servers"),
            vec![
                ("10.0.0.21:80".to_string(), false),
                ("10.0.0.22:80".to_string(), false),
                ("10.0.0.23:80".to_string(), true),
            ]
        );
    }

    #[test]
    fn each_server_says_its_line_and_the_edit_a_drain_or_undrain_would_make() {
        let all = servers(SHAPES, "be_web").expect("servers");
        let at: Vec<usize> = all.iter().map(|s| s.line).collect();
        assert_eq!(at, [7, 8, 9]);
        assert_eq!(
            all[1].next,
            Some((
                "    server 10.0.0.22:80 weight=2 max_fails=1 fail_timeout=2s;".into(),
                "    server 10.0.0.22:80 weight=2 max_fails=1 fail_timeout=2s down;".into()
            )),
            "a drain adds down"
        );
        assert_eq!(
            all[2].next,
            Some(("        down;".into(), "        ;".into())),
            "an undrain removes the down on its own line, and only that line changes"
        );
        let app = servers(SHAPES, "be_app").expect("servers");
        let implied = app
            .iter()
            .find(|s| s.address == "app2.internal")
            .expect("app2");
        assert_eq!(
            implied.next.as_ref().map(|(_, after)| after.as_str()),
            Some("    server app2.internal max_fails=2 fail_timeout=5s down; # port 80 implied")
        );
    }

    #[test]
    fn down_is_added_and_removed_byte_for_byte() {
        let drained = set_down(CONF, "be_web", "10.77.0.22:80", true).expect("drain");
        assert!(
            drained.contains("server 10.77.0.22:80 max_fails=1 fail_timeout=2s down;"),
            "{drained}"
        );
        assert!(drained.contains("server 10.77.0.21:80 max_fails=1 fail_timeout=2s;"));
        assert!(drained.contains("    ip_hash;\n    # web2 is the big one\n"));
        assert_eq!(is_down(&drained, "be_web", "10.77.0.22:80"), Ok(true));
        assert_eq!(
            set_down(&drained, "be_web", "10.77.0.22:80", true).as_deref(),
            Ok(drained.as_str()),
            "idempotent"
        );
        let back = set_down(&drained, "be_web", "10.77.0.22:80", false).expect("undrain");
        assert_eq!(back, CONF);
    }

    #[test]
    fn what_is_missing_is_said() {
        assert!(set_down(CONF, "be_api", "10.77.0.22:80", true)
            .expect_err("no block")
            .to_string()
            .contains("no `upstream be_api"));
        assert!(set_down(CONF, "be_web", "10.77.0.99:80", true)
            .expect_err("no server")
            .to_string()
            .contains("no `server 10.77.0.99:80`"));
        assert!(
            set_down("upstream be_web {\n server a:1;\n", "be_web", "a:1", true).is_err(),
            "unclosed"
        );
    }

    /// Every line of `after` that differs from `before`, as (before, after) pairs.
    fn changed_lines<'a>(before: &'a str, after: &'a str) -> Vec<(&'a str, &'a str)> {
        assert_eq!(before.lines().count(), after.lines().count(), "{after}");
        before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .collect()
    }

    #[test]
    fn each_shape_drains_and_undrains_on_its_own_line_only() {
        for (upstream, address, line_before, line_after) in [
            (
                "be_app",
                "app1.internal:8080",
                "    server app1.internal:8080 weight=3 max_fails=2;",
                "    server app1.internal:8080 weight=3 max_fails=2 down;",
            ),
            (
                "be_app",
                "app2.internal:80",
                "    server app2.internal max_fails=2 fail_timeout=5s; # port 80 implied",
                "    server app2.internal max_fails=2 fail_timeout=5s down; # port 80 implied",
            ),
            (
                "be_app",
                "unix:/run/app/app.sock",
                "    server unix:/run/app/app.sock fail_timeout=3s weight=2;",
                "    server unix:/run/app/app.sock fail_timeout=3s weight=2 down;",
            ),
            (
                "be_app",
                "10.0.0.9:8080",
                "    server 10.0.0.9:8080 backup;",
                "    server 10.0.0.9:8080 backup down;",
            ),
            (
                "be_web",
                "10.0.0.22:80",
                "    server 10.0.0.22:80 weight=2 max_fails=1 fail_timeout=2s;",
                "    server 10.0.0.22:80 weight=2 max_fails=1 fail_timeout=2s down;",
            ),
        ] {
            let drained = set_down(SHAPES, upstream, address, true).expect(address);
            assert_eq!(
                changed_lines(SHAPES, &drained),
                vec![(line_before, line_after)],
                "{address}: only its own line, in its own upstream"
            );
            assert_eq!(is_down(&drained, upstream, address), Ok(true), "{address}");
            assert_eq!(is_down(SHAPES, upstream, address), Ok(false), "{address}");
            assert_eq!(
                set_down(&drained, upstream, address, false).as_deref(),
                Ok(SHAPES),
                "{address}: undrained byte for byte"
            );
        }
    }

    #[test]
    fn a_down_written_anywhere_is_read_and_removed_cleanly() {
        assert_eq!(is_down(SHAPES, "be_app", "10.0.0.5:8080"), Ok(true));
        let up = set_down(SHAPES, "be_app", "10.0.0.5:8080", false).expect("undrain");
        assert_eq!(
            changed_lines(SHAPES, &up),
            vec![(
                "    server 10.0.0.5:8080 down weight=2;",
                "    server 10.0.0.5:8080 weight=2;"
            )]
        );
        // A statement over several lines, `down` alone on its line.
        assert_eq!(is_down(SHAPES, "be_web", "10.0.0.23:80"), Ok(true));
        let up = set_down(SHAPES, "be_web", "10.0.0.23:80", false).expect("undrain");
        assert_eq!(
            changed_lines(SHAPES, &up),
            vec![("        down;", "        ;")],
            "the line's indentation stays, nginx still reads one statement"
        );
        assert_eq!(is_down(&up, "be_web", "10.0.0.23:80"), Ok(false));
    }

    #[test]
    fn commented_out_lines_and_blocks_are_never_read_nor_edited() {
        // `# server 10.0.0.21:80 down;` sits above the live line: the live one is up.
        assert_eq!(is_down(SHAPES, "be_web", "10.0.0.21:80"), Ok(false));
        // Only commented out: not a server of the upstream.
        assert!(matches!(
            set_down(SHAPES, "be_web", "10.0.0.99:80", true),
            Err(UpstreamError::NoServer { .. })
        ));
        // The commented-out copy of be_old is not a block.
        assert_eq!(
            set_down(SHAPES, "be_old", "10.0.0.21:80", true),
            Err(UpstreamError::NoBlock("be_old".into()))
        );
        let drained = set_down(SHAPES, "be_web", "10.0.0.21:80", true).expect("drain");
        for comment in SHAPES.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(drained.contains(comment), "{comment} kept as written");
        }
    }

    #[test]
    fn weights_are_set_in_place_or_added_and_put_back_byte_for_byte() {
        assert_eq!(weight(SHAPES, "be_app", "app1.internal:8080"), Ok(3));
        assert_eq!(weight(SHAPES, "be_app", "10.0.0.9:8080"), Ok(1), "default");
        for (upstream, address, w, before, after) in [
            (
                "be_app",
                "app1.internal:8080",
                7,
                "    server app1.internal:8080 weight=3 max_fails=2;",
                "    server app1.internal:8080 weight=7 max_fails=2; # lbdeck: initial weight=3",
            ),
            (
                "be_app",
                "app2.internal:80",
                2,
                "    server app2.internal max_fails=2 fail_timeout=5s; # port 80 implied",
                "    server app2.internal max_fails=2 fail_timeout=5s weight=2; # lbdeck: initial weight unwritten (nginx's 1) # port 80 implied",
            ),
            (
                "be_app",
                "unix:/run/app/app.sock",
                5,
                "    server unix:/run/app/app.sock fail_timeout=3s weight=2;",
                "    server unix:/run/app/app.sock fail_timeout=3s weight=5; # lbdeck: initial weight=2",
            ),
            (
                "be_app",
                "10.0.0.9:8080",
                4,
                "    server 10.0.0.9:8080 backup;",
                "    server 10.0.0.9:8080 backup weight=4; # lbdeck: initial weight unwritten (nginx's 1)",
            ),
            (
                "be_web",
                "10.0.0.23:80",
                3,
                "        down;",
                "        down weight=3; # lbdeck: initial weight unwritten (nginx's 1)",
            ),
        ] {
            let set = set_weight(SHAPES, upstream, address, Some(w)).expect(address);
            assert_eq!(
                changed_lines(SHAPES, &set),
                vec![(before, after)],
                "{address}"
            );
            let initial = weight(SHAPES, upstream, address).expect("initial");
            assert_eq!(weights(&set, upstream, address), Ok((w, initial)));
            assert_eq!(
                is_down(&set, upstream, address),
                is_down(SHAPES, upstream, address)
            );
            // A second change keeps the first note; going back leaves the file as it was.
            let again = set_weight(&set, upstream, address, Some(w + 1)).expect("again");
            assert_eq!(weights(&again, upstream, address), Ok((w + 1, initial)));
            assert_eq!(
                set_weight(&again, upstream, address, None).as_deref(),
                Ok(SHAPES),
                "{address}: byte for byte"
            );
        }
        assert_eq!(
            set_weight(SHAPES, "be_app", "10.0.0.9:8080", None).as_deref(),
            Ok(SHAPES),
            "nothing to put back"
        );
        assert_eq!(
            set_weight(SHAPES, "be_app", "10.0.0.9:8080", Some(0)),
            Err(UpstreamError::Weight(0))
        );
    }

    #[test]
    fn servers_read_back_weight_initial_weight_and_backup() {
        let row = |text: &str, address: &str| {
            servers(text, "be_app")
                .expect("servers")
                .into_iter()
                .find(|s| s.address == address)
                .map(|s| (s.weight, s.initial_weight, s.backup))
        };
        assert_eq!(row(SHAPES, "app1.internal:8080"), Some((3, 3, false)));
        assert_eq!(row(SHAPES, "10.0.0.9:8080"), Some((1, 1, true)));
        let set = set_weight(SHAPES, "be_app", "app1.internal:8080", Some(7)).expect("set");
        assert_eq!(row(&set, "app1.internal:8080"), Some((7, 3, false)));
        let set = set_weight(SHAPES, "be_app", "10.0.0.9:8080", Some(4)).expect("set");
        assert_eq!(row(&set, "10.0.0.9:8080"), Some((4, 1, true)));
    }

    #[test]
    fn quoted_words_and_hashes_inside_words_are_nginxs() {
        let text = "upstream \"be_q\" {\n    server \"10.0.0.1:80\" route=a#b;\n}\n";
        let drained = set_down(text, "be_q", "10.0.0.1:80", true).expect("drain");
        assert_eq!(
            drained,
            "upstream \"be_q\" {\n    server \"10.0.0.1:80\" route=a#b down;\n}\n"
        );
    }

    const DUMP: &str = include_str!("../../tests/fixtures/nginx/nginx_T.txt");

    #[test]
    fn nginx_t_names_the_included_file_that_defines_the_upstream() {
        let files = dump_files(DUMP);
        let paths: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            paths,
            [
                "/etc/nginx/nginx.conf",
                "/etc/nginx/mime.types",
                "/etc/nginx/conf.d/default.conf",
                "/etc/nginx/upstreams/shop.conf",
                "/etc/nginx/sites-enabled/shop",
            ]
        );
        assert_eq!(
            file_defining(DUMP, "be_shop").as_deref(),
            Ok("/etc/nginx/upstreams/shop.conf")
        );
        // Defined in nginx.conf itself.
        assert_eq!(
            file_defining(DUMP, "be_status").as_deref(),
            Ok("/etc/nginx/nginx.conf")
        );
        // Only commented out, or only named in a proxy_pass: not defined.
        assert_eq!(
            file_defining(DUMP, "be_legacy"),
            Err(UpstreamError::NotInDump("be_legacy".into()))
        );
        assert!(file_defining(DUMP, "be_api").is_err());
        // A file's text is what nginx read: editing it finds the server.
        let (_, shop) = files[3];
        assert_eq!(is_down(shop, "be_shop", "shop2.internal:8080"), Ok(false));
        assert!(dump_files("nginx: [emerg] open() failed\n").is_empty());
    }
}
