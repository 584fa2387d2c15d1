//! Whether an HAProxy keeps the state operators set at run time across a reload: only
//! with a `server-state-file` in `global` and `load-server-state-from-file` (not `none`)
//! for the backend, from its `defaults` or its own section (haproxy/haproxy#199). Read
//! over SSH from the balancer's configuration, at start and now and then.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::SourceUpdate;
use crate::config::profile::{BalancerKind, Profile};
use crate::ssh::{NodeAddr, Pool, Resolver};
use crate::wire::FetchError;

/// Where Debian and RHEL put HAProxy's configuration.
pub const DEFAULT_CONFIG: &str = "/etc/haproxy/haproxy.cfg";

/// How often the configuration is read again while the console runs.
pub const EVERY: Duration = Duration::from_secs(60);

/// Section keywords of an HAProxy configuration.
const SECTIONS: [&str; 12] = [
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "ring",
];

/// What an HAProxy's configuration says about the backend lbdeck changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackendConfig {
    /// Runtime server state survives a reload (see the module's note).
    pub keeps_state: bool,
    /// The backend's `balance` algorithm when it is static — only weights 0% and 100%
    /// can be set at run time (`static-rr`, or a hash without `hash-type consistent`).
    pub static_balance: Option<String>,
}

/// Algorithms that hash: static unless `hash-type consistent`.
const HASHING: [&str; 6] = ["source", "uri", "url_param", "hdr", "rdp-cookie", "hash"];

/// Reads what `cfg` says about `backend`: a `defaults` section applies to the sections
/// after it; the backend's own lines override.
pub fn backend_config(cfg: &str, backend: &str) -> BackendConfig {
    #[derive(Clone, Copy, Default)]
    struct Said<'a> {
        load: Option<bool>,
        balance: Option<&'a str>,
        consistent: Option<bool>,
    }
    let mut file = false;
    let mut defaults = Said::default();
    let mut own: Option<Said> = None;
    let mut section = ("", "");
    for line in cfg.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first().copied() else {
            continue;
        };
        if let Some(kw) = SECTIONS.iter().find(|k| **k == first) {
            section = (kw, words.get(1).copied().unwrap_or(""));
            if (*kw == "backend" || *kw == "listen") && section.1 == backend {
                own = Some(defaults);
            }
            continue;
        }
        let said = match section.0 {
            "defaults" => &mut defaults,
            "backend" | "listen" if section.1 == backend => match own.as_mut() {
                Some(o) => o,
                None => continue,
            },
            "global" => {
                file |= first == "server-state-file";
                continue;
            }
            _ => continue,
        };
        let value = words.get(1).copied();
        match first {
            "load-server-state-from-file" => said.load = value.map(|v| v != "none"),
            // `hdr(Host)`, `url_param userid`: the algorithm is the word before any `(`.
            "balance" => said.balance = value.map(|v| v.split('(').next().unwrap_or(v)),
            "hash-type" => said.consistent = value.map(|v| v == "consistent"),
            _ => {}
        }
    }
    let said = own.unwrap_or_default();
    let static_balance = said
        .balance
        .filter(|b| *b == "static-rr" || (HASHING.contains(b) && said.consistent != Some(true)));
    BackendConfig {
        keeps_state: file && said.load.unwrap_or(false),
        static_balance: static_balance.map(str::to_string),
    }
}

/// One HAProxy balancer's configuration, read over SSH.
#[derive(Debug, Clone)]
pub struct ConfigTarget {
    /// Balancer index (profile order).
    pub index: usize,
    /// SSH address.
    pub addr: NodeAddr,
    /// The configuration file on the node.
    pub path: String,
    /// The backend whose servers lbdeck changes.
    pub backend: String,
}

impl ConfigTarget {
    /// The HAProxy balancers of a profile that lbdeck reaches over SSH anyway
    /// (keepalived followed there, or the runtime API's socket).
    pub fn for_profile(profile: &Profile, resolver: &Resolver) -> Vec<ConfigTarget> {
        profile
            .balancers()
            .enumerate()
            .filter(|(_, b)| b.kind == BalancerKind::Haproxy)
            .filter(|(_, b)| b.keepalived.is_some() || b.api_over_ssh())
            .map(|(index, b)| ConfigTarget {
                index,
                addr: resolver.resolve(&b.host),
                path: DEFAULT_CONFIG.to_string(),
                backend: b.backend_name().to_string(),
            })
            .collect()
    }

    /// Reads the configuration once.
    pub async fn once(&self, pool: &Pool) -> SourceUpdate {
        let cmd = pool.privileged(&format!("cat {}", crate::ssh::shell_quote(&self.path)));
        let result = pool
            .exec(&self.addr, &cmd)
            .await
            .and_then(|o| o.ok(&format!("reading {}", self.path)))
            .map(|cfg| backend_config(&cfg, &self.backend))
            .map_err(|e| FetchError(e.to_string()));
        SourceUpdate::HaproxyConfig {
            index: self.index,
            at: Instant::now(),
            result,
        }
    }

    /// Reads it now and every [`EVERY`] until the receiver goes.
    pub async fn follow(self, pool: Arc<Pool>, tx: mpsc::Sender<SourceUpdate>) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if tx.send(self.once(&pool).await).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_kept_only_with_a_file_and_a_load_for_the_backend() {
        let keeps_state = |cfg: &str, b: &str| backend_config(cfg, b).keeps_state;
        let lab = "global\n    stats socket /run/haproxy/admin.sock level admin\n\
                   defaults\n    mode http\nbackend be_web\n    server web1 10.0.0.1:80\n";
        assert!(
            !keeps_state(lab, "be_web"),
            "the lab: a reload undoes changes"
        );
        let kept = "global\n    server-state-file /var/lib/haproxy/state\n\
                    defaults\n    load-server-state-from-file global  # keep drains\n\
                    backend be_web\n    server web1 10.0.0.1:80\n";
        assert!(keeps_state(kept, "be_web"));
        let own_none = kept.replace(
            "backend be_web\n",
            "backend be_web\n    load-server-state-from-file none\n",
        );
        assert!(!keeps_state(&own_none, "be_web"), "the backend opts out");
        let no_file = kept.replace("    server-state-file /var/lib/haproxy/state\n", "");
        assert!(!keeps_state(&no_file, "be_web"));
        // A `defaults` after the backend does not apply to it.
        let late = "global\n    server-state-file /s\nbackend be_web\n    server a 1.2.3.4:80\n\
                    defaults\n    load-server-state-from-file global\n";
        assert!(!keeps_state(late, "be_web"));
        let commented = kept.replace(
            "    load-server-state-from-file global",
            "    # load-server-state-from-file global",
        );
        assert!(!keeps_state(&commented, "be_web"));
    }

    #[test]
    fn static_algorithms_are_found_with_their_hash_type() {
        let balance = |lines: &str| {
            let cfg = format!(
                "defaults\n    mode http\nbackend be_web\n{lines}    server a 1.2.3.4:80\n"
            );
            backend_config(&cfg, "be_web").static_balance
        };
        assert_eq!(balance("    balance roundrobin\n"), None);
        assert_eq!(balance(""), None, "roundrobin by default");
        assert_eq!(
            balance("    balance static-rr\n").as_deref(),
            Some("static-rr")
        );
        assert_eq!(balance("    balance source\n").as_deref(), Some("source"));
        assert_eq!(balance("    balance hdr(Host)\n").as_deref(), Some("hdr"));
        assert_eq!(
            balance("    balance source\n    hash-type consistent\n"),
            None,
            "consistent hashing takes weights"
        );
        let inherited = "defaults\n    balance uri\nbackend be_web\n    server a 1.2.3.4:80\n";
        assert_eq!(
            backend_config(inherited, "be_web")
                .static_balance
                .as_deref(),
            Some("uri")
        );
    }
}
