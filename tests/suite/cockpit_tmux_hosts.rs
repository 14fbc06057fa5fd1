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
    let off = dir.path().join("OFF");
    let bin = ssh_wrapper(dir.path(), &off);

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

/// Whether the screen says `host` is stale with the time since (`b1 stale 4s`).
fn stale_since(screen: &str, host: &str) -> bool {
    screen
        .split(&format!("{host} stale "))
        .nth(1)
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The cockpit's `ssh`: the real one, unless `off` exists (then the host is unreachable).
fn ssh_wrapper(dir: &std::path::Path, off: &std::path::Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
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
    bin
}

/// The SSH connection killed under an open cockpit (the master and every ssh on it, as a
/// dropped link would, with the host unreachable for a while): the host is marked stale, its
/// run goes on there and ends, and once the host answers again the cockpit shows the end.
#[test]
fn the_cockpit_marks_a_host_stale_when_its_connection_dies_and_catches_up() {
    let Some(w) = OneHost::start() else {
        return;
    };
    // A master kept for a minute, so it is there to kill.
    w.configure("b1", |h| {
        h.replace("\"ControlPersist=1\"", "\"ControlPersist=60\"")
    });
    let (dir, remote, env, local_repo) = (&w.dir, &w.remote, &w.env, &w.repo);
    let done = dir.path().join("go");
    let mut theirs = std::fs::read_to_string(w.remote_config()).unwrap();
    theirs.push_str(&format!(
        "[agents.until]\ncommand = [\"sh\", \"-c\", \"while [ ! -e '{}' ]; do sleep 0.1; done; echo ended > ended.txt\"]\n",
        done.display()
    ));
    std::fs::write(w.remote_config(), theirs).unwrap();
    let id = crate::hosts::run_on(env, "b1", local_repo, "until", "end when told");

    let off = dir.path().join("OFF");
    let bin = ssh_wrapper(dir.path(), &off);
    let tmux = Tmux::new();
    tmux.cockpit_with(env, local_repo, &format!("PATH={}:$PATH", bin.display()));
    tmux.wait_for("the remote run, running", |s| {
        row(s, &id).contains(" b1 ") && row(s, &id).contains("running")
    });

    // The connection dies and the host stays out of reach.
    std::fs::write(&off, "").unwrap();
    let control = env.home.join("ssh");
    let pid = crate::hosts::master_pid(&control).expect("the ssh master");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = std::process::Command::new("pkill")
        .args(["-9", "-f", &format!("ControlPath={}/", control.display())])
        .status();
    tmux.wait_for("b1 stale with the time since, its run as last seen", |s| {
        stale_since(s, "b1") && row(s, &id).contains("running")
    });

    // Meanwhile the run ends there, on its own.
    std::fs::write(&done, "").unwrap();
    crate::common::wait_until("the run to end on the host", || {
        let out = remote.cmd(&["show", &id, "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .is_ok_and(|r| r["status"] == "succeeded")
    });
    // Back: the cockpit catches up, and ls says the same.
    std::fs::remove_file(&off).unwrap();
    tmux.wait_for("b1 back, the run ended", |s| {
        !s.contains("stale") && row(s, &id).contains("✓")
    });
    // Its proof pack stays there and is read through the connection: d (the patch) and v
    // (the proof).
    tmux.keys(&["/"]);
    tmux.keys(&[id.as_str(), "Enter"]);
    tmux.wait_for("only the remote run", |s| row(s, &id).contains(" b1 "));
    tmux.keys(&["d"]);
    tmux.wait_for("the host's patch", |s| {
        s.contains("patch.diff") && s.contains("ended.txt")
    });
    tmux.keys(&["Escape"]);
    tmux.keys(&["v"]);
    tmux.wait_for("the host's proof", |s| {
        s.contains("PR.md ·") && s.contains("# end when told")
    });
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    let runs = env.json(&["ls", "--json"]);
    let r = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{runs}"));
    assert_eq!(r["status"], "succeeded", "{runs}");
    assert_eq!(r["host"], "b1", "{runs}");
}

/// A host whose link stays up but whose server is stuck (stopped with SIGSTOP) says nothing,
/// not even its heartbeat: the cockpit marks it stale after a while instead of showing it
/// live for ever, and catches up once the server goes on.
#[test]
fn a_host_whose_server_is_stuck_is_marked_stale_and_caught_up_when_it_goes_on() {
    let Some(w) = OneHost::start() else {
        return;
    };
    w.configure("b1", |h| h);
    let (remote, env, local_repo) = (&w.remote, &w.env, &w.repo);
    // An agent that outlasts the waits below however slow the machine (`slow` ends in 60 s).
    let mut theirs = std::fs::read_to_string(w.remote_config()).unwrap();
    theirs.push_str(
        "[agents.forever]\ncommand = [\"sh\", \"-c\", \"while :; do sleep 0.2; done\"]\n",
    );
    std::fs::write(w.remote_config(), theirs).unwrap();
    let id = crate::hosts::run_on(env, "b1", local_repo, "forever", "tick there");
    let tmux = Tmux::new();
    tmux.cockpit_with(env, local_repo, "");
    tmux.wait_for("the remote run, running", |s| {
        row(s, &id).contains(" b1 ") && row(s, &id).contains("running")
    });

    let pid = remote.server_pid();
    let pid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let stale = std::panic::catch_unwind(|| {
        tmux.wait_for_within("b1 stale", std::time::Duration::from_secs(90), |s| {
            s.contains("b1 stale") && row(s, &id).contains("running")
        });
        // hosts says so too, after its wait for the host, instead of hanging.
        let out = env.output(&["hosts", "--json"]);
        assert!(!out.status.success(), "a host is unreachable: exit 1");
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let b1 = crate::hosts::host_in(&listed, "b1");
        assert_eq!(b1["reachable"], false, "{listed}");
        assert!(
            b1["error"]
                .as_str()
                .unwrap()
                .contains("did not answer within"),
            "{listed}"
        );
    });
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    if let Err(e) = stale {
        std::panic::resume_unwind(e);
    }
    // Going on, it answers again: the cockpit catches up (the run is paused there meanwhile).
    assert!(remote.cmd(&["pause", &id]).status.success());
    tmux.wait_for_within(
        "b1 back, the run paused",
        std::time::Duration::from_secs(90),
        |s| !s.contains("stale") && row(s, &id).contains("‖ paused"),
    );
    tmux.keys(&["q"]);
}
