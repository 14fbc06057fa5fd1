//! PR.md as a reviewer reads it, snapshotted from three real runs on one Python repository
//! with a unittest check: a small tested change, the same change without its test (flagged,
//! lower score), and a change whose test fails (the failure and its output first and inline).
//! What varies from run to run (ids, hashes, paths, timings) is replaced by a placeholder.
//! Review changes with `cargo insta review`; CI fails on any difference.

use std::path::Path;

use crate::common::*;
use serde_json::Value;

const CALC_TEST: &str = "import unittest\nfrom calc import add\n\n\nclass AddTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n";

/// A command agent's script: `calc.py` with `body`, the test beside it when `with_test`, and a
/// last line of output for the summary.
fn script(dir: &Path, name: &str, body: &str, with_test: bool, said: &str) -> String {
    let path = dir.join(format!("{name}.sh"));
    let test = if with_test {
        format!("cat > test_calc.py <<'EOF'\n{CALC_TEST}EOF\n")
    } else {
        String::new()
    };
    std::fs::write(
        &path,
        format!("set -e\nprintf '{body}' > calc.py\n{test}echo '{said}'\n"),
    )
    .unwrap();
    path.display().to_string()
}

fn config(dir: &Path) -> String {
    let tested = script(
        dir,
        "tested",
        "def add(a, b):\\n    return a + b\\n",
        true,
        "Added add() with a unit test.",
    );
    let untested = script(
        dir,
        "untested",
        "def add(a, b):\\n    return a + b\\n",
        false,
        "Added add().",
    );
    let broken = script(
        dir,
        "broken",
        "def add(a, b):\\n    return a - b\\n",
        true,
        "Added add() with a unit test.",
    );
    format!(
        r#"
[agents.tested]
command = ["sh", "{tested}"]
[agents.untested]
command = ["sh", "{untested}"]
[agents.broken]
command = ["sh", "{broken}"]

[[smoke]]
name = "unit"
command = ["python3", "-m", "unittest", "-v"]

[smoke_feedback]
enabled = false
"#
    )
}

/// A repository with one passing test of its own, so every run's check runs real tests.
fn python_repo(env: &Env) -> std::path::PathBuf {
    let repo = git_repo(env.path(), "repo");
    std::fs::write(
        repo.join("test_base.py"),
        "import unittest\n\n\nclass BaseTest(unittest.TestCase):\n    def test_base(self):\n        self.assertTrue(True)\n",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "a test"]);
    repo
}

fn finished(env: &Env, id: &str) -> Value {
    env.wait_for(id, "finished", |r| {
        matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    })
}

/// PR.md with what differs between runs and machines replaced by placeholders.
fn normalized(env: &Env, r: &Value) -> String {
    let id = r["id"].as_str().unwrap();
    let mut text = std::fs::read_to_string(env.run_dir(id).join("PR.md")).unwrap();
    let worktree = r["worktree"].as_str().unwrap();
    let base = r["base"].as_str().unwrap();
    for (from, to) in [
        (worktree, "[WORKTREE]"),
        (env.path().to_str().unwrap(), "[TMP]"),
        (base, "[BASE]"),
        (&base[..12], "[BASE]"),
        (id, "[RUN]"),
    ] {
        text = text.replace(from, to);
    }
    for (pattern, to) in [
        (r"index [0-9a-f]+\.\.[0-9a-f]+", "index [HASH]..[HASH]"),
        (r"\| \d+\.\d s \|", "| [T] s |"),
        (r"in \d+\.\d+s", "in [T]s"),
    ] {
        text = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, to)
            .into_owned();
    }
    text
}

#[test]
fn pr_md_for_a_tested_an_untested_and_a_failed_change() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::new(&config(dir.path()));
    let repo = python_repo(&env);

    let tested = env.start(&repo, "tested", "Add an add function");
    let tested = finished(&env, &tested);
    assert_eq!(tested["status"], "succeeded", "{tested}");
    let untested = env.start(&repo, "untested", "Add an add function");
    let untested = finished(&env, &untested);
    assert_eq!(untested["status"], "succeeded", "{untested}");
    let broken = env.start(&repo, "broken", "Add an add function");
    let broken = finished(&env, &broken);
    assert_eq!(broken["status"], "failed", "{broken}");

    // The untested change scores below the tested one, by its `tests` factor alone.
    let (t, u) = (
        tested["score"].as_f64().unwrap(),
        untested["score"].as_f64().unwrap(),
    );
    assert!(u < t, "untested {u} should score below tested {t}");

    // A failed run's PR.md is written when it fails (the phase after the agent's commit).
    let broken_id = broken["id"].as_str().unwrap();
    wait_until("the failed run's PR.md", || {
        env.run_dir(broken_id).join("PR.md").exists()
    });

    insta::assert_snapshot!("pr_md_tested", normalized(&env, &tested));
    insta::assert_snapshot!("pr_md_untested", normalized(&env, &untested));
    insta::assert_snapshot!("pr_md_failed", normalized(&env, &broken));

    // `show` on the failed run: its failure and the failing output once; PR.md among the files.
    let shown = env.ok(&["show", broken_id]);
    assert_eq!(
        shown.matches("AssertionError: -1 != 5").count(),
        1,
        "the failing output once:\n{shown}"
    );
    assert!(
        shown.contains("reason    required smoke check(s) failed: unit")
            && shown.contains("PR.md ("),
        "{shown}"
    );
}
