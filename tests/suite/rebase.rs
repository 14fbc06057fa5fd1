//! Conflicts a person or the agent can fix: a branch brought up to date by hand is judged as it
//! is, and `flightdeck rebase` replays a run onto its target's head.

use std::path::{Path, PathBuf};

use crate::common::landing::*;
use crate::common::*;

#[test]
fn a_branch_brought_up_to_date_by_hand_is_ready_and_its_patch_holds_only_its_own_change() {
    let env = Env::new("[agents.edit]\ncommand = [\"sh\", \"-c\", \"echo run > shared.txt\"]\n");
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "edit", "edit shared.txt");
    let r = ready(&env, &id);
    let wt = PathBuf::from(r["worktree"].as_str().unwrap());
    // main moves: the same line, and a file of its own.
    std::fs::write(repo.join("shared.txt"), "main\n").unwrap();
    std::fs::write(repo.join("m.txt"), "main's own file\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "main edits shared.txt"]);
    env.wait_for(&id, "in conflict with main", |r| r["merge"] == "conflict");

    // The person brings the branch up to date in the worktree and resolves the conflict.
    let merge = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "merge",
            "-q",
            "main",
        ])
        .current_dir(&wt)
        .output()
        .unwrap();
    assert!(!merge.status.success(), "the merge was meant to conflict");
    std::fs::write(wt.join("shared.txt"), "run and main\n").unwrap();
    git(&wt, &["add", "shared.txt"]);
    git(&wt, &["commit", "-q", "--no-edit"]);
    env.ok(&["retry", &id, "--phase", "smoke"]);
    let r = env.wait_for(&id, "ready again", |r| {
        r["status"] == "succeeded" && r["merge"] == "ready"
    });
    assert!(r["conflicts"].as_array().unwrap().is_empty(), "{r:#}");
    let patch = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    assert!(
        patch.contains("-main") && patch.contains("+run and main"),
        "{patch}"
    );
    assert!(
        !patch.contains("m.txt"),
        "main's own file credited to the run: {patch}"
    );
    env.ok(&["merge", &id]);
    assert_eq!(
        std::fs::read_to_string(repo.join("shared.txt")).unwrap(),
        "run and main\n"
    );
}

const REBASERS: &str = r#"
[agents.first]
command = ["sh", "-c", "echo first > shared.txt"]
# Its first iteration writes its own line; told of a conflict, it keeps both.
[agents.second]
command = ["sh", "-c", "if [ -n \"$FLIGHTDECK_FEEDBACK_FILE\" ] && grep -q conflict \"$FLIGHTDECK_FEEDBACK_FILE\"; then printf 'first\\nsecond\\n' > shared.txt; else echo second > shared.txt; fi"]
"#;

/// Two runs editing the same line; the first lands, the second conflicts with main.
fn second_conflicts(env: &Env, repo: &Path) -> (String, String) {
    let a = env.start(repo, "first", "first edit");
    let b = env.start(repo, "second", "second edit");
    ready(env, &a);
    env.wait_for(&b, "waiting", |r| r["status"] == "succeeded");
    env.ok(&["merge", &a]);
    env.wait_for(&b, "in conflict with main", |r| r["merge"] == "conflict");
    (a, b)
}

#[test]
fn rebase_sends_a_conflict_to_the_agent_and_the_resolved_run_lands() {
    let env = Env::new(REBASERS);
    let repo = git_repo(env.path(), "repo");
    let (_, b) = second_conflicts(&env, &repo);
    let old_head = env.record(&b)["checked_commit"]
        .as_str()
        .unwrap()
        .to_string();
    let out = env.ok(&["rebase", &b]);
    assert!(out.contains("the agent gets one more iteration"), "{out}");
    let r = env.wait_for(&b, "ready after the rebase", |r| {
        r["status"] == "succeeded" && r["merge"] == "ready"
    });
    assert_eq!(r["attempt"], 2);
    assert_eq!(
        r["base"].as_str().unwrap(),
        git(&repo, &["rev-parse", "main"]).trim()
    );
    let conflict = env.events_of(&b, "workspace.rebase_conflict");
    assert_eq!(conflict[0]["files"], serde_json::json!(["shared.txt"]));
    // Nothing lost: the old head is kept.
    assert_eq!(
        git(
            &repo,
            &["rev-parse", &format!("refs/flightdeck/{b}/attempt-1")]
        )
        .trim(),
        old_head
    );
    let patch = std::fs::read_to_string(env.run_dir(&b).join("patch.diff")).unwrap();
    assert!(
        patch.contains("+second") && !patch.contains("+first"),
        "{patch}"
    );
    env.ok(&["merge", &b]);
    assert_eq!(
        std::fs::read_to_string(repo.join("shared.txt")).unwrap(),
        "first\nsecond\n"
    );
}

#[test]
fn rebase_by_hand_leaves_the_conflict_to_a_person_and_the_run_lands_after_retry() {
    let env = Env::new(REBASERS);
    let repo = git_repo(env.path(), "repo");
    let (_, b) = second_conflicts(&env, &repo);
    let out = env.ok(&["rebase", "--by-hand", &b]);
    assert!(
        out.contains("conflicts in shared.txt") && out.contains("flightdeck retry"),
        "{out}"
    );
    let r = env.record(&b);
    assert_eq!(
        (r["status"].as_str(), r["merge"].as_str()),
        (Some("failed"), Some("blocked"))
    );
    let wt = PathBuf::from(r["worktree"].as_str().unwrap());
    let text = std::fs::read_to_string(wt.join("shared.txt")).unwrap();
    assert!(
        text.contains("<<<<<<<") && text.contains(">>>>>>>"),
        "{text}"
    );
    // The person resolves in the worktree and carries on.
    std::fs::write(wt.join("shared.txt"), "first\nsecond by hand\n").unwrap();
    env.ok(&["retry", &b]);
    env.wait_for(&b, "ready", |r| {
        r["status"] == "succeeded" && r["merge"] == "ready"
    });
    env.ok(&["merge", &b]);
    assert_eq!(
        std::fs::read_to_string(repo.join("shared.txt")).unwrap(),
        "first\nsecond by hand\n"
    );
}
