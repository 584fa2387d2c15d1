//! Keymaps: `keys.toml` maps action names to key lists, e.g. `quit = ["q", "ctrl-c"]`.
//! A user binding replaces the default keys of that action and takes the key from any
//! other action that had it.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

use crate::action::Action;
use crate::config::{parse_toml, ConfigError};

/// A key spelling the keymap does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown key {0:?}; expected a character, up/down/left/right, tab, shift-tab, enter, \
     esc, space, pgup/pgdn, home/end, f1-f12, optionally after ctrl- or alt-"
)]
pub struct UnknownKey(pub String);

/// A key as written in a keymap: `q`, `Q`, `ctrl-c`, `shift-tab`, `pgdn`, `f1`, `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl / Alt (Shift is folded into the character for printable keys).
    pub mods: KeyModifiers,
}

impl Key {
    /// Normalises a terminal key event so it matches keymap entries.
    pub fn from_event(ev: &KeyEvent) -> Key {
        let mut mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match ev.code {
            KeyCode::BackTab => KeyCode::BackTab,
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        if matches!(code, KeyCode::BackTab) {
            mods = KeyModifiers::NONE;
        }
        Key { code, mods }
    }

    /// Parses the keymap spelling of a key.
    pub fn parse(s: &str) -> Result<Key, UnknownKey> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "tab" => KeyCode::Tab,
            "shift-tab" | "backtab" => KeyCode::BackTab,
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            f if f.starts_with('f')
                && f.len() > 1
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
            {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            c if c.chars().count() == 1 => {
                let ch = c.chars().next().unwrap_or(' ');
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                    ch.to_ascii_lowercase()
                } else {
                    ch
                })
            }
            _ => return Err(UnknownKey(s.to_string())),
        };
        Ok(Key { code, mods })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("S-Tab"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The keymap file: action name -> keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeymapFile {
    /// Bindings; every name must be a bindable action.
    #[serde(default)]
    pub keys: HashMap<Action, Vec<String>>,
}

impl std::hash::Hash for Action {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl Eq for Action {}

/// Resolved bindings.
#[derive(Debug, Clone)]
pub struct Keymap {
    map: HashMap<Key, Action>,
    /// The file the bindings were read from; none for the defaults.
    file: Option<String>,
}

/// The defaults, following htop/k9s habits.
const DEFAULTS: &[(&str, Action)] = &[
    ("q", Action::Quit),
    ("ctrl-c", Action::Quit),
    ("?", Action::Help),
    ("f1", Action::Help),
    ("up", Action::Up),
    ("k", Action::Up),
    ("down", Action::Down),
    ("j", Action::Down),
    ("pgup", Action::PageUp),
    ("ctrl-b", Action::PageUp),
    ("pgdn", Action::PageDown),
    ("ctrl-f", Action::PageDown),
    ("home", Action::Top),
    ("g", Action::Top),
    ("end", Action::Bottom),
    ("G", Action::Bottom),
    ("tab", Action::NextPane),
    ("shift-tab", Action::PrevPane),
    ("/", Action::Filter),
    (">", Action::SortNext),
    ("o", Action::SortNext),
    ("<", Action::SortReverse),
    ("O", Action::SortReverse),
    ("t", Action::CycleTheme),
    ("ctrl-r", Action::Refresh),
    ("c", Action::TrafficMetric),
    ("s", Action::Shell),
    ("d", Action::Drain),
    ("u", Action::Undrain),
    ("r", Action::Undrain),
    ("m", Action::Maint),
    ("+", Action::WeightUp),
    ("=", Action::WeightUp),
    ("-", Action::WeightDown),
    ("]", Action::WeightUpTen),
    ("[", Action::WeightDownTen),
    ("0", Action::WeightInitial),
    ("K", Action::KillSessions),
    ("H", Action::HealthChecks),
    ("space", Action::Mark),
    ("U", Action::ClearMarks),
    ("R", Action::Roll),
    ("F", Action::Failover),
    ("B", Action::Failback),
    ("A", Action::Audit),
    ("!", Action::Alerts),
    ("enter", Action::Detail),
    (":", Action::Runtime),
    ("C", Action::Clusters),
    ("esc", Action::Back),
];

impl Default for Keymap {
    fn default() -> Self {
        let map = DEFAULTS
            .iter()
            .filter_map(|(k, a)| Key::parse(k).ok().map(|k| (k, a.clone())))
            .collect();
        Keymap { map, file: None }
    }
}

impl Keymap {
    /// The file the bindings were read from; none when they are the defaults.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The action bound to a key event, if any.
    pub fn action(&self, ev: &KeyEvent) -> Option<&Action> {
        self.map.get(&Key::from_event(ev))
    }

    /// The keys bound to an action, sorted for display.
    pub fn keys_for(&self, action: &Action) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .map
            .iter()
            .filter(|(_, a)| *a == action)
            .map(|(k, _)| *k)
            .collect();
        // Plain letters first (what people type), then symbols, then named and chorded keys.
        keys.sort_by_key(|k| {
            let s = k.to_string();
            let letter = matches!(k.code, KeyCode::Char(c) if c.is_ascii_alphanumeric());
            (k.mods.bits(), s.chars().count() > 1, !letter, s)
        });
        keys
    }

    /// The first key for an action, as shown in hints ("?" for help).
    pub fn hint(&self, action: &Action) -> String {
        self.keys_for(action)
            .first()
            .map(Key::to_string)
            .unwrap_or_else(|| "—".into())
    }

    /// Defaults with a keymap file's text applied; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Keymap, ConfigError> {
        let raw: KeymapFile = parse_toml(file, text)?;
        let mut km = Keymap {
            file: Some(file.to_string()),
            ..Keymap::default()
        };
        let mut taken: HashMap<Key, Action> = HashMap::new();
        for (action, keys) in &raw.keys {
            km.map.retain(|_, a| a != action);
            for spelled in keys {
                let key =
                    Key::parse(spelled).map_err(|e| locate(file, text, spelled, e.to_string()))?;
                if let Some(other) = taken.get(&key).filter(|o| *o != action) {
                    return Err(locate(
                        file,
                        text,
                        spelled,
                        format!(
                            "key {spelled:?} is bound to both {} and {}",
                            other.name(),
                            action.name()
                        ),
                    ));
                }
                taken.insert(key, action.clone());
            }
        }
        for (key, action) in taken {
            km.map.insert(key, action);
        }
        Ok(km)
    }

    /// Reads a keymap file, or the defaults when `path` does not exist and was not named
    /// by the operator.
    pub fn load(path: &Path, must_exist: bool) -> Result<Keymap, ConfigError> {
        if !path.exists() && !must_exist {
            return Ok(Keymap::default());
        }
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::file(&shown, format!("cannot read the keymap: {e}")))?;
        Keymap::parse(&shown, &text)
    }
}

/// Places an error at the first quoted occurrence of `spelled` in the file.
fn locate(file: &str, text: &str, spelled: &str, message: String) -> ConfigError {
    let needle = format!("\"{spelled}\"");
    match text.find(&needle) {
        Some(at) => ConfigError::at(file, text, at..at + needle.len(), message),
        None => ConfigError::file(file, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn defaults_follow_htop_and_k9s() {
        let km = Keymap::default();
        assert_eq!(
            km.action(&ev(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(&Action::Down)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(&Action::Quit)
        );
        assert_eq!(
            km.action(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(&Action::PrevPane)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(&Action::Bottom)
        );
    }

    #[test]
    fn a_user_binding_replaces_the_defaults_of_its_action() {
        let km = Keymap::parse(
            "k.toml",
            "[keys]\nquit = [\"x\"]\ndown = [\"n\", \"down\"]\n",
        )
        .expect("parses");
        assert_eq!(
            km.action(&ev(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(&Action::Quit)
        );
        assert_eq!(km.action(&ev(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        assert_eq!(km.action(&ev(KeyCode::Char('j'), KeyModifiers::NONE)), None);
        assert_eq!(
            km.action(&ev(KeyCode::Char('n'), KeyModifiers::NONE)),
            Some(&Action::Down)
        );
    }

    #[test]
    fn bad_keymaps_are_explained_with_a_position() {
        let err = Keymap::parse("k.toml", "[keys]\nquit = [\"hyper-q\"]\n").expect_err("rejected");
        assert_eq!(err.position, Some((2, 9)));
        assert!(err.message.contains("unknown key \"hyper-q\""));
        let err = Keymap::parse("k.toml", "[keys]\nexplode = [\"x\"]\n").expect_err("rejected");
        assert!(err.message.contains("unknown variant `explode`"), "{err}");
        let err = Keymap::parse("k.toml", "[keys]\nquit = [\"x\"]\nhelp = [\"x\"]\n")
            .expect_err("rejected");
        assert!(err.message.contains("bound to both"), "{err}");
    }
}
