//! Workspaces: the copy fallback, uncommitted changes left behind, retries from checkpoints,
//! and cleaning that never loses work silently.

use std::path::{Path, PathBuf};

use crate::common::*;

fn config(dir: &Path) -> String {
    format!(
        r#"
[agents.editor]
command = ["sh", "-c", "echo changed >> README.md; echo new > added.txt"]

[agents.nothing]
command = ["true"]

[agents.flaky]
# Fails the first time (leaving junk behind), succeeds the second.
command = ["sh", "-c", "if [ -f \"$1\" ]; then echo good > good.txt; else touch \"$1\"; echo junk > junk.txt; exit 3; fi", "sh", "{marker}/marker-{{run_id}}"]

[agents.checked]
command = ["sh", "-c", "echo ok > result.txt"]

[[smoke]]
name = "gate-file"
command = ["sh", "-c", "test ! -f \"{marker}/smoke-fail\" || {{ echo 'the gate file says no'; exit 1; }}"]

# The gate file is the test's, not the agent's: no agent round would change it.
[smoke_feedback]
enabled = false
"#,
        marker = dir.display()
    )
}

fn worktree(r: &serde_json::Value) -> PathBuf {
    PathBuf::from(r["worktree"].as_str().unwrap())
}

#[test]
fn a_plain_directory_works_through_a_copy() {
    let env = Env::new(&config(&std::env::temp_dir()));
    let dir = env.path().join("plain");
    std::fs::create_dir_all(dir.join("target/debug")).unwrap();
    std::fs::create_dir_all(dir.join("node_modules/x")).unwrap();
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("README.md"), "plain project\n").unwrap();
    std::fs::write(dir.join("docs/guide.md"), "guide\n").unwrap();
    std::fs::write(dir.join("target/debug/big.bin"), "build output").unwrap();
    std::fs::write(dir.join("node_modules/x/index.js"), "module").unwrap();

    let out = env.ok(&[
        "run",
        "--repo",
        dir.to_str().unwrap(),
        "--agent",
        "editor",
        "--wait",
        "--json",
        "edit the plain dir",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(r["workspace"], "copy");
    let wt = worktree(&r);
    assert_ne!(wt, dir);
    assert!(wt.join("docs/guide.md").exists());
    assert!(!wt.join("target").exists(), "target/ is not copied");
    assert!(
        !wt.join("node_modules").exists(),
        "node_modules/ is not copied"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("README.md")).unwrap(),
        "plain project\nchanged\n"
    );
    // The original is untouched.
    assert_eq!(
        std::fs::read_to_string(dir.join("README.md")).unwrap(),
        "plain project\n"
    );
    assert!(!dir.join("added.txt").exists());
    assert!(!dir.join(".git").exists());

    let id = r["id"].as_str().unwrap();
    let patch = std::fs::read_to_string(env.run_dir(id).join("patch.diff")).unwrap();
    assert!(
        patch.contains("diff --git a/README.md b/README.md"),
        "{patch}"
    );
    assert!(patch.contains("+changed"), "{patch}");
    assert!(patch.contains("+++ b/added.txt"), "{patch}");
    assert!(!patch.contains("guide"), "{patch}");

    // The copy's changes exist nowhere else: clean refuses without --force.
    let err = env.fails(&["clean", id]);
    assert!(err.contains("exist nowhere else"), "{err}");
    env.ok(&["clean", id, "--force"]);
    assert!(!wt.exists());
    assert!(
        env.run_dir(id).join("patch.diff").exists(),
        "the proof pack stays"
    );
}

#[test]
fn uncommitted_changes_are_not_carried_and_the_timeline_says_so() {
    let env = Env::new(&config(&std::env::temp_dir()));
    let repo = git_repo(env.path(), "repo");
    std::fs::write(repo.join("README.md"), "# edited, not committed\n").unwrap();
    std::fs::write(repo.join("scratch.txt"), "untracked\n").unwrap();
    let id = env.start(&repo, "nothing", "start from the commit");
    let r = env.wait_status(&id, "succeeded");
    assert_eq!(
        std::fs::read_to_string(worktree(&r).join("README.md")).unwrap(),
        "# sample\n"
    );
    assert!(!worktree(&r).join("scratch.txt").exists());
    let notes = env.events_of(&id, "workspace.uncommitted_not_carried");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["files"], 2);
    assert!(notes[0]["message"]
        .as_str()
        .unwrap()
        .contains("not carried over"));
    // The user's edits are still there.
    assert_eq!(
        std::fs::read_to_string(repo.join("README.md")).unwrap(),
        "# edited, not committed\n"
    );
}

#[test]
fn retry_agent_starts_again_from_the_base_commit() {
    let markers = tempfile::tempdir().unwrap();
    let env = Env::new(&config(markers.path()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "flaky", "fail once");
    let r = env.wait_status(&id, "failed");
    assert_eq!(r["phase"], "agent");
    assert_eq!(r["exit_code"], 3);
    assert!(r["reason"].as_str().unwrap().contains("exited with code 3"));
    assert!(worktree(&r).join("junk.txt").exists());
    let failed_patch = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    assert!(
        failed_patch.contains("junk.txt"),
        "a failed run keeps its evidence"
    );

    let out = env.ok(&["retry", &id, "--phase", "agent"]);
    assert!(out.contains("attempt 2"), "{out}");
    let r = env.wait_status(&id, "succeeded");
    assert_eq!(r["attempt"], 2);
    assert_eq!(r["exit_code"], 0);
    let wt = worktree(&r);
    assert!(wt.join("good.txt").exists());
    assert!(
        !wt.join("junk.txt").exists(),
        "the retry starts from the base commit"
    );
    let patch = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    assert!(
        patch.contains("good.txt") && !patch.contains("junk.txt"),
        "{patch}"
    );
    // One commit on top of the base: the failed attempt is gone from the branch.
    assert_eq!(
        git(
            &wt,
            &[
                "rev-list",
                "--count",
                &format!("{}..HEAD", r["base"].as_str().unwrap())
            ]
        )
        .trim(),
        "1"
    );
    assert_eq!(env.events_of(&id, "workspace.reset").len(), 1);
    assert_eq!(env.events_of(&id, "agent.started").len(), 2);

    let err = env.fails(&["retry", &id]);
    assert!(err.contains("pass --phase"), "{err}");
}

#[test]
fn retry_smoke_reruns_the_checks_on_the_current_state() {
    let markers = tempfile::tempdir().unwrap();
    let env = Env::new(&config(markers.path()));
    let repo = git_repo(env.path(), "repo");
    std::fs::write(markers.path().join("smoke-fail"), "").unwrap();
    let id = env.start(&repo, "checked", "pass the gate file");
    let r = env.wait_status(&id, "failed");
    assert_eq!(r["phase"], "smoke");
    let smoke: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.run_dir(&id).join("smoke.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(smoke[0]["name"], "gate-file");
    assert_eq!(smoke[0]["passed"], false);
    assert_eq!(smoke[0]["exit_code"], 1);
    assert!(smoke[0]["output_tail"]
        .as_str()
        .unwrap()
        .contains("the gate file says no"));
    assert!(smoke[0]["duration_ms"].is_u64());
    assert_eq!(smoke[0]["command"][0], "sh");

    std::fs::remove_file(markers.path().join("smoke-fail")).unwrap();
    env.ok(&["retry", &id]); // the default phase is the one that failed
    let r = env.wait_status(&id, "succeeded");
    assert_eq!(r["phase"], "done");
    assert_eq!(
        env.events_of(&id, "agent.started").len(),
        1,
        "the agent did not run again"
    );
    assert_eq!(env.events_of(&id, "check.finished").len(), 2);
    assert!(worktree(&r).join("result.txt").exists());
}

#[test]
fn clean_refuses_to_lose_work_unless_forced() {
    let env = Env::new(&config(&std::env::temp_dir()));
    let repo = git_repo(env.path(), "repo");

    // No changes: cleaned without a word.
    let quiet = env.start(&repo, "nothing", "change nothing");
    let r = env.wait_status(&quiet, "succeeded");
    env.ok(&["clean", &quiet]);
    assert!(!worktree(&r).exists());
    assert!(
        git(&repo, &["branch", "--list", &format!("flightdeck/{quiet}")])
            .trim()
            .is_empty()
    );
    assert!(env.record(&quiet)["cleaned"].as_bool().unwrap());

    // Committed on the branch but not merged.
    let id = env.start(&repo, "editor", "edit");
    let r = env.wait_status(&id, "succeeded");
    let wt = worktree(&r);
    let err = env.fails(&["clean", &id]);
    assert!(err.contains("1 commit(s) not merged into main"), "{err}");
    assert!(wt.exists());

    // Uncommitted changes in the worktree.
    std::fs::write(wt.join("notes.txt"), "my notes").unwrap();
    let err = env.fails(&["clean", &id]);
    assert!(
        err.contains("uncommitted changes") && err.contains("notes.txt"),
        "{err}"
    );
    assert!(wt.join("notes.txt").exists());

    // Merged: then clean needs no force.
    std::fs::remove_file(wt.join("notes.txt")).unwrap();
    git(
        &repo,
        &["merge", "-q", "--ff-only", &format!("flightdeck/{id}")],
    );
    env.ok(&["clean", &id]);
    assert!(!wt.exists());
    assert!(env.run_dir(&id).join("patch.diff").exists());
    assert!(env.run_dir(&id).join("timeline.jsonl").exists());
    assert_eq!(env.events_of(&id, "workspace.cleaned").len(), 1);

    // --force removes unmerged work too.
    let id = env.start(&repo, "editor", "edit again");
    let r = env.wait_status(&id, "succeeded");
    env.fails(&["clean", &id]);
    env.ok(&["clean", &id, "--force"]);
    assert!(!worktree(&r).exists());
    assert!(
        git(&repo, &["branch", "--list", &format!("flightdeck/{id}")])
            .trim()
            .is_empty()
    );
    assert!(git(&repo, &["worktree", "list"]).lines().count() == 1);

    // The user checked the run's branch out in their own checkout to try it: even --force
    // keeps everything (their HEAD would be left on a deleted branch), and says why.
    let id = env.start(&repo, "editor", "edit to try");
    let r = env.wait_status(&id, "succeeded");
    let branch = format!("flightdeck/{id}");
    git(
        &repo,
        &["checkout", "-q", "--ignore-other-worktrees", &branch],
    );
    let err = env.fails(&["clean", &id, "--force"]);
    assert!(
        err.contains(&format!("branch flightdeck/{id} is checked out in"))
            && err.contains("switch that checkout"),
        "{err}"
    );
    assert!(worktree(&r).exists());
    assert!(!env.record(&id)["cleaned"].as_bool().unwrap());
    git(&repo, &["checkout", "-q", "main"]);
    env.ok(&["clean", &id, "--force"]);
    assert!(!worktree(&r).exists());
}

#[test]
fn base_may_name_another_branch() {
    let env = Env::new(&config(&std::env::temp_dir()));
    let repo = git_repo(env.path(), "repo");
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(repo.join("feature.txt"), "feature\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "feature"]);
    let feature = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["checkout", "-q", "main"]);
    let out = env.ok(&[
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        "nothing",
        "--base",
        "feature",
        "--wait",
        "--json",
        "on feature",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["base"].as_str().unwrap(), feature.trim());
    assert_eq!(r["base_branch"], "feature");
    assert!(worktree(&r).join("feature.txt").exists());
}

/// Every file under `dir` (not `.git`) with its mode bits and content (a symlink: its target).
fn listing(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if rel == ".git" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.push((rel, 0o120000, target.to_string_lossy().as_bytes().to_vec()));
            } else if meta.is_dir() {
                out.push((rel, 0o40000, Vec::new()));
                stack.push(p);
            } else {
                out.push((
                    rel,
                    meta.permissions().mode() & 0o111,
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// flightdeck writes worktrees on several threads with its own index: git must see exactly
/// what its own `worktree add` makes, and a clean status, and manage it as its own.
#[test]
fn a_worktree_is_what_git_worktree_add_makes_and_git_sees_it_clean() {
    use flightdeck::run::WorkspaceKind;
    use flightdeck::workspace::{self, Spec};
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let repo = git_repo(dir.path(), "repo");
    std::fs::create_dir_all(repo.join("deep/er/still")).unwrap();
    std::fs::write(repo.join("deep/er/still/file.txt"), "deep\n").unwrap();
    std::fs::write(repo.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(repo.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("deep/er/still/file.txt", repo.join("link")).unwrap();
    std::fs::write(repo.join("empty"), "").unwrap();
    for i in 0..300 {
        std::fs::write(repo.join(format!("src/f{i}.rs")), format!("// {i}\n")).unwrap();
    }
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "more files"]);
    let base = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();

    let ours = dir.path().join("ours");
    let created = workspace::create(&Spec {
        run_id: "fastwt01".into(),
        kind: WorkspaceKind::Worktree,
        source: repo.clone(),
        base: base.clone(),
        branch: "flightdeck/fastwt01".into(),
        path: ours.clone(),
    })
    .unwrap();
    assert_eq!(created.base, base);
    assert!(workspace::uncommitted_in(&repo).unwrap().is_empty());
    let theirs = dir.path().join("theirs");
    git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "theirs",
            theirs.to_str().unwrap(),
            &base,
        ],
    );
    assert_eq!(listing(&ours), listing(&theirs));

    // git sees it clean, on its branch, and lists it.
    assert_eq!(git(&ours, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&ours, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "flightdeck/fastwt01"
    );
    assert_eq!(git(&ours, &["rev-parse", "HEAD"]).trim(), base);
    let list = git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(
        list.contains(&format!("worktree {}", ours.display())),
        "{list}"
    );
    assert!(
        list.contains("branch refs/heads/flightdeck/fastwt01"),
        "{list}"
    );
    // An edit shows as one; git can commit in it and remove it.
    std::fs::write(ours.join("src/f7.rs"), "// changed\n").unwrap();
    assert_eq!(git(&ours, &["status", "--porcelain"]), " M src/f7.rs\n");
    git(
        &repo,
        &["worktree", "remove", "--force", ours.to_str().unwrap()],
    );
    assert!(!ours.exists());
    assert!(!git(&repo, &["worktree", "list"]).contains("fastwt01"));
}

/// Runs that all edit one line and wait to merge: each is told of a bounded number of others,
/// not of every one (500 such runs would make 250,000 findings).
#[test]
fn the_radar_names_at_most_a_few_runs_a_run_conflicts_with() {
    use flightdeck::run::WorkspaceKind;
    use flightdeck::workspace::{self, radar, Spec};

    let dir = tempfile::tempdir().unwrap();
    let repo = git_repo(dir.path(), "repo");
    let base = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let mut runs = Vec::new();
    for i in 0..15 {
        let id = format!("capped{i:02}");
        let wt = dir.path().join("wt").join(&id);
        let branch = format!("flightdeck/{id}");
        workspace::create(&Spec {
            run_id: id.clone(),
            kind: WorkspaceKind::Worktree,
            source: repo.clone(),
            base: base.clone(),
            branch: branch.clone(),
            path: wt.clone(),
        })
        .unwrap();
        std::fs::write(wt.join("README.md"), format!("# run {i}\n")).unwrap();
        git(&wt, &["commit", "-qam", "edit"]);
        runs.push(radar::RadarRun {
            id,
            repo: repo.clone(),
            worktree: wt,
            base: base.clone(),
            branch,
            target: None,
            live: false,
            pairwise: false,
            waiting: true,
            excludes: vec![],
        });
    }
    let found = radar::scan(&runs);
    for (id, f) in &found {
        assert!(
            (1..=radar::MAX_RUN_FINDINGS).contains(&f.len()),
            "{id}: {} findings",
            f.len()
        );
        assert!(f.iter().all(|c| c.both_waiting));
    }
}
