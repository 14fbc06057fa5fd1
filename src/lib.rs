//! flightdeck: a terminal cockpit for AI coding agents running in parallel, each in its own git
//! worktree, each leaving a proof pack. The binary is `src/main.rs`; this library holds
//! everything so benches, examples and tests can reach the parts.

// Nothing that input, the disk or another process can make fail is unwrapped.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod advice;
pub mod agents;
pub mod backoff;
pub mod base64;
pub mod browser;
pub mod builtin;
pub mod cli;
pub mod client;
pub mod config;
pub mod conn_cap;
pub mod demo;
pub mod disk;
pub mod fd_limit;
pub mod forge;
pub mod gate;
pub mod gateway;
pub mod harden;
pub mod hosts;
pub mod log;
pub mod memory;
pub mod models;
pub mod owner_only;
pub mod paths;
pub mod peer_uid;
pub mod proof;
pub mod protocol;
pub mod reaper;
pub mod run;
pub mod self_exe;
pub mod server;
pub mod shim;
pub mod supervisor;
pub mod tether;
pub mod text;
pub mod time;
pub mod ui;
pub mod workspace;
