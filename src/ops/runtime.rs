//! The runtime prompt: a raw HAProxy runtime-API command sent to one or every HAProxy of
//! the pair, its answer kept per balancer (sanitised, bounded) for the screen and the
//! audit. `show`, `get` and `help` only read: they run at once, unaudited, under
//! `--read-only` too. Anything else may change the balancer and is an operation like
//! the others: confirmed, audited, refused under `--read-only`.

use serde_json::{json, Value};

use super::drain::{api_timeout, with_timeout, StepError};
use super::plan::{Check, CheckState, PlanError};
use super::{Outcome, Report};
use crate::config::profile::{BalancerKind, BalancerSettings, Profile, StatusEndpoint};
use crate::wire::api::ApiTarget;

/// The first words of the commands that only read.
pub const FREE: [&str; 3] = ["show", "get", "help"];

/// How much of one balancer's answer is kept: `show stat` of a few thousand servers fits,
/// and a runaway answer cannot fill the console's memory or the audit log.
pub const MAX_ANSWER: usize = 512 * 1024;

/// Where a read's report says its audit line went: reads are not audited.
pub const NOT_AUDITED: &str = "not audited: show, get and help only read";

/// Why a command line is not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Nothing but blanks.
    #[error("no command given: try help, show info, get weight BACKEND/SERVER")]
    Empty,
    /// A line break or another control character: HAProxy would read a second line.
    #[error("a runtime command is one line of text: control characters are not sent")]
    Control,
    /// `prompt` would keep HAProxy's session open, waiting for more lines.
    #[error("prompt keeps HAProxy's session open: lbdeck sends one command line per connection")]
    Prompt,
}

/// The command as sent: trimmed, one line, not empty.
pub fn check(command: &str) -> Result<String, CommandError> {
    let command = command.trim();
    if command.is_empty() {
        return Err(CommandError::Empty);
    }
    if command.chars().any(char::is_control) {
        return Err(CommandError::Control);
    }
    if command
        .split(';')
        .any(|p| p.split_whitespace().next() == Some("prompt"))
    {
        return Err(CommandError::Prompt);
    }
    Ok(command.to_string())
}

/// Whether every command of the line (HAProxy runs `a; b` as two) only reads. An
/// escaped `\;` is split too: that can only make a read look like a change, never the
/// other way round.
pub fn is_free(command: &str) -> bool {
    let mut parts = command.split(';').map(str::trim).filter(|p| !p.is_empty());
    let mut any = false;
    let free = parts.all(|p| {
        any = true;
        p.split_whitespace()
            .next()
            .is_some_and(|w| FREE.contains(&w))
    });
    free && any
}

/// The balancers a command goes to: the one named, or every balancer of the profile (a
/// balancer without a runtime API then says why instead of answering).
pub fn targets(profile: &Profile, balancer: Option<&str>) -> Result<Vec<String>, PlanError> {
    let all: Vec<String> = profile.balancers().map(|b| b.name.clone()).collect();
    match balancer {
        None => Ok(all),
        Some(name) if all.iter().any(|b| b == name) => Ok(vec![name.to_string()]),
        Some(name) => Err(PlanError::NoBalancer {
            name: name.to_string(),
            known: all.join(", "),
        }),
    }
}

/// Why a balancer takes no runtime command, in one sentence; None for an HAProxy with a
/// runtime API.
pub fn unreachable(b: &BalancerSettings) -> Option<String> {
    match (b.kind, b.status_endpoint()) {
        (BalancerKind::Haproxy, StatusEndpoint::RuntimeApi(_)) => None,
        (BalancerKind::Haproxy, _) => Some(super::drain::NO_RUNTIME_API.to_string()),
        (kind, _) => Some(format!(
            "{kind} has no runtime API: the runtime prompt speaks to HAProxy only"
        )),
    }
}

/// The plan's checks: each balancer's runtime API (a balancer without one blocks a
/// change, so it is sent everywhere or nowhere).
pub fn checks(profile: &Profile, balancers: &[String]) -> Vec<Check> {
    profile
        .balancers()
        .filter(|b| balancers.contains(&b.name))
        .map(|b| match (unreachable(b), b.status_endpoint()) {
            (Some(why), _) => Check {
                state: CheckState::Failed,
                what: format!("{}: {why}", b.name),
                forceable: false,
            },
            (None, endpoint) => Check {
                state: CheckState::Passed,
                what: format!("{}: {endpoint}", b.name),
                forceable: false,
            },
        })
        .collect()
}

/// HAProxy's answer, made safe and bounded: line ends and tabs as a terminal shows them,
/// control characters escaped, cut at a line past [`MAX_ANSWER`] with a note.
pub fn clean(answer: &str) -> String {
    let text = answer
        .replace("\r\n", "\n")
        .replace('\t', "    ")
        .trim_end()
        .to_string();
    if text.len() <= MAX_ANSWER {
        return crate::text::sanitize_multiline(&text);
    }
    let mut end = MAX_ANSWER;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').unwrap_or(end);
    let kept = crate::text::sanitize_multiline(&text[..end]);
    format!(
        "{kept}\n… (cut: only the first {} KiB are kept)",
        MAX_ANSWER / 1024
    )
}

/// Whether an answer is HAProxy refusing the command, and its sentence: the CLI answers
/// errors as text, so the first line is read for HAProxy's usual refusals.
pub fn refusal(command: &str, answer: &str) -> Option<String> {
    const REFUSALS: [&str; 9] = [
        "Unknown command",
        "Permission denied",
        "No such ",
        "Require ",
        "Missing ",
        "Invalid ",
        "Unable to ",
        "Can't ",
        "Cannot ",
    ];
    // Versions before 2.4 answer `help` with the unknown-command preamble.
    if command.split_whitespace().next() == Some("help") {
        return None;
    }
    let first = answer.lines().map(str::trim).find(|l| !l.is_empty())?;
    let refused = REFUSALS.iter().any(|r| first.starts_with(r)) || first.contains(" expects ");
    refused.then(|| crate::text::clip(first, 160))
}

/// What one balancer answered, from a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The balancer.
    pub balancer: String,
    /// HAProxy's answer, sanitised (empty when it said nothing or could not be asked).
    pub text: String,
    /// Why it did not take the command: HAProxy's refusal, the transport's failure, or
    /// why the balancer has no runtime API.
    pub failed: Option<String>,
}

/// Every targeted balancer's answer, in profile order.
pub fn answers(r: &Report) -> Vec<Answer> {
    r.balancers
        .iter()
        .map(|name| {
            let v = &r.after[name.as_str()];
            Answer {
                balancer: name.clone(),
                text: v["answer"].as_str().unwrap_or_default().to_string(),
                failed: v["error"].as_str().map(crate::text::sentence),
            }
        })
        .collect()
}

/// What sending did on every targeted balancer.
pub struct Sent {
    /// The balancers asked, in profile order.
    pub balancers: Vec<String>,
    /// Per balancer: `{"answer": …}`, with `"error"` when it did not take the command.
    pub answers: Value,
    /// How it ended.
    pub outcome: Outcome,
}

/// Sends `command` to each of `balancers` at once, each on a connection of its own
/// within the profile's timeout; a socket on the balancer is reached through `pool`.
pub async fn send(
    profile: &Profile,
    balancers: &[String],
    command: &str,
    pool: Option<&crate::ssh::Pool>,
) -> Sent {
    let work = profile
        .balancers()
        .filter(|b| balancers.contains(&b.name))
        .map(|b| async move {
            if let Some(why) = unreachable(b) {
                return (b.name.clone(), json!({ "error": why }), Err(why));
            }
            let StatusEndpoint::RuntimeApi(api) = b.status_endpoint() else {
                let why = super::drain::NO_RUNTIME_API.to_string();
                return (b.name.clone(), json!({ "error": why }), Err(why));
            };
            let within = api_timeout(&api, profile.timeout);
            let target = ApiTarget::new(&api, &b.host, pool);
            let asked = with_timeout(within, async {
                Ok::<_, StepError>(target.ask(command).await?.0)
            })
            .await;
            match asked {
                Ok(text) => match refusal(command, &text) {
                    Some(why) => (
                        b.name.clone(),
                        json!({ "answer": clean(&text), "error": why }),
                        Err(why),
                    ),
                    None => (b.name.clone(), json!({ "answer": clean(&text) }), Ok(())),
                },
                Err(e) => {
                    let why = crate::text::sentence(&e.to_string());
                    (b.name.clone(), json!({ "error": why }), Err(why))
                }
            }
        });
    let results = futures::future::join_all(work).await;
    let mut answers = serde_json::Map::new();
    let mut done = Vec::new();
    for (name, answer, result) in results {
        answers.insert(name.clone(), answer);
        done.push((name, result));
    }
    Sent {
        balancers: done.iter().map(|(n, _)| n.clone()).collect(),
        answers: Value::Object(answers),
        outcome: Outcome::from_targets(&done),
    }
}

/// `lbdeck runtime`: sends `command` to `balancer` (every balancer when None) and prints
/// each balancer's answer under its name. A read runs at once; a change is planned,
/// confirmed (`--yes`, `--confirm NAME`), refused under `--read-only`, and audited.
/// Returns the exit code: 0 taken by every balancer, 1 not by every one, 2 no such
/// balancer or no command, 3 refused.
pub async fn act(
    profile: &Profile,
    balancer: Option<String>,
    command: &str,
    opts: &super::cli::Options,
) -> u8 {
    use super::cli::{confirmed, refused, EXIT_REFUSED, EXIT_USAGE};
    let command = match check(command) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lbdeck: {e}");
            return EXIT_USAGE;
        }
    };
    let op = super::Operation::Runtime { balancer, command };
    // The plan of a runtime command reads only the profile.
    let plan = match super::plan(profile, &crate::model::Cluster::new(profile), &op, None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lbdeck: {e}");
            return EXIT_USAGE;
        }
    };
    if !op.is_read() {
        if opts.read_only {
            let why = "--read-only: only show, get and help may be sent".to_string();
            return refused(profile, &op, &plan.target, why);
        }
        for c in &plan.checks {
            crate::outln!("  {} {}", c.mark(), c.what);
        }
        let blockers = plan.blockers(false);
        if !blockers.is_empty() {
            let why = format!("pre-checks failed: {}", blockers.join("; "));
            return refused(profile, &op, &plan.target, why);
        }
        let question = format!("{op} to {}?", plan.balancers.join(", "));
        if let Err(why) = confirmed(&plan.confirmation, &question, opts) {
            return refused(profile, &op, &plan.target, why);
        }
    }
    let pool = super::cli::connect(profile);
    let r = super::execute(profile, &plan, Some(&pool), Vec::new(), &|_| {}).await;
    for a in answers(&r) {
        crate::outln!("== {} ==", crate::text::sanitize(&a.balancer));
        if !a.text.is_empty() {
            crate::outln!("{}", a.text);
        }
        if let Some(why) = &a.failed {
            crate::outln!("✗ {}: {why}", crate::text::sanitize(&a.balancer));
        }
    }
    if !op.is_read() {
        crate::outln!("{op}: {} in {} ms", r.outcome, r.took.as_millis());
        crate::outln!("{}", r.audit);
    }
    match r.outcome {
        Outcome::Done => 0,
        Outcome::Refused { .. } => EXIT_REFUSED,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_get_and_help_are_free_everything_else_is_a_change() {
        for free in [
            "show info",
            "help",
            "get weight be_web/web1",
            "show stat; show info",
            "show servers state be_web;",
        ] {
            assert!(is_free(free), "{free}");
        }
        for change in [
            "set server be_web/web1 weight 50",
            "disable server be_web/web1",
            "show info; shutdown sessions server be_web/web1",
            "shutdown session 0x1234",
            "showx info",
            "SHOW info",
            ";",
            "clear counters all",
        ] {
            assert!(!is_free(change), "{change}");
        }
    }

    #[test]
    fn a_command_is_one_non_empty_line() {
        assert_eq!(check("  show info \n").as_deref(), Ok("show info"));
        assert_eq!(check("   "), Err(CommandError::Empty));
        assert_eq!(
            check("show info\nset server be_web/web1 state maint"),
            Err(CommandError::Control)
        );
        assert_eq!(check("show\x1b[2J"), Err(CommandError::Control));
        assert_eq!(check("prompt; show info"), Err(CommandError::Prompt));
        assert_eq!(check("show info; prompt"), Err(CommandError::Prompt));
    }

    #[test]
    fn answers_are_sanitised_and_bounded() {
        assert_eq!(clean("a\tb\r\nc\x1b[2J\n\n"), "a    b\nc\\x1b[2J");
        let long = "x".repeat(100) + "\n";
        let big = long.repeat(MAX_ANSWER / 100 + 10);
        let kept = clean(&big);
        assert!(kept.len() <= MAX_ANSWER + 100, "{}", kept.len());
        assert!(kept.ends_with("… (cut: only the first 512 KiB are kept)"));
        assert!(kept.lines().rev().nth(1).is_some_and(|l| l.len() == 100));
    }

    #[test]
    fn haproxys_refusals_are_read_from_the_first_line() {
        // HAProxy 2.6, and 1.8 (which answers `help` so too).
        let unknown = "Unknown command, but maybe one of the following ones is a better match:\n  help [<command>] : list matching or all commands\n\n";
        let old = "Unknown command. Please enter one of the following commands only :\n  help : full commands list\n\n";
        assert_eq!(
            refusal("bogus", unknown).as_deref(),
            Some("Unknown command, but maybe one of the following ones is a better match:")
        );
        assert!(refusal("bogus", old).is_some());
        assert_eq!(
            refusal(
                "set server be_web/web1 weight abc",
                "Empty weight string empty or preceded by garbage\n\n"
            ),
            None,
            "an unusual refusal reads as an answer; it is shown all the same"
        );
        assert_eq!(refusal("help", old), None, "old versions answer help so");
        assert_eq!(
            refusal("set server be_web/web9 weight 5", "No such server.\n\n").as_deref(),
            Some("No such server.")
        );
        assert_eq!(refusal("set server be_web/web1 weight 5", "\n"), None);
        assert_eq!(refusal("get weight be_web/web1", "1 (initial 1)\n"), None);
    }

    const PROFILE: &str = r#"
name = "shop"
[[balancers]]
name = "lb1"
host = "127.0.0.1"
kind = "haproxy"
runtime_api = "tcp://127.0.0.1:1"
[[balancers]]
name = "lb2"
host = "10.0.0.12"
kind = "nginx"
"#;

    #[test]
    fn balancers_without_a_runtime_api_say_why_and_unknown_ones_are_named() {
        let profile = Profile::parse("t.toml", PROFILE).expect("profile");
        assert_eq!(
            targets(&profile, None).expect("all"),
            vec!["lb1".to_string(), "lb2".to_string()]
        );
        assert_eq!(
            targets(&profile, Some("lb9")),
            Err(PlanError::NoBalancer {
                name: "lb9".into(),
                known: "lb1, lb2".into()
            })
        );
        let checks = checks(&profile, &["lb1".into(), "lb2".into()]);
        let said: Vec<(CheckState, &str)> =
            checks.iter().map(|c| (c.state, c.what.as_str())).collect();
        assert_eq!(
            said,
            vec![
                (CheckState::Passed, "lb1: runtime API tcp://127.0.0.1:1"),
                (
                    CheckState::Failed,
                    "lb2: nginx has no runtime API: the runtime prompt speaks to HAProxy only"
                ),
            ]
        );
    }

    #[tokio::test]
    async fn an_nginx_balancer_answers_with_why_not() {
        let profile = Profile::parse("t.toml", PROFILE).expect("profile");
        let sent = send(&profile, &["lb2".into()], "show info", None).await;
        assert_eq!(
            sent.answers["lb2"]["error"],
            "nginx has no runtime API: the runtime prompt speaks to HAProxy only"
        );
        assert!(matches!(sent.outcome, Outcome::Failed { .. }));
    }
}
