//! lbdeck: a full-screen operations console for load-balanced web clusters — an nginx or
//! HAProxy balancer pair kept highly available by keepalived, with backends behind it.
//!
//! The library holds everything; `main.rs` is a thin CLI. One task owns [`app::App`];
//! sources poll on their own and send snapshots over a channel; `App::update` is pure.

pub mod action;
pub mod app;
pub mod check;
pub mod config;
pub mod demo;
pub mod fleet;
pub mod frames;
pub mod init;
pub mod model;
pub mod ops;
pub mod sources;
pub mod ssh;
pub mod state;
pub mod status;
pub mod sudoers;
pub mod text;
pub mod tui;
pub mod ui;
pub mod wire;
