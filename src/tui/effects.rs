//! The effect runner: what `App::update` asks for, done off the loop. Operations run as
//! tasks of their own (the same [`crate::ops::perform`] the command line's
//! [`crate::ops::execute`] ends in) and report back as actions; the loop keeps drawing.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::action::{Action, Effect};
use crate::config::profile::Profile;
use crate::sources::Poller;
use crate::ssh::Pool;

/// How many audit lines the viewer reads.
const AUDIT_LINES: usize = 200;

/// Runs effects; results come back on the action channel.
pub struct Runner {
    profile: Arc<Profile>,
    pool: Option<Arc<Pool>>,
    poller: Poller,
    tx: mpsc::Sender<Action>,
}

impl Runner {
    /// A runner for `profile`; results go to `tx`.
    pub fn new(
        profile: &Profile,
        pool: Option<Arc<Pool>>,
        poller: Poller,
        tx: mpsc::Sender<Action>,
    ) -> Runner {
        Runner {
            profile: Arc::new(profile.clone()),
            pool,
            poller,
            tx,
        }
    }

    /// Starts `effect`; returns it when only the loop can do it (quit, a shell, which
    /// need the terminal).
    pub fn run(&self, effect: Effect) -> Option<Effect> {
        match effect {
            Effect::PollNow => self.poller.poll_now(),
            Effect::LoadAudit => {
                let (tx, profile) = (self.tx.clone(), self.profile.clone());
                tokio::spawn(async move {
                    let lines = tokio::task::spawn_blocking(move || read_audit(&profile))
                        .await
                        .unwrap_or_default();
                    let _ = tx.send(Action::AuditLoaded(lines)).await;
                });
            }
            Effect::LoadSharedAudit => {
                let (tx, profile, pool) =
                    (self.tx.clone(), self.profile.clone(), self.pool.clone());
                tokio::spawn(async move {
                    let (lines, unread) = match pool {
                        Some(pool) => crate::sources::shared_audit::read(&profile, &pool).await,
                        None => (Vec::new(), vec!["no SSH to read it over".to_string()]),
                    };
                    let _ = tx.send(Action::SharedAuditLoaded { lines, unread }).await;
                });
            }
            Effect::Run {
                plan,
                failed_over,
                forced,
            } => {
                let (tx, profile, pool) =
                    (self.tx.clone(), self.profile.clone(), self.pool.clone());
                tokio::spawn(async move {
                    let progress = |line: String| {
                        let _ = tx.try_send(Action::Progress(line));
                    };
                    let report = crate::ops::perform(
                        &profile,
                        &plan,
                        failed_over.as_deref(),
                        forced,
                        pool.as_deref(),
                        &progress,
                    )
                    .await;
                    let _ = tx.send(Action::Acted(Box::new(report))).await;
                });
            }
            Effect::RunBatch { batch, forced } => {
                let (tx, profile, pool) =
                    (self.tx.clone(), self.profile.clone(), self.pool.clone());
                tokio::spawn(async move {
                    let progress = |line: String| {
                        let _ = tx.try_send(Action::Progress(line));
                    };
                    let reports = crate::ops::batch::perform_all(
                        &profile,
                        &batch,
                        forced,
                        pool.as_deref(),
                        &progress,
                    )
                    .await;
                    let summary = crate::ops::batch::summary(&reports);
                    for r in reports {
                        let _ = tx.send(Action::Acted(Box::new(r))).await;
                    }
                    let _ = tx
                        .send(Action::Progress(format!(
                            "batch of {}: {summary}",
                            batch.plans.len()
                        )))
                        .await;
                });
            }
            Effect::Refuse { operation, reason } => {
                let (tx, profile) = (self.tx.clone(), self.profile.clone());
                tokio::spawn(async move {
                    let target = match &operation {
                        crate::ops::Operation::Shell { host } => host.clone(),
                        crate::ops::Operation::Runtime { balancer, .. } => {
                            balancer.clone().unwrap_or_else(|| profile.name.clone())
                        }
                        op => op.backend().unwrap_or_default().to_string(),
                    };
                    let report = tokio::task::spawn_blocking(move || {
                        crate::ops::refuse(&profile, &operation, &target, reason)
                    })
                    .await;
                    if let Ok(r) = report {
                        let _ = tx.send(Action::Acted(Box::new(r))).await;
                    }
                });
            }
            Effect::StopRoll => crate::ops::roll::stop(),
            Effect::Pace { every, front } => self.poller.set_pace(every, front),
            // The fleet acts on these before effects reach a cluster's runner.
            Effect::PickCluster | Effect::Back => {}
            Effect::PauseRoll => {
                let paused = crate::ops::roll::toggle_pause();
                let line = if paused {
                    "the roll pauses before its next backend (R goes on, Esc stops)"
                } else {
                    "the roll goes on"
                };
                let _ = self.tx.try_send(Action::Progress(line.into()));
            }
            Effect::Quit | Effect::Shell(_) => return Some(effect),
        }
        None
    }

    /// Audits a shell the console opened (off the loop: the audit line is synced).
    pub fn shell_ended(
        &self,
        host: &str,
        took: std::time::Duration,
        ended: Result<String, String>,
    ) {
        let (profile, host) = (self.profile.clone(), host.to_string());
        tokio::task::spawn_blocking(move || {
            crate::ops::run::shell_ended(&profile, &host, took, ended)
        });
    }

    /// The shared SSH connections.
    pub fn pool(&self) -> Option<&Pool> {
        self.pool.as_deref()
    }
}

/// The newest lines of the profile's audit log, oldest first.
fn read_audit(profile: &Profile) -> Vec<String> {
    let text = crate::ops::audit::path(profile)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let mut lines: Vec<String> = text
        .lines()
        .rev()
        .take(AUDIT_LINES)
        .map(str::to_string)
        .collect();
    lines.reverse();
    lines
}
