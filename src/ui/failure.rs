//! `v` on a failed run: why it failed, before its PR.md. Pure text from what the server sent.

use crate::protocol::FailureSummary;

/// Lines are wrapped to the overlay's width; this one before the screen was first drawn (the
/// inside of an 80-column terminal's overlay).
pub const WRAP: usize = 78;
/// Output lines shown per failed check (the tail; smoke.json keeps a little more).
const TAIL_LINES: usize = 40;

/// The failure section: phase and reason, what to do, then each failed check with the end of
/// its output (`with_output`; else the output is left to the PR.md shown below).
pub fn lines(run: &str, f: &FailureSummary, with_output: bool, width: usize) -> Vec<String> {
    let wrap = width.max(20);
    let mut out = vec![
        format!("# Run {run} failed in phase {}", f.phase),
        String::new(),
    ];
    let reason = f.reason.as_deref().unwrap_or("no reason recorded");
    let reason = crate::advice::for_keys(reason, Some(run));
    out.extend(crate::text::wrap(
        &format!("Reason: {}", crate::text::printable(&reason)),
        wrap,
    ));
    if let Some(code) = f.exit_code {
        out.push(format!("Exit code: {code}"));
    }
    out.extend(crate::text::wrap(
        "Keys: r retries (pick the phase) · e opens the worktree in your editor · s opens a shell there · Y copies its path",
        wrap,
    ));
    for c in &f.failed_checks {
        out.push(String::new());
        let code = c
            .exit_code
            .map(|n| format!("exit {n}"))
            .unwrap_or_else(|| "no exit code".into());
        out.extend(crate::text::wrap(
            &format!(
                "## Check `{}` failed ({code}{}): {}",
                c.name,
                if c.required { "" } else { ", not required" },
                c.command.join(" ")
            ),
            wrap,
        ));
        if let Some(e) = &c.error {
            out.extend(crate::text::wrap(&crate::text::printable(e), wrap));
        }
        if let Some(t) = &c.tests {
            out.push(format!("Tests: {t} ({})", t.runner.as_str()));
        }
        if !with_output {
            out.push("(its output is below, under Checks)".into());
            continue;
        }
        let tail: Vec<&str> = c.output_tail.lines().collect();
        if tail.is_empty() {
            out.push("(no output)".into());
        }
        let skip = tail.len().saturating_sub(TAIL_LINES);
        if skip > 0 {
            out.push(format!("… {skip} earlier lines in smoke.json"));
        }
        for l in &tail[skip..] {
            // Check output is shown as written (tabs as spaces), escape sequences removed.
            out.push(crate::text::printable(&l.replace('\t', "    ")).into_owned());
        }
    }
    if f.failed_checks.is_empty() && f.phase == crate::run::Phase::Smoke {
        out.push(String::new());
        out.push("(smoke.json records no failed check)".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_shows_its_test_counts() {
        let out = include_str!("../../tests/fixtures/test_output/pytest_failed.txt");
        let f = FailureSummary {
            phase: crate::run::Phase::Smoke,
            reason: Some("required smoke check(s) failed: unit".into()),
            exit_code: None,
            failed_checks: vec![crate::proof::smoke::CheckResult {
                name: "unit".into(),
                command: vec!["pytest".into()],
                exit_code: Some(1),
                duration_ms: 40,
                passed: false,
                required: true,
                output_tail: crate::proof::smoke::tail(out.as_bytes(), 40, 4096),
                error: None,
                tests: crate::proof::test_counts::parse(out.as_bytes()),
            }],
        };
        let lines = lines("ab12cd34", &f, true, WRAP);
        let at = lines
            .iter()
            .position(|l| l.starts_with("## Check `unit` failed"));
        assert_eq!(
            at.and_then(|i| lines.get(i + 1)).map(String::as_str),
            Some("Tests: 2 passed, 2 failed, 1 skipped (pytest)"),
            "{lines:#?}"
        );
        assert!(lines.len() > at.unwrap_or(0) + 5, "the output follows");
        // Above a PR.md that quotes the output, it is not shown twice.
        let short = super::lines("ab12cd34", &f, false, WRAP);
        assert_eq!(
            short.last().map(String::as_str),
            Some("(its output is below, under Checks)")
        );
    }
}
