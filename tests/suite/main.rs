//! Every integration test in one binary: one compile and one link instead of thirty, which
//! is most of what CI spent building. Each module is one area (see the README's Tests).

mod common;
#[path = "../fixtures/mod.rs"]
mod fixtures;

mod adapters;
mod bad_input;
mod browser;
mod browser_vite;
mod budget;
mod child_env;
mod cockpit_tmux;
mod cockpit_tmux_attention;
mod cockpit_tmux_first_hour;
mod cockpit_tmux_pr;
mod cockpit_update;
mod cockpit_update_first_hour;
mod cockpit_update_pr;
mod cockpit_views;
mod cockpit_views_pr;
mod demo;
mod evidence;
mod faults;
mod fd_limits;
mod forge;
mod forge_fake;
mod forge_gh;
mod forge_poll;
mod gateway;
mod housekeeping;
mod landing_recovery;
mod merge_queue;
mod merging;
mod no_blocking_io;
mod output_flood;
mod parallel_runs;
mod pool;
mod port_ranges;
mod prices;
mod process_control;
mod radar;
mod radar_watch;
mod real_agents;
mod real_agents_aider;
mod real_trees;
mod rebase;
mod server_lifecycle;
mod server_restart;
mod spawns;
mod state_owner;
mod supervisor;
mod terminal_safety;
mod trust;
mod unbounded_input;
mod work_kept;
mod workspaces;
