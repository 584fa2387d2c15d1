//! One operator at a time per pair: before reading the pair again and acting, lbdeck
//! takes a lock directory on every balancer it reaches over SSH (`mkdir` is atomic;
//! `/run/lock` is writable by every user and emptied at boot), and gives it back when the
//! change is read back. Another console or command that finds it held refuses with who
//! holds it and since when — so two operators cannot both drain past the floor: the
//! second reads the pair after the first has changed it. A lock older than
//! [`STALE_AFTER`] (a crashed lbdeck) is broken.

use std::time::Duration;

use crate::config::profile::Profile;
use crate::ssh::{NodeAddr, Pool};

/// The lock on each balancer.
pub const LOCK_DIR: &str = "/run/lock/lbdeck";

/// A lock this old was left by an lbdeck that did not finish: it is broken.
pub const STALE_AFTER: Duration = Duration::from_secs(600);

/// Locks taken on a pair's balancers, to give back with [`Held::release`].
pub struct Held {
    nodes: Vec<NodeAddr>,
    owner: String,
}

/// Why the pair could not be locked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("another lbdeck is acting on this pair ({owner} on {node}, for {age_s} s): try again when it has finished")]
pub struct Busy {
    /// Who holds it, as they wrote it (sanitised).
    pub owner: String,
    /// The balancer it was found on.
    pub node: String,
    /// How long it has been held.
    pub age_s: u64,
}

/// Who this lbdeck is, written into the lock: user, host, process, what it does.
fn owner(what: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    format!(
        "{}@{host} pid {} {}: {what}",
        super::audit::user(),
        std::process::id(),
        chrono::Local::now().format("%H:%M:%S")
    )
}

/// The script that takes the lock: `LBDECK-LOCKED`, the holder and `LBDECK-HELD AGE`, or
/// `LBDECK-NOLOCK` where no lock can be made (no writable `/run/lock`): nothing to respect.
fn acquire_script(owner: &str) -> String {
    let o = crate::ssh::shell_quote(owner);
    let d = crate::ssh::shell_quote(LOCK_DIR);
    let stale = STALE_AFTER.as_secs();
    format!(
        "d={d}; mkdir -p \"$(dirname \"$d\")\" 2>/dev/null; \
         take() {{ mkdir \"$d\" 2>/dev/null && printf '%s\\n' {o} > \"$d/owner\" && echo LBDECK-LOCKED; }}; \
         take && exit 0; \
         [ -d \"$d\" ] || {{ echo LBDECK-NOLOCK; exit 0; }}; \
         age=$(( $(date +%s) - $(stat -c %Y \"$d\" 2>/dev/null || date +%s) )); \
         if [ \"$age\" -gt {stale} ]; then rm -rf \"$d\" 2>/dev/null; take && exit 0; fi; \
         head -c 200 \"$d/owner\" 2>/dev/null | head -n1; echo \"LBDECK-HELD $age\""
    )
}

/// The script that gives it back, only if this lbdeck holds it.
fn release_script(owner: &str) -> String {
    let o = crate::ssh::shell_quote(owner);
    let d = crate::ssh::shell_quote(LOCK_DIR);
    format!("d={d}; [ \"$(head -n1 \"$d/owner\" 2>/dev/null)\" = {o} ] && rm -rf \"$d\"; echo LBDECK-RELEASED")
}

/// Takes the lock on every balancer of the profile it reaches over `pool`, in profile
/// order (so two lbdecks cannot each hold half). A balancer SSH cannot reach is left
/// out: acting on it is for the pre-checks to refuse.
pub async fn acquire(profile: &Profile, pool: &Pool, what: &str) -> Result<Held, Busy> {
    let mut held = Held {
        nodes: Vec::new(),
        owner: owner(what),
    };
    for b in profile.balancers() {
        let node = pool.node(&b.host);
        let Ok(out) = pool.exec(&node, &acquire_script(&held.owner)).await else {
            continue;
        };
        if out.stdout.contains("LBDECK-LOCKED") {
            held.nodes.push(node);
            continue;
        }
        let Some(age) = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("LBDECK-HELD "))
        else {
            // The node cannot hold a lock (no shell, no /run/lock): nothing to respect.
            continue;
        };
        let holder = out.stdout.lines().next().unwrap_or("").to_string();
        held.release(pool).await;
        return Err(Busy {
            owner: crate::text::clip(&crate::text::sanitize(&holder), 120),
            node: b.name.clone(),
            age_s: age.trim().parse().unwrap_or(0),
        });
    }
    Ok(held)
}

/// Keeps a long-held lock (a roll) from looking stale: touched on every balancer.
pub async fn refresh(profile: &Profile, pool: &Pool) {
    let cmd = format!(
        "[ -d {0} ] && touch {0}; true",
        crate::ssh::shell_quote(LOCK_DIR)
    );
    for b in profile.balancers() {
        let _ = pool.exec(&pool.node(&b.host), &cmd).await;
    }
}

/// [`refresh`] at most once a minute: a paused roll keeps its lock without a stream of
/// SSH commands.
pub async fn refresh_if_stale(profile: &Profile, pool: &Pool) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let due = {
        let Ok(mut last) = LAST.lock() else { return };
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    };
    if due {
        refresh(profile, pool).await;
    }
}

impl Held {
    /// Gives the locks back.
    pub async fn release(self, pool: &Pool) {
        let script = release_script(&self.owner);
        for node in &self.nodes {
            let _ = pool.exec(node, &script).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, dir: &std::path::Path) -> String {
        let script = script.replace(LOCK_DIR, &dir.join("lbdeck").display().to_string());
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn the_lock_is_taken_once_and_given_back_only_by_its_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = "ana@admin1 pid 1 10:00:00: drain web1";
        let b = "bo@admin2 pid 2 10:00:01: drain web2";
        assert!(sh(&acquire_script(a), dir.path()).contains("LBDECK-LOCKED"));
        let second = sh(&acquire_script(b), dir.path());
        assert!(second.starts_with(a), "the holder is named: {second}");
        assert!(second.contains("LBDECK-HELD "), "{second}");
        sh(&release_script(b), dir.path());
        assert!(
            sh(&acquire_script(b), dir.path()).contains("LBDECK-HELD"),
            "only the holder gives it back"
        );
        sh(&release_script(a), dir.path());
        assert!(sh(&acquire_script(b), dir.path()).contains("LBDECK-LOCKED"));
        // Where no lock can be made, nobody holds one.
        let nowhere = acquire_script(a).replace(LOCK_DIR, "/proc/lbdeck-cannot-be-made");
        let out = std::process::Command::new("sh")
            .args(["-c", &nowhere])
            .output()
            .expect("sh");
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.contains("LBDECK-NOLOCK") && !out.contains("LBDECK-HELD"),
            "{out}"
        );
    }
}
