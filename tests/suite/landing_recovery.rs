//! Landing survives the server: the queue is taken up again after a crash, and a landing cut
//! short by `kill -9` is finished by the next server, the user's checkouts whole.

use std::time::Duration;

use crate::common::landing::*;
use crate::common::*;

#[test]
fn a_queued_landing_survives_a_server_crash() {
    let env = Env::new(&format!("{ADD_A}{}", slow_checks(3)));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "add-a", "add a.txt");
    ready(&env, &id);
    // The queue's test is under way when the server dies.
    slow_from_now(&repo);
    let before = git(&repo, &["rev-parse", "main"]).trim().to_string();
    env.ok(&["merge", "--no-wait", &id]);
    assert_eq!(env.record(&id)["merge"], "pending");
    wait_until("the queue to test the run", || {
        !env.events_of(&id, "merge.testing").is_empty()
    });
    env.kill_server();
    assert_eq!(git(&repo, &["rev-parse", "main"]).trim(), before);
    // The next server takes the queue up again, tests and lands the run once.
    let r = env.wait_for(&id, "merged", |r| r["merge"] == "merged");
    assert_eq!(env.events_of(&id, "merge.landed").len(), 1);
    assert_eq!(
        git(&repo, &["rev-parse", "main"]).trim(),
        r["merged_commit"].as_str().unwrap()
    );
    assert!(repo.join("a.txt").exists());
    assert_eq!(git(&repo, &["status", "--porcelain"]).trim(), "");
    // Cleaning the run leaves nothing of it in the repository: no worktree, no queue scratch.
    env.ok(&["clean", &id]);
    let worktrees = git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(!worktrees.contains(&id), "{worktrees}");
    let scratch = env
        .home
        .join("worktrees")
        .join("repo")
        .join(".queue")
        .join(&id);
    assert!(!scratch.exists(), "{} is left", scratch.display());
}

/// `kill -9` of the server at random points of a landing that changes thousands of files in the
/// user's checkout: after the restart every checkout of main is exactly at the landed commit and
/// clean, each run landed exactly once, and auto-merge carried on by itself.
///
/// Twenty trials in two halves of ten, each on its own server and repository, so the halves
/// run side by side (one test of twenty was the suite's longest by far).
#[test]
fn kill_9_anywhere_in_a_landing_leaves_checkouts_whole_and_lands_each_run_once() {
    kill_9_trials(0..10);
}

#[test]
fn kill_9_anywhere_in_a_landing_second_ten_trials() {
    kill_9_trials(10..20);
}

/// The trials numbered `trials`, with the random points trial numbers choose (the same for a
/// trial whichever half runs it).
fn kill_9_trials(trials: std::ops::Range<u32>) {
    let env = Env::new(
        r#"
[gate]
auto_merge = true
[agents.many]
command = ["sh", "-c", "rm -rf trial-*; mkdir \"$FLIGHTDECK_TASK\" && cd \"$FLIGHTDECK_TASK\" && for i in $(seq 1 800); do echo \"$i\" > f$i.txt; done"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let next = |seed: u64| {
        seed.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
    };
    let mut seed: u64 = (0..trials.start).fold(0x5eed, |s, _| next(s));
    let mut resumed = 0;
    let first = trials.start;
    for trial in trials.clone() {
        let id = env.start(&repo, "many", &format!("trial-{trial}"));
        env.wait_for(&id, "in the queue", |r| {
            r["merge"] == "pending" || r["merge"] == "merged"
        });
        seed = next(seed);
        if trial % 2 == 0 {
            // Anywhere: testing the candidate, landing, recording.
            std::thread::sleep(Duration::from_millis((seed >> 33) % 700));
        } else {
            // While the landing itself is under way: the checkout written, the ref moved.
            let journal = env.run_dir(&id).join("landing.json");
            let until = std::time::Instant::now() + Duration::from_secs(10);
            while !journal.exists() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis((seed >> 33) % 40));
        }
        env.kill_server();
        // The next server (started by `show`) finishes or redoes the landing by itself.
        let r = env.wait_for(&id, "landed", |r| r["merge"] == "merged");
        let landed = env.events_of(&id, "merge.landed");
        assert_eq!(landed.len(), 1, "trial {trial}: {landed:#?}");
        if landed[0]["resumed"] == true {
            resumed += 1;
        }
        let commit = r["merged_commit"].as_str().unwrap();
        assert_eq!(
            git(&repo, &["rev-parse", "main"]).trim(),
            commit,
            "trial {trial}"
        );
        let status = git(&repo, &["status", "--porcelain"]);
        assert!(
            status.trim().is_empty(),
            "trial {trial}: the checkout of main is not exactly the landed commit: {} lines, {}",
            status.lines().count(),
            status.lines().take(5).collect::<Vec<_>>().join("; ")
        );
        assert!(repo.join(format!("trial-{trial}/f800.txt")).exists());
        if trial > first {
            assert!(
                !repo.join(format!("trial-{}", trial - 1)).exists(),
                "trial {trial}"
            );
        }
        let moves = git(&repo, &["reflog", "show", "--format=%H", "refs/heads/main"])
            .lines()
            .filter(|l| *l == commit)
            .count();
        assert_eq!(
            moves, 1,
            "trial {trial}: main moved to {commit} {moves} times"
        );
        // Cleaned, the run leaves no worktree and no queue scratch, however it landed.
        env.ok(&["clean", &id]);
        let scratch = env
            .home
            .join("worktrees")
            .join("repo")
            .join(".queue")
            .join(&id);
        assert!(
            !scratch.exists(),
            "trial {trial}: {} is left",
            scratch.display()
        );
        let worktrees = git(&repo, &["worktree", "list", "--porcelain"]);
        assert!(!worktrees.contains(&id), "trial {trial}: {worktrees}");
    }
    println!(
        "kill -9 during a landing: trials {trials:?}, {resumed} landings finished by the next server"
    );
}
