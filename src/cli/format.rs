//! Human output for the terminal: the runs table and the proof summary.

use std::fmt::Write;

use crate::proof::summary::ProofSummary;
use crate::run::RunRecord;
use crate::text::{cut, first_line, printable};
use crate::time::human_duration;

pub fn table(runs: &[RunRecord]) -> String {
    table_on_hosts(runs, None)
}

/// The runs table; with `hosts` (one per run), a HOST column first.
pub fn table_on_hosts(runs: &[RunRecord], hosts: Option<&[&str]>) -> String {
    let mut out = String::new();
    if hosts.is_some() {
        let _ = write!(out, "{:<12} ", "HOST");
    }
    let _ = writeln!(
        out,
        "{:<9} {:<15} {:<8} {:<18} {:>8}  TASK",
        "ID", "STATUS", "PHASE", "AGENT", "ELAPSED"
    );
    for (i, r) in runs.iter().enumerate() {
        let elapsed = r
            .active_secs(&crate::time::now_rfc3339())
            .map(|s| human_duration(s as i64))
            .unwrap_or_else(|| "-".into());
        if let Some(h) = hosts {
            let _ = write!(out, "{:<12} ", cut(h.get(i).copied().unwrap_or("?"), 12));
        }
        let _ = writeln!(
            out,
            "{:<9} {:<15} {:<8} {:<18} {:>8}  {}",
            r.id,
            r.status_label(),
            r.phase.as_str(),
            cut(&r.agent, 18),
            elapsed,
            cut(&first_line(&r.task), 60)
        );
    }
    out
}

pub fn show(r: &RunRecord, proof: &ProofSummary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "run {}  {}  (phase {}, attempt {})",
        r.id,
        r.status_label(),
        r.phase,
        r.attempt
    );
    let _ = writeln!(o, "task      {}", first_line(&r.task));
    let _ = writeln!(o, "agent     {}", r.agent);
    let _ = writeln!(o, "repo      {}", r.repo.display());
    let _ = writeln!(o, "base      {} ({})", short(&r.base), r.base_ref);
    let _ = writeln!(o, "branch    {}", r.branch);
    let _ = writeln!(
        o,
        "worktree  {}{}",
        r.worktree.display(),
        if r.cleaned { " (cleaned)" } else { "" }
    );
    if let Some(reason) = &r.reason {
        let _ = writeln!(o, "reason    {}", printable(reason));
    }
    if let Some(code) = r.exit_code {
        let _ = writeln!(o, "exit code {code}");
    }
    if let (Some(why), crate::run::Status::Paused) = (&r.pause_reason, r.status) {
        let _ = writeln!(
            o,
            "paused    by flightdeck ({}); `flightdeck resume {}` goes on",
            printable(why),
            r.id
        );
    }
    if let Some(w) = &r.warning {
        let _ = writeln!(o, "warning   {}", printable(w));
    }
    if r.merge != crate::run::MergeState::None {
        let into = r
            .target
            .as_deref()
            .map(|t| format!(" (into {t})"))
            .unwrap_or_default();
        let place = match &r.queue {
            Some(q) => match &q.testing {
                Some(c) => format!(
                    ", position {} in the queue, testing {}",
                    q.position,
                    c.get(..10).unwrap_or(c)
                ),
                None => format!(", position {} in the queue", q.position),
            },
            None => String::new(),
        };
        let _ = writeln!(o, "merge     {}{into}{place}", r.merge.as_str());
        for reason in &r.gate_reasons {
            let _ = writeln!(o, "            {}", printable(&reason.to_string()));
        }
    }
    if let Some(pr) = &r.pr {
        let _ = writeln!(
            o,
            "pr        {} {}",
            crate::ui::pr::summary(pr).trim_start_matches("PR  "),
            printable(&pr.url)
        );
    }
    // A failed run is shown by its failure (the checks and their output); its PR.md, written
    // a moment after it fails, is listed with the proof pack's files.
    let pr = proof
        .pr
        .as_ref()
        .filter(|_| r.status != crate::run::Status::Failed);
    if let Some(pr) = pr {
        // The reviewer's summary: the same text as PR.md.
        let _ = writeln!(o, "proof     {}\n", proof.dir.display());
        // PR.md names files and quotes output an agent made: shown, never obeyed.
        for line in pr.lines() {
            o.push_str(&crate::text::escaped(line));
            o.push('\n');
        }
        return o;
    }
    if let Some(p) = &proof.patch {
        let _ = writeln!(
            o,
            "patch     {} file(s), +{} -{}",
            p.files.len(),
            p.insertions,
            p.deletions
        );
        for f in p.files.iter().take(20) {
            let _ = writeln!(o, "            {}", crate::text::escaped(f));
        }
    }
    if let Some(checks) = &proof.smoke {
        if checks.is_empty() {
            let _ = writeln!(o, "checks    none configured");
        }
        for c in checks {
            let mark = if c.passed { "pass" } else { "FAIL" };
            let _ = writeln!(
                o,
                "check     {mark}  {} ({} ms){}{}",
                c.name,
                c.duration_ms,
                if c.required { "" } else { "  optional" },
                c.tests
                    .map(|t| format!("  tests: {t} ({})", t.runner.as_str()))
                    .unwrap_or_default()
            );
        }
        failing_output(&mut o, checks);
    }
    let _ = writeln!(o, "proof     {}", proof.dir.display());
    for f in &proof.files {
        let _ = writeln!(o, "            {} ({} bytes)", f.name, f.bytes);
    }
    o
}

/// Output lines shown per failing check: enough for an assertion and its place.
const TAIL_LINES: usize = 12;

/// The end of each failing check's output, indented under it (the rest is in smoke.json).
fn failing_output(o: &mut String, checks: &[crate::proof::smoke::CheckResult]) {
    for c in checks.iter().filter(|c| !c.passed) {
        let code = c
            .exit_code
            .map(|n| format!("exit {n}"))
            .unwrap_or_else(|| "no exit code".into());
        let _ = writeln!(o, "output    of {} ({code}):", printable(&c.name));
        if let Some(e) = &c.error {
            let _ = writeln!(o, "            {}", printable(e));
        }
        let lines: Vec<&str> = c.output_tail.lines().collect();
        if lines.is_empty() {
            let _ = writeln!(o, "            (no output)");
        }
        let skip = lines.len().saturating_sub(TAIL_LINES);
        if skip > 0 {
            let _ = writeln!(o, "            … {skip} earlier line(s) in smoke.json");
        }
        for l in &lines[skip..] {
            // Output as written (tabs as spaces), escape sequences removed.
            let _ = writeln!(o, "          │ {}", printable(&l.replace('\t', "    ")));
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Status, WorkspaceKind};

    fn budget_paused() -> RunRecord {
        let mut r = RunRecord::queued(
            "ab12cd34",
            "fix it",
            "claude",
            "/src/app".into(),
            "/wt/ab12cd34".into(),
            WorkspaceKind::Worktree,
        );
        r.state.status = Status::Paused;
        r.state.pause_reason = Some("budget".into());
        r.state.warning = Some("run spent $5.00 of its $5.00 budget".into());
        r
    }

    #[test]
    fn show_prints_a_failing_checks_counts_and_the_end_of_its_output() {
        let mut r = budget_paused();
        r.state.status = Status::Failed;
        r.state.phase = crate::run::Phase::Smoke;
        let out = include_str!("../../tests/fixtures/test_output/unittest_failed.txt");
        let check = crate::proof::smoke::CheckResult {
            name: "unittest".into(),
            command: vec!["python3".into(), "-m".into(), "unittest".into()],
            exit_code: Some(1),
            duration_ms: 374,
            passed: false,
            required: true,
            output_tail: crate::proof::smoke::tail(out.as_bytes(), 40, 4096),
            error: None,
            tests: crate::proof::test_counts::parse(out.as_bytes()),
        };
        let proof = ProofSummary {
            dir: "/home/runs/ab12cd34".into(),
            files: vec![],
            patch: None,
            smoke: Some(vec![check]),
            score: None,
            pr: None,
        };
        let shown = show(&r, &proof);
        assert!(
            shown.contains(
                "check     FAIL  unittest (374 ms)  tests: 2 passed, 2 failed, 1 skipped (unittest)"
            ),
            "{shown}"
        );
        assert!(shown.contains("output    of unittest (exit 1):"), "{shown}");
        // The assertion and the verdict, each on a line of its own.
        assert!(
            shown.contains("          │ AssertionError: 4 != 5\n"),
            "{shown}"
        );
        assert!(
            shown.contains("          │ FAILED (failures=1, errors=1, skipped=1)\n"),
            "{shown}"
        );
        assert!(shown.contains("earlier line(s) in smoke.json"), "{shown}");
        // A failed run is shown by its failure, whatever PR.md there is (an earlier attempt's,
        // or this failure's, written a moment after it).
        let proof = ProofSummary {
            pr: Some("# old PR.md\n".into()),
            ..proof
        };
        let shown = show(&r, &proof);
        assert!(shown.contains("AssertionError: 4 != 5"), "{shown}");
        assert!(!shown.contains("# old PR.md"), "{shown}");
    }

    #[test]
    fn ls_and_show_say_why_flightdeck_paused_a_run() {
        let r = budget_paused();
        let ls = table(std::slice::from_ref(&r));
        let row = ls.lines().nth(1).unwrap();
        assert!(row.contains("paused (budget)"), "{ls}");
        assert_eq!(
            ls.lines().next().unwrap().find("PHASE"),
            row.find("prepare"),
            "columns stay aligned:\n{ls}"
        );
        let proof = ProofSummary {
            dir: "/home/runs/ab12cd34".into(),
            files: vec![],
            patch: None,
            smoke: None,
            score: None,
            pr: None,
        };
        let shown = show(&r, &proof);
        assert!(
            shown.starts_with("run ab12cd34  paused (budget)"),
            "{shown}"
        );
        assert!(
            shown.contains("warning   run spent $5.00 of its $5.00 budget"),
            "{shown}"
        );
        assert!(shown.contains("flightdeck resume ab12cd34"), "{shown}");
    }
}
