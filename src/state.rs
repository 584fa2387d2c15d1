//! The neutral words for a server's and a balancer's state. Every source maps its own wire
//! format into these (HAProxy status strings and admin bits, nginx's `down` flag, NGINX
//! Plus peer states, keepalived's names and numbers). It sits below both the sources and
//! the model and imports nothing from the crate: sources produce these words, the model
//! (which re-exports them as `model::ServerState` and `model::Role`) keeps them, and the
//! screen, the operations and the JSON use them, so the dependencies run one way.

use serde::{Deserialize, Serialize};

/// A server's state as a balancer reports it, reduced to what operators act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum ServerState {
    /// Serving (checks pass, or no check).
    Up,
    /// Draining: no new sessions except persistent ones.
    Drain,
    /// In maintenance: no traffic at all.
    Maint,
    /// Up but no longer load-balanced (weight 0 / NOLB).
    Nolb,
    /// Checks fail.
    Down,
}

impl ServerState {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            ServerState::Up => "UP",
            ServerState::Drain => "DRAIN",
            ServerState::Maint => "MAINT",
            ServerState::Nolb => "NOLB",
            ServerState::Down => "DOWN",
        }
    }
}

/// A VRRP instance's state (keepalived's role on one balancer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Starting up.
    Init,
    /// Standing by.
    Backup,
    /// Holding the VIP.
    Master,
    /// A tracked interface, script or file says this node must not serve.
    Fault,
    /// keepalived stopped the instance.
    Stop,
    /// The instance was removed from the configuration.
    Deleted,
}

impl Role {
    /// The word keepalived uses.
    pub fn label(self) -> &'static str {
        match self {
            Role::Init => "INIT",
            Role::Backup => "BACKUP",
            Role::Master => "MASTER",
            Role::Fault => "FAULT",
            Role::Stop => "STOP",
            Role::Deleted => "DELETED",
        }
    }
}
