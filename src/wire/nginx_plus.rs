//! NGINX Plus: `GET {api}/9/http/upstreams`. Cannot run here (commercial); tested with
//! recorded JSON in the API's documented shape, served by an in-process server.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::ParseError;
use crate::state::ServerState;

/// The API version lbdeck speaks.
pub const API_VERSION: u32 = 9;

/// One upstream peer as NGINX Plus reports it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Peer {
    /// Peer id, used to PATCH it.
    pub id: u64,
    /// `host:port`.
    pub server: String,
    /// up | draining | down | unavail | checking | unhealthy
    pub state: String,
    /// Active connections.
    #[serde(default)]
    pub active: u64,
    /// Requests since start (counter).
    #[serde(default)]
    pub requests: u64,
    /// Responses by class.
    #[serde(default)]
    pub responses: Responses,
    /// Average response time, ms.
    #[serde(default)]
    pub response_time: Option<u64>,
    /// Active health checks.
    #[serde(default)]
    pub health_checks: Option<HealthChecks>,
    /// The weight in use.
    #[serde(default)]
    pub weight: Option<u64>,
    /// Requests that failed to reach it (counter).
    #[serde(default)]
    pub fails: Option<u64>,
    /// Milliseconds it was unavailable for selection, in total.
    #[serde(default)]
    pub downtime: Option<u64>,
}

impl Peer {
    /// The peer's state in neutral words: `down` is an operator's (maintenance),
    /// `unavail` and `unhealthy` come from failing requests or checks; `checking` (the
    /// first check of a new peer) says nothing yet.
    pub fn server_state(&self) -> Option<ServerState> {
        match self.state.as_str() {
            "up" => Some(ServerState::Up),
            "draining" => Some(ServerState::Drain),
            "down" => Some(ServerState::Maint),
            "unavail" | "unhealthy" => Some(ServerState::Down),
            _ => None,
        }
    }

    /// The state an operator set: DRAIN or MAINT, else UP (ready), whatever checks say.
    pub fn admin(&self) -> ServerState {
        self.server_state()
            .filter(|s| matches!(s, ServerState::Drain | ServerState::Maint))
            .unwrap_or(ServerState::Up)
    }
}

/// Response counters by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct Responses {
    /// 2xx responses.
    #[serde(rename = "2xx", default)]
    pub s2xx: u64,
    /// 4xx responses.
    #[serde(rename = "4xx", default)]
    pub s4xx: u64,
    /// 5xx responses.
    #[serde(rename = "5xx", default)]
    pub s5xx: u64,
}

/// Active health check results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct HealthChecks {
    /// Checks made (counter).
    #[serde(default)]
    pub checks: u64,
    /// Checks failed (counter).
    #[serde(default)]
    pub fails: u64,
    /// Whether the last check passed.
    #[serde(default)]
    pub last_passed: Option<bool>,
}

#[derive(Deserialize)]
struct Upstream {
    peers: Vec<Peer>,
}

/// Parses the upstreams object and returns the peers of `upstream`.
pub fn parse_upstream(text: &str, upstream: &str) -> Result<Vec<Peer>, ParseError> {
    let all: HashMap<String, Upstream> =
        serde_json::from_str(text).map_err(|e| ParseError::Json {
            what: "NGINX Plus upstreams",
            detail: e.to_string(),
        })?;
    match all.into_iter().find(|(name, _)| name == upstream) {
        Some((_, u)) => Ok(u.peers),
        None => Err(ParseError::NoUpstream(upstream.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_recorded_upstreams() {
        let text = include_str!("../../tests/fixtures/nginx_plus/upstreams.json");
        let peers = parse_upstream(text, "be_web").expect("parses");
        assert_eq!(peers.len(), 3);
        assert_eq!(peers[1].state, "draining");
        assert_eq!(peers[0].responses.s5xx, 22);
        assert_eq!(
            peers[2].health_checks.and_then(|h| h.last_passed),
            Some(false)
        );
        assert_eq!(
            peers[2].health_checks.map(|h| (h.checks, h.fails)),
            Some((1820, 120))
        );
        assert_eq!(
            (peers[2].weight, peers[2].fails, peers[2].downtime),
            (Some(1), Some(40), Some(61000))
        );
        let err = parse_upstream(text, "nope").expect_err("missing upstream");
        assert!(err.to_string().contains("no upstream named"));
        assert!(parse_upstream("[1,2]", "be_web").is_err());
    }

    #[test]
    fn every_peer_state_maps_to_a_neutral_one() {
        let text = include_str!("../../tests/fixtures/nginx_plus/upstreams.json");
        let mut peer = parse_upstream(text, "be_web").expect("parses").remove(0);
        for (wire, state, admin) in [
            ("up", Some(ServerState::Up), ServerState::Up),
            ("draining", Some(ServerState::Drain), ServerState::Drain),
            ("down", Some(ServerState::Maint), ServerState::Maint),
            ("unavail", Some(ServerState::Down), ServerState::Up),
            ("unhealthy", Some(ServerState::Down), ServerState::Up),
            ("checking", None, ServerState::Up),
        ] {
            peer.state = wire.into();
            assert_eq!(
                (peer.server_state(), peer.admin()),
                (state, admin),
                "{wire}"
            );
        }
    }
}
