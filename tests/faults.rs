//! Faults the server must take without losing its footing: a phase that panics, a server
//! killed again and again under a client's feet.

mod common;

use common::*;

#[test]
fn a_phase_that_panics_fails_its_run_with_the_message_and_the_server_goes_on() {
    let mut env = Env::new("[agents.touch]\ncommand = [\"sh\", \"-c\", \"echo x > x.txt\"]\n");
    env.vars
        .push(("FLIGHTDECK_TEST_PANIC_IN_PHASE".into(), "smoke".into()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "touch", "touch a file");
    let r = env.wait_status(&id, "failed");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("phase smoke panicked") && reason.contains("asked phase smoke to panic"),
        "{r:#}"
    );
    assert_eq!(r["phase"], "smoke");
    // The server still answers, and the run can be tried again.
    env.ok(&["ls"]);
    assert_eq!(env.events_of(&id, "run.finished").len(), 1);
}

#[test]
fn every_command_after_a_server_kill_answers() {
    // Runs under way make a restarting server busy: it adopts them as it starts.
    let env = Env::new("[agents.slow]\ncommand = [\"sleep\", \"60\"]\n");
    let repo = git_repo(env.path(), "repo");
    let ids: Vec<String> = (0..3)
        .map(|i| env.start(&repo, "slow", &format!("wait {i}")))
        .collect();
    for id in &ids {
        env.wait_status(id, "running");
    }
    let mut slow = Vec::new();
    for i in 0..20 {
        // The next command comes at once, while the killed server may still be dying.
        let pid = env.server_pid();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let started = std::time::Instant::now();
        let out = env.output(&["ls"]);
        slow.push(started.elapsed().as_millis());
        assert!(
            out.status.success(),
            "try {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!("`ls` after each kill -9 answered in (ms): {slow:?}");
    for id in &ids {
        env.ok(&["kill", id]);
    }
}
