//! The merge gate, pure: what the evidence says about whether a run may merge.
//! Green means: the run succeeded and changed something, required checks passed on the commit
//! the branch holds now, score ≥ `gate.min_score`, no protected path touched unless
//! `gate.allow_protected`, a target branch to merge into, and no predicted conflict.

use crate::config::GateConfig;
use crate::proof::smoke::CheckResult;
use crate::run::{ConflictFinding, GateReason, MergeState};

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

pub use crate::run::gate_reason::CHANGED_NOTHING;

/// The merge state and, unless ready, the reasons.
pub fn evaluate(i: &GateInputs, gate: &GateConfig) -> (MergeState, Vec<GateReason>) {
    let mut reasons: Vec<GateReason> = i
        .lost
        .iter()
        .map(|detail| GateReason::EvidenceLost {
            detail: detail.clone(),
        })
        .collect();
    if i.changed_files == 0 {
        reasons.push(GateReason::ChangedNothing);
    }
    match (i.checked, i.tip) {
        (_, None) => reasons.push(GateReason::BranchGone),
        (None, Some(_)) => reasons.push(GateReason::CheckUnrecorded),
        (Some(checked), Some(tip)) if checked != tip => reasons.push(GateReason::BranchMoved {
            checked: checked.to_string(),
            tip: tip.to_string(),
        }),
        _ => {}
    }
    for c in i.checks.iter().filter(|c| c.required && !c.passed) {
        reasons.push(GateReason::CheckFailed {
            check: c.name.clone(),
        });
    }
    match i.score {
        Some(score) if score < gate.min_score => reasons.push(GateReason::ScoreBelow {
            score,
            min: gate.min_score,
        }),
        Some(_) => {}
        None => reasons.push(GateReason::NoScore),
    }
    if !i.protected_touched.is_empty() && !gate.allow_protected {
        reasons.push(GateReason::ProtectedPaths {
            paths: i.protected_touched.to_vec(),
        });
    }
    if i.target.is_none() {
        reasons.push(GateReason::NoTarget);
    }
    // A conflict with another run that also waits to merge blocks neither: whichever merges
    // first turns the other's into a conflict with the target.
    let blocking: Vec<&ConflictFinding> = i.conflicts.iter().filter(|c| c.blocks()).collect();
    for c in &blocking {
        reasons.push(GateReason::Conflict {
            finding: (*c).clone(),
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn said(r: Vec<GateReason>) -> Vec<String> {
        r.iter().map(ToString::to_string).collect()
    }

    fn said_by((s, r): (MergeState, Vec<GateReason>)) -> (MergeState, Vec<String>) {
        (s, said(r))
    }

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
            tests: None,
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
        assert_eq!(said(reasons), lost);
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
        let (s, r) = said_by(evaluate(&inputs(&failed, &[], &[]), &g));
        assert_eq!(s, MergeState::Blocked);
        assert_eq!(r, vec!["required check `tests` failed"]);

        let mut low = inputs(&[], &[], &[]);
        low.score = Some(0.5);
        let (s, r) = said_by(evaluate(&low, &g));
        assert_eq!(s, MergeState::Blocked);
        assert!(r[0].contains("below gate.min_score"));

        let prot = vec!["Cargo.lock".to_string()];
        let (s, r) = said_by(evaluate(&inputs(&[], &prot, &[]), &g));
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
        let (s, r) = said_by(evaluate(&inputs(&[], &[], &conflicts), &g));
        assert_eq!(s, MergeState::Conflict);
        assert!(r[0].contains("run:abc in a.rs"));
        // Both waiting to merge: said elsewhere, blocks neither.
        let waiting = vec![ConflictFinding {
            both_waiting: true,
            ..conflicts[0].clone()
        }];
        let (s, r) = said_by(evaluate(&inputs(&[], &[], &waiting), &g));
        assert_eq!(s, MergeState::Ready, "{r:?}");

        let mut empty = inputs(&[], &[], &[]);
        empty.changed_files = 0;
        assert_eq!(
            evaluate(&empty, &g),
            (MergeState::Blocked, vec![GateReason::ChangedNothing])
        );

        let mut moved = inputs(&[], &[], &[]);
        moved.tip = Some("def");
        let (s, r) = said_by(evaluate(&moved, &g));
        assert_eq!(s, MergeState::Blocked);
        assert!(
            r[0].contains("the branch moved after smoke checked abc"),
            "{r:?}"
        );
        moved.checked = None;
        assert_eq!(evaluate(&moved, &g).0, MergeState::Blocked);
    }
}
