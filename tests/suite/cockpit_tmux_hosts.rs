//! The real cockpit with a host of `[hosts]` reached over a real sshd (see `hosts.rs`): a
//! local run and a run on the host in one table with a HOST column, and `p` on the remote
//! run pauses it there.

use crate::common::sshd::{self, Sshd};
use crate::common::tmux::Tmux;
use crate::common::*;
use crate::hosts::{host_config, Remote};

/// The table's row of run `id` (not the title naming it as the filter).
fn row<'a>(screen: &'a str, id: &str) -> &'a str {
    let start = format!("│{id} ");
    screen.lines().find(|l| l.starts_with(&start)).unwrap_or("")
}

#[test]
fn the_cockpit_shows_a_local_and_a_remote_run_with_their_hosts() {
    if !sshd::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(&dir.path().join("sshd"));
    let remote = Remote::new(dir.path());
    let env = Env::new("");
    let local_repo = git_repo(env.path(), "repo");
    std::fs::write(&env.config, host_config("b1", &sshd, &remote, &local_repo)).unwrap();

    // One run on b1 that keeps going, one here.
    let remote_id = env
        .ok(&[
            "--host",
            "b1",
            "run",
            "--repo",
            local_repo.to_str().unwrap(),
            "--agent",
            "slow",
            "tick there",
        ])
        .trim()
        .to_string();
    let local_id = env.start(&local_repo, "noop-local", "a local one");

    let tmux = Tmux::new();
    tmux.cockpit(&env, &local_repo);
    let screen = tmux.wait_for("both runs, each with its host", |s| {
        s.contains("HOST")
            && row(s, &remote_id).contains(" b1 ")
            && row(s, &local_id).contains(" local ")
    });
    assert!(row(&screen, &remote_id).contains("running"), "{screen}");

    // Select the remote run (a filter by its id), and p pauses it on b1.
    tmux.keys(&["/"]);
    tmux.keys(&[remote_id.as_str(), "Enter"]);
    tmux.wait_for("only the remote run", |s| {
        row(s, &local_id).is_empty() && row(s, &remote_id).contains(" b1 ")
    });
    tmux.keys(&["p"]);
    tmux.wait_for("paused on b1", |s| row(s, &remote_id).contains("‖ paused"));
    let there = remote.cmd(&["show", &remote_id, "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&there.stdout).unwrap();
    assert_eq!(r["status"], "paused", "{r}");
    tmux.keys(&["q"]);
}
