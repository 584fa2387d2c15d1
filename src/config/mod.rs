//! Configuration: profiles (one cluster per file), themes and keymaps. Each file is read
//! into strict serde structs (`deny_unknown_fields`) and resolved into typed values; every
//! error names the file, line and column and says what was expected.

pub mod log_format;
pub mod profile;
pub mod theme;

use std::ops::Range;
use std::path::{Path, PathBuf};

/// A configuration file that could not be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", place(.position))]
pub struct ConfigError {
    /// The file, as the operator named it or as it was found.
    pub file: String,
    /// 1-based line and column, when the problem has a place in the file.
    pub position: Option<(usize, usize)>,
    /// One sentence: what is wrong and what was expected.
    pub message: String,
}

/// `:line:col`, or nothing for a problem with the whole file.
fn place(position: &Option<(usize, usize)>) -> String {
    position.map_or(String::new(), |(line, col)| format!(":{line}:{col}"))
}

impl ConfigError {
    /// An error about the file as a whole (missing, unreadable).
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            position: None,
            message: message.into(),
        }
    }

    /// An error at a byte span of the file's text.
    pub fn at(
        file: impl Into<String>,
        text: &str,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            position: Some(line_col(text, span.start)),
            message: message.into(),
        }
    }

    /// Turns a TOML/serde error into one line with its position.
    pub fn from_toml(file: impl Into<String>, text: &str, err: &toml::de::Error) -> Self {
        let message = one_line(err.message());
        match err.span() {
            Some(span) => Self::at(file, text, span, message),
            None => Self::file(file, message),
        }
    }
}

/// Collapses a possibly multi-line message into one line, without trailing punctuation noise.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// 1-based (line, column) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Reads a TOML file into `T`, mapping every failure to a [`ConfigError`].
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::file(&shown, format!("cannot read the file: {e}")))?;
    let value = parse_toml(&shown, &text)?;
    Ok((value, text))
}

/// Parses TOML text into `T`; `file` names it in errors.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, &e))
}

/// `$XDG_CONFIG_HOME/lbdeck` (or `~/.config/lbdeck`), when a home can be found.
pub fn config_dir() -> Option<PathBuf> {
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy()
        .ok()
        .map(|s| s.config_dir().join("lbdeck"))
}

/// `$XDG_STATE_HOME/lbdeck` (or `~/.local/state/lbdeck`): logs, audit trail.
pub fn state_dir() -> Option<PathBuf> {
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy()
        .ok()
        .map(|s| s.state_dir().unwrap_or_else(|| s.data_dir()).join("lbdeck"))
}

/// Expands a leading `~/` to the home directory.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 4));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn an_error_reads_file_line_column_then_why() {
        let at = ConfigError::at("p.toml", "a = 1\nb = x\n", 10..11, "expected a number");
        assert_eq!(at.to_string(), "p.toml:2:5: expected a number");
        let whole = ConfigError::file("p.toml", "cannot read the file");
        assert_eq!(whole.to_string(), "p.toml: cannot read the file");
    }
}
