//! The acceptance score (0 to 1) in `score.json`: named factors, each with a value, a weight and
//! a sentence; the score is their weighted mean. Pure, so the formula is tested directly.
//!
//! | factor | value | weight |
//! | --- | --- | --- |
//! | required_checks | passed / required (1 when there are none) | 3 |
//! | optional_checks | passed / optional (left out when there are none) | 1 |
//! | agent_exit | 1 when the agent exited 0, else 0 | 2 |
//! | diff_size | min(1, max_changed_lines / lines) × min(1, max_changed_files / files); 0 when nothing changed | 1 |
//! | protected_paths | 0 when a protected path was touched (1 with allow_protected) | 2 |
//! | tests | 0 when code was added and no test changed, else 1 | 1 |
//! | budget | 1 within budget, 0 over it (left out until budgets are recorded) | 1 |
//! | browser | share of browser checks passed (left out when there are none) | 2 |

use serde::{Deserialize, Serialize};

use crate::config::GateConfig;
use crate::proof::pr_change::TestsTouched;
use crate::proof::smoke::CheckResult;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub score: f64,
    pub formula: String,
    pub factors: Vec<Factor>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub name: String,
    pub value: f64,
    pub weight: f64,
    pub note: String,
}

pub struct Inputs<'a> {
    pub checks: &'a [CheckResult],
    /// Why `smoke.json` could not be read: the required checks then count as failed (fail
    /// closed), never as "none configured".
    pub checks_lost: Option<&'a str>,
    pub exit_code: Option<i32>,
    pub changed_files: &'a [String],
    pub changed_lines: u64,
    pub protected_touched: &'a [String],
    /// Some(over) once budgets are recorded.
    pub budget_over: Option<bool>,
    /// (passed, total) of browser checks, when there were any.
    pub browser: Option<(usize, usize)>,
    /// The tests the change touched and the code it added.
    pub tests: TestsTouched,
}

pub const FORMULA: &str = "score = sum(value × weight) / sum(weight) over the factors present";

pub fn score(i: &Inputs, gate: &GateConfig) -> Score {
    let mut f = Vec::new();
    let required: Vec<&CheckResult> = i.checks.iter().filter(|c| c.required).collect();
    let req_passed = required.iter().filter(|c| c.passed).count();
    f.push(if let Some(why) = i.checks_lost {
        factor(
            "required_checks",
            0.0,
            3.0,
            format!("the checks' evidence is lost: {why}"),
        )
    } else if required.is_empty() {
        factor(
            "required_checks",
            1.0,
            3.0,
            "no required checks are configured".into(),
        )
    } else {
        let failed: Vec<&str> = required
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        let note = if failed.is_empty() {
            format!("all {} required check(s) passed", required.len())
        } else {
            format!(
                "{req_passed} of {} required check(s) passed; failed: {}",
                required.len(),
                failed.join(", ")
            )
        };
        factor(
            "required_checks",
            ratio(req_passed, required.len()),
            3.0,
            note,
        )
    });
    let optional: Vec<&CheckResult> = i.checks.iter().filter(|c| !c.required).collect();
    if !optional.is_empty() {
        let passed = optional.iter().filter(|c| c.passed).count();
        f.push(factor(
            "optional_checks",
            ratio(passed, optional.len()),
            1.0,
            format!("{passed} of {} optional check(s) passed", optional.len()),
        ));
    }
    f.push(match i.exit_code {
        Some(0) => factor(
            "agent_exit",
            1.0,
            2.0,
            "the agent exited with code 0".into(),
        ),
        Some(c) => factor(
            "agent_exit",
            0.0,
            2.0,
            format!("the agent exited with code {c}"),
        ),
        None => factor(
            "agent_exit",
            0.0,
            2.0,
            "the agent did not exit normally".into(),
        ),
    });
    let files = i.changed_files.len() as u64;
    let lines_part = if i.changed_lines == 0 {
        1.0
    } else {
        (gate.max_changed_lines as f64 / i.changed_lines as f64).min(1.0)
    };
    let files_part = (gate.max_changed_files as f64 / files.max(1) as f64).min(1.0);
    f.push(if files == 0 {
        // An empty change is not a finished task, however clean.
        factor("diff_size", 0.0, 1.0, crate::gate::CHANGED_NOTHING.into())
    } else {
        factor(
            "diff_size",
            lines_part * files_part,
            1.0,
            format!(
                "{} line(s) in {files} file(s) against limits of {} lines and {} files",
                i.changed_lines, gate.max_changed_lines, gate.max_changed_files
            ),
        )
    });
    f.push(
        match (i.protected_touched.is_empty(), gate.allow_protected) {
            (true, _) => factor(
                "protected_paths",
                1.0,
                2.0,
                "no protected path touched".into(),
            ),
            (false, true) => factor(
                "protected_paths",
                1.0,
                2.0,
                format!(
                    "protected paths touched, allowed by gate.allow_protected: {}",
                    i.protected_touched.join(", ")
                ),
            ),
            (false, false) => factor(
                "protected_paths",
                0.0,
                2.0,
                format!(
                    "protected paths touched: {}",
                    i.protected_touched.join(", ")
                ),
            ),
        },
    );
    f.push(tests_factor(&i.tests));
    if let Some(over) = i.budget_over {
        f.push(if over {
            factor("budget", 0.0, 1.0, "the run went over its budget".into())
        } else {
            factor(
                "budget",
                1.0,
                1.0,
                "the run stayed within its budget".into(),
            )
        });
    }
    if let Some((passed, total)) = i.browser {
        f.push(factor(
            "browser",
            ratio(passed, total),
            2.0,
            format!("{passed} of {total} browser check(s) passed"),
        ));
    }
    let weight: f64 = f.iter().map(|x| x.weight).sum();
    let total: f64 = f.iter().map(|x| x.value * x.weight).sum();
    let score = if weight > 0.0 { total / weight } else { 0.0 };
    Score {
        score: (score * 1000.0).round() / 1000.0,
        formula: FORMULA.into(),
        factors: f,
    }
}

/// Tells a tested change from an untested one: code added with no test changed beside it
/// scores 0 here, so two otherwise green runs are told apart by their tests.
fn tests_factor(t: &TestsTouched) -> Factor {
    if t.untested() {
        factor(
            "tests",
            0.0,
            1.0,
            format!(
                "no test changed, though the change adds {} line(s) of code",
                t.code_added
            ),
        )
    } else if t.tests.is_empty() {
        factor(
            "tests",
            1.0,
            1.0,
            "no code added, so no test was needed".into(),
        )
    } else {
        factor(
            "tests",
            1.0,
            1.0,
            format!(
                "{} test file(s) changed with the code ({} added)",
                t.tests.len(),
                t.tests_added
            ),
        )
    }
}

/// Changed paths matching `gate.protected` globs.
pub fn protected_touched(changed: &[String], patterns: &[String]) -> Vec<String> {
    let pats: Vec<glob::Pattern> = patterns
        .iter()
        .filter_map(|p| glob::Pattern::new(p).ok())
        .collect();
    changed
        .iter()
        .filter(|path| pats.iter().any(|p| p.matches(path)))
        .cloned()
        .collect()
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

fn factor(name: &str, value: f64, weight: f64, note: String) -> Factor {
    Factor {
        name: name.into(),
        value: (value * 1000.0).round() / 1000.0,
        weight,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, passed: bool, required: bool) -> CheckResult {
        CheckResult {
            name: name.into(),
            command: vec!["true".into()],
            exit_code: Some(if passed { 0 } else { 1 }),
            duration_ms: 1,
            passed,
            required,
            output_tail: String::new(),
            error: None,
            tests: None,
        }
    }

    fn inputs<'a>(
        checks: &'a [CheckResult],
        files: &'a [String],
        protected: &'a [String],
    ) -> Inputs<'a> {
        Inputs {
            checks,
            checks_lost: None,
            exit_code: Some(0),
            changed_files: files,
            changed_lines: 10,
            protected_touched: protected,
            budget_over: None,
            browser: None,
            tests: TestsTouched::default(),
        }
    }

    #[test]
    fn lost_checks_score_as_failed_not_as_none_configured() {
        let files = ["src/a.rs".to_string()];
        let mut i = inputs(&[], &files, &[]);
        i.checks_lost = Some("the smoke evidence /x/smoke.json is missing");
        let s = score(&i, &GateConfig::default());
        let f = &s.factors[0];
        assert_eq!((f.name.as_str(), f.value), ("required_checks", 0.0));
        assert!(f.note.contains("smoke.json is missing"), "{}", f.note);
        assert!(s.score < 1.0);
    }

    #[test]
    fn a_clean_run_scores_one() {
        let checks = [check("tests", true, true), check("lint", true, false)];
        let files = vec!["a.rs".to_string()];
        let s = score(&inputs(&checks, &files, &[]), &GateConfig::default());
        assert_eq!(s.score, 1.0);
        assert_eq!(s.factors.len(), 6);
    }

    #[test]
    fn failures_weigh_as_documented() {
        let checks = [check("tests", false, true)];
        let files = vec!["a.rs".to_string()];
        // required_checks 0×3, agent_exit 1×2, diff_size 1×1, protected 1×2, tests 1×1 → 6/9.
        let s = score(&inputs(&checks, &files, &[]), &GateConfig::default());
        assert_eq!(s.score, 0.667);
        let f = &s.factors[0];
        assert_eq!(
            (f.name.as_str(), f.value, f.weight),
            ("required_checks", 0.0, 3.0)
        );
        assert!(f.note.contains("failed: tests"));

        let protected = vec!["Cargo.lock".to_string()];
        let s = score(&inputs(&[], &files, &protected), &GateConfig::default());
        assert_eq!(s.score, 0.778);
        let gate = GateConfig {
            allow_protected: true,
            ..Default::default()
        };
        assert_eq!(score(&inputs(&[], &files, &protected), &gate).score, 1.0);
    }

    #[test]
    fn an_untested_change_scores_below_a_tested_one() {
        let files = vec!["src/a.py".to_string()];
        let mut untested = inputs(&[], &files, &[]);
        untested.tests = TestsTouched {
            tests: vec![],
            tests_added: 0,
            code_added: 12,
        };
        let mut tested = inputs(&[], &files, &[]);
        tested.tests = TestsTouched {
            tests: vec!["tests/test_a.py".into()],
            tests_added: 1,
            code_added: 12,
        };
        let (u, t) = (
            score(&untested, &GateConfig::default()),
            score(&tested, &GateConfig::default()),
        );
        assert_eq!((u.score, t.score), (0.889, 1.0));
        let f = u.factors.iter().find(|f| f.name == "tests").unwrap();
        assert_eq!(
            (f.value, f.note.as_str()),
            (
                0.0,
                "no test changed, though the change adds 12 line(s) of code"
            )
        );
        let f = t.factors.iter().find(|f| f.name == "tests").unwrap();
        assert_eq!(f.note, "1 test file(s) changed with the code (1 added)");
    }

    #[test]
    fn big_diffs_lower_the_score() {
        let files: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        let mut i = inputs(&[], &files, &[]);
        i.changed_lines = 1000;
        let s = score(&i, &GateConfig::default());
        let d = s.factors.iter().find(|f| f.name == "diff_size").unwrap();
        assert_eq!(d.value, 0.25); // 500/1000 × 20/40
    }

    #[test]
    fn an_empty_change_does_not_score_one() {
        let mut i = inputs(&[], &[], &[]);
        i.changed_lines = 0;
        let s = score(&i, &GateConfig::default());
        let d = s.factors.iter().find(|f| f.name == "diff_size").unwrap();
        assert_eq!((d.value, d.note.as_str()), (0.0, "the run changed nothing"));
        assert!(s.score < 1.0);
    }

    #[test]
    fn protected_globs() {
        let changed = vec![
            "Cargo.lock".into(),
            ".github/workflows/ci.yml".into(),
            "src/main.rs".into(),
        ];
        let hit = protected_touched(&changed, &["Cargo.lock".into(), ".github/**".into()]);
        assert_eq!(hit, vec!["Cargo.lock", ".github/workflows/ci.yml"]);
    }
}
