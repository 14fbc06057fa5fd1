//! Helpers for tests of landing: the merge queue, rebase, recovery, housekeeping.

use std::path::Path;

use serde_json::Value;

use super::{git, Env};

pub const ADD_A: &str = "[agents.add-a]\ncommand = [\"sh\", \"-c\", \"echo a > a.txt\"]\n";

/// Checks that take `secs` seconds once `main` holds `.slow` (committed by `slow_from_now`),
/// so that a merge queue's test is still under way while the test acts.
pub fn slow_checks(secs: u32) -> String {
    format!(
        "[[smoke]]\nname = \"slow once queued\"\ncommand = [\"sh\", \"-c\", \"if [ -e .slow ]; then sleep {secs}; fi; true\"]\n"
    )
}

/// From now on main's checks are slow (see `slow_checks`).
pub fn slow_from_now(repo: &Path) {
    std::fs::write(repo.join(".slow"), "").unwrap();
    git(repo, &["add", ".slow"]);
    git(repo, &["commit", "-q", "-m", "slow checks from now on"]);
}

pub fn ready(env: &Env, id: &str) -> Value {
    env.wait_for(id, "ready to merge", |r| r["merge"] == "ready")
}

/// Every commit `main` ever pointed at, oldest first (its reflog).
pub fn main_history(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = git(repo, &["reflog", "show", "--format=%H", "refs/heads/main"])
        .lines()
        .map(str::to_string)
        .collect();
    v.reverse();
    v
}
