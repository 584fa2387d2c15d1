//! `demo.tape` replayed: every command of the VHS tape is parsed and played in tmux
//! against `lbdeck demo` (typed at a real shell prompt, as VHS would), and every `Wait`
//! is checked on the screen. A tape line this test does not understand fails it, so the
//! tape cannot drift from the product.

mod common;

use std::time::{Duration, Instant};

use common::{assert_fits, bin, Tmux};

/// What the replay does with one line of the tape.
#[derive(Debug, PartialEq)]
enum Step {
    /// Literal text typed.
    Type(String),
    /// A tmux key name, pressed `n` times.
    Key(String, usize),
    /// A pause (capped in the replay: the `Wait`s are what synchronise).
    Sleep(Duration),
    /// Wait until a regex matches the screen (or the cursor's line).
    Wait {
        regex: String,
        timeout: Duration,
        screen: bool,
    },
    /// A program the tape needs on PATH.
    Require(String),
    /// Settings and output: nothing to replay.
    Nothing,
}

fn duration(s: &str, line: usize) -> Duration {
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.parse().unwrap_or_else(|_| {
        panic!("demo.tape:{line}: expected a duration like 2s or 500ms, found {s:?}")
    });
    match unit {
        "ms" => Duration::from_secs_f64(n / 1000.0),
        "s" => Duration::from_secs_f64(n),
        "m" => Duration::from_secs_f64(n * 60.0),
        _ => panic!("demo.tape:{line}: unknown unit in {s:?}"),
    }
}

fn quoted(rest: &str, line: usize) -> String {
    let rest = rest.trim();
    let q = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'));
    let Some(q) = q else {
        panic!("demo.tape:{line}: expected a quoted string, found {rest:?}")
    };
    let body = &rest[1..];
    let end = body
        .rfind(q)
        .unwrap_or_else(|| panic!("demo.tape:{line}: unterminated string {rest:?}"));
    body[..end].to_string()
}

/// tmux's name for a VHS key.
fn tmux_key(name: &str) -> Option<String> {
    if let Some(k) = name.strip_prefix("Ctrl+") {
        return Some(format!("C-{}", k.to_lowercase()));
    }
    let k = match name {
        "Enter" => "Enter",
        "Tab" => "Tab",
        "Escape" => "Escape",
        "Up" => "Up",
        "Down" => "Down",
        "Left" => "Left",
        "Right" => "Right",
        "Backspace" => "BSpace",
        "Space" => "Space",
        "PageUp" => "PageUp",
        "PageDown" => "PageDown",
        _ => return None,
    };
    Some(k.to_string())
}

/// Parses the tape; panics with `demo.tape:LINE: …` on anything unknown.
fn parse(tape: &str) -> Vec<(usize, Step)> {
    let mut steps = Vec::new();
    for (i, raw) in tape.lines().enumerate() {
        let n = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (word, rest) = l.split_once(' ').unwrap_or((l, ""));
        // `Type@100ms "…"`, `Down@200ms 3`: the speed does not matter to the replay.
        let (word, _speed) = word
            .split_once('@')
            .map_or((word, None), |(w, s)| (w, Some(s)));
        let step = match word {
            "Output" | "Set" | "Hide" | "Show" | "Screenshot" | "Source" | "Env" => Step::Nothing,
            "Require" => Step::Require(rest.trim().to_string()),
            "Type" => Step::Type(quoted(rest, n)),
            "Sleep" => Step::Sleep(duration(rest.trim(), n)),
            w if w.starts_with("Wait") => {
                let (mods, timeout) = match l.split_once(' ').map(|(w, _)| w) {
                    Some(head) => match head.split_once('@') {
                        Some((m, t)) => (m.to_string(), duration(t, n)),
                        None => (head.to_string(), Duration::from_secs(15)),
                    },
                    None => (l.to_string(), Duration::from_secs(15)),
                };
                let screen = match mods.as_str() {
                    "Wait" | "Wait+Line" => false,
                    "Wait+Screen" => true,
                    other => panic!("demo.tape:{n}: unknown Wait form {other:?}"),
                };
                let re = rest.trim();
                assert!(
                    re.len() >= 2 && re.starts_with('/') && re.ends_with('/'),
                    "demo.tape:{n}: expected /regex/ after {mods}, found {re:?}"
                );
                Step::Wait {
                    regex: re[1..re.len() - 1].replace("\\/", "/"),
                    timeout,
                    screen,
                }
            }
            key => {
                let k = tmux_key(key).unwrap_or_else(|| {
                    panic!("demo.tape:{n}: unknown command {key:?} (the replay test knows Output, Require, Set, Type, Sleep, Wait, Hide, Show and key names)")
                });
                let count = if rest.trim().is_empty() {
                    1
                } else {
                    rest.trim().parse().unwrap_or_else(|_| {
                        panic!("demo.tape:{n}: expected a repeat count after {key}, found {rest:?}")
                    })
                };
                Step::Key(k, count)
            }
        };
        steps.push((n, step));
    }
    steps
}

#[test]
fn the_parser_reads_vhs_syntax_and_rejects_what_it_does_not_know() {
    let steps = parse(
        "# c\nOutput x.gif\nType \"a b\"\nType@10ms 'q'\nDown 3\nCtrl+C\nSleep 500ms\n\
         Wait+Screen@2s /web3 drained/\nWait /\\$ $/\n",
    );
    let got: Vec<Step> = steps.into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        got,
        vec![
            Step::Nothing,
            Step::Type("a b".into()),
            Step::Type("q".into()),
            Step::Key("Down".into(), 3),
            Step::Key("C-c".into(), 1),
            Step::Sleep(Duration::from_millis(500)),
            Step::Wait {
                regex: "web3 drained".into(),
                timeout: Duration::from_secs(2),
                screen: true
            },
            Step::Wait {
                regex: "\\$ $".into(),
                timeout: Duration::from_secs(15),
                screen: false
            },
        ]
    );
    let unknown = std::panic::catch_unwind(|| parse("Type \"x\"\nFrobnicate 3\n"));
    let msg = unknown
        .err()
        .and_then(|e| e.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        msg.contains("demo.tape:2: unknown command \"Frobnicate\""),
        "{msg}"
    );
}

/// The line the cursor is on, for `Wait` without `+Screen` (VHS's default).
fn last_line(screen: &str) -> String {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

#[test]
fn demo_tape_replays_against_the_demo() {
    let tape = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo.tape"))
        .expect("demo.tape at the top level");
    let steps = parse(&tape);
    assert!(
        steps
            .iter()
            .filter(|(_, s)| matches!(s, Step::Wait { .. }))
            .count()
            >= 10,
        "the tape checks the screen at each step"
    );
    let home = tempfile::tempdir().expect("tempdir");
    let bin_dir = std::path::Path::new(bin()).parent().expect("bin dir");
    let (w, h) = (120u16, 32u16);
    let t = Tmux::start(
        &format!(
            "env -i PATH={0}:/usr/bin:/bin HOME={1} XDG_STATE_HOME={1}/state XDG_CONFIG_HOME={1}/config \
             TERM=xterm-256color PS1='$ ' bash --norc --noprofile -i",
            bin_dir.display(),
            home.path().display()
        ),
        w,
        h,
    );
    t.wait_for("the shell prompt", Duration::from_secs(5), |s| {
        last_line(s).starts_with('$')
    });
    let started = Instant::now();
    for (n, step) in steps {
        match step {
            Step::Nothing => {}
            Step::Require(prog) => {
                let found = std::env::split_paths(&format!("{}:/usr/bin:/bin", bin_dir.display()))
                    .any(|d| d.join(&prog).exists());
                assert!(found, "demo.tape:{n}: Require {prog}: not on PATH");
            }
            Step::Type(text) => t.type_text(&text),
            Step::Key(k, count) => {
                for _ in 0..count {
                    t.keys(&[&k]);
                    // tmux would otherwise merge Escape and the next key into Alt+key.
                    std::thread::sleep(Duration::from_millis(40));
                }
            }
            Step::Sleep(d) => std::thread::sleep(d.min(Duration::from_millis(300))),
            Step::Wait {
                regex,
                timeout,
                screen,
            } => {
                let re = regex::Regex::new(&regex)
                    .unwrap_or_else(|e| panic!("demo.tape:{n}: bad regex /{regex}/: {e}"));
                let s = t.wait_for(&format!("demo.tape:{n}: /{regex}/"), timeout, |s| {
                    if screen {
                        s.lines().any(|l| re.is_match(l))
                    } else {
                        re.is_match(&last_line(s))
                    }
                });
                assert_fits(&s, w as usize, h as usize);
            }
        }
    }
    // After `q` the console is gone and the shell prompt is back.
    let s = t.wait_for("the prompt after q", Duration::from_secs(5), |s| {
        last_line(s).starts_with('$') && !s.contains("Backends")
    });
    assert!(!s.contains("panicked"), "{s}");
    eprintln!(
        "demo.tape replayed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let audit = std::fs::read_to_string(home.path().join("state/lbdeck/demo-audit.jsonl"))
        .expect("the tape's actions are audited");
    let actions: Vec<&str> = audit
        .lines()
        .filter_map(|l| l.split("\"action\":\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .collect();
    assert_eq!(actions, vec!["drain", "failover", "shell"], "{audit}");
}
