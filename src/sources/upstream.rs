//! Draining on nginx open source: the server keeps its line in the upstream block and
//! gains (or loses) the `down` flag — removing it would re-hash everyone under `ip_hash`.
//! Pure text edits here; the node-side steps (atomic write, `nginx -t`, reload, roll
//! back) are in `ops::drain`.

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
}

/// The body of `upstream NAME { … }`: (start, end) offsets.
fn block(text: &str, upstream: &str) -> Result<(usize, usize), UpstreamError> {
    let start =
        find_upstream(text, upstream).ok_or_else(|| UpstreamError::NoBlock(upstream.into()))?;
    let end = block_end(text, start).ok_or_else(|| UpstreamError::Unclosed(upstream.into()))?;
    Ok((start, end))
}

/// Sets or clears `down` on the `server ADDRESS …;` line of `upstream NAME { … }`,
/// leaving every other byte as it was. Errors say what was not found.
pub fn set_down(
    text: &str,
    upstream: &str,
    address: &str,
    down: bool,
) -> Result<String, UpstreamError> {
    let (start, body_end) = block(text, upstream)?;
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..start]);
    let mut found = false;
    for stmt in statements(&text[start..body_end]) {
        let (before, body, after) = stmt;
        let words: Vec<&str> = body.split_whitespace().collect();
        if words.first() == Some(&"server") && words.get(1) == Some(&address) {
            found = true;
            let has_down = words.iter().skip(2).any(|w| *w == "down");
            let new_body = match (down, has_down) {
                (true, false) => format!("{body} down"),
                (false, true) => remove_down(body),
                _ => body.to_string(),
            };
            out.push_str(before);
            out.push_str(&new_body);
            out.push_str(after);
        } else {
            out.push_str(before);
            out.push_str(body);
            out.push_str(after);
        }
    }
    out.push_str(&text[body_end..]);
    if !found {
        return Err(UpstreamError::NoServer {
            upstream: upstream.into(),
            address: address.into(),
        });
    }
    Ok(out)
}

/// Whether the server is marked `down` in the block.
pub fn is_down(text: &str, upstream: &str, address: &str) -> Result<bool, UpstreamError> {
    let (start, end) = block(text, upstream)?;
    statements(&text[start..end])
        .into_iter()
        .map(|(_, body, _)| body.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&"server") && w.get(1) == Some(&address))
        .map(|w| w.iter().skip(2).any(|x| *x == "down"))
        .ok_or_else(|| UpstreamError::NoServer {
            upstream: upstream.into(),
            address: address.into(),
        })
}

/// Every `server` line of the block: its address and whether it is marked `down`.
pub fn servers(text: &str, upstream: &str) -> Result<Vec<(String, bool)>, UpstreamError> {
    let (start, end) = block(text, upstream)?;
    Ok(statements(&text[start..end])
        .into_iter()
        .map(|(_, body, _)| body.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.first() == Some(&"server"))
        .filter_map(|w| {
            let down = w.iter().skip(2).any(|x| *x == "down");
            w.get(1)
                .map(|a| (a.trim_end_matches(';').to_string(), down))
        })
        .collect())
}

fn remove_down(body: &str) -> String {
    // Drop the first " down" word, keeping the rest of the spacing as written.
    let mut out = String::new();
    let mut removed = false;
    for (i, part) in body.split(' ').enumerate() {
        if !removed && i > 0 && part == "down" {
            removed = true;
            continue;
        }
        if i > 0 {
            out.push(' ');
        }
        out.push_str(part);
    }
    out
}

/// Byte offset just after `upstream NAME {`.
fn find_upstream(text: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find("upstream") {
        let at = from + i;
        let rest = &text[at + "upstream".len()..];
        let mut words = rest.split_whitespace();
        if words.next() == Some(name) {
            let brace = rest.find('{')?;
            let between = &rest[..brace];
            if between.split_whitespace().collect::<Vec<_>>() == [name] {
                return Some(at + "upstream".len() + brace + 1);
            }
        }
        from = at + 1;
    }
    None
}

/// Offset of the `}` closing the block that starts at `start` (nested braces counted).
fn block_end(text: &str, start: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(start + i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Splits a block body into (leading whitespace/comments, statement without `;`, `;`+…).
fn statements(body: &str) -> Vec<(&str, &str, &str)> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        // Leading whitespace and comment lines.
        let mut lead = 0;
        loop {
            let r = &rest[lead..];
            let ws = r.len() - r.trim_start().len();
            lead += ws;
            if rest[lead..].starts_with('#') {
                lead += rest[lead..].find('\n').map_or(rest.len() - lead, |n| n + 1);
            } else {
                break;
            }
        }
        let r = &rest[lead..];
        match r.find(';') {
            Some(semi) => {
                out.push((&rest[..lead], &r[..semi], &r[semi..semi + 1]));
                rest = &r[semi + 1..];
            }
            None => {
                out.push((&rest[..lead], r, ""));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "upstream be_web {\n    ip_hash;\n    # web2 is the big one\n    server 10.77.0.21:80 max_fails=1 fail_timeout=2s;\n    server 10.77.0.22:80 max_fails=1 fail_timeout=2s;\n}\nserver { listen 80; }\n";

    #[test]
    fn every_server_line_is_listed_with_its_down_flag() {
        let drained = set_down(CONF, "be_web", "10.77.0.22:80", true).expect("drain");
        assert_eq!(
            servers(&drained, "be_web").expect("servers"),
            vec![
                ("10.77.0.21:80".to_string(), false),
                ("10.77.0.22:80".to_string(), true)
            ]
        );
        assert_eq!(
            servers(CONF, "be_api"),
            Err(UpstreamError::NoBlock("be_api".into()))
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
}
