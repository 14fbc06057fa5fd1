//! Real repositories: attributes (eol conversions, ident, binary), a Git LFS file and a
//! submodule. A run's worktree, cold or from the warm pool, is byte for byte what
//! `git worktree add` makes, and `git status` in it is clean.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;

fn has_git_lfs() -> bool {
    std::process::Command::new("git")
        .args(["lfs", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A repository as real ones are: attributes with conversions, an LFS-tracked file (LFS
/// installed in its own config), a submodule with one of its own, both initialised in the
/// user's checkout, some history.
fn real_repo(parent: &Path) -> PathBuf {
    let deep = git_repo(parent, "deep");
    let sub = git_repo(parent, "lib");
    git(
        &sub,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            deep.to_str().unwrap(),
            "third_party/deep",
        ],
    );
    git(&sub, &["commit", "-q", "-m", "a submodule of its own"]);
    let repo = parent.join("app");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["lfs", "install", "--local"]);
    std::fs::write(
        repo.join(".gitattributes"),
        "*.txt text eol=crlf\n*.sh text eol=lf\n*.bin binary\nid.c ident\n*.dat filter=lfs diff=lfs merge=lfs -text\n",
    )
    .unwrap();
    std::fs::write(repo.join("notes.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(repo.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(repo.join("blob.bin"), [0u8, 1, 2, 13, 10, 255]).unwrap();
    std::fs::write(repo.join("id.c"), "/* $Id$ */\nint x;\n").unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(repo.join("big.dat"), &big).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "files with attributes"]);
    for i in 0..5 {
        std::fs::write(repo.join(format!("f{i}.txt")), format!("line {i}\n")).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", &format!("history {i}")]);
    }
    git(
        &repo,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            sub.to_str().unwrap(),
            "vendor/lib",
        ],
    );
    git(&repo, &["commit", "-q", "-m", "a submodule"]);
    git(
        &repo,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "--init",
            "--recursive",
            "-q",
        ],
    );
    repo
}

/// Every file under `dir` (not git's own `.git` entries), with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_name() == ".git" {
                continue;
            }
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().to_string();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(p);
            } else if t.is_symlink() {
                out.insert(
                    rel,
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// What `git worktree add` makes of `base` (with the submodules the checkout has initialised).
fn reference(repo: &Path, base: &str, at: &Path) -> BTreeMap<String, Vec<u8>> {
    git(
        repo,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            at.to_str().unwrap(),
            base,
        ],
    );
    git(
        at,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "--init",
            "--recursive",
            "-q",
        ],
    );
    let f = files(at);
    git(
        repo,
        &["worktree", "remove", "--force", at.to_str().unwrap()],
    );
    f
}

fn assert_same(run: &BTreeMap<String, Vec<u8>>, git: &BTreeMap<String, Vec<u8>>, what: &str) {
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(run), names(git), "{what}: the same files");
    for (name, bytes) in git {
        assert!(run[name] == *bytes, "{what}: {name} differs from git's");
    }
}

#[test]
fn a_runs_worktree_cold_or_pooled_is_what_git_worktree_add_makes() {
    if !has_git_lfs() {
        println!("git-lfs not installed: skipped (.ci/run installs it)");
        return;
    }
    let mut env = Env::new(
        "pool = 1\n[agents.look]\ncommand = [\"sh\", \"-c\", \"git status --porcelain > ../status-$FLIGHTDECK_RUN_ID\"]\n",
    );
    env.vars.push(("FLIGHTDECK_LOG".into(), "debug".into()));
    // The submodule's URL is a local path, which git refuses to clone unless allowed (as a
    // user with such submodules has in their own git config).
    for (k, v) in [
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", "protocol.file.allow"),
        ("GIT_CONFIG_VALUE_0", "always"),
    ] {
        env.vars.push((k.into(), v.into()));
    }
    let repo = real_repo(env.path());
    let base = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let want = reference(&repo, &base, &env.path().join("reference"));
    // The checkout git made has the LFS content, CRLF text, the submodule's files.
    assert_eq!(want["big.dat"].len(), 100_000, "git-lfs smudged it");
    assert_eq!(want["notes.txt"], b"one\r\ntwo\r\nthree\r\n");
    assert!(want.contains_key("vendor/lib/README.md"));
    assert!(want.contains_key("vendor/lib/third_party/deep/README.md"));

    let cold = env.start(&repo, "look", "look");
    let r = env.wait_for(&cold, "finished", |r| {
        r["status"] != "queued" && r["status"] != "running"
    });
    let wt = PathBuf::from(r["worktree"].as_str().unwrap());
    assert_same(&files(&wt), &want, "the cold run");
    let status =
        std::fs::read_to_string(wt.parent().unwrap().join(format!("status-{cold}"))).unwrap();
    assert_eq!(status, "", "git status in the run's worktree is clean");

    // The pool refills (after the cold run asked), then hands its worktree to the next run.
    let log = env.home.join("server.log");
    wait_until("the pool refilled", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("refilled to 1"))
    });
    let warm = env.start(&repo, "look", "look again");
    let r = env.wait_for(&warm, "finished", |r| {
        r["status"] != "queued" && r["status"] != "running"
    });
    let created = &env.events_of(&warm, "workspace.created")[0];
    assert_eq!(created["pool"], "at base", "{created:#}");
    let wt = PathBuf::from(r["worktree"].as_str().unwrap());
    assert_same(&files(&wt), &want, "the pooled run");
    let status =
        std::fs::read_to_string(wt.parent().unwrap().join(format!("status-{warm}"))).unwrap();
    assert_eq!(status, "", "git status in the pooled worktree is clean");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("WARN"), "no refill failed: {log}");
}

#[test]
fn a_sparse_checkout_gives_the_run_what_git_worktree_add_gives_cold_or_pooled() {
    let mut env = Env::new(
        "pool = 1\n[agents.look]\ncommand = [\"sh\", \"-c\", \"git status --porcelain > ../status-$FLIGHTDECK_RUN_ID\"]\n",
    );
    env.vars.push(("FLIGHTDECK_LOG".into(), "debug".into()));
    let repo = git_repo(env.path(), "repo");
    for dir in ["docs", "web/assets"] {
        std::fs::create_dir_all(repo.join(dir)).unwrap();
        std::fs::write(repo.join(dir).join("big.txt"), "not wanted here\n").unwrap();
    }
    git(&repo, &["add", "."]);
    git(
        &repo,
        &["commit", "-q", "-m", "more than the user checks out"],
    );
    // The user works on src/ only (cone mode: top-level files and src/).
    git(&repo, &["sparse-checkout", "set", "src"]);
    assert!(!repo.join("docs").exists(), "git left docs/ out");
    let base = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let want = reference(&repo, &base, &env.path().join("reference"));
    assert!(want.contains_key("src/lib.rs"), "{:?}", want.keys());
    assert!(
        !want.keys().any(|k| k.starts_with("docs/")),
        "{:?}",
        want.keys()
    );

    for (task, pooled) in [("cold", false), ("pooled", true)] {
        if pooled {
            let log = env.home.join("server.log");
            wait_until("the pool refilled", || {
                std::fs::read_to_string(&log).is_ok_and(|l| l.contains("refilled to 1"))
            });
        }
        let id = env.start(&repo, "look", task);
        let r = env.wait_for(&id, "finished", |r| {
            r["status"] != "queued" && r["status"] != "running"
        });
        if pooled {
            let created = &env.events_of(&id, "workspace.created")[0];
            assert_eq!(created["pool"], "at base", "{created:#}");
        }
        let wt = PathBuf::from(r["worktree"].as_str().unwrap());
        assert_same(&files(&wt), &want, task);
        let status =
            std::fs::read_to_string(wt.parent().unwrap().join(format!("status-{id}"))).unwrap();
        assert_eq!(
            status, "",
            "{task}: git status in the run's worktree is clean"
        );
    }
}
