//! After landing: no run names a landed run as a rival, and landed runs' worktrees and
//! branches go (`clean RUN...`, `clean --merged`, `gate.clean_merged`).

use std::path::PathBuf;

use crate::common::landing::*;
use crate::common::*;

const TWO_EDITORS: &str = r#"
[agents.first]
command = ["sh", "-c", "echo first > shared.txt"]
[agents.second]
command = ["sh", "-c", "echo second > shared.txt"]
[agents.other]
command = ["sh", "-c", "echo other > other.txt"]
"#;

#[test]
fn landed_runs_name_no_rivals_and_clean_merged_leaves_no_worktree_or_branch() {
    let env = Env::new(TWO_EDITORS);
    let repo = git_repo(env.path(), "repo");
    let a = env.start(&repo, "first", "first edit");
    let b = env.start(&repo, "second", "second edit");
    let c = env.start(&repo, "other", "other file");
    for id in [&a, &b] {
        env.wait_for(id, "flagged", |r| {
            r["status"] == "succeeded"
                && r["conflicts"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|f| f["with"].as_str().unwrap().starts_with("run:"))
                })
        });
    }
    ready(&env, &c);
    env.ok(&["merge", &a, &c]);
    // The landed run names no one; the other names main, not the landed run.
    let ra = env.record(&a);
    assert!(ra["conflicts"].as_array().unwrap().is_empty(), "{ra:#}");
    let rb = env.wait_for(&b, "in conflict with main only", |r| {
        let c = r["conflicts"].as_array().unwrap();
        !c.is_empty() && c.iter().all(|f| f["with"] == "target:main")
    });
    assert_eq!(rb["merge"], "conflict");
    let err = env.fails(&["merge", &b]);
    assert!(err.contains("not merging run"), "{err}");

    // Both landed runs go at once; b, not landed, stays.
    let out = env.ok(&["clean", "--merged"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("removed")).count(),
        2,
        "{out}"
    );
    for id in [&a, &c] {
        let r = env.record(id);
        assert_eq!(r["cleaned"], true);
        assert_eq!(r["merge"], "merged");
        assert!(!PathBuf::from(r["worktree"].as_str().unwrap()).exists());
    }
    let list = git(&repo, &["worktree", "list"]);
    assert!(!list.contains(&a) && !list.contains(&c), "{list}");
    assert!(list.contains(&b), "{list}");
    let branches = git(
        &repo,
        &[
            "branch",
            "--list",
            "--format=%(refname:short)",
            "flightdeck/*",
        ],
    );
    assert_eq!(branches.trim(), format!("flightdeck/{b}"));
    // Cleaning several at once, by name; a refusal says why and the exit code says so.
    let out = env.output(&["clean", &b, &a]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("not cleaning run {b}")),
        "{out:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("flightdeck/{a}")),
        "{out:?}"
    );
}

#[test]
fn gate_clean_merged_removes_a_landed_runs_worktree_and_branch() {
    let env = Env::new(&format!("{TWO_EDITORS}\n[gate]\nclean_merged = true\n"));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "other", "other file");
    ready(&env, &id);
    env.ok(&["merge", &id]);
    let r = env.wait_for(&id, "cleaned", |r| r["cleaned"] == true);
    assert!(!PathBuf::from(r["worktree"].as_str().unwrap()).exists());
    assert_eq!(git(&repo, &["branch", "--list", "flightdeck/*"]).trim(), "");
    assert!(repo.join("other.txt").exists());
}
