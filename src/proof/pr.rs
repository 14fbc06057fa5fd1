//! `PR.md`: the pull-request description a reviewer reads in two minutes: the task, what
//! changed, the checks, model calls and cost, the score and its factors, the radar's findings,
//! and links to the proof pack's files. Pure rendering from the evidence.

use std::fmt::Write;

use crate::models::calls::ModelCall;
use crate::proof::score::Score;
use crate::proof::smoke::CheckResult;
use crate::run::RunRecord;
use crate::workspace::ChangedFile;

pub struct Evidence<'a> {
    pub run: &'a RunRecord,
    pub changed: &'a [ChangedFile],
    pub checks: &'a [CheckResult],
    /// Why the checks' evidence could not be read (`store::checks_for_gate`): PR.md says it
    /// is lost, never "no checks configured".
    pub checks_lost: Option<&'a str>,
    pub score: Option<&'a Score>,
    pub target: Option<&'a str>,
    pub calls: &'a [ModelCall],
    pub browser: Option<&'a crate::browser::report::Summary>,
    /// The agent's own account (`pr_change::agent_summary`).
    pub summary: Option<&'a str>,
    /// `patch.diff`, shown inline when small.
    pub patch: Option<&'a str>,
}

pub fn render(e: &Evidence) -> String {
    let r = e.run;
    let mut o = String::new();
    let subject = r.task.lines().next().unwrap_or("").trim();
    let _ = writeln!(o, "# {subject}\n");
    let _ = writeln!(
        o,
        "flightdeck run `{}` · agent `{}` · branch `{}` → `{}` · base `{}`\n",
        r.id,
        r.agent,
        r.branch,
        e.target.unwrap_or("(no target)"),
        r.base.get(..12).unwrap_or(&r.base)
    );
    let _ = writeln!(o, "## Task\n");
    for line in r.task.lines() {
        let _ = writeln!(o, "> {line}");
    }
    super::pr_change::failure_section(&mut o, r);
    super::pr_change::summary_section(&mut o, e.summary);

    let ins: usize = e.changed.iter().map(|c| c.insertions).sum();
    let del: usize = e.changed.iter().map(|c| c.deletions).sum();
    let _ = writeln!(o, "\n## What changed\n");
    if e.changed.is_empty() {
        let _ = writeln!(o, "Nothing: the agent changed no file.");
    } else {
        let _ = writeln!(
            o,
            "{} file(s), +{ins} −{del} ([patch.diff](patch.diff))\n",
            e.changed.len()
        );
        let _ = writeln!(o, "| file | change | + | − |\n| --- | --- | ---: | ---: |");
        for c in e.changed {
            let _ = writeln!(
                o,
                "| `{}` | {} | {} | {} |",
                c.path, c.change, c.insertions, c.deletions
            );
        }
        let _ = writeln!(o, "\n{}", super::pr_change::tests_line(e.changed));
        if let Some(patch) = e.patch {
            o.push_str(&super::pr_change::inline_diff(patch));
        }
    }

    let _ = writeln!(o, "\n## Checks\n");
    if let Some(why) = e.checks_lost {
        let _ = writeln!(o, "⚠ The checks' evidence is lost: {why}.");
    } else if e.checks.is_empty() {
        let _ = writeln!(o, "No smoke checks are configured.");
    } else {
        let _ = writeln!(
            o,
            "| check | result | tests | required | time | exit |\n| --- | --- | --- | --- | ---: | ---: |"
        );
        for c in e.checks {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {:.1} s | {} |",
                c.name,
                if c.passed { "✅ passed" } else { "❌ failed" },
                tests_cell(c.tests.as_ref()),
                if c.required { "yes" } else { "no" },
                c.duration_ms as f64 / 1000.0,
                c.exit_code
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "-".into())
            );
        }
        super::pr_change::failing_checks(&mut o, e.checks);
        let _ = writeln!(o, "\nDetails: [smoke.json](smoke.json).");
    }

    let _ = writeln!(o, "\n## Model calls\n");
    model_calls(&mut o, r, e.calls);

    let _ = writeln!(o, "\n## Acceptance score\n");
    match e.score {
        None => {
            let _ = writeln!(o, "Not scored.");
        }
        Some(s) => {
            let _ = writeln!(o, "**{:.2}** ({})\n", s.score, s.formula);
            let _ = writeln!(
                o,
                "| factor | value | weight | why |\n| --- | ---: | ---: | --- |"
            );
            for f in &s.factors {
                let _ = writeln!(
                    o,
                    "| {} | {:.2} | {} | {} |",
                    f.name, f.value, f.weight, f.note
                );
            }
            let _ = writeln!(o, "\nDetails: [score.json](score.json).");
        }
    }

    if let Some(b) = e.browser {
        let _ = writeln!(o, "\n## Browser\n");
        for it in &b.iterations {
            let _ = writeln!(
                o,
                "- iteration {}: {}",
                it.iteration,
                if it.errors == 0 {
                    "no problems".to_string()
                } else {
                    format!("{} problem(s)", it.errors)
                }
            );
            for p in &it.problems {
                let _ = writeln!(o, "  - {p}");
            }
        }
        let _ = writeln!(
            o,
            "\n| page | problems | against the base | screenshot |\n| --- | --- | --- | --- |"
        );
        for p in &b.pages {
            let diff = p
                .diff_ratio
                .map(|r| {
                    format!(
                        "{} ([diff](browser/{}.diff.png))",
                        crate::browser::report::changed(r, p.diff_region.as_ref()),
                        p.name
                    )
                })
                .unwrap_or_else(|| "-".into());
            let shot = p
                .screenshot
                .as_deref()
                .map(|s| format!("[{}]({s})", p.name))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(o, "| {} | {} | {diff} | {shot} |", p.name, p.errors);
        }
        let _ = writeln!(o, "\nDetails: [browser/report.md](browser/report.md).");
    }

    let _ = writeln!(o, "\n## Merge gate\n");
    let _ = writeln!(o, "State: **{}**", r.merge.as_str());
    for reason in &r.gate_reasons {
        let _ = writeln!(o, "- {reason}");
    }

    let _ = writeln!(o, "\n## Conflict radar\n");
    if r.conflicts.is_empty() {
        let _ = writeln!(
            o,
            "No conflict predicted with the target or with other runs."
        );
    } else {
        for c in &r.conflicts {
            let _ = writeln!(o, "- {}", c.describe());
        }
    }

    super::pr_change::try_it(&mut o, r, e.target);

    let _ = writeln!(
        o,
        "\n## Proof pack\n\n[run.json](run.json) · [timeline.jsonl](timeline.jsonl) · [agent.log](agent.log) · [patch.diff](patch.diff) · [smoke.json](smoke.json) · [score.json](score.json)"
    );
    o
}

/// A check's test counts, with the runner they were read from; `-` when its output was no
/// runner's we know (its exit code is then all there is).
pub fn tests_cell(t: Option<&crate::proof::test_counts::TestCounts>) -> String {
    t.map(|t| format!("{t} ({})", t.runner.as_str()))
        .unwrap_or_else(|| "-".into())
}

/// Per model: calls, tokens, cost; then flightdeck's total beside the agent's own figure.
fn model_calls(o: &mut String, r: &RunRecord, calls: &[ModelCall]) {
    if calls.is_empty() {
        let _ = writeln!(o, "None recorded for this agent.");
        return;
    }
    let mut models: Vec<(String, usize, [u64; 4], Option<f64>)> = Vec::new();
    for c in calls {
        let i = match models.iter().position(|m| m.0 == c.model) {
            Some(i) => i,
            None => {
                models.push((c.model.clone(), 0, [0; 4], Some(0.0)));
                models.len() - 1
            }
        };
        let m = &mut models[i];
        m.1 += 1;
        m.2[0] += c.input_tokens;
        m.2[1] += c.output_tokens;
        m.2[2] += c.cache_read_tokens;
        m.2[3] += c.cache_write_tokens;
        m.3 = match (m.3, c.cost_usd) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    let _ = writeln!(
        o,
        "| model | calls | input | output | cache read | cache write | cost |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (model, n, t, cost) in &models {
        let _ = writeln!(
            o,
            "| {model} | {n} | {} | {} | {} | {} | {} |",
            t[0],
            t[1],
            t[2],
            t[3],
            cost.map(|c| format!("${c:.4}"))
                .unwrap_or_else(|| "unknown (no price)".into())
        );
    }
    let ours = r.cost_usd;
    let _ = write!(
        o,
        "\nCost from the price table: {}",
        ours.map(|c| format!("${c:.4}"))
            .unwrap_or_else(|| "unknown".into())
    );
    match (ours, r.agent_reported_cost_usd) {
        (Some(a), Some(b)) => {
            let _ = writeln!(
                o,
                "; reported by the agent: ${b:.4}; difference ${:+.4}.",
                b - a
            );
        }
        (None, Some(b)) => {
            let _ = writeln!(o, "; reported by the agent: ${b:.4}.");
        }
        _ => {
            let _ = writeln!(o, ".");
        }
    }
    let _ = writeln!(o, "Details: [model_calls.jsonl](model_calls.jsonl).");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::WorkspaceKind;

    #[test]
    fn the_checks_table_has_each_checks_test_counts() {
        let run = RunRecord::queued(
            "ab12cd34",
            "add mul",
            "claude",
            "/src/app".into(),
            "/wt/ab12cd34".into(),
            WorkspaceKind::Worktree,
        );
        let out = include_str!("../../tests/fixtures/test_output/pytest_ok.txt");
        let check = |name: &str, tests| CheckResult {
            name: name.into(),
            command: vec!["pytest".into()],
            exit_code: Some(0),
            duration_ms: 1200,
            passed: true,
            required: true,
            output_tail: String::new(),
            error: None,
            tests,
        };
        let checks = [
            check("unit", crate::proof::test_counts::parse(out.as_bytes())),
            check("lint", None),
        ];
        let md = render(&Evidence {
            run: &run,
            changed: &[],
            checks: &checks,
            checks_lost: None,
            score: None,
            target: Some("main"),
            calls: &[],
            browser: None,
            summary: None,
            patch: None,
        });
        assert!(
            md.contains(
                "| unit | ✅ passed | 1 passed, 0 failed, 1 skipped (pytest) | yes | 1.2 s | 0 |"
            ),
            "{md}"
        );
        // A check whose output is no test runner's: its exit code says it all.
        assert!(
            md.contains("| lint | ✅ passed | - | yes | 1.2 s | 0 |"),
            "{md}"
        );
    }

    #[test]
    fn the_browser_table_says_where_the_page_changed() {
        use crate::browser::report::{PageResult, Region, Summary};
        let run = RunRecord::queued(
            "ab12cd34",
            "recolour the box",
            "claude",
            "/src/app".into(),
            "/wt/ab12cd34".into(),
            WorkspaceKind::Worktree,
        );
        let browser = Summary {
            iterations: vec![],
            pages: vec![PageResult {
                name: "home".into(),
                url: "http://127.0.0.1:1/".into(),
                screenshot: Some("browser/home.png".into()),
                duration_ms: 5,
                diff_ratio: Some(0.0011),
                diff_region: Some(Region {
                    x: 40,
                    y: 120,
                    width: 320,
                    height: 48,
                }),
                errors: 0,
            }],
        };
        let md = render(&Evidence {
            run: &run,
            changed: &[],
            checks: &[],
            checks_lost: None,
            score: None,
            target: Some("main"),
            calls: &[],
            browser: Some(&browser),
            summary: None,
            patch: None,
        });
        assert!(
            md.contains("| home | 0 | 0.11% of pixels changed, in a 320×48 region at (40,120) ([diff](browser/home.diff.png)) | [home](browser/home.png) |"),
            "{md}"
        );
    }
}
