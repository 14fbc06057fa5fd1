//! The merge queue: what lands is the commit the required checks passed on, merged with the
//! target as it will be; two runs green on their own branches but red together never both land.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
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

fn ready(env: &Env, id: &str) -> Value {
    env.wait_for(id, "ready to merge", |r| r["merge"] == "ready")
}

/// Every commit `main` ever pointed at, oldest first (its reflog).
fn main_history(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = git(repo, &["reflog", "show", "--format=%H", "refs/heads/main"])
        .lines()
        .map(str::to_string)
        .collect();
    v.reverse();
    v
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
fn a_queued_landing_survives_a_server_crash() {
    let env = Env::new(
        r#"
[agents.add-a]
command = ["sh", "-c", "echo a > a.txt"]
[[smoke]]
name = "slow"
command = ["sh", "-c", "if [ -e .in-queue ]; then sleep 3; fi; true"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "add-a", "add a.txt");
    ready(&env, &id);
    // From now on the checks are slow: the queue's test is under way when the server dies.
    std::fs::write(repo.join(".in-queue"), "").unwrap();
    git(&repo, &["add", ".in-queue"]);
    git(&repo, &["commit", "-q", "-m", "slow checks"]);
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
}

#[test]
fn a_run_started_from_a_linked_worktree_lands_and_that_checkout_follows() {
    let env = Env::new("[agents.add-a]\ncommand = [\"sh\", \"-c\", \"echo a > a.txt\"]\n");
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

/// `kill -9` of the server at random points of a landing that changes thousands of files in the
/// user's checkout: after the restart every checkout of main is exactly at the landed commit and
/// clean, each run landed exactly once, and auto-merge carried on by itself.
#[test]
fn kill_9_anywhere_in_a_landing_leaves_checkouts_whole_and_lands_each_run_once() {
    let env = Env::new(
        r#"
[gate]
auto_merge = true
[agents.many]
command = ["sh", "-c", "rm -rf trial-*; mkdir \"$FLIGHTDECK_TASK\" && cd \"$FLIGHTDECK_TASK\" && for i in $(seq 1 800); do echo \"$i\" > f$i.txt; done"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let mut seed: u64 = 0x5eed;
    let mut resumed = 0;
    for trial in 0..20 {
        let id = env.start(&repo, "many", &format!("trial-{trial}"));
        env.wait_for(&id, "in the queue", |r| {
            r["merge"] == "pending" || r["merge"] == "merged"
        });
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
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
        if trial > 0 {
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
    }
    println!("kill -9 during a landing: 20 trials, {resumed} landings finished by the next server");
}

/// While runs wait in the queue, each record says where it is and what is under test; once
/// they leave, nothing.
#[test]
fn queued_runs_show_their_place_and_what_is_under_test() {
    let env = Env::new(
        r#"
[gate]
queue_depth = 1
[agents.part]
command = ["sh", "-c", "echo x > \"$FLIGHTDECK_TASK.txt\""]
[[smoke]]
name = "slow once queued"
command = ["sh", "-c", "if [ -e .queue-slow ]; then sleep 2; fi; true"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let a = env.start(&repo, "part", "a");
    let b = env.start(&repo, "part", "b");
    ready(&env, &a);
    ready(&env, &b);
    std::fs::write(repo.join(".queue-slow"), "").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "slow checks from now on"]);
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
    let env = Env::new(
        r#"
[agents.add-a]
command = ["sh", "-c", "echo a > a.txt"]
[[smoke]]
name = "slow once queued"
command = ["sh", "-c", "if [ -e .slow ]; then sleep 2; fi; true"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "add-a", "add a.txt");
    ready(&env, &id);
    std::fs::write(repo.join(".slow"), "").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "slow checks"]);
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
    let env = Env::new(
        "[gate]\nmerge_style = \"merge\"\n[agents.add-a]\ncommand = [\"sh\", \"-c\", \"echo a > a.txt\"]\n",
    );
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
