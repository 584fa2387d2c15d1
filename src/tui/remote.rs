//! What the console follows over SSH besides polling: keepalived on each balancer, nginx
//! access logs and upstream files, the pair's shared audit log, over one shared
//! connection pool (also used by `s` and actions).

use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::profile::Profile;

/// What lbdeck follows over SSH: keepalived on each balancer, nginx access logs.
pub struct Remote {
    /// keepalived followers.
    pub vrrp: Vec<crate::wire::keepalived::VrrpTarget>,
    /// Access-log followers.
    pub logs: Vec<crate::sources::access_log::LogTarget>,
    /// Upstream-file readers (nginx open source).
    pub upstreams: Vec<crate::sources::upstream_file::UpstreamTarget>,
    /// HAProxy configuration readers (whether a reload keeps runtime state).
    pub configs: Vec<crate::sources::haproxy_config::ConfigTarget>,
    /// Followers of the pair's shared audit log (other operators' actions).
    pub audits: Vec<crate::sources::shared_audit::AuditTarget>,
    /// The shared connections (None when nothing is followed over SSH).
    pub pool: Option<std::sync::Arc<crate::ssh::Pool>>,
}

impl Remote {
    /// The followers a profile asks for, with credentials loaded (a passphrase may be
    /// asked on the terminal, so call this before the screen is taken).
    pub fn for_profile(profile: &Profile) -> Remote {
        // ~/.ssh/config is read here, once for the run; the pool keeps it for the
        // shell and the actions.
        let resolver = crate::ssh::Resolver::load(&profile.ssh);
        let mut vrrp = crate::wire::keepalived::targets(profile, &resolver);
        let mut logs = crate::sources::access_log::LogTarget::for_profile(profile, &resolver);
        let mut upstreams =
            crate::sources::upstream_file::UpstreamTarget::for_profile(profile, &resolver);
        let mut configs =
            crate::sources::haproxy_config::ConfigTarget::for_profile(profile, &resolver);
        if profile.source == crate::config::profile::SourceKind::Prometheus {
            // Prometheus answers for the nodes: nothing is followed on them.
            vrrp.clear();
            logs.clear();
            upstreams.clear();
            configs.clear();
        }
        let sockets: Vec<crate::ssh::NodeAddr> = profile
            .balancers()
            .filter(|b| b.api_over_ssh())
            .map(|b| resolver.resolve(&b.host))
            .collect();
        let nodes = vrrp
            .iter()
            .map(|t| &t.addr)
            .chain(logs.iter().map(|t| &t.addr))
            .chain(upstreams.iter().map(|t| &t.addr))
            .chain(&sockets);
        // Always a pool, for `s` and runtime-API sockets; passphrases are asked only when
        // something is read over SSH from the start (the screen cannot prompt later).
        let following =
            !vrrp.is_empty() || !logs.is_empty() || !upstreams.is_empty() || !sockets.is_empty();
        // Other operators' actions are followed where the balancers are reached over
        // SSH anyway: a pair read only over HTTP is not logged into for them.
        let audits = if following {
            crate::sources::shared_audit::AuditTarget::for_profile(profile, &resolver)
        } else {
            Vec::new()
        };
        let pool = Some(crate::ssh::Pool::for_profile(
            profile, resolver, nodes, following,
        ));
        Remote {
            vrrp,
            logs,
            upstreams,
            configs,
            audits,
            pool,
        }
    }

    /// Starts every follower.
    pub fn spawn(
        self,
        tx: &mpsc::Sender<crate::sources::SourceUpdate>,
        every: Duration,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(pool) = self.pool else {
            return Vec::new();
        };
        if self.vrrp.is_empty()
            && self.logs.is_empty()
            && self.upstreams.is_empty()
            && self.configs.is_empty()
            && self.audits.is_empty()
        {
            return Vec::new();
        }
        let mut out: Vec<tokio::task::JoinHandle<()>> = self
            .vrrp
            .into_iter()
            .map(|t| tokio::spawn(t.follow(pool.clone(), tx.clone())))
            .collect();
        out.extend(
            self.logs
                .into_iter()
                .map(|t| tokio::spawn(t.follow(pool.clone(), tx.clone(), every))),
        );
        out.extend(
            self.upstreams
                .into_iter()
                .map(|t| tokio::spawn(t.follow(pool.clone(), tx.clone(), every))),
        );
        out.extend(
            self.configs
                .into_iter()
                .map(|t| tokio::spawn(t.follow(pool.clone(), tx.clone()))),
        );
        out.extend(
            self.audits
                .into_iter()
                .map(|t| tokio::spawn(t.follow(pool.clone(), tx.clone()))),
        );
        out
    }
}

/// Stops background tasks when the loop ends, however it ends.
pub struct AbortOnDrop(pub Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}
