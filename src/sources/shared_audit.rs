//! The pair's shared audit log ([`crate::ops::audit::SHARED_LOG`] on every balancer):
//! followed over SSH with `tail -F` so a console hears of other operators' actions as
//! they are appended (across rotation; waiting while there is no file yet), and read
//! whole for the audit viewer. The same line is on each balancer it acted on: readers
//! de-duplicate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::SourceUpdate;
use crate::config::profile::Profile;
use crate::ops::audit::{follow_command, read_command};
use crate::ssh::{NodeAddr, Pool, Resolver};
use crate::wire::FetchError;

/// How long a follower waits before following a balancer again after it failed.
const RETRY: Duration = Duration::from_secs(5);

/// One balancer's shared audit log, to follow.
pub struct AuditTarget {
    /// Balancer, profile order.
    pub index: usize,
    /// How it is reached.
    pub addr: NodeAddr,
}

impl AuditTarget {
    /// Every balancer of the profile.
    pub fn for_profile(profile: &Profile, resolver: &Resolver) -> Vec<AuditTarget> {
        profile
            .balancers()
            .enumerate()
            .map(|(index, b)| AuditTarget {
                index,
                addr: resolver.resolve(&b.host),
            })
            .collect()
    }

    /// Sends each line appended to the log as it comes, and why when it cannot be
    /// followed (then tries again); ends when the receiver is gone.
    pub async fn follow(self, pool: Arc<Pool>, tx: mpsc::Sender<SourceUpdate>) {
        loop {
            let err = match self.follow_once(&pool, &tx).await {
                Ok(()) => return,
                Err(e) => e,
            };
            let update = SourceUpdate::SharedAudit {
                index: self.index,
                at: Instant::now(),
                result: Err(err),
            };
            if tx.send(update).await.is_err() {
                return;
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    async fn follow_once(
        &self,
        pool: &Pool,
        tx: &mpsc::Sender<SourceUpdate>,
    ) -> Result<(), FetchError> {
        let lost = |e: crate::ssh::SshError| FetchError(e.to_string());
        let conn = pool.get(&self.addr).await.map_err(lost)?;
        let mut lines = conn
            .stream_lines(&pool.privileged(&follow_command()))
            .await
            .map_err(lost)?;
        // sudo may warn ("unable to resolve host") and go on, or refuse and end: what it
        // said last is why, when the stream ends.
        let mut sudo_said = None;
        while let Some(line) = lines.recv().await {
            // tail's own notices (no file yet, rotated) are not actions.
            if line.starts_with("tail:") {
                continue;
            }
            if line.starts_with("sudo:") {
                sudo_said = Some(line);
                continue;
            }
            let update = SourceUpdate::SharedAudit {
                index: self.index,
                at: Instant::now(),
                result: Ok(line),
            };
            if tx.send(update).await.is_err() {
                return Ok(());
            }
        }
        Err(FetchError(format!(
            "{}: following the shared audit log ended{}",
            self.addr.alias,
            sudo_said.map(|l| format!(" ({l})")).unwrap_or_default()
        )))
    }
}

/// The pair's shared audit log for the viewer: every balancer's newest lines, each line
/// once, oldest first (by its time); and per balancer that could not be read, why.
pub async fn read(profile: &Profile, pool: &Pool) -> (Vec<String>, Vec<String>) {
    let reads = profile.balancers().map(|b| async move {
        let node = pool.node(&b.host);
        let got = pool
            .exec(&node, &pool.privileged(&read_command()))
            .await
            .and_then(|o| o.ok("reading the shared audit log"));
        (b.name.clone(), got)
    });
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (name, got) in futures::future::join_all(reads).await {
        match got {
            Ok(text) => lines.extend(text.lines().map(str::to_string)),
            Err(e) => problems.push(format!("{name}: {}", crate::text::sentence(&e.to_string()))),
        }
    }
    (merge(lines), problems)
}

/// Lines from several balancers as one log: each once, in time order (RFC 3339 times of
/// one operator's zone sort as text; lines without one keep their place at the start).
pub fn merge(lines: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<(String, String)> = lines
        .into_iter()
        .filter(|l| !l.trim().is_empty() && seen.insert(l.clone()))
        .map(|l| {
            let time = serde_json::from_str::<serde_json::Value>(&l)
                .ok()
                .and_then(|v| v["time"].as_str().map(str::to_string))
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339())
                .unwrap_or_default();
            (time, l)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, l)| l).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_balancers_lines_merge_once_each_in_time_order() {
        let at = |t: &str, n: u32| format!(r#"{{"time":"{t}","n":{n}}}"#);
        let lb1 = [
            at("2026-11-27T10:00:00.000+01:00", 1),
            at("2026-11-27T10:05:00.000+01:00", 3),
        ];
        // The same moments seen from another zone: the order is the instant's.
        let lb2 = [at("2026-11-27T09:02:00.000+00:00", 2), lb1[1].clone()];
        let all: Vec<String> = lb1.iter().chain(&lb2).cloned().collect();
        let merged = merge(all);
        assert_eq!(merged, [lb1[0].clone(), lb2[0].clone(), lb1[1].clone()]);
    }

    /// The demo's balancers take the append on stdin, tell their followers and serve the
    /// line back: once in the pair's log though both hold it.
    #[tokio::test]
    async fn the_demo_pair_keeps_follows_and_serves_its_shared_log() {
        let demo = crate::demo::start(crate::config::profile::BalancerKind::Nginx, 2)
            .await
            .expect("demo");
        let profile = &demo.profile;
        let resolver = Resolver::load(&profile.ssh);
        let nodes: Vec<NodeAddr> = profile
            .balancers()
            .map(|b| resolver.resolve(&b.host))
            .collect();
        let pool = Pool::for_profile(profile, resolver.clone(), nodes.iter(), false);
        let (tx, mut rx) = mpsc::channel(16);
        let followers: Vec<_> = AuditTarget::for_profile(profile, &resolver)
            .into_iter()
            .map(|t| tokio::spawn(t.follow(pool.clone(), tx.clone())))
            .collect();
        // The followers are in place once each has its own connection's command running.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let line = r#"{"time":"2026-11-27T10:00:00.000+00:00","action":"drain"}"#;
        let append = crate::ops::audit::append_command();
        for node in &nodes {
            let out = pool
                .exec_with_input(node, &append, format!("{line}\n").as_bytes())
                .await
                .expect("append");
            assert_eq!(out.status, Some(0), "{out:?}");
        }
        let mut heard = Vec::new();
        while heard.len() < 2 {
            let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("followed in time")
                .expect("update");
            if let SourceUpdate::SharedAudit { index, result, .. } = got {
                heard.push((index, result.expect("followed")));
            }
        }
        heard.sort();
        assert_eq!(heard, [(0, line.to_string()), (1, line.to_string())]);
        assert_eq!(
            read(profile, &pool).await,
            (vec![line.to_string()], Vec::new())
        );
        for f in followers {
            f.abort();
        }
    }
}
