//! The pair's shared audit log on the balancers: where it is, the fixed commands that
//! append to it, read it and follow it (one exact sudoers rule each), and another
//! operator's line read back. Written by `ops`, followed by `sources`, told by the model.

/// The pair's shared audit log on each balancer: one line per append, each append
/// opening the file anew, so logrotate may move it at any time (no `copytruncate`).
pub const SHARED_LOG: &str = "/var/log/lbdeck/audit.jsonl";

/// How many of the shared log's newest lines the viewer reads from each balancer.
pub const SHARED_LINES: usize = 200;

/// The command appending the line on its stdin to [`SHARED_LOG`] (run as root): fixed,
/// so one exact sudoers rule allows it.
pub fn append_command() -> String {
    let dir = SHARED_LOG.rsplit_once('/').map_or("/", |(d, _)| d);
    format!("mkdir -p {dir} && cat >> {SHARED_LOG}")
}

/// The command printing the shared log's newest lines (none while it does not exist).
pub fn read_command() -> String {
    format!("test ! -e {SHARED_LOG} || tail -n {SHARED_LINES} {SHARED_LOG}")
}

/// The command following the shared log: new lines as they are appended, across
/// rotation, waiting for the file while there is none.
pub fn follow_command() -> String {
    format!("exec tail -n0 -F {SHARED_LOG}")
}

/// This host's name, as the kernel has it.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Another operator's action read from the pair's shared log, as the console's Events
/// say it: ("web2", "bob@admin2 drained web2 (done)"). None for a line that is not an
/// action of lbdeck's, or one this process wrote (its own report said it already).
pub fn others_action(line: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let op = &v["operator"];
    let get = |v: &serde_json::Value| -> Option<String> {
        Some(crate::text::clip(&crate::text::sanitize(v.as_str()?), 60))
    };
    let host = get(&op["host"])?;
    if op["pid"].as_u64() == Some(u64::from(std::process::id())) && host == self::host() {
        return None;
    }
    let user = get(&op["user"])?;
    // "ana (via sudo)" is ana acting through sudo on her host.
    let user = user.trim_end_matches(" (via sudo)");
    let action = get(&v["action"])?;
    let target = get(&v["target"]).unwrap_or_default();
    let argument = get(&v["argument"]);
    let result = get(&v["result"]).unwrap_or_else(|| "?".into());
    let did = match (action.as_str(), argument) {
        ("drain", _) => format!("drained {target}"),
        ("undrain", _) => format!("put {target} back in rotation"),
        ("maint", _) => format!("put {target} in maintenance"),
        ("weight", Some(w)) => format!("set {target}'s weight {w}"),
        ("kill-sessions", _) => format!("killed {target}'s sessions"),
        ("health" | "agent", Some(on)) => format!("switched {target}'s {action} checks {on}"),
        ("failover", _) => format!("failed over from {target}"),
        ("failback", _) => format!("failed back to {target}"),
        ("roll", _) => "ran a rolling maintenance".to_string(),
        ("runtime", Some(c)) => format!("sent `{c}` to HAProxy"),
        (other, _) => format!("{other} {target}"),
    };
    let subject = if target.is_empty() {
        "audit".into()
    } else {
        target
    };
    Some((subject, format!("{user}@{host} {did} ({result})")))
}
