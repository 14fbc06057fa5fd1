//! Evidence and delivery: setup steps, the acceptance score, PR.md, the merge gate, auto-merge,
//! and the conflict radar, on real runs.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::Value;

const AGENTS: &str = r#"
[agents.add-a]
command = ["sh", "-c", "echo a > a.txt"]
[agents.add-b]
command = ["sh", "-c", "echo b > b.txt"]
[agents.lock]
command = ["sh", "-c", "echo '# lock' > Cargo.lock"]
[agents.readme]
command = ["sh", "-c", "echo '# changed by the agent' > README.md; echo 'Retitled the README.'"]
[agents.env-reader]
command = ["sh", "-c", "cat .env > seen.txt"]
"#;

fn env_with(extra: &str) -> (Env, PathBuf) {
    let env = Env::new(&format!("{AGENTS}\n{extra}"));
    let repo = git_repo(env.path(), "repo");
    (env, repo)
}

fn finished(env: &Env, id: &str) -> Value {
    env.wait_for(id, "finished", |r| {
        matches!(
            r["status"].as_str(),
            Some("succeeded" | "failed" | "killed")
        )
    })
}

/// A repository with a committed 50-line `long.txt`, for edits of the same or far-apart lines.
fn repo_with_long_file(env: &Env) -> PathBuf {
    let repo = git_repo(env.path(), "repo");
    let long: String = (1..=50).map(|i| format!("line {i}\n")).collect();
    std::fs::write(repo.join("long.txt"), long).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "long file"]);
    repo
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_gate_blocks_a_failing_required_check_with_its_reason() {
    let (env, repo) = env_with("[[smoke]]\nname = \"unit\"\ncommand = [\"false\"]\n");
    let id = env.start(&repo, "add-a", "add a");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "failed");
    assert_eq!(r["merge"], "blocked");
    assert!(
        r["gate_reasons"][0]
            .as_str()
            .unwrap()
            .contains("required smoke check(s) failed: unit"),
        "{r:#}"
    );
    let err = env.fails(&["merge", &id]);
    assert!(err.contains("only a run that succeeded can merge"), "{err}");
}

#[test]
fn the_gate_blocks_a_protected_path_and_a_low_score() {
    let (env, repo) = env_with(
        "[gate]\nprotected = [\"Cargo.lock\", \".github/**\"]\n\n[[smoke]]\nname = \"style\"\ncommand = [\"false\"]\nrequired = false\n",
    );
    let id = env.start(&repo, "lock", "touch the lock file");
    let r = finished(&env, &id);
    assert_eq!(
        r["status"], "succeeded",
        "an optional check failing does not fail the run"
    );
    assert_eq!(r["merge"], "blocked");
    let reasons = r["gate_reasons"].to_string();
    assert!(reasons.contains("protected paths: Cargo.lock"), "{reasons}");
    // protected 0×2 and optional 0×1 out of 10 (tests 1×1: no code added): 7/10 < 0.8.
    assert!(
        reasons.contains("score 0.70 is below gate.min_score 0.80"),
        "{reasons}"
    );
    let err = env.fails(&["merge", &id]);
    assert!(
        err.contains("the merge gate is not green") && err.contains("Cargo.lock"),
        "{err}"
    );
    assert!(!repo.join("Cargo.lock").exists());
}

#[test]
fn the_gate_blocks_a_low_score_alone() {
    let (env, repo) = env_with(
        "[gate]\nmin_score = 0.95\n\n[[smoke]]\nname = \"style\"\ncommand = [\"false\"]\nrequired = false\n",
    );
    let id = env.start(&repo, "add-a", "add a");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["merge"], "blocked");
    assert_eq!(
        r["gate_reasons"],
        serde_json::json!(["score 0.90 is below gate.min_score 0.95"])
    );
    let err = env.fails(&["merge", &id]);
    assert!(
        err.contains("score 0.90 is below gate.min_score 0.95"),
        "{err}"
    );
}

#[test]
fn a_green_run_merges_and_the_clean_checkout_follows() {
    let (env, repo) = env_with("");
    let id = env.start(&repo, "add-a", "add a.txt");
    let r = finished(&env, &id);
    assert_eq!(r["merge"], "ready", "{r:#}");
    assert_eq!(r["target"], "main");
    let out = env.ok(&["merge", &id]);
    assert!(
        out.contains("merged run") && out.contains("into main"),
        "{out}"
    );
    let r = env.record(&id);
    assert_eq!(r["merge"], "merged");
    assert_eq!(
        git(&repo, &["rev-parse", "main"]).trim(),
        r["merged_commit"].as_str().unwrap()
    );
    // main is checked out and was clean: its files were updated too.
    assert_eq!(std::fs::read_to_string(repo.join("a.txt")).unwrap(), "a\n");
    assert_eq!(git(&repo, &["status", "--porcelain"]).trim(), "");
    assert_eq!(env.events_of(&id, "merge.landed").len(), 1);
    // What landed was tested first, on exactly that commit.
    let tested = env.events_of(&id, "merge.tested");
    assert_eq!(tested.len(), 1, "{tested:#?}");
    assert_eq!(tested[0]["commit"], r["merged_commit"]);
    assert_eq!(tested[0]["passed"], true);
    wait_until("PR.md to say merged", || {
        std::fs::read_to_string(env.run_dir(&id).join("PR.md"))
            .unwrap_or_default()
            .contains("State: **merged**")
    });
    let err = env.fails(&["merge", &id]);
    assert!(err.contains("already merged"), "{err}");
}

#[test]
fn merging_refuses_when_the_target_checkout_is_dirty() {
    let (env, repo) = env_with("");
    let id = env.start(&repo, "add-a", "add a.txt");
    finished(&env, &id);
    std::fs::write(repo.join("README.md"), "# my unsaved edit\n").unwrap();
    let err = env.fails(&["merge", &id]);
    assert!(
        err.contains("main is checked out in")
            && err.contains("uncommitted changes")
            && err.contains("README.md"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("README.md")).unwrap(),
        "# my unsaved edit\n",
        "nothing lost"
    );
    assert!(!repo.join("a.txt").exists());
    assert_eq!(
        env.record(&id)["merge"],
        "ready",
        "still ready once the checkout is clean"
    );
    git(&repo, &["checkout", "--", "README.md"]);
    env.ok(&["merge", &id]);
    assert!(repo.join("a.txt").exists());
}

#[test]
fn auto_merge_merges_two_green_runs_in_turn() {
    let (env, repo) = env_with("[gate]\nauto_merge = true\n");
    let a = env.start(&repo, "add-a", "add a.txt");
    let b = env.start(&repo, "add-b", "add b.txt");
    for id in [&a, &b] {
        env.wait_for(id, "merged", |r| r["merge"] == "merged");
    }
    assert!(repo.join("a.txt").exists() && repo.join("b.txt").exists());
    // Squashed (the default style): one commit per run on main, never a fast-forward of the
    // agent's own commits, each naming its run.
    let log = git(
        &repo,
        &[
            "log",
            "--format=%s|%P|%(trailers:key=Flightdeck-Run,valueonly)",
            "main",
        ],
    );
    for (id, subject) in [(&a, "add a.txt"), (&b, "add b.txt")] {
        let line = log
            .lines()
            .find(|l| l.starts_with(&format!("{subject}|")))
            .unwrap_or_else(|| panic!("no commit {subject} on main: {log}"));
        assert_eq!(
            line.split('|').nth(1).unwrap().split(' ').count(),
            1,
            "{line}"
        );
        assert!(line.ends_with(id.as_str()), "{line}");
    }
    // The agents' own commits stay on their branches.
    assert_eq!(log.lines().filter(|l| !l.is_empty()).count(), 3, "{log}");
    assert_eq!(git(&repo, &["status", "--porcelain"]).trim(), "");
}

#[test]
fn setup_copies_env_keeps_it_out_of_the_commit_and_runs_commands() {
    let (env, repo) = env_with(
        "[setup]\ncopy = [\".env\", \"config/missing.toml\"]\ncommands = [[\"sh\", \"-c\", \"echo hello from setup; echo made > setup.out\"]]\n",
    );
    std::fs::write(repo.join(".env"), "SECRET_URL=postgres://local\n").unwrap();
    let id = env.start(&repo, "env-reader", "read the env");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let wt = PathBuf::from(r["worktree"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(wt.join("seen.txt")).unwrap(),
        "SECRET_URL=postgres://local\n"
    );
    let tree = git(&wt, &["ls-tree", "-r", "--name-only", "HEAD"]);
    assert!(tree.contains("seen.txt"), "{tree}");
    assert!(
        !tree.contains(".env") && !tree.contains("setup.out"),
        "setup's files stay out of the commit: {tree}"
    );
    let patch = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    assert!(
        !patch.contains("b/.env") && !patch.contains("setup.out"),
        "{patch}"
    );
    assert_eq!(env.events_of(&id, "setup.copied")[0]["path"], ".env");
    assert_eq!(
        env.events_of(&id, "setup.copy_skipped")[0]["path"],
        "config/missing.toml"
    );
    assert!(env
        .events_of(&id, "setup.output")
        .iter()
        .any(|l| l["text"] == "hello from setup"));
    assert_eq!(env.events_of(&id, "setup.finished")[0]["exit_code"], 0);
    // The worktree holds setup's files, and clean does not count them as unsaved work.
    env.ok(&["merge", &id]);
    env.ok(&["clean", &id]);
}

#[test]
fn a_failing_setup_command_fails_the_run_in_prepare() {
    let (env, repo) = env_with("");
    let bad = env.path().join("bad-setup.toml");
    std::fs::write(
        &bad,
        format!("{AGENTS}\n[setup]\ncommands = [[\"sh\", \"-c\", \"echo npm broke; exit 4\"]]\n"),
    )
    .unwrap();
    let out = env.output(&[
        "run",
        "--config",
        bad.to_str().unwrap(),
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        "add-a",
        "--wait",
        "x",
    ]);
    assert!(!out.status.success());
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let r = env.record(&id);
    assert_eq!(
        (r["status"].as_str(), r["phase"].as_str()),
        (Some("failed"), Some("prepare"))
    );
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("setup command `sh -c echo npm broke; exit 4` failed: exited with code 4"),
        "{r:#}"
    );
    assert!(env
        .events_of(&id, "setup.output")
        .iter()
        .any(|l| l["text"] == "npm broke"));
    assert!(env.events_of(&id, "agent.started").is_empty());
}

#[test]
fn score_factors_and_pr_md_on_a_real_run() {
    let (env, repo) = env_with(
        "[[smoke]]\nname = \"unit\"\ncommand = [\"true\"]\n[[smoke]]\nname = \"lint\"\ncommand = [\"sh\", \"-c\", \"echo style nit; exit 1\"]\nrequired = false\n",
    );
    let id = env.start(&repo, "readme", "Rewrite the README title\nKeep it short.");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "succeeded");
    let score = read_json(&env.run_dir(&id).join("score.json"));
    let factors: Vec<(&str, f64, f64)> = score["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["value"].as_f64().unwrap(),
                f["weight"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        factors,
        vec![
            ("required_checks", 1.0, 3.0),
            ("optional_checks", 0.0, 1.0),
            ("agent_exit", 1.0, 2.0),
            ("diff_size", 1.0, 1.0),
            ("protected_paths", 1.0, 2.0),
            ("tests", 1.0, 1.0),
        ]
    );
    assert_eq!(score["score"], 0.9);
    assert_eq!(r["score"], 0.9);
    assert!(score["factors"][1]["note"]
        .as_str()
        .unwrap()
        .contains("0 of 1 optional"));

    let pr = std::fs::read_to_string(env.run_dir(&id).join("PR.md")).unwrap();
    for needle in [
        "# Rewrite the README title",
        "> Keep it short.",
        "| `README.md` | modified | 1 | 1 |",
        "| unit | ✅ passed | - | yes |",
        "| lint | ❌ failed | - | no |",
        "**0.90**",
        "| optional_checks | 0.00 | 1 |",
        "State: **ready**",
        "## Conflict radar",
        "[patch.diff](patch.diff)",
        "[score.json](score.json)",
        "None recorded for this agent.",
        // The agent's own words, the tests, the diff itself, and how to try and land it.
        "## The agent's summary\n\n> Retitled the README.",
        "No test changed (and no code was added).",
        "```diff\n",
        "+# changed by the agent",
        "## Try it",
        &format!("flightdeck merge {id}"),
    ] {
        assert!(pr.contains(needle), "PR.md lacks `{needle}`:\n{pr}");
    }
    // `show` prints the same summary; `show --json` the structure.
    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("| lint | ❌ failed | - | no |"), "{shown}");
    let j = env.record(&id);
    assert_eq!(j["proof"]["score"]["score"], 0.9);
    assert_eq!(j["merge"], "ready");
}

#[test]
fn two_runs_waiting_to_merge_that_edit_the_same_lines_are_flagged_without_blocking_either() {
    let config = "[agents.line2-a]\ncommand = [\"sed\", \"-i\", \"2s/.*/AAA/\", \"long.txt\"]\n\
                  [agents.line2-b]\ncommand = [\"sed\", \"-i\", \"2s/.*/BBB/\", \"long.txt\"]\n\
                  [agents.line45]\ncommand = [\"sed\", \"-i\", \"45s/.*/DDD/\", \"long.txt\"]\n";
    let env = Env::new(config);
    let repo = repo_with_long_file(&env);

    let a = env.start(&repo, "line2-a", "A");
    let b = env.start(&repo, "line2-b", "B");
    let d = env.start(&repo, "line45", "D");
    for id in [&a, &b, &d] {
        finished(&env, id);
    }
    // Both finished, both waiting: each names the other, and both stay mergeable.
    let ra = env.wait_for(&a, "flagged", |r| r["conflicts"] != serde_json::json!([]));
    let rb = env.wait_for(&b, "flagged", |r| r["conflicts"] != serde_json::json!([]));
    assert_eq!(
        ra["conflicts"],
        serde_json::json!([{"with": format!("run:{b}"), "files": ["long.txt"], "both_waiting": true}])
    );
    assert_eq!(rb["conflicts"][0]["with"], format!("run:{a}"));
    assert_eq!(ra["merge"], "ready", "{ra:#}");
    assert_eq!(rb["merge"], "ready", "{rb:#}");
    let shown = env.ok(&["show", &a]);
    assert!(
        shown.contains(&format!(
            "conflicts with run {b} in long.txt (both ready: merging one blocks the other)"
        )),
        "{shown}"
    );
    // That a far-apart edit of the same file is no conflict is checked in process
    // (radar::a_far_apart_edit_...), after a scan known to have looked.

    // Merging one says what it does to the other, which then conflicts with the target.
    let out = env.ok(&["merge", &a]);
    assert!(
        out.contains(&format!("run {b} edits the same lines in long.txt"))
            && out.contains("conflicts with main"),
        "{out}"
    );
    let rb = env.wait_for(&b, "conflict with main", |r| r["merge"] == "conflict");
    assert_eq!(rb["conflicts"][0]["with"], "target:main", "{rb:#}");
    let err = env.fails(&["merge", &b]);
    assert!(err.contains("not green"), "{err}");
}

#[test]
fn missing_or_corrupt_smoke_evidence_blocks_the_gate() {
    let (env, repo) = env_with("[[smoke]]\nname = \"unit\"\ncommand = [\"true\"]\n");
    let id = env.start(&repo, "add-a", "add a");
    let r = finished(&env, &id);
    assert_eq!(r["merge"], "ready", "{r:#}");
    let smoke = env.run_dir(&id).join("smoke.json");
    for (what, damage) in [("missing", None), ("corrupt", Some("{\"not\": json"))] {
        match damage {
            None => std::fs::remove_file(&smoke).unwrap(),
            Some(text) => std::fs::write(&smoke, text).unwrap(),
        }
        // The proof and the gate are worked out again from what is on disk.
        env.ok(&["retry", &id, "--phase", "proof"]);
        let r = env.wait_for(&id, "the gate again", |r| {
            r["status"] == "succeeded" && r["merge"] != "ready"
        });
        assert_eq!(r["merge"], "blocked", "{what}: {r:#}");
        let reasons = r["gate_reasons"].to_string();
        assert!(
            reasons.contains("smoke.json") && reasons.contains("retry --phase smoke"),
            "{what}: {reasons}"
        );
        // The score and PR.md fail closed too: lost checks are not "none configured".
        let dir = env.run_dir(&id);
        let pr = std::fs::read_to_string(dir.join("PR.md")).unwrap();
        assert!(
            pr.contains("evidence is lost") && !pr.contains("No smoke checks are configured"),
            "{what}: {pr}"
        );
        let score: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("score.json")).unwrap()).unwrap();
        assert_eq!(score["factors"][0]["name"], "required_checks", "{score:#}");
        assert_eq!(score["factors"][0]["value"], 0.0, "{what}: {score:#}");
    }
    // Checking again writes the evidence, and the gate opens.
    env.ok(&["retry", &id, "--phase", "smoke"]);
    let r = env.wait_for(&id, "green again", |r| r["merge"] == "ready");
    assert_eq!(r["status"], "succeeded");
    // A lost score blocks the gate too, naming its file (it said "no acceptance score yet").
    std::fs::remove_file(env.run_dir(&id).join("score.json")).unwrap();
    env.ok(&["retry", &id, "--phase", "deliver"]);
    let r = env.wait_for(&id, "the gate without a score", |r| {
        r["status"] == "succeeded" && r["merge"] != "ready"
    });
    let reasons = r["gate_reasons"].to_string();
    assert!(
        reasons.contains("score.json") && reasons.contains("retry --phase proof"),
        "{reasons}"
    );
}
