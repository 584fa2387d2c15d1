//! The nginx access-log format a profile names (`access_log_format`): compiled once, so
//! the profile is refused at load when it cannot be read, and each log line is split
//! along it without allocating.

use thiserror::Error;

/// The log format lbdeck recommends (nginx `log_format lbdeck …`): combined plus the
/// upstream fields, quoted so multi-attempt values stay one field.
pub const DEFAULT_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time" rt=$request_time"#;

/// The variables lbdeck reads from a log line, in the order [`LogFormat::fields`] gives
/// them.
pub const WANTED: [&str; 4] = [
    "upstream_addr",
    "upstream_status",
    "upstream_response_time",
    "request_time",
];

/// Why a log format cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LogFormatError {
    /// `${name` without its closing brace.
    #[error("log format: unclosed ${{{0}")]
    Unclosed(String),
    /// Two variables with nothing between them cannot be told apart in a line.
    #[error("log format: ${0} and ${1} touch: put a separator between them")]
    Touching(String, String),
    /// Without the upstream address nothing can be counted per backend.
    #[error("log format: needs $upstream_addr to count traffic per backend")]
    NoUpstreamAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(String),
}

/// A compiled nginx `log_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    parts: Vec<Part>,
}

impl LogFormat {
    /// Compiles a format; it must contain `$upstream_addr`.
    pub fn parse(format: &str) -> Result<LogFormat, LogFormatError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' {
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced && chars.next() != Some('}') {
                    return Err(LogFormatError::Unclosed(name));
                }
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                }
                if let Some(Part::Var(prev)) = parts.last() {
                    return Err(LogFormatError::Touching(prev.clone(), name));
                }
                parts.push(Part::Var(name));
            } else {
                lit.push(c);
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        if !parts
            .iter()
            .any(|p| *p == Part::Var("upstream_addr".into()))
        {
            return Err(LogFormatError::NoUpstreamAddr);
        }
        Ok(LogFormat { parts })
    }

    /// The values of the [`WANTED`] variables in a line (in that order); None when the
    /// line does not match the format. Runs once per request: no allocation.
    pub fn fields<'a>(&self, line: &'a str) -> Option<[Option<&'a str>; 4]> {
        let mut out = [None; 4];
        let mut rest = line;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Var(name) => {
                    let value = match self.parts.get(i + 1) {
                        Some(Part::Literal(next)) => {
                            let end = rest.find(next.as_str())?;
                            &rest[..end]
                        }
                        _ => rest,
                    };
                    if let Some(slot) = WANTED.iter().position(|w| *w == name) {
                        out[slot] = Some(value);
                    }
                    rest = &rest[value.len()..];
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_checked() {
        assert_eq!(
            LogFormat::parse("$remote_addr $status"),
            Err(LogFormatError::NoUpstreamAddr)
        );
        assert_eq!(
            LogFormat::parse("$upstream_addr$status"),
            Err(LogFormatError::Touching(
                "upstream_addr".into(),
                "status".into()
            ))
        );
        assert_eq!(
            LogFormat::parse("${upstream_addr").map_err(|e| e.to_string()),
            Err("log format: unclosed ${upstream_addr".into())
        );
        let f = LogFormat::parse("${upstream_addr}|$upstream_status|$upstream_response_time")
            .expect("braced");
        assert_eq!(
            f.fields("10.0.0.1:80|200|0.010"),
            Some([Some("10.0.0.1:80"), Some("200"), Some("0.010"), None])
        );
        assert_eq!(f.fields("no separators"), None);
    }
}
