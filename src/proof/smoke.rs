//! `smoke.json`: one entry per check run in the worktree after the agent.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub command: Vec<String>,
    /// None when the check could not start, timed out or was killed by a signal.
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub passed: bool,
    pub required: bool,
    /// The last lines of its output (all of it when short).
    pub output_tail: String,
    /// Why it failed when not by its exit code: `timed out after 30s`, a spawn error, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Tests passed, failed and skipped, when the output is a test runner's we know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<crate::proof::test_counts::TestCounts>,
}

impl CheckResult {
    /// How the check's command ended: its exit code, or why it has none.
    pub fn ended(&self) -> String {
        match (self.exit_code, &self.error) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no exit code".into(),
        }
    }
}

/// How a run's failure by its required checks begins (the cockpit tells it from other smoke
/// failures, such as conflicts left to a person, by this).
pub const CHECKS_FAILED: &str = "required smoke check(s) failed";

/// What a failure by the checks says when the agent may go again with their output (the
/// cockpit's `r` then proposes the agent; `advice` says it with keys there).
pub const RETRY_WITH_OUTPUT: &str = "to send the agent round again with it: `retry --phase agent`";

/// Whether the run failed by its required checks with their output waiting for the agent.
pub fn agent_may_fix(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| r.starts_with(CHECKS_FAILED) && r.ends_with(RETRY_WITH_OUTPUT))
}

/// The report the agent gets: each failing required check, its command, test counts and the
/// end of its output.
pub fn feedback_report(iteration: u32, failing: &[&CheckResult]) -> String {
    let mut o = format!(
        "# Smoke checks, round {iteration}\n\n{} required check(s) failed on your change.\n",
        failing.len()
    );
    for c in failing {
        o.push_str(&format!(
            "\n## `{}` failed ({})\n\nCommand: `{}`\n",
            c.name,
            c.ended(),
            c.command.join(" ")
        ));
        if let Some(t) = &c.tests {
            o.push_str(&format!("Tests: {t} ({})\n", t.runner.as_str()));
        }
        o.push_str(&format!(
            "\nThe end of its output:\n\n{}",
            crate::text::fenced("text", &c.output_tail)
        ));
    }
    o
}

/// The agent's prompt for a round with the checks' report. `reset`: the worktree went back to
/// where the agent started (a retry), so the failing work is no longer there.
pub fn feedback_prompt(task: &str, report: &str, reset: bool) -> String {
    let lead = if reset {
        "An earlier attempt at this task failed the repository's required checks (that work was set aside; the worktree is back where you started). Do the task so that they pass"
    } else {
        "flightdeck ran the repository's required checks on your change and some failed. Fix the cause so that they pass"
    };
    format!("{task}\n\n---\n{lead}; their output follows.\n\n{report}")
}

/// The last `max_lines` lines and at most `max_bytes` bytes of `output`.
pub fn tail(output: &[u8], max_lines: usize, max_bytes: usize) -> String {
    let text = String::from_utf8_lossy(output);
    let trimmed = text.trim_end_matches('\n');
    let mut start = 0;
    let mut count = 0;
    for (i, c) in trimmed.char_indices().rev() {
        if c == '\n' {
            count += 1;
            if count == max_lines {
                start = i + 1;
                break;
            }
        }
    }
    let mut out = &trimmed[start..];
    if out.len() > max_bytes {
        out = &out[out.ceil_char_boundary(out.len() - max_bytes)..];
    }
    out.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feedback_report_holds_each_failing_check_fenced() {
        let out = "Traceback (most recent call last):\nAssertionError: 4 != 5\n```oops";
        let c = CheckResult {
            name: "unit".into(),
            command: vec!["python3".into(), "-m".into(), "unittest".into()],
            exit_code: Some(1),
            duration_ms: 10,
            passed: false,
            required: true,
            output_tail: out.into(),
            error: None,
            tests: None,
        };
        let md = feedback_report(1, &[&c]);
        assert!(md.contains("## `unit` failed (exit code 1)"), "{md}");
        assert!(md.contains("Command: `python3 -m unittest`"), "{md}");
        assert!(md.contains(&format!("````text\n{out}\n````")), "{md}");
        let prompt = feedback_prompt("add mul", &md, false);
        assert!(prompt.starts_with("add mul\n\n---\n"), "{prompt}");
        assert!(prompt.ends_with(&md));
        let reason = format!("{CHECKS_FAILED}: unit; {RETRY_WITH_OUTPUT}");
        assert!(agent_may_fix(Some(&reason)));
        // The cockpit says it with its keys.
        assert!(
            crate::advice::for_keys(&reason, None)
                .ends_with("to send the agent round again with it: press r and pick agent"),
            "{reason}"
        );
        assert!(!agent_may_fix(Some(&format!("{CHECKS_FAILED}: unit"))));
        assert!(!agent_may_fix(None));
    }

    #[test]
    fn tail_keeps_last_lines() {
        let out = b"a\nb\nc\nd\n";
        assert_eq!(tail(out, 2, 100), "c\nd");
        assert_eq!(tail(out, 10, 100), "a\nb\nc\nd");
        assert_eq!(tail("ééé".as_bytes(), 10, 3), "é");
    }
}
