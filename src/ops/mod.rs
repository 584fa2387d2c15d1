//! Operator actions: plan, confirm, execute on every balancer of the pair, read the
//! state back, report done / partly done / failed, and append one audit line.

pub mod audit;
pub mod batch;
pub mod cli;
pub mod daemon;
pub mod drain;
pub mod failover;
pub mod lock;
pub mod operation;
pub mod plan;
pub mod roll;
pub mod run;
pub mod runtime;
pub use crate::wire::upstream;

pub use operation::{Direction, Operation, ServerChange, Weight};
pub use plan::{plan, Check, CheckState, Confirmation, Plan, PlanError};
pub use run::{execute, perform, refuse, Report};

use std::fmt;

use serde::Serialize;

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Every target confirmed the change.
    Done,
    /// Some targets confirmed it; the others, and why not.
    PartlyDone {
        /// (balancer, why) for each target that did not confirm.
        failed: Vec<(String, String)>,
    },
    /// No target confirmed it.
    Failed {
        /// Why.
        reason: String,
    },
    /// Not attempted (read-only, declined, or a guard).
    Refused {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// Summarises per-target results: Ok(()) confirmed, Err(why) not.
    pub fn from_targets<E: fmt::Display>(results: &[(String, Result<(), E>)]) -> Outcome {
        let failed: Vec<(String, String)> = results
            .iter()
            .filter_map(|(t, r)| {
                r.as_ref()
                    .err()
                    .map(|e| (t.clone(), crate::text::sentence(&e.to_string())))
            })
            .collect();
        if results.is_empty() {
            Outcome::Failed {
                reason: "no balancer to act on".into(),
            }
        } else if failed.is_empty() {
            Outcome::Done
        } else if failed.len() == results.len() {
            Outcome::Failed {
                reason: failed
                    .iter()
                    .map(|(t, e)| format!("{t}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        } else {
            Outcome::PartlyDone { failed }
        }
    }

    /// The word the audit log and the screen use.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::PartlyDone { .. } => "partly done",
            Outcome::Failed { .. } => "failed",
            Outcome::Refused { .. } => "refused",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Done => f.write_str("done"),
            Outcome::PartlyDone { failed } => {
                let who: Vec<String> = failed.iter().map(|(t, e)| format!("{t} ({e})")).collect();
                write!(f, "partly done: not confirmed on {}", who.join(", "))
            }
            Outcome::Failed { reason } => write!(f, "failed: {reason}"),
            Outcome::Refused { reason } => write!(f, "refused: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_from_targets() {
        let ok = |t: &str| (t.to_string(), Ok(()));
        let bad = |t: &str| (t.to_string(), Err("No such server.".to_string()));
        assert_eq!(
            Outcome::from_targets(&[ok("lb1"), ok("lb2")]),
            Outcome::Done
        );
        assert_eq!(
            Outcome::from_targets(&[ok("lb1"), bad("lb2")]).to_string(),
            "partly done: not confirmed on lb2 (No such server.)"
        );
        assert_eq!(
            Outcome::from_targets(&[bad("lb1"), bad("lb2")]).word(),
            "failed"
        );
        assert_eq!(Outcome::from_targets::<String>(&[]).word(), "failed");
    }
}
