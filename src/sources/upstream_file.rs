//! nginx open source keeps no runtime state per server: what an operator set is the
//! `down` flag on the server's line in the upstream file. It is read over SSH every poll,
//! so a drain by anyone — another console, a hand edit, a config deploy — shows as MAINT,
//! and a pair whose servers are all `down` is not "all clear".

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::SourceUpdate;
use crate::config::profile::{BalancerKind, Profile};
use crate::ssh::{NodeAddr, Pool, Resolver};
use crate::wire::upstream;
use crate::wire::upstream_file::locate;
use crate::wire::FetchError;

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
    /// The file `nginx -T` showed defining the upstream when `path` does not, kept
    /// between polls so that nginx -T runs only when the upstream moves.
    found: Arc<Mutex<Option<String>>>,
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
                found: Arc::default(),
            })
            .collect()
    }

    /// Reads the file once: every server line, whether it is `down` and where. The file is the
    /// one that defines the upstream: `path`, else the one `nginx -T` shows.
    pub async fn once(&self, pool: &Pool) -> SourceUpdate {
        let known = self.found.lock().ok().and_then(|f| f.clone());
        let first = known.as_deref().unwrap_or(&self.path);
        // A read, and where the upstream moved, nginx -T and a second read.
        let within = pool.timeout() * 3;
        let located = tokio::time::timeout(within, locate(pool, &self.addr, first, &self.upstream));
        let result = match located.await {
            Err(_) => Err(FetchError(format!(
                "{}: no answer within {within:?} reading {first}",
                self.addr.alias,
            ))),
            Ok(Err(e)) => Err(FetchError(e.to_string())),
            Ok(Ok(l)) => {
                if l.through_dump {
                    if let Ok(mut f) = self.found.lock() {
                        *f = Some(l.file.clone());
                    }
                }
                upstream::servers(&l.text, &self.upstream)
                    .map(|servers| upstream::UpstreamRead {
                        file: l.file.clone(),
                        servers,
                    })
                    .map_err(|e| FetchError(format!("{}: {e}", l.file)))
            }
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
