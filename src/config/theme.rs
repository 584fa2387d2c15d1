//! Themes: semantic styles (master, draining, stale…) so panes never pick raw colours.
//! Bundled themes are embedded; files in `$XDG_CONFIG_HOME/lbdeck/themes/NAME.toml`
//! override a bundled theme of the same name or add new ones.

use std::path::PathBuf;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::{config_dir, parse_toml, ConfigError};

/// The themes shipped in the binary, as (name, TOML text). The first is the default.
pub const BUNDLED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    (
        "catppuccin-mocha",
        include_str!("../../themes/catppuccin-mocha.toml"),
    ),
    ("gruvbox", include_str!("../../themes/gruvbox.toml")),
];

/// A style as written in a theme: `"green bold"`, `"#cdd6f4 on #1e1e2e"`, `"reversed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StyleSpec(pub Style);

/// A theme style that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StyleError {
    /// `on` ends the style: the background colour is missing.
    #[error("expected a colour after `on` in {0:?}")]
    NoBackground(String),
    /// A word that is neither a colour nor a modifier.
    #[error(
        "unknown colour {word:?} in {style:?}; expected a name (red, lightblue, gray…), #rrggbb, \
         a 0-255 index, or a modifier (bold, dim, italic, underline, reversed)"
    )]
    UnknownColour {
        /// The word.
        word: String,
        /// The whole style it appeared in.
        style: String,
    },
}

impl FromStr for StyleSpec {
    type Err = StyleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut style = Style::default();
        let mut words = s.split_whitespace();
        while let Some(word) = words.next() {
            let modifier = match word {
                "bold" => Some(Modifier::BOLD),
                "dim" => Some(Modifier::DIM),
                "italic" => Some(Modifier::ITALIC),
                "underline" | "underlined" => Some(Modifier::UNDERLINED),
                "reversed" | "reverse" => Some(Modifier::REVERSED),
                "blink" => Some(Modifier::SLOW_BLINK),
                _ => None,
            };
            if let Some(m) = modifier {
                style = style.add_modifier(m);
            } else if word == "on" {
                let bg = words
                    .next()
                    .ok_or_else(|| StyleError::NoBackground(s.to_string()))?;
                style = style.bg(parse_color(bg, s)?);
            } else {
                style = style.fg(parse_color(word, s)?);
            }
        }
        Ok(StyleSpec(style))
    }
}

fn parse_color(word: &str, style: &str) -> Result<Color, StyleError> {
    Color::from_str(word).map_err(|_| StyleError::UnknownColour {
        word: word.to_string(),
        style: style.to_string(),
    })
}

impl<'de> Deserialize<'de> for StyleSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

macro_rules! theme_slots {
    ($( $(#[$doc:meta])* $field:ident ),* $(,)?) => {
        /// A theme file: every slot optional; missing slots come from the default theme.
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct ThemeFile {
            /// Shown when cycling themes; defaults to the file name.
            pub name: Option<String>,
            $( $(#[$doc])* pub $field: Option<StyleSpec>, )*
        }

        /// A resolved theme: one style per semantic slot.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Theme {
            /// The theme's name.
            pub name: String,
            $( $(#[$doc])* pub $field: Style, )*
        }

        impl Theme {
            fn resolve(name: String, file: &ThemeFile, base: Option<&Theme>) -> Theme {
                Theme {
                    name,
                    $( $field: file.$field.map(|s| s.0)
                        .or(base.map(|b| b.$field))
                        .unwrap_or_default(), )*
                }
            }

            /// The same theme with every colour removed (for NO_COLOR), keeping
            /// modifiers so states stay distinguishable; what a colour background
            /// marked (the selected row, badges, the alarm) becomes reverse video.
            pub fn without_colour(&self) -> Theme {
                let strip = |s: Style| Style { fg: None, bg: None, underline_color: None, ..s };
                let mut t = Theme {
                    name: self.name.clone(),
                    $( $field: strip(self.$field), )*
                };
                for slot in [
                    &mut t.highlight,
                    &mut t.alarm,
                    &mut t.production_frame,
                    &mut t.staging_frame,
                    &mut t.demo_badge,
                ] {
                    *slot = slot.add_modifier(Modifier::REVERSED);
                }
                t
            }
        }
    };
}

theme_slots! {
    /// Ordinary text.
    text,
    /// Secondary text: labels, units, hints.
    muted,
    /// Pane borders.
    border,
    /// The focused pane's border.
    border_focus,
    /// Pane titles.
    title,
    /// The selected row.
    highlight,
    /// Table headers.
    header,
    /// The key names in the status line and help.
    key,
    /// keepalived MASTER.
    master,
    /// keepalived BACKUP.
    backup,
    /// keepalived FAULT.
    fault,
    /// Healthy backend / balancer up.
    healthy,
    /// Partly working: a check failing, high latency.
    degraded,
    /// Down.
    down,
    /// Draining.
    draining,
    /// Administratively in maintenance.
    maint,
    /// A value that could not be refreshed.
    stale,
    /// The frame of a production cluster.
    production_frame,
    /// The frame of a staging cluster.
    staging_frame,
    /// Requests-per-second sparklines.
    sparkline,
    /// Connection sparklines.
    sparkline_alt,
    /// Alarm banner.
    alarm,
    /// The DEMO badge.
    demo_badge,
}

/// Every theme known: bundled ones overridden or extended by the user's theme directory.
#[derive(Debug, Clone)]
pub struct ThemeSet {
    /// Resolved themes, bundled order first, then user-only themes by name.
    pub themes: Vec<Theme>,
}

impl ThemeSet {
    /// Bundled themes plus those in `$XDG_CONFIG_HOME/lbdeck/themes/`.
    pub fn load() -> Result<ThemeSet, ConfigError> {
        Self::load_from(config_dir().map(|d| d.join("themes")))
    }

    /// Bundled themes plus those in `dir` (when it exists).
    pub fn load_from(dir: Option<PathBuf>) -> Result<ThemeSet, ConfigError> {
        let mut files: Vec<(String, ThemeFile)> = Vec::new();
        for (name, text) in BUNDLED {
            let file: ThemeFile = parse_toml(&format!("themes/{name}.toml"), text)?;
            files.push(((*name).to_string(), file));
        }
        if let Some(dir) = dir.filter(|d| d.is_dir()) {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| ConfigError::file(dir.display().to_string(), e.to_string()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            entries.sort();
            for path in entries {
                let (file, _): (ThemeFile, _) = super::read_toml(&path)?;
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match files.iter_mut().find(|(n, _)| *n == stem) {
                    Some(slot) => slot.1 = file,
                    None => files.push((stem, file)),
                }
            }
        }
        let base_file = files.first().map(|f| f.1.clone()).unwrap_or_default();
        let base = Theme::resolve("dark".into(), &base_file, None);
        let themes = files
            .iter()
            .map(|(n, f)| {
                Theme::resolve(f.name.clone().unwrap_or_else(|| n.clone()), f, Some(&base))
            })
            .collect();
        Ok(ThemeSet { themes })
    }

    /// Index of the theme called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.themes.iter().position(|t| t.name == name)
    }

    /// The theme for the terminal's background when none is named: `light` on a light
    /// background, else the first (dark) one. The background is read from `COLORFGBG`
    /// ("15;0": foreground;background, set by rxvt, Konsole, iTerm2 and others); asking
    /// the terminal itself (OSC 11) would race the console's own input, so a terminal
    /// that does not set it gets the dark default.
    pub fn for_background(&self, colorfgbg: Option<&str>) -> usize {
        let light = colorfgbg
            .and_then(|v| v.rsplit(';').next())
            .and_then(|bg| bg.trim().parse::<u8>().ok())
            // The 16-colour palette: 7 (white) and 9-15 (bright colours) are light.
            .is_some_and(|bg| bg == 7 || (9..=15).contains(&bg));
        if light {
            self.position("light").unwrap_or(0)
        } else {
            0
        }
    }

    /// The names, for error messages and `--help`.
    pub fn names(&self) -> Vec<String> {
        self.themes.iter().map(|t| t.name.clone()).collect()
    }
}

impl Default for Theme {
    fn default() -> Self {
        let file: ThemeFile = toml::from_str(BUNDLED[0].1).unwrap_or_default();
        Theme::resolve("dark".into(), &file, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_theme_parses_and_fills_every_slot() {
        let set = ThemeSet::load_from(None).expect("bundled themes parse");
        assert!(set.themes.len() >= 4);
        for t in &set.themes {
            assert_ne!(
                t.master, t.backup,
                "{}: master and backup must differ",
                t.name
            );
            assert_ne!(
                t.healthy, t.down,
                "{}: healthy and down must differ",
                t.name
            );
            assert!(t.production_frame.fg.is_some() || t.production_frame.bg.is_some());
        }
    }

    #[test]
    fn style_specs_parse_and_bad_colours_are_explained() {
        let s: StyleSpec = "green on #101010 bold".parse().expect("parses");
        assert_eq!(s.0.fg, Some(Color::Green));
        assert_eq!(s.0.bg, Some(Color::Rgb(16, 16, 16)));
        assert!(s.0.add_modifier.contains(Modifier::BOLD));
        let err = "grean".parse::<StyleSpec>().expect_err("rejected");
        assert_eq!(
            err,
            StyleError::UnknownColour {
                word: "grean".into(),
                style: "grean".into()
            }
        );
        assert!(err
            .to_string()
            .starts_with("unknown colour \"grean\" in \"grean\""));
        assert_eq!(
            "red on".parse::<StyleSpec>(),
            Err(StyleError::NoBackground("red on".into()))
        );
    }

    #[test]
    fn user_theme_overrides_by_name_and_unknown_slots_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("dark.toml"), "master = \"magenta\"\n").expect("write");
        let set = ThemeSet::load_from(Some(dir.path().to_path_buf())).expect("loads");
        assert_eq!(set.themes[0].master.fg, Some(Color::Magenta));
        std::fs::write(dir.path().join("mine.toml"), "mastr = \"red\"\n").expect("write");
        let err = ThemeSet::load_from(Some(dir.path().to_path_buf())).expect_err("rejected");
        assert!(err.to_string().contains("mine.toml:1:1"), "{err}");
        assert!(err.message.contains("unknown field `mastr`"), "{err}");
    }

    #[test]
    fn the_default_follows_the_terminal_background() {
        let set = ThemeSet::load_from(None).expect("bundled themes parse");
        let light = set.position("light").expect("light");
        assert_eq!(set.for_background(Some("0;15")), light);
        assert_eq!(set.for_background(Some("0;default;7")), light);
        assert_eq!(set.for_background(Some("15;0")), 0);
        assert_eq!(set.for_background(Some("7;8")), 0, "8 is dark grey");
        assert_eq!(set.for_background(Some("garbage")), 0);
        assert_eq!(set.for_background(None), 0);
        assert_eq!(set.themes[0].name, "dark");
    }

    #[test]
    fn no_colour_keeps_modifiers() {
        let t = Theme::default().without_colour();
        assert_eq!(t.master.fg, None);
        assert!(t.master.add_modifier.contains(Modifier::BOLD));
        for marked in [t.highlight, t.alarm, t.production_frame, t.demo_badge] {
            assert!(marked.add_modifier.contains(Modifier::REVERSED));
        }
    }
}
