//! The merge gate, pure: what the evidence says about whether a run may merge.
//! Green means: the run succeeded and changed something, required checks passed on the commit
//! the branch holds now, score ≥ `gate.min_score`, no protected path touched unless
//! `gate.allow_protected`, a target branch to merge into, and no predicted conflict.

use crate::config::GateConfig;
use crate::proof::smoke::CheckResult;
use crate::run::{ConflictFinding, MergeState};

pub struct GateInputs<'a> {
    pub checks: &'a [CheckResult],
    /// Evidence that could not be read (each a sentence naming its file): the gate is closed.
    pub lost: &'a [String],
    pub score: Option<f64>,
    pub protected_touched: &'a [String],
    pub conflicts: &'a [ConflictFinding],
    pub target: Option<&'a str>,
    /// Files changed between the base and the branch.
    pub changed_files: usize,
    /// The commit the smoke checks ran on.
    pub checked: Option<&'a str>,
    /// The commit the run's branch points at now (None: the branch is gone).
    pub tip: Option<&'a str>,
}

/// The reason an empty change is blocked (exact words; scripts may look for them).
pub const CHANGED_NOTHING: &str = "the run changed nothing";

/// The merge state and, unless ready, the reasons in sentences.
pub fn evaluate(i: &GateInputs, gate: &GateConfig) -> (MergeState, Vec<String>) {
    let mut reasons: Vec<String> = i.lost.to_vec();
    if i.changed_files == 0 {
        reasons.push(CHANGED_NOTHING.to_string());
    }
    match (i.checked, i.tip) {
        (_, None) => reasons.push("the run's branch is gone; nothing to merge".into()),
        (None, Some(_)) => reasons.push(
            "smoke has not recorded which commit it checked; retry --phase smoke".into(),
        ),
        (Some(checked), Some(tip)) if checked != tip => reasons.push(format!(
            "the branch moved after smoke checked {} (it is now at {}); retry --phase smoke so the checks run on what would merge",
            short(checked),
            short(tip)
        )),
        _ => {}
    }
    for c in i.checks.iter().filter(|c| c.required && !c.passed) {
        reasons.push(format!("required check `{}` failed", c.name));
    }
    match i.score {
        Some(s) if s < gate.min_score => reasons.push(format!(
            "score {s:.2} is below gate.min_score {:.2}",
            gate.min_score
        )),
        Some(_) => {}
        None => reasons.push("the run has no acceptance score yet".into()),
    }
    if !i.protected_touched.is_empty() && !gate.allow_protected {
        reasons.push(format!(
            "touches protected paths: {} (gate.allow_protected = true would allow it)",
            i.protected_touched.join(", ")
        ));
    }
    if i.target.is_none() {
        reasons
            .push("no target branch: the base did not come from a branch; set gate.target".into());
    }
    // A conflict with another run that also waits to merge blocks neither: whichever merges
    // first turns the other's into a conflict with the target.
    let blocking: Vec<&ConflictFinding> = i.conflicts.iter().filter(|c| c.blocks()).collect();
    for c in &blocking {
        reasons.push(c.describe());
    }
    let state = if !blocking.is_empty() {
        MergeState::Conflict
    } else if reasons.is_empty() {
        MergeState::Ready
    } else {
        MergeState::Blocked
    };
    (state, reasons)
}

/// The branch a run merges into: `gate.target`, else the branch its base came from.
pub fn target<'a>(gate: &'a GateConfig, base_branch: Option<&'a str>) -> Option<&'a str> {
    if gate.target.is_empty() {
        base_branch
    } else {
        Some(gate.target.as_str())
    }
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(passed: bool) -> CheckResult {
        CheckResult {
            name: "tests".into(),
            command: vec![],
            exit_code: Some(0),
            duration_ms: 0,
            passed,
            required: true,
            output_tail: String::new(),
            error: None,
        }
    }

    fn inputs<'a>(
        checks: &'a [CheckResult],
        protected: &'a [String],
        conflicts: &'a [ConflictFinding],
    ) -> GateInputs<'a> {
        GateInputs {
            checks,
            lost: &[],
            score: Some(0.9),
            protected_touched: protected,
            conflicts,
            target: Some("main"),
            changed_files: 1,
            checked: Some("abc"),
            tip: Some("abc"),
        }
    }

    #[test]
    fn lost_evidence_closes_the_gate_with_its_sentence() {
        let checks = [check(true)];
        let lost = ["the smoke evidence x/smoke.json is missing".to_string()];
        let i = GateInputs {
            lost: &lost,
            ..inputs(&checks, &[], &[])
        };
        let (state, reasons) = evaluate(&i, &GateConfig::default());
        assert_eq!(state, MergeState::Blocked);
        assert_eq!(reasons, lost);
    }

    #[test]
    fn green_when_all_is_well() {
        let checks = [check(true)];
        assert_eq!(
            evaluate(&inputs(&checks, &[], &[]), &GateConfig::default()),
            (MergeState::Ready, vec![])
        );
    }

    #[test]
    fn each_reason_blocks() {
        let g = GateConfig::default();
        let failed = [check(false)];
        let (s, r) = evaluate(&inputs(&failed, &[], &[]), &g);
        assert_eq!(s, MergeState::Blocked);
        assert_eq!(r, vec!["required check `tests` failed"]);

        let mut low = inputs(&[], &[], &[]);
        low.score = Some(0.5);
        let (s, r) = evaluate(&low, &g);
        assert_eq!(s, MergeState::Blocked);
        assert!(r[0].contains("below gate.min_score"));

        let prot = vec!["Cargo.lock".to_string()];
        let (s, r) = evaluate(&inputs(&[], &prot, &[]), &g);
        assert_eq!(s, MergeState::Blocked);
        assert!(r[0].contains("protected paths: Cargo.lock"));
        let allow = GateConfig {
            allow_protected: true,
            ..Default::default()
        };
        assert_eq!(
            evaluate(&inputs(&[], &prot, &[]), &allow).0,
            MergeState::Ready
        );

        let conflicts = vec![ConflictFinding {
            with: "run:abc".into(),
            files: vec!["a.rs".into()],
            both_waiting: false,
        }];
        let (s, r) = evaluate(&inputs(&[], &[], &conflicts), &g);
        assert_eq!(s, MergeState::Conflict);
        assert!(r[0].contains("run:abc in a.rs"));
        // Both waiting to merge: said elsewhere, blocks neither.
        let waiting = vec![ConflictFinding {
            both_waiting: true,
            ..conflicts[0].clone()
        }];
        let (s, r) = evaluate(&inputs(&[], &[], &waiting), &g);
        assert_eq!(s, MergeState::Ready, "{r:?}");

        let mut empty = inputs(&[], &[], &[]);
        empty.changed_files = 0;
        assert_eq!(
            evaluate(&empty, &g),
            (MergeState::Blocked, vec![CHANGED_NOTHING.to_string()])
        );

        let mut moved = inputs(&[], &[], &[]);
        moved.tip = Some("def");
        let (s, r) = evaluate(&moved, &g);
        assert_eq!(s, MergeState::Blocked);
        assert!(
            r[0].contains("the branch moved after smoke checked abc"),
            "{r:?}"
        );
        moved.checked = None;
        assert_eq!(evaluate(&moved, &g).0, MergeState::Blocked);
    }
}
