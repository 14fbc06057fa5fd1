//! Checks that feed back: a required smoke check failing after the agent sends the agent round
//! again with the check's output (`smoke.iteration`, `FLIGHTDECK_FEEDBACK_FILE`), up to
//! `[smoke_feedback] max_iterations`; then the run fails, and the cockpit's `r` proposes the
//! agent with that output. Also what a person reads of a failing check: `show` and `logs`.

use std::path::Path;

use crate::common::*;
use serde_json::Value;

/// An agent that adds `mul` with a bug and a unit test that catches it; it fixes the bug only
/// when its feedback file holds that test's failure and `fix_when` is in its task (an empty
/// `fix_when` is in every task). It copies what it was given under `seen`.
fn agent_script(dir: &Path, name: &str, fix_when: &str) -> String {
    let seen = dir.join(format!("seen-{name}"));
    std::fs::create_dir_all(&seen).unwrap();
    let script = dir.join(format!("{name}.sh"));
    std::fs::write(
        &script,
        format!(
            r#"set -e
n=$(ls '{seen}' | wc -l)
printf '%s' "$FLIGHTDECK_TASK" > '{seen}/task-'$n
cat > test_calc.py <<'EOF'
import unittest
from calc import mul


class MulTest(unittest.TestCase):
    def test_mul(self):
        self.assertEqual(mul(3, 4), 12)
EOF
if [ -n "$FLIGHTDECK_FEEDBACK_FILE" ] && grep -q 'AssertionError: 7 != 12' "$FLIGHTDECK_FEEDBACK_FILE" \
    && printf '%s' "$FLIGHTDECK_TASK" | grep -q '{fix_when}'; then
  cp "$FLIGHTDECK_FEEDBACK_FILE" '{seen}/feedback-'$n
  printf 'def mul(a, b):\n    return a * b\n' > calc.py
  echo "fixed mul after reading the failing test"
else
  printf 'def mul(a, b):\n    return a + b\n' > calc.py
  echo "added mul and its test"
fi
"#,
            seen = seen.display(),
        ),
    )
    .unwrap();
    script.display().to_string()
}

fn config(dir: &Path, feedback: &str) -> String {
    format!(
        r#"
[agents.fixer]
command = ["sh", "{fixer}"]

[agents.stubborn]
command = ["sh", "{stubborn}"]

[[smoke]]
name = "unittest"
command = ["python3", "-B", "-m", "unittest"]

[gate]
min_score = 0.0
{feedback}
"#,
        fixer = agent_script(dir, "fixer", ""),
        stubborn = agent_script(dir, "stubborn", "An earlier attempt"),
    )
}

fn finished(env: &Env, id: &str) -> Value {
    env.wait_for(id, "finished", |r| {
        matches!(
            r["status"].as_str(),
            Some("succeeded" | "failed" | "killed")
        )
    })
}

fn seen(env: &Env, agent: &str, what: &str) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(env.path().join(format!("seen-{agent}")))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(what))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn a_failing_unit_test_goes_back_to_the_agent_which_fixes_it_and_the_run_ends_green() {
    let env = Env::new("");
    std::fs::write(&env.config, config(env.path(), "")).unwrap();
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "fixer", "add mul");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "succeeded", "{r:#}");

    let iterations = env.events_of(&id, "smoke.iteration");
    assert_eq!(iterations.len(), 1, "{iterations:#?}");
    let why = iterations[0]["message"].as_str().unwrap();
    assert!(
        why.contains("required smoke check(s) failed: unittest")
            && why.contains("iteration 2 of at most 3"),
        "{why}"
    );
    assert_eq!(env.events_of(&id, "agent.started").len(), 2);

    // What the agent was given in its second round: the failing test's output, in the file and
    // after the task.
    let feedback = seen(&env, "fixer", "feedback");
    assert_eq!(feedback.len(), 1);
    assert!(
        feedback[0].contains("## `unittest` failed (exit code 1)")
            && feedback[0].contains("AssertionError: 7 != 12")
            && feedback[0].contains("FAILED (failures=1)")
            && feedback[0].contains("Tests: 0 passed, 1 failed (unittest)"),
        "{}",
        feedback[0]
    );
    let tasks = seen(&env, "fixer", "task");
    assert_eq!(tasks[0], "add mul");
    assert!(
        tasks[1].starts_with("add mul\n\n---\nflightdeck ran the repository's required checks")
            && tasks[1].contains("AssertionError: 7 != 12"),
        "{}",
        tasks[1]
    );
    // The round's report stays in the proof pack, the taken feedback beside it.
    let dir = env.run_dir(&id);
    assert!(dir.join("smoke/report-1-1.md").is_file());
    assert!(dir.join("smoke/feedback-1-1.md").is_file());
    assert!(!dir.join("smoke/feedback.md").exists());
    // The checks that passed, with their count, in smoke.json and PR.md.
    let smoke: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("smoke.json")).unwrap()).unwrap();
    assert_eq!(smoke[0]["passed"], true);
    assert_eq!(
        smoke[0]["tests"],
        serde_json::json!({"runner": "unittest", "passed": 1, "failed": 0, "skipped": 0})
    );
    let pr = std::fs::read_to_string(dir.join("PR.md")).unwrap();
    assert!(
        pr.contains("| unittest | ✅ passed | 1 passed, 0 failed (unittest) |"),
        "{pr}"
    );
    assert!(
        git(&repo, &["show", &format!("flightdeck/{id}:calc.py")]).contains("a * b"),
        "the fix is on the branch"
    );
}

#[test]
fn with_feedback_off_a_failing_check_fails_the_run_as_before_and_show_and_logs_print_its_output() {
    let env = Env::new("");
    std::fs::write(
        &env.config,
        config(env.path(), "[smoke_feedback]\nenabled = false\n"),
    )
    .unwrap();
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "fixer", "add mul");
    let r = finished(&env, &id);
    assert_eq!(
        (r["status"].as_str(), r["phase"].as_str()),
        (Some("failed"), Some("smoke"))
    );
    assert_eq!(r["reason"], "required smoke check(s) failed: unittest");
    assert!(env.events_of(&id, "smoke.iteration").is_empty());
    assert_eq!(env.events_of(&id, "agent.started").len(), 1);
    assert!(!env.run_dir(&id).join("smoke").exists());

    // show: the failing check with its count, then the end of its output, line by line.
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("check     FAIL  unittest (")
            && shown.contains("tests: 0 passed, 1 failed (unittest)"),
        "{shown}"
    );
    assert!(shown.contains("output    of unittest (exit 1):"), "{shown}");
    for line in ["AssertionError: 7 != 12", "FAILED (failures=1)"] {
        assert!(
            shown.lines().any(|l| l.trim_start() == format!("│ {line}")),
            "{line} on a line of its own:\n{shown}"
        );
    }
    // logs: the check's output as lines, not one line of a traceback.
    let logs = env.ok(&["logs", &id]);
    let finished_line = logs.lines().find(|l| l.contains("check.finished")).unwrap();
    assert!(!finished_line.contains("AssertionError"), "{logs}");
    assert!(
        logs.lines().any(|l| l.trim() == "AssertionError: 7 != 12"),
        "{logs}"
    );
    assert!(logs.lines().any(|l| l.trim() == "output_tail:"), "{logs}");
}

#[test]
fn after_max_iterations_the_run_fails_and_a_retry_from_the_agent_brings_the_output() {
    let env = Env::new("");
    std::fs::write(
        &env.config,
        config(env.path(), "[smoke_feedback]\nmax_iterations = 1\n"),
    )
    .unwrap();
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "stubborn", "add mul");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "failed", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("required smoke check(s) failed: unittest, still after 1 more round(s)")
            && reason.ends_with("to send the agent round again with it: `retry --phase agent`"),
        "{reason}"
    );
    assert_eq!(env.events_of(&id, "smoke.iteration").len(), 1);
    assert_eq!(env.events_of(&id, "agent.started").len(), 2);
    assert!(env.run_dir(&id).join("smoke/report-1-2.md").is_file());

    // The retry the reason (and the cockpit's `r`) proposes: the agent starts over with the
    // output of the checks that failed.
    env.ok(&["retry", &id, "--phase", "agent"]);
    let r = env.wait_for(&id, "the retry done", |r| {
        r["attempt"] == 2 && matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let tasks = seen(&env, "stubborn", "task");
    assert!(
        tasks[2]
            .contains("An earlier attempt at this task failed the repository's required checks")
            && tasks[2].contains("AssertionError: 7 != 12"),
        "{}",
        tasks[2]
    );
    assert!(env.run_dir(&id).join("smoke/feedback-2-1.md").is_file());
}

#[test]
fn r_on_a_run_whose_checks_failed_proposes_the_agent_with_their_output() {
    use crate::fixtures::{self, ui::*};
    use crossterm::event::KeyCode;
    use flightdeck::proof::smoke::{CHECKS_FAILED, RETRY_WITH_OUTPUT};
    use flightdeck::protocol::Command;
    use flightdeck::run::Phase;
    use flightdeck::ui::app::Mode;

    let mut runs = fixtures::runs();
    // run00000 failed in smoke; its checks' output waits for the agent.
    runs[0].state.reason = Some(format!("{CHECKS_FAILED}: unit; {RETRY_WITH_OUTPUT}"));
    let mut app = app_with(runs);
    press(&mut app, vec![key('g'), key('r')]);
    assert_eq!(
        app.mode,
        Mode::Retry {
            run: "run00000".into(),
            choice: 1,
            rebase: false
        }
    );
    let fx = press(&mut app, vec![code(KeyCode::Enter)]);
    assert_eq!(
        sends(&fx),
        vec![Command::Retry {
            run: "run00000".into(),
            phase: Some(Phase::Agent)
        }]
    );
}
