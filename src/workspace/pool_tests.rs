//! The pool's interleavings, forced step by step instead of hoped for under load.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::run::WorkspaceKind;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with two commits: `a` (f0 = "0", f1 present) and `b` (f0 moved, f1 gone).
/// `attributes`: the tree has a `.gitattributes`, as most real projects do.
fn two_commits(tmp: &Path, attributes: bool) -> (PathBuf, String, String) {
    let repo = tmp.join("repo");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    for i in 0..20 {
        std::fs::write(repo.join(format!("src/f{i}.txt")), format!("{i}\n")).unwrap();
    }
    if attributes {
        std::fs::write(
            repo.join(".gitattributes"),
            "*.txt text eol=lf\n*.bin binary\n",
        )
        .unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "a"]);
    let a = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("src/f0.txt"), "moved\n").unwrap();
    std::fs::remove_file(repo.join("src/f1.txt")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "b"]);
    let b = git(&repo, &["rev-parse", "HEAD"]);
    (repo, a, b)
}

fn spec(repo: &Path, runs: &Path, id: &str, base: &str) -> Spec {
    Spec {
        run_id: id.into(),
        kind: WorkspaceKind::Worktree,
        source: repo.to_path_buf(),
        base: base.into(),
        branch: format!("flightdeck/{id}"),
        path: runs.join(id),
    }
}

/// The worktree is on its branch at `base`, with index and files exactly base's.
fn assert_whole(spec: &Spec, base: &str) {
    let wt = &spec.path;
    assert_eq!(git(wt, &["rev-parse", "HEAD"]), base);
    assert_eq!(
        git(wt, &["rev-parse", "--abbrev-ref", "HEAD"]),
        spec.branch,
        "not on its branch"
    );
    assert_eq!(
        git(wt, &["status", "--porcelain", "--untracked-files=all"]),
        "",
        "{} is not clean at its base",
        spec.run_id
    );
}

#[test]
fn an_entry_brought_forward_between_listing_and_claim_is_handed_out_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo_dir, a, b) = two_commits(tmp.path(), false);
    let runs = tmp.path().join("worktrees/repo");
    std::fs::create_dir_all(&runs).unwrap();
    let pool = runs.join(".pool");
    Keeper::default().refill(&repo_dir, &pool, &b, 1).unwrap();
    let repo = Repository::open(&repo_dir).unwrap();

    // A run wanting b lists the pool: one entry, at b.
    let listed = entries(&repo, &pool);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].head, b);
    // Before it claims, a refill for a takes that entry, brings it to a and publishes it again
    // under the same name.
    Keeper::default().refill(&repo_dir, &pool, &a, 1).unwrap();
    let now = entries(&repo, &pool);
    assert_eq!((now.len(), now[0].id.as_str()), (1, listed[0].id.as_str()));
    assert_eq!(now[0].head, a);

    // The run's claim succeeds on the entry as it is now: it must be brought to b.
    let run = spec(&repo_dir, &runs, "r1", &b);
    let at_base = take_listed(&repo, &run, listed).unwrap();
    assert_eq!(
        at_base,
        Some(false),
        "the entry was at a, not at the run's base"
    );
    assert_whole(&run, &b);
}

#[test]
fn a_tree_with_attributes_fills_the_pool_and_hands_out_whole_worktrees() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo_dir, a, b) = two_commits(tmp.path(), true);
    let runs = tmp.path().join("worktrees/repo");
    std::fs::create_dir_all(&runs).unwrap();
    let pool = runs.join(".pool");
    Keeper::default().refill(&repo_dir, &pool, &a, 2).unwrap();
    let repo = Repository::open(&repo_dir).unwrap();
    assert_eq!(entries(&repo, &pool).len(), 2, "the refill made no entry");

    let at_a = spec(&repo_dir, &runs, "r1", &a);
    assert_eq!(take(&at_a).unwrap(), Some(true));
    assert_whole(&at_a, &a);
    let at_b = spec(&repo_dir, &runs, "r2", &b);
    assert_eq!(take(&at_b).unwrap(), Some(false));
    assert_whole(&at_b, &b);
}

/// A refill that fails is recorded with its cause and holds the pool's refills back: the next
/// request within the wait starts nothing (it used to be tried, and logged, every tick).
#[test]
fn a_failing_refill_says_why_once_and_backs_off() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = tmp.path().join(".pool");
    let not_a_repo = tmp.path().join("gone");
    let keeper = Keeper::default();
    let ask = || {
        keeper.refill_later(
            not_a_repo.clone(),
            pool.clone(),
            "0".repeat(40),
            2,
            "HEAD".into(),
        )
    };
    ask();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while keeper.failure(&pool).is_none() {
        assert!(std::time::Instant::now() < until, "the refill never ended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (said, times) = keeper.failure(&pool).unwrap_or_default();
    assert!(said.contains("gone"), "the cause names what failed: {said}");
    assert_eq!(times, 1);
    assert!(!keeper.refilling().contains(&pool), "that refill is over");
    ask();
    assert!(
        !keeper.refilling().contains(&pool),
        "asked again within the wait: no refill starts"
    );
    assert_eq!(keeper.failure(&pool).map(|f| f.1), Some(1));
}
