//! What PR.md says of the change itself, so a reviewer can judge it without opening the proof
//! pack: the agent's own summary, whether tests changed with the code, the diff inline when it
//! is small (folded when larger, a link past that), and the commands to try and to land it.

use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

use crate::proof::kind::TimelineKind;
use crate::run::RunRecord;
use crate::workspace::ChangedFile;

/// Diffs up to this many lines are shown open; up to `FOLDED_LINES` folded; longer ones are
/// only linked (a forge cuts a PR body at 64 KiB or so anyway).
const OPEN_LINES: usize = 60;
const FOLDED_LINES: usize = 400;
/// The agent's summary is cut here: it is a summary.
const SUMMARY_CHARS: usize = 1500;

/// Whether `path` is a test by the usual conventions (a `test`/`tests`/`spec`/`__tests__`
/// folder, or a name like `test_x.py`, `x_test.go`, `x.test.js`, `x.spec.ts`, `XTest.java`).
pub fn is_test_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let mut parts = lower.split('/');
    let name = parts.next_back().unwrap_or("");
    let in_test_dir = lower.split('/').rev().skip(1).any(|d| {
        matches!(
            d,
            "test" | "tests" | "spec" | "specs" | "__tests__" | "testing"
        )
    });
    let stem = name.split('.').next().unwrap_or("");
    in_test_dir
        || stem.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_spec")
        || name.contains(".test.")
        || name.contains(".spec.")
        || (path.rsplit('/').next().unwrap_or("").contains("Test") && name.ends_with(".java"))
}

/// A file of code (not docs, config or data), by its extension.
fn is_code(path: &str) -> bool {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    matches!(
        ext,
        "rs" | "py"
            | "js"
            | "jsx"
            | "ts"
            | "tsx"
            | "mjs"
            | "cjs"
            | "go"
            | "java"
            | "kt"
            | "rb"
            | "php"
            | "c"
            | "h"
            | "cc"
            | "cpp"
            | "hpp"
            | "cs"
            | "swift"
            | "scala"
            | "sh"
            | "vue"
            | "svelte"
    )
}

/// What the change did to tests: the test files it touched (and how many of them are new) and
/// the lines of code it added outside them. PR.md's tests line and the score's `tests` factor
/// both read this.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestsTouched {
    pub tests: Vec<String>,
    pub tests_added: usize,
    pub code_added: usize,
}

impl TestsTouched {
    pub fn of(changed: &[ChangedFile]) -> Self {
        let tests: Vec<&ChangedFile> = changed.iter().filter(|c| is_test_path(&c.path)).collect();
        TestsTouched {
            tests_added: tests.iter().filter(|c| c.change == "added").count(),
            tests: tests.iter().map(|c| c.path.clone()).collect(),
            code_added: changed
                .iter()
                .filter(|c| is_code(&c.path) && !is_test_path(&c.path))
                .map(|c| c.insertions)
                .sum(),
        }
    }

    /// Code added with no test changed beside it.
    pub fn untested(&self) -> bool {
        self.tests.is_empty() && self.code_added > 0
    }
}

/// One line on tests: which changed, or that none did although code was added.
pub fn tests_line(changed: &[ChangedFile]) -> String {
    let t = TestsTouched::of(changed);
    if t.tests.is_empty() {
        if t.code_added > 0 {
            format!(
                "⚠️ **No test changed**, though the change adds {} line(s) of code.",
                t.code_added
            )
        } else {
            "No test changed (and no code was added).".into()
        }
    } else {
        let names: Vec<String> = t.tests.iter().map(|p| format!("`{p}`")).collect();
        format!(
            "Tests changed: {} ({} added).",
            names.join(", "),
            t.tests_added
        )
    }
}

/// The patch, inline: open when short, folded when longer, a link past that.
pub fn inline_diff(patch: &str) -> String {
    let lines = patch.lines().count();
    if patch.trim().is_empty() || lines > FOLDED_LINES {
        return String::new();
    }
    let body = crate::text::fenced("diff", patch);
    if lines <= OPEN_LINES {
        format!("\n{body}")
    } else {
        format!("\n<details><summary>The diff ({lines} lines)</summary>\n\n{body}\n</details>\n")
    }
}

/// The agent's own account of what it did: its last message (Claude Code, Codex, the built-in
/// agent), else the last lines a command agent printed. Blocking (reads the timeline).
pub fn agent_summary(timeline: &Path) -> Option<String> {
    let mut message: Option<String> = None;
    let mut output: Option<String> = None;
    let _ = crate::proof::timeline::for_each(timeline, |line: Value| {
        let text = || line.get("text").and_then(Value::as_str).map(str::to_string);
        match crate::proof::kind::of(&line) {
            Some(TimelineKind::AgentMessage) => message = text().or(message.take()),
            Some(TimelineKind::AgentOutput) => output = text().or(output.take()),
            // A new attempt's agent speaks for the run from here on.
            Some(TimelineKind::AgentStarted) => {
                message = None;
                output = None;
            }
            _ => {}
        }
        true
    });
    let text = match (message, output) {
        (Some(m), _) if !m.trim().is_empty() => m,
        (_, Some(o)) => {
            let lines: Vec<&str> = o.lines().filter(|l| !l.trim().is_empty()).collect();
            lines[lines.len().saturating_sub(5)..].join("\n")
        }
        _ => return None,
    };
    // Control characters out, line by line (a terminal escape has no place in a PR body).
    let text: String = text
        .trim()
        .lines()
        .map(|l| crate::text::printable(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    if text.is_empty() {
        return None;
    }
    Some(match text.char_indices().nth(SUMMARY_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    })
}

/// The summary as a quote.
pub fn summary_section(o: &mut String, summary: Option<&str>) {
    let Some(s) = summary else {
        return;
    };
    let _ = writeln!(o, "\n## The agent's summary\n");
    for line in s.lines() {
        let _ = writeln!(o, "> {line}");
    }
}

/// The commands to look at the branch and to land it.
pub fn try_it(o: &mut String, r: &RunRecord, target: Option<&str>) {
    let _ = writeln!(o, "\n## Try it\n");
    let _ = writeln!(o, "```sh");
    let _ = writeln!(
        o,
        "git -C {} switch {}",
        shell_word(&r.repo.display().to_string()),
        r.branch
    );
    if let Some(t) = target {
        let _ = writeln!(o, "git diff {t}...{}", r.branch);
    }
    if r.status == crate::run::Status::Failed {
        let agent = if crate::proof::smoke::agent_may_fix(r.reason.as_deref()) {
            " --phase agent   # send the agent round again with the failing output"
        } else {
            "   # run it again from the phase that failed"
        };
        let _ = writeln!(o, "flightdeck retry {}{agent}", r.id);
    } else {
        let _ = writeln!(
            o,
            "flightdeck merge {}   # land it through the merge queue",
            r.id
        );
    }
    let _ = writeln!(o, "```");
}

/// The heading of a failed run's PR.md section on its failure (the cockpit leaves the checks'
/// output out of its own failure summary above a PR.md that has it).
pub const FAILED_HEADING: &str = "## ❌ This run failed";

/// A failed run says so first, with its reason, so no one reads it as a candidate.
pub fn failure_section(o: &mut String, r: &RunRecord) {
    if r.status != crate::run::Status::Failed {
        return;
    }
    let _ = writeln!(
        o,
        "\n{FAILED_HEADING}\n\nIn phase `{}`: {}",
        r.phase,
        r.reason.as_deref().unwrap_or("no reason was recorded")
    );
}

/// Each failed check with the end of its output: required ones open, optional ones folded.
pub fn failing_checks(o: &mut String, checks: &[crate::proof::smoke::CheckResult]) {
    for c in checks.iter().filter(|c| !c.passed) {
        let mut block = format!("Command: `{}`\n", c.command.join(" "));
        if let Some(t) = &c.tests {
            block.push_str(&format!("Tests: {t} ({})\n", t.runner.as_str()));
        }
        block.push('\n');
        block.push_str(&crate::text::fenced("text", &c.output_tail));
        if c.required {
            let _ = write!(o, "\n### `{}` failed ({})\n\n{block}", c.name, c.ended());
        } else {
            let _ = write!(
                o,
                "\n<details><summary>Optional check <code>{}</code> failed ({})</summary>\n\n{block}\n</details>\n",
                c.name,
                c.ended()
            );
        }
    }
}

/// `s` as one shell word (quoted when it holds anything but safe characters).
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:@".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, change: &str, ins: usize) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            change: change.into(),
            insertions: ins,
            deletions: 0,
        }
    }

    #[test]
    fn tests_are_told_by_the_usual_names_and_folders() {
        for p in [
            "tests/test_api.py",
            "src/__tests__/a.js",
            "pkg/x_test.go",
            "web/a.test.ts",
            "web/a.spec.tsx",
            "test_math.py",
            "src/test/java/FooTest.java",
        ] {
            assert!(is_test_path(p), "{p}");
        }
        for p in [
            "src/lib.rs",
            "contest.py",
            "docs/testing.md.bak",
            "latest/x.py",
        ] {
            assert!(!is_test_path(p), "{p}");
        }
    }

    #[test]
    fn code_without_a_test_is_flagged_and_a_test_is_named() {
        let untested = [
            file("src/calc.py", "modified", 12),
            file("README.md", "modified", 3),
        ];
        assert!(tests_line(&untested).contains("No test changed**, though the change adds 12"));
        let docs = [file("README.md", "modified", 3)];
        assert_eq!(
            tests_line(&docs),
            "No test changed (and no code was added)."
        );
        let tested = [
            file("src/calc.py", "modified", 12),
            file("tests/test_calc.py", "added", 20),
        ];
        assert_eq!(
            tests_line(&tested),
            "Tests changed: `tests/test_calc.py` (1 added)."
        );
    }

    #[test]
    fn a_small_diff_is_open_a_larger_one_folded_a_huge_one_left_out() {
        let small = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
        let md = inline_diff(small);
        assert!(
            md.contains("```diff\n--- a/x") && !md.contains("<details>"),
            "{md}"
        );
        let medium: String = (0..100).map(|i| format!("+line {i}\n")).collect();
        assert!(inline_diff(&medium).contains("<details><summary>The diff (100 lines)"));
        let huge: String = (0..1000).map(|i| format!("+line {i}\n")).collect();
        assert_eq!(inline_diff(&huge), "");
        // Backticks in the patch cannot close the fence.
        let ticks = "+```\n+code\n";
        assert!(
            inline_diff(ticks).contains("````diff"),
            "{}",
            inline_diff(ticks)
        );
    }

    #[test]
    fn the_summary_is_the_last_message_of_the_last_attempt_or_its_last_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("timeline.jsonl");
        let lines = [
            r#"{"type":"agent.started"}"#,
            r#"{"type":"agent.message","text":"first attempt"}"#,
            r#"{"type":"agent.started"}"#,
            r#"{"type":"agent.output","text":"a\nb\n"}"#,
            r#"{"type":"agent.message","text":"Added mul() and its test."}"#,
        ];
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        assert_eq!(
            agent_summary(&path).as_deref(),
            Some("Added mul() and its test.")
        );
        let lines = [
            r#"{"type":"agent.started"}"#,
            r#"{"type":"agent.output","text":"1\n2\n3\n4\n5\n6\n7\n"}"#,
        ];
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        assert_eq!(agent_summary(&path).as_deref(), Some("3\n4\n5\n6\n7"));
    }

    #[test]
    fn the_repository_path_is_one_shell_word() {
        assert_eq!(shell_word("/home/me/app"), "/home/me/app");
        assert_eq!(shell_word("/home/me/my app"), "'/home/me/my app'");
        assert_eq!(shell_word("/x/it's"), "'/x/it'\\''s'");
    }
}
