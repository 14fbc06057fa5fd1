//! The real cockpit with a host of `[hosts]` reached over a real sshd (see `hosts.rs`): a
//! local run and a run on the host in one table with a HOST column, `p` on the remote run
//! pauses it there; the host lost is stale with its run as last seen, and back it catches up.

use crate::common::tmux::Tmux;
use crate::hosts::OneHost;

/// The table's row of run `id` (not the title naming it as the filter).
fn row<'a>(screen: &'a str, id: &str) -> &'a str {
    let start = format!("│{id} ");
    screen.lines().find(|l| l.starts_with(&start)).unwrap_or("")
}

#[test]
fn the_cockpit_shows_a_local_and_a_remote_run_with_their_hosts() {
    let Some(w) = OneHost::start() else {
        return;
    };
    w.configure("b1", |h| h);
    let (dir, remote, env, local_repo) = (&w.dir, &w.remote, &w.env, &w.repo);

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
    let local_id = env.start(local_repo, "noop-local", "a local one");

    // The cockpit's `ssh`: the real one, unless OFF exists (the host unreachable).
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let off = dir.path().join("OFF");
    let wrapper = bin.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ -e {off:?} ]; then echo 'ssh: connect to host b1: Connection refused' >&2; exit 255; fi\nexec /usr/bin/ssh \"$@\"\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let tmux = Tmux::new();
    tmux.cockpit_with(env, local_repo, &format!("PATH={}:$PATH", bin.display()));
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

    // b1 unreachable and its server gone: stale, the run still listed as last seen.
    std::fs::write(&off, "").unwrap();
    assert!(remote.cmd(&["shutdown"]).status.success());
    tmux.wait_for("b1 stale", |s| {
        s.contains("b1 stale") && row(s, &remote_id).contains("‖ paused")
    });
    // Meanwhile on b1 the run is killed; back, the cockpit catches up.
    assert!(remote.cmd(&["kill", &remote_id]).status.success());
    std::fs::remove_file(&off).unwrap();
    tmux.wait_for("b1 back, the run killed", |s| {
        !s.contains("stale") && row(s, &remote_id).contains("■ killed")
    });
    tmux.keys(&["q"]);
}
