//! nginx open source keeps no runtime state per server: what an operator set is the
//! `down` flag on the server's line in the upstream file. It is read over SSH every poll,
//! so a drain by anyone — another console, a hand edit, a config deploy — shows as MAINT,
//! and a pair whose servers are all `down` is not "all clear".

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{upstream, FetchError, SourceUpdate};
use crate::config::profile::{BalancerKind, Profile};
use crate::ssh::{NodeAddr, Pool, Resolver};

/// One nginx balancer's upstream file.
#[derive(Debug, Clone)]
pub struct UpstreamTarget {
    /// Balancer index (profile order).
    pub index: usize,
    /// SSH address.
    pub addr: NodeAddr,
    /// The file on the node.
    pub path: String,
    /// The `upstream NAME {}` block read.
    pub upstream: String,
}

impl UpstreamTarget {
    /// The upstream files of a profile's nginx (open source) balancers that lbdeck
    /// reaches over SSH anyway: `upstream_file` named, or keepalived or an access log
    /// followed there (then the default file, the one a drain edits).
    pub fn for_profile(profile: &Profile, resolver: &Resolver) -> Vec<UpstreamTarget> {
        profile
            .balancers()
            .enumerate()
            .filter(|(_, b)| b.kind == BalancerKind::Nginx)
            .filter(|(_, b)| {
                b.upstream_file.is_some() || b.keepalived.is_some() || b.access_log.is_some()
            })
            .map(|(index, b)| UpstreamTarget {
                index,
                addr: resolver.resolve(&b.host),
                path: b
                    .upstream_file
                    .clone()
                    .unwrap_or_else(|| crate::config::profile::DEFAULT_UPSTREAM_FILE.into()),
                upstream: b.backend_name().to_string(),
            })
            .collect()
    }

    /// Reads the file once: every server line and whether it is `down`.
    pub async fn once(&self, pool: &Pool) -> SourceUpdate {
        let cmd = pool.privileged(&format!("cat {}", crate::ssh::shell_quote(&self.path)));
        let result = match tokio::time::timeout(pool.timeout(), pool.exec(&self.addr, &cmd)).await {
            Err(_) => Err(FetchError(format!(
                "{}: no answer within {:?} reading {}",
                self.addr.alias,
                pool.timeout(),
                self.path
            ))),
            Ok(out) => out
                .and_then(|o| o.ok(&format!("reading {}", self.path)))
                .map_err(|e| FetchError(e.to_string()))
                .and_then(|text| {
                    upstream::servers(&text, &self.upstream)
                        .map_err(|e| FetchError(format!("{}: {e}", self.path)))
                }),
        };
        SourceUpdate::Upstream {
            index: self.index,
            at: Instant::now(),
            result,
        }
    }

    /// Reads the file every `every` until the receiver goes away.
    pub async fn follow(self, pool: Arc<Pool>, tx: mpsc::Sender<SourceUpdate>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if tx.send(self.once(&pool).await).await.is_err() {
                return;
            }
        }
    }
}
