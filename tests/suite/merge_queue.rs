//! The merge queue: what lands is the commit the required checks passed on, merged with the
//! target as it will be; two runs green on their own branches but red together never both land.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::landing::*;
use crate::common::*;
use serde_json::Value;

const PY_AGENTS: &str = r#"
[agents.rename]
command = ["sh", "-c", "sed -i s/mul/times/g calc.py test_calc.py"]
[agents.square]
command = ["sh", "-c", "printf 'from calc import mul\n\ndef square(x):\n    return mul(x, x)\n' > square.py && printf 'import unittest\nfrom square import square\n\nclass T(unittest.TestCase):\n    def test_square(self):\n        self.assertEqual(square(3), 9)\n' > test_square.py"]

[[smoke]]
name = "unittest"
command = ["python3", "-B", "-m", "unittest", "-q"]
"#;

/// A small Python project with a `mul` and its test, on `main`.
fn python_repo(parent: &Path) -> PathBuf {
    let repo = parent.join("calc");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("calc.py"), "def mul(a, b):\n    return a * b\n").unwrap();
    std::fs::write(
        repo.join("test_calc.py"),
        "import unittest\nfrom calc import mul\n\nclass T(unittest.TestCase):\n    def test_mul(self):\n        self.assertEqual(mul(2, 3), 6)\n",
    )
    .unwrap();
    std::fs::write(repo.join(".gitignore"), "__pycache__/\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "calc"]);
    repo
}

/// Run `check` in a throwaway checkout of `commit`: did it pass?
fn passes_at(repo: &Path, commit: &str, check: &[&str]) -> bool {
    let dir = repo
        .parent()
        .unwrap()
        .join(format!("verify-{}", &commit[..10]));
    git(
        repo,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            dir.to_str().unwrap(),
            commit,
        ],
    );
    let ok = std::process::Command::new(check[0])
        .args(&check[1..])
        .current_dir(&dir)
        .output()
        .unwrap()
        .status
        .success();
    git(
        repo,
        &["worktree", "remove", "--force", dir.to_str().unwrap()],
    );
    ok
}

#[test]
fn a_rename_and_a_new_call_site_never_both_land() {
    let env = Env::new(PY_AGENTS);
    let repo = python_repo(env.path());
    let a = env.start(&repo, "rename", "rename mul to times");
    let b = env.start(&repo, "square", "add a square helper");
    ready(&env, &a);
    ready(&env, &b);

    let out = env.output(&["merge", &a, &b]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "merge said all landed: {stdout}");
    assert!(
        stdout.contains(&format!("merged run {a} into main")),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("not merging run {b}"))
            && stderr.contains("the required checks fail once merged with main")
            && stderr.contains("cannot import name 'mul'"),
        "{stderr}"
    );
    let rb = env.record(&b);
    assert_eq!(rb["merge"], "blocked", "{rb:#}");
    assert!(
        rb["gate_reasons"][0]
            .as_str()
            .unwrap()
            .contains("fail once merged with main"),
        "{rb:#}"
    );
    // The failing output is in the refused run's timeline, and its PR.md says why.
    let tested = env.events_of(&b, "merge.tested");
    let last = tested.last().expect("merge.tested");
    assert_eq!(last["passed"], false);
    assert!(
        last["checks"][0]["output_tail"]
            .as_str()
            .unwrap()
            .contains("ImportError"),
        "{last:#}"
    );
    assert_eq!(env.events_of(&b, "merge.refused").len(), 1);
    wait_until("PR.md to give the reason", || {
        std::fs::read_to_string(env.run_dir(&b).join("PR.md"))
            .unwrap_or_default()
            .contains("fail once merged with main")
    });

    // main only ever pointed at commits whose tests pass.
    let history = main_history(&repo);
    assert_eq!(history.len(), 2, "{history:?}");
    for commit in &history {
        assert!(
            passes_at(&repo, commit, &["python3", "-B", "-m", "unittest", "-q"]),
            "main pointed at {commit}, whose tests fail"
        );
    }
    let ra = env.record(&a);
    assert_eq!(ra["merged_commit"].as_str().unwrap(), history[1]);
    // The user's clean checkout of main followed, and holds the rename.
    assert!(std::fs::read_to_string(repo.join("calc.py"))
        .unwrap()
        .contains("def times"));
    assert_eq!(git(&repo, &["status", "--porcelain"]).trim(), "");
    // Landed as one commit of the task's subject, naming the run.
    let msg = git(&repo, &["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.starts_with("rename mul to times") && msg.contains(&format!("Flightdeck-Run: {a}")),
        "{msg}"
    );
    // No scratch worktree of the queue is left behind.
    let list = git(&repo, &["worktree", "list"]);
    assert!(!list.contains(".queue"), "{list}");
}

const PARTS: &str = r#"
max_parallel = 5
[gate]
auto_merge = true
queue_depth = 2
[agents.part]
command = ["sh", "-c", "mkdir -p parts && echo x > \"parts/$FLIGHTDECK_TASK\""]
# x and y each add a part and a check that the other's part is absent: each is green alone,
# and whichever is tested second fails.
[agents.x]
command = ["sh", "-c", "mkdir -p parts checks && echo x > parts/x && echo 'test ! -e parts/y' > checks/no-y.sh"]
[agents.y]
command = ["sh", "-c", "mkdir -p parts checks && echo y > parts/y && echo 'test ! -e parts/x' > checks/no-x.sh"]

[[smoke]]
name = "checks"
command = ["sh", "-c", "sleep 2; for f in checks/*.sh; do [ -e \"$f\" ] || continue; sh \"$f\" || { echo \"$f fails\"; exit 1; }; done"]
"#;

fn ts(v: &Value) -> time::OffsetDateTime {
    flightdeck::time::parse_rfc3339(v["ts"].as_str().unwrap()).unwrap()
}

#[test]
fn five_runs_auto_merge_through_the_queue_and_main_only_moves_to_tested_commits() {
    let env = Env::new(PARTS);
    let repo = git_repo(env.path(), "repo");
    let mut ids = Vec::new();
    for (agent, task) in [
        ("part", "p1"),
        ("x", "x"),
        ("part", "p2"),
        ("y", "y"),
        ("part", "p3"),
    ] {
        ids.push((task, env.start(&repo, agent, task)));
    }
    let mut landed = Vec::new();
    let mut refused = Vec::new();
    for (task, id) in &ids {
        let r = env.wait_for(id, "landed or refused", |r| {
            r["merge"] == "merged" || r["merge"] == "blocked"
        });
        if r["merge"] == "merged" {
            landed.push(*task);
        } else {
            assert!(
                r["gate_reasons"][0]
                    .as_str()
                    .unwrap()
                    .contains("fail once merged with main"),
                "{r:#}"
            );
            refused.push(*task);
        }
    }
    assert_eq!(landed.len(), 4, "landed {landed:?}, refused {refused:?}");
    assert!(refused == ["x"] || refused == ["y"], "{refused:?}");

    // main only ever moved to a commit whose checks passed on exactly that commit.
    let tested_ok: Vec<String> = ids
        .iter()
        .flat_map(|(_, id)| env.events_of(id, "merge.tested"))
        .filter(|e| e["passed"] == true)
        .map(|e| e["commit"].as_str().unwrap().to_string())
        .collect();
    let history = main_history(&repo);
    assert_eq!(history.len(), 5, "{history:?}");
    for commit in &history[1..] {
        assert!(
            tested_ok.contains(commit),
            "main moved to untested {commit}"
        );
    }
    for f in ["p1", "p2", "p3"] {
        assert!(repo.join("parts").join(f).exists(), "{f} not on main");
    }

    // Speculation: tests of queued runs overlapped; wall time against the sequential sum.
    let mut spans = Vec::new();
    for (_, id) in &ids {
        let tl = env.timeline(id);
        let mut start = None;
        for e in &tl {
            match e["type"].as_str() {
                Some("merge.testing") => start = Some(ts(e)),
                Some("merge.tested") => {
                    if let Some(s) = start.take() {
                        spans.push((s, ts(e)));
                    }
                }
                _ => {}
            }
        }
    }
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    let sum: Duration = spans.iter().map(|(a, b)| (*b - *a).unsigned_abs()).sum();
    let wall = (last - first).unsigned_abs();
    println!(
        "merge queue: {} tests, wall {:.1} s, sequential sum {:.1} s",
        spans.len(),
        wall.as_secs_f64(),
        sum.as_secs_f64()
    );
    let overlapped = spans
        .iter()
        .enumerate()
        .any(|(i, a)| spans.iter().skip(i + 1).any(|b| a.0 < b.1 && b.0 < a.1));
    assert!(overlapped, "no two tests ran at once: {spans:?}");
}

#[test]
fn a_run_started_from_a_linked_worktree_lands_and_that_checkout_follows() {
    let env = Env::new(ADD_A);
    let repo = git_repo(env.path(), "repo");
    git(&repo, &["checkout", "-q", "-b", "side"]);
    let other = env.path().join("other");
    git(
        &repo,
        &["worktree", "add", "-q", other.to_str().unwrap(), "main"],
    );
    let id = env.start(&other, "add-a", "add a.txt");
    let r = ready(&env, &id);
    assert_eq!(r["target"], "main");
    env.ok(&["merge", &id]);
    assert_eq!(
        std::fs::read_to_string(other.join("a.txt")).unwrap(),
        "a\n",
        "the linked checkout of main followed"
    );
    assert_eq!(git(&other, &["status", "--porcelain"]).trim(), "");
    // The main checkout is on another branch: untouched.
    assert!(!repo.join("a.txt").exists());
    assert_eq!(git(&repo, &["status", "--porcelain"]).trim(), "");
}

/// While runs wait in the queue, each record says where it is and what is under test; once
/// they leave, nothing.
#[test]
fn queued_runs_show_their_place_and_what_is_under_test() {
    let env = Env::new(&format!(
        "[gate]\nqueue_depth = 1\n[agents.part]\ncommand = [\"sh\", \"-c\", \"echo x > \\\"$FLIGHTDECK_TASK.txt\\\"\"]\n{}",
        slow_checks(2)
    ));
    let repo = git_repo(env.path(), "repo");
    let a = env.start(&repo, "part", "a");
    let b = env.start(&repo, "part", "b");
    ready(&env, &a);
    ready(&env, &b);
    slow_from_now(&repo);
    env.ok(&["merge", "--no-wait", &a, &b]);
    let ra = env.wait_for(&a, "under test", |r| !r["queue"]["testing"].is_null());
    assert_eq!(ra["queue"]["position"], 1);
    // queue_depth = 1: the second waits, untested, while the first's 2 s check runs.
    let rb = env.record(&b);
    assert_eq!(rb["queue"]["position"], 2, "{rb:#}");
    assert!(rb["queue"]["testing"].is_null(), "{rb:#}");
    let shown = env.ok(&["show", &b]);
    assert!(shown.contains("position 2 in the queue"), "{shown}");
    for id in [&a, &b] {
        let r = env.wait_for(id, "landed", |r| r["merge"] == "merged");
        assert!(r.get("queue").is_none() || r["queue"].is_null(), "{r:#}");
    }
}

/// Someone moves the target while a run's merged result is under test: that test no longer
/// describes what would land, so the run is tested again on top and lands after their commit.
#[test]
fn a_target_moved_during_the_test_is_tested_again_and_landed_on_top() {
    let env = Env::new(&format!("{ADD_A}{}", slow_checks(2)));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "add-a", "add a.txt");
    ready(&env, &id);
    slow_from_now(&repo);
    env.ok(&["merge", "--no-wait", &id]);
    wait_until("the first test", || {
        !env.events_of(&id, "merge.testing").is_empty()
    });
    // A person pushes meanwhile.
    std::fs::write(repo.join("theirs.txt"), "a person's commit\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "a person's commit"]);
    let theirs = git(&repo, &["rev-parse", "main"]).trim().to_string();
    let r = env.wait_for(&id, "landed", |r| r["merge"] == "merged");
    assert_eq!(env.events_of(&id, "merge.retest").len(), 1);
    let testing = env.events_of(&id, "merge.testing");
    assert_eq!(testing.len(), 2, "{testing:#?}");
    assert_eq!(testing[1]["parent"], theirs.as_str());
    let landed = r["merged_commit"].as_str().unwrap();
    assert_eq!(
        git(&repo, &["rev-parse", &format!("{landed}^")]).trim(),
        theirs
    );
    assert!(repo.join("theirs.txt").exists() && repo.join("a.txt").exists());
}

#[test]
fn merge_style_merge_lands_a_merge_commit_of_the_target_and_the_run() {
    let env = Env::new(&format!("[gate]\nmerge_style = \"merge\"\n{ADD_A}"));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "add-a", "add a.txt");
    let r = ready(&env, &id);
    env.ok(&["merge", &id]);
    let parents = git(&repo, &["log", "-1", "--format=%P", "main"]);
    let parents: Vec<&str> = parents.split_whitespace().collect();
    assert_eq!(parents.len(), 2, "{parents:?}");
    assert_eq!(parents[1], r["checked_commit"].as_str().unwrap());
    let subject = git(&repo, &["log", "-1", "--format=%s", "main"]);
    assert!(
        subject.starts_with(&format!("Merge flightdeck run {id}: add a.txt")),
        "{subject}"
    );
}
