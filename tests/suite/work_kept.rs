//! Work is never lost, and green means what will merge: retries keep what they reset on a ref
//! (or, for a copy, in a directory of the run), smoke checks what the branch holds, the gate
//! holds merging to the commit smoke checked, and an empty change is not ready.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::Value;

fn config(dir: &Path) -> String {
    format!(
        r#"
[agents.editor]
command = ["sh", "-c", "echo attempt >> README.md; echo made > agent.txt"]

[agents.nothing]
command = ["true"]

[agents.flaky]
# Fails the first time (leaving its work committed as a checkpoint), succeeds the second.
command = ["sh", "-c", "if [ -f \"$1\" ]; then echo good > good.txt; else touch \"$1\"; echo junk > junk.txt; exit 3; fi", "sh", "{marker}/marker-{{run_id}}"]

[agents.result]
command = ["sh", "-c", "echo broken > result.txt"]

[[smoke]]
name = "result-is-fixed"
command = ["sh", "-c", "test ! -f result.txt || grep -q fixed result.txt"]
"#,
        marker = dir.display()
    )
}

fn worktree(r: &Value) -> PathBuf {
    PathBuf::from(r["worktree"].as_str().unwrap())
}

fn finished(env: &Env, id: &str) -> Value {
    env.wait_for(id, "finished", |r| {
        matches!(
            r["status"].as_str(),
            Some("succeeded" | "failed" | "killed")
        )
    })
}

#[test]
fn retry_prepare_keeps_hand_made_files_and_the_old_commit_on_a_ref() {
    let env = Env::new(&config(&std::env::temp_dir()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "editor", "edit");
    let r = env.wait_status(&id, "succeeded");
    let wt = worktree(&r);
    let attempt1 = git(&repo, &["rev-parse", &format!("flightdeck/{id}")]);
    // By hand (or by an orphaned process): a new file, and an edit to a tracked one.
    std::fs::write(wt.join("hand.txt"), "made by hand\n").unwrap();
    std::fs::write(wt.join("src/lib.rs"), "pub fn answer() -> u32 { 43 }\n").unwrap();

    env.ok(&["retry", &id, "--phase", "prepare"]);
    let r = env.wait_status(&id, "succeeded");
    assert!(!worktree(&r).join("hand.txt").exists(), "a fresh workspace");

    let saved = env.events_of(&id, "workspace.saved");
    assert_eq!(saved.len(), 1, "{saved:?}");
    let reference = format!("refs/flightdeck/{id}/attempt-1");
    assert_eq!(saved[0]["ref"], reference.as_str());
    assert_eq!(saved[0]["files"], 2);
    let commit = git(&repo, &["rev-parse", &reference]);
    assert_eq!(saved[0]["commit"], commit.trim());
    assert!(
        saved[0]["message"].as_str().unwrap().contains(&reference),
        "{saved:?}"
    );
    // The kept commit holds the whole worktree, on top of attempt 1's commit.
    assert_eq!(
        git(&repo, &["show", &format!("{reference}:hand.txt")]),
        "made by hand\n"
    );
    assert!(git(&repo, &["show", &format!("{reference}:src/lib.rs")]).contains("43"));
    assert!(git(&repo, &["show", &format!("{reference}:README.md")]).contains("attempt"));
    assert_eq!(
        git(&repo, &["rev-parse", &format!("{reference}^")]).trim(),
        attempt1.trim(),
        "attempt 1's commit stays reachable"
    );
}

#[test]
fn retry_agent_keeps_hand_edits_and_does_not_commit_them_as_the_agents() {
    let markers = tempfile::tempdir().unwrap();
    let env = Env::new(&format!(
        "{}\n[setup]\ncommands = [[\"sh\", \"-c\", \"echo generated > setup.out\"]]\n",
        config(markers.path())
    ));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "flaky", "fail once");
    let r = env.wait_status(&id, "failed");
    let wt = worktree(&r);
    let attempt1 = git(&wt, &["rev-parse", "HEAD"]);
    std::fs::write(wt.join("README.md"), "# my careful edit\n").unwrap();
    std::fs::create_dir_all(wt.join("notes")).unwrap();
    std::fs::write(wt.join("notes/hand.txt"), "mine\n").unwrap();

    env.ok(&["retry", &id, "--phase", "agent"]);
    let r = env.wait_status(&id, "succeeded");
    let base = r["base"].as_str().unwrap();

    // Attempt 2's commit is the agent's work alone.
    let changed = git(&wt, &["diff", "--name-only", base, "HEAD"]);
    assert_eq!(changed.trim(), "good.txt", "{changed}");
    assert!(!wt.join("notes/hand.txt").exists());
    assert_eq!(
        std::fs::read_to_string(wt.join("README.md")).unwrap(),
        "# sample\n"
    );
    // Setup's untracked output is not the run's work: it stays, and is not kept.
    assert_eq!(
        std::fs::read_to_string(wt.join("setup.out")).unwrap(),
        "generated\n"
    );

    let saved = env.events_of(&id, "workspace.saved");
    assert_eq!(saved.len(), 1, "{saved:?}");
    let reference = format!("refs/flightdeck/{id}/attempt-1");
    assert_eq!(saved[0]["ref"], reference.as_str());
    assert_eq!(saved[0]["commits"], 1);
    assert_eq!(
        git(&repo, &["show", &format!("{reference}:README.md")]),
        "# my careful edit\n"
    );
    assert_eq!(
        git(&repo, &["show", &format!("{reference}:notes/hand.txt")]),
        "mine\n"
    );
    assert_eq!(
        git(&repo, &["show", &format!("{reference}:junk.txt")]),
        "junk\n"
    );
    let kept = git(&repo, &["ls-tree", "-r", "--name-only", &reference]);
    assert!(!kept.contains("setup.out"), "{kept}");
    assert_eq!(
        git(&repo, &["rev-parse", &format!("{reference}^")]).trim(),
        attempt1.trim()
    );
    // Saved before the reset, and the timeline says it in that order.
    let types: Vec<String> = env
        .timeline(&id)
        .iter()
        .map(|l| l["type"].as_str().unwrap_or("").to_string())
        .filter(|t| t == "workspace.saved" || t == "workspace.reset")
        .collect();
    assert_eq!(types, vec!["workspace.saved", "workspace.reset"]);
}

#[test]
fn retry_agent_on_a_copy_keeps_the_changed_files_in_the_run_dir() {
    let markers = tempfile::tempdir().unwrap();
    let env = Env::new(&config(markers.path()));
    let dir = env.path().join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("README.md"), "plain\n").unwrap();
    let id = env.start(&dir, "flaky", "fail once");
    let r = env.wait_status(&id, "failed");
    assert_eq!(r["workspace"], "copy");
    let wt = worktree(&r);
    std::fs::write(wt.join("hand.txt"), "by hand\n").unwrap();
    std::fs::write(wt.join("README.md"), "plain, edited\n").unwrap();

    env.ok(&["retry", &id, "--phase", "agent"]);
    let r = env.wait_status(&id, "succeeded");
    assert!(!wt.join("hand.txt").exists());
    let patch = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    assert!(
        !patch.contains("hand.txt") && !patch.contains("edited"),
        "{patch}"
    );
    assert_eq!(r["attempt"], 2);

    let saved = env.events_of(&id, "workspace.saved");
    assert_eq!(saved.len(), 1, "{saved:?}");
    let kept = PathBuf::from(saved[0]["path"].as_str().unwrap());
    assert_eq!(kept, env.run_dir(&id).join("saved/attempt-1"));
    assert_eq!(
        std::fs::read_to_string(kept.join("hand.txt")).unwrap(),
        "by hand\n"
    );
    assert_eq!(
        std::fs::read_to_string(kept.join("README.md")).unwrap(),
        "plain, edited\n"
    );
    assert_eq!(
        std::fs::read_to_string(kept.join("junk.txt")).unwrap(),
        "junk\n"
    );
}

#[test]
fn retry_smoke_checks_and_merges_exactly_what_the_worktree_holds() {
    let env = Env::new(&config(&std::env::temp_dir()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "result", "write the result");
    let r = env.wait_status(&id, "failed");
    assert_eq!(r["phase"], "smoke");
    let wt = worktree(&r);
    // Fixed by hand, not committed.
    std::fs::write(wt.join("result.txt"), "fixed\n").unwrap();

    env.ok(&["retry", &id, "--phase", "smoke"]);
    let r = finished(&env, &id);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    // What smoke passed is what the branch and patch.diff hold.
    assert_eq!(
        git(&repo, &["show", &format!("flightdeck/{id}:result.txt")]),
        "fixed\n"
    );
    let patch = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    assert!(
        patch.contains("+fixed") && !patch.contains("broken"),
        "{patch}"
    );
    let tip = git(&repo, &["rev-parse", &format!("flightdeck/{id}")]);
    assert_eq!(r["checked_commit"], tip.trim());
    let cp = env.events_of(&id, "workspace.checkpoint");
    assert_eq!(cp.len(), 1, "{cp:?}");
    assert_eq!(cp[0]["commit"], tip.trim());
    assert!(cp[0]["reason"]
        .as_str()
        .unwrap()
        .contains("uncommitted changes"));
    assert_eq!(r["merge"], "ready", "{r:#}");
    env.ok(&["merge", &id]);
    assert_eq!(
        std::fs::read_to_string(repo.join("result.txt")).unwrap(),
        "fixed\n"
    );
}

#[test]
fn the_gate_and_merge_hold_the_branch_to_the_commit_smoke_checked() {
    let env = Env::new(&config(&std::env::temp_dir()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "editor", "edit");
    let r = env.wait_status(&id, "succeeded");
    assert_eq!(r["merge"], "ready", "{r:#}");
    let wt = worktree(&r);
    // A commit on the run's branch after smoke ran: nothing checked it.
    std::fs::write(wt.join("late.txt"), "unchecked\n").unwrap();
    git(&wt, &["add", "late.txt"]);
    git(&wt, &["commit", "-q", "-m", "late"]);

    let err = env.fails(&["merge", &id]);
    assert!(
        err.contains("moved after smoke checked") && err.contains("retry --phase smoke"),
        "{err}"
    );
    assert!(!repo.join("late.txt").exists(), "nothing merged");
    assert_eq!(env.record(&id)["merge"], "blocked");

    // The gate itself says so when it is evaluated again without smoke.
    env.ok(&["retry", &id, "--phase", "deliver"]);
    let r = env.wait_status(&id, "succeeded");
    assert_eq!(r["merge"], "blocked");
    assert!(
        r["gate_reasons"][0]
            .as_str()
            .unwrap()
            .contains("the branch moved after smoke checked"),
        "{r:#}"
    );
    // Smoke again: it checks the new tip, and the run may merge.
    env.ok(&["retry", &id, "--phase", "smoke"]);
    let r = env.wait_for(&id, "ready", |r| {
        r["status"] == "succeeded" && r["merge"] == "ready"
    });
    assert_eq!(r["checked_commit"], git(&wt, &["rev-parse", "HEAD"]).trim());
    env.ok(&["merge", &id]);
    assert!(repo.join("late.txt").exists());
}

#[test]
fn a_run_that_changed_nothing_is_blocked() {
    let env = Env::new(&config(&std::env::temp_dir()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "nothing", "change nothing");
    let r = env.wait_status(&id, "succeeded");
    assert_eq!(r["merge"], "blocked", "{r:#}");
    assert_eq!(
        r["gate_reasons"],
        serde_json::json!(["the run changed nothing"])
    );
    assert!(r["score"].as_f64().unwrap() < 1.0, "{r:#}");
    let err = env.fails(&["merge", &id]);
    assert!(err.contains("the run changed nothing"), "{err}");
}

/// An agent whose own `git` died mid-write leaves the worktree's `index.lock`. The agent has
/// exited when its work is committed, so nothing can still hold that lock: it is cleared (and
/// said in the timeline) instead of failing the run with "the index is locked". The same holds
/// for a server killed while committing.
#[test]
fn a_stale_index_lock_left_in_the_worktree_does_not_fail_the_run() {
    let env = Env::new(
        r#"
[agents.locker]
command = ["sh", "-c", "echo made > made.txt; touch \"$(git rev-parse --git-dir)/index.lock\""]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "locker", "make a file, leave a lock");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "succeeded", "{r}");
    let branch = r["branch"].as_str().unwrap();
    assert_eq!(
        git(&repo, &["show", &format!("{branch}:made.txt")]),
        "made\n"
    );
    let said = env.events_of(&id, "workspace.lock_cleared");
    assert_eq!(said.len(), 1, "{:?}", env.timeline(&id));
}
