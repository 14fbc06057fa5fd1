//! Faults the server must take without losing its footing: a phase that panics, a server
//! killed again and again under a client's feet.

use crate::common::*;

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
fn a_merge_test_that_panics_refuses_the_merge_with_the_message_and_the_queue_goes_on() {
    let mut env = Env::new(
        "[agents.touch]\ncommand = [\"sh\", \"-c\", \"echo x > x.txt\"]\n\n[[smoke]]\nname = \"ok\"\ncommand = [\"true\"]\n",
    );
    env.vars
        .push(("FLIGHTDECK_TEST_PANIC_IN_PHASE".into(), "merge-test".into()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "touch", "touch a file");
    env.wait_for(&id, "ready", |r| r["merge"] == "ready");
    // Before the job runner, the panicking test never reported and `merge` waited for ever.
    let said = env.fails(&["merge", &id]);
    assert!(
        said.contains("the test of the merged result panicked")
            && said.contains("asked the merge test to panic"),
        "{said}"
    );
    let r = env.record(&id);
    assert_ne!(r["merge"], "pending", "{r:#}");
    assert!(
        env.events_of(&id, "merge.refused")[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("panicked")),
        "{:#?}",
        env.timeline(&id)
    );
    env.ok(&["ls"]);
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

/// A small tmpfs mounted on a path for as long as it lives (lazily unmounted).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &std::path::Path, size: &str) -> Option<Self> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting a small tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here");
            return None;
        }
        Some(Self(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn files_named(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect()
}

#[test]
fn a_full_disk_fails_the_run_that_hit_it_and_the_server_goes_on() {
    let env = Env::new(
        "pool = 0\n[agents.loud]\ncommand = [\"sh\", \"-c\", \"head -c 20000000 /dev/zero | tr '\\\\0' a; echo; echo done > out.txt\"]\n[agents.quiet]\ncommand = [\"sh\", \"-c\", \"echo q > q.txt\"]\n",
    );
    let Some(_disk) = SmallDisk::mount(&env.home, "8m") else {
        return;
    };
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "loud", "print a lot");
    let r = env.wait_status(&id, "failed");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("disk full under FLIGHTDECK_HOME"), "{r:#}");
    // The server answers, and says no to new runs while the disk stays full.
    env.ok(&["ls"]);
    let err = env.fails(&[
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        "quiet",
        "t",
    ]);
    assert!(err.contains("disk full under FLIGHTDECK_HOME"), "{err}");

    // Space comes back (the flood's log goes): the record on disk catches up with `ls`.
    std::fs::remove_file(env.run_dir(&id).join("agent.log")).unwrap();
    wait_until("run.json to say failed", || {
        std::fs::read_to_string(env.run_dir(&id).join("run.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["status"] == "failed")
    });
    wait_until("the timeline to catch up", || {
        env.events_of(&id, "run.finished").len() == 1
    });
    let other = env.start(&repo, "quiet", "a quiet run");
    env.wait_status(&other, "succeeded");
    assert!(
        files_named(&env.home, ".tmp").is_empty(),
        "{:?}",
        files_named(&env.home, ".tmp")
    );
    // Nothing was written twice.
    assert_eq!(env.events_of(&id, "run.finished").len(), 1);
    assert_eq!(env.events_of(&other, "run.finished").len(), 1);
    let ls = env.json(&["ls", "--json"]);
    let listed = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["status"], "failed");
    // A server started after the space came back adopts nothing twice (the double
    // `run.finished` was written here).
    env.kill_server();
    env.ok(&["ls"]);
    assert_eq!(env.record(&id)["status"], "failed");
    assert_eq!(env.events_of(&id, "run.finished").len(), 1);
    assert_eq!(env.events_of(&other, "run.finished").len(), 1);
    drop(env);
}

/// Any write error, not only a full disk: run.json turned into a directory (root writes
/// through permission bits, so this is the error a test can make) fails the run saying so,
/// and run.json catches up with `ls` once it can be written.
#[test]
fn a_run_whose_record_cannot_be_written_fails_saying_so_and_its_record_catches_up() {
    let env = Env::new(
        "pool = 0\n[agents.slow]\ncommand = [\"sh\", \"-c\", \"sleep 2; echo x > x.txt\"]\n",
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "slow", "take a while");
    env.wait_status(&id, "running");
    let record = env.run_dir(&id).join("run.json");
    std::fs::remove_file(&record).unwrap();
    std::fs::create_dir(&record).unwrap();
    std::fs::write(record.join("in-the-way"), "x").unwrap();
    let r = env.wait_status(&id, "failed");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("cannot write the run's files under FLIGHTDECK_HOME")
            && reason.contains("run.json"),
        "{r:#}"
    );
    env.ok(&["ls"]);
    std::fs::remove_dir_all(&record).unwrap();
    wait_until("run.json to say failed", || {
        std::fs::read_to_string(&record)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["status"] == "failed")
    });
    assert_eq!(env.events_of(&id, "run.finished").len(), 1);
}
