//! What the detail view shows of one server on one balancer beyond the table's columns:
//! weights, check timing, state-change times, the balancer's own counters, and for nginx
//! open source where its line is and what the next drain or undrain would change. Each
//! source's wire format is mapped here; a kind that does not report a field leaves it
//! `None`.

use std::time::{Duration, Instant};

use super::{Backend, Cluster};
use crate::config::profile::BalancerKind;

use crate::wire::haproxy::{ServerStateRow, StatRow};
use crate::wire::nginx_plus::Peer;
use crate::wire::upstream::UpstreamServer;

/// Longest upstream-file line kept: the view cuts it to the screen anyway.
const LINE_MAX: usize = 240;

/// A server's details as one balancer reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerDetail {
    /// When the balancer (or its upstream file) last listed the server.
    pub at: Option<Instant>,
    /// How long the last health check took, ms (HAProxy).
    pub check_ms: Option<u64>,
    /// Health checks made (NGINX Plus).
    pub checks: Option<u64>,
    /// Health checks failed (HAProxy `chkfail`, NGINX Plus).
    pub check_fails: Option<u64>,
    /// The weight in use.
    pub weight: Option<u64>,
    /// The weight the configuration gives (HAProxy `srv_iweight`).
    pub weight_initial: Option<u64>,
    /// Time since the last state change, as of the poll (HAProxy `lastchg`).
    pub since_change: Option<Duration>,
    /// Time spent down, in total.
    pub downtime: Option<Duration>,
    /// Most sessions at once (HAProxy `smax`).
    pub sessions_max: Option<u64>,
    /// Requests queued now (HAProxy `qcur`).
    pub queue: Option<u64>,
    /// Most requests ever queued (HAProxy `qmax`).
    pub queue_max: Option<u64>,
    /// Connection attempts retried (HAProxy `wretr`).
    pub retries: Option<u64>,
    /// Requests sent to another server after a failure (HAProxy `wredis`).
    pub redispatches: Option<u64>,
    /// Errors connecting to it (HAProxy `econ`).
    pub conn_errors: Option<u64>,
    /// Response errors (HAProxy `eresp`).
    pub resp_errors: Option<u64>,
    /// Requests denied (HAProxy `dreq`).
    pub denied_req: Option<u64>,
    /// Responses denied (HAProxy `dresp`).
    pub denied_resp: Option<u64>,
    /// Bytes in (HAProxy `bin`).
    pub bytes_in: Option<u64>,
    /// Bytes out (HAProxy `bout`).
    pub bytes_out: Option<u64>,
    /// Requests since start (NGINX Plus).
    pub requests: Option<u64>,
    /// Requests that failed to reach it (NGINX Plus `fails`).
    pub fails: Option<u64>,
    /// nginx open source: `path:line` of its `server` line in the upstream file.
    pub source: Option<String>,
    /// nginx open source: the line the next drain or undrain changes, before and after.
    pub next_edit: Option<(String, String)>,
}

impl ServerDetail {
    /// From a `show stat` server row and its `show servers state` row, when read at `at`.
    pub fn haproxy(row: &StatRow, state: Option<&ServerStateRow>, at: Instant) -> ServerDetail {
        ServerDetail {
            at: Some(at),
            check_ms: row.check_duration,
            check_fails: row.chkfail,
            weight: row.weight,
            weight_initial: state.and_then(|s| s.iweight).map(u64::from),
            since_change: row.lastchg.map(Duration::from_secs),
            downtime: row.downtime.map(Duration::from_secs),
            sessions_max: row.smax,
            queue: row.qcur,
            queue_max: row.qmax,
            retries: row.wretr,
            redispatches: row.wredis,
            conn_errors: row.econ,
            resp_errors: row.eresp,
            denied_req: row.dreq,
            denied_resp: row.dresp,
            bytes_in: row.bin,
            bytes_out: row.bout,
            ..ServerDetail::default()
        }
    }

    /// From an NGINX Plus peer read at `at`.
    pub fn plus(peer: &Peer, at: Instant) -> ServerDetail {
        ServerDetail {
            at: Some(at),
            checks: peer.health_checks.map(|h| h.checks),
            check_fails: peer.health_checks.map(|h| h.fails),
            weight: peer.weight,
            downtime: peer.downtime.map(Duration::from_millis),
            requests: Some(peer.requests),
            fails: peer.fails,
            ..ServerDetail::default()
        }
    }

    /// From a `server` line of the upstream file `file` (nginx open source), read at `at`.
    pub fn upstream(file: &str, server: &UpstreamServer, at: Instant) -> ServerDetail {
        ServerDetail {
            at: Some(at),
            source: Some(crate::text::clip(
                &format!("{file}:{}", server.line),
                LINE_MAX,
            )),
            weight: Some(u64::from(server.weight)),
            weight_initial: Some(u64::from(server.initial_weight)),
            next_edit: server
                .next
                .as_ref()
                .map(|(before, after)| (shown(before), shown(after))),
            ..ServerDetail::default()
        }
    }
}

/// A config line safe to draw, its indentation kept (tabs as four spaces).
fn shown(line: &str) -> String {
    let clean = crate::text::sanitize(&line.replace('\t', "    "));
    if clean.chars().count() <= LINE_MAX {
        clean
    } else {
        let mut cut: String = clean.chars().take(LINE_MAX - 1).collect();
        cut.push('…');
        cut
    }
}

impl Cluster {
    /// Whether balancer `index` still lists `backend`: its newest successful read (of
    /// its servers, or for nginx open source of its upstream file) listed it. None when
    /// it never did.
    pub fn still_listed(&self, backend: &Backend, index: usize) -> Option<bool> {
        let lb = self.balancers.get(index)?;
        let seen = backend.views.get(index)?.as_ref()?.detail.as_ref()?.at?;
        let read = if lb.kind == BalancerKind::Nginx {
            &lb.upstream
        } else {
            &lb.fresh
        };
        Some(read.last_ok.is_none_or(|ok| ok <= seen))
    }
}
