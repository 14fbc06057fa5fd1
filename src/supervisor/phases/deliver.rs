//! deliver: the merge gate's verdict and `PR.md`. Merging itself is the supervisor's (one at a
//! time, on `flightdeck merge` or with `gate.auto_merge`).

use crate::proof::kind::TimelineKind;
use std::path::Path;

use crate::config::Config;
use crate::fields;
use crate::gate::{self, GateInputs};
use crate::paths::pack;
use crate::proof::pr::{self, Evidence};
use crate::proof::score::{self, Score};
use crate::proof::store::write_atomic;
use crate::run::{MergeState, Phase, RunRecord};
use crate::supervisor::context::RunCtx;
use crate::supervisor::merge_gate::GateInput;

use super::{blocking, PhaseJob, PhaseReport, Update};
use crate::proof::store::{
    checks_for_gate, checks_or_lost, read_calls, read_score, score_for_gate,
};

pub async fn run(ctx: &RunCtx, job: &PhaseJob) -> PhaseReport {
    let (dir, rec, config) = (ctx.dir.clone(), job.record.clone(), job.config.clone());
    // PR.md's first writing takes its turn with the refreshes (one order per run).
    let (order, turn) = (ctx.pr.clone(), ctx.pr.ask());
    let result = blocking(move || evaluate_and_write(&dir, rec, &config, (&order, turn))).await;
    match result {
        Ok((state, reasons)) => {
            let said: Vec<String> = reasons.iter().map(ToString::to_string).collect();
            ctx.emit(
                Phase::Deliver,
                TimelineKind::GateEvaluated,
                fields! {
                    "state" => state,
                    "message" => if said.is_empty() { "merge gate is green".to_string() } else { format!("merge gate: {}", said.join("; ")) },
                    "reasons" => said,
                },
            );
            PhaseReport::ok(vec![Update::Gate(state, reasons)])
        }
        Err(e) => PhaseReport::failed(format!("cannot evaluate the merge gate: {e}"), vec![]),
    }
}

/// The gate's verdict from the evidence on disk, then PR.md with it. Blocking.
fn evaluate_and_write(
    dir: &Path,
    rec: RunRecord,
    config: &Config,
    (order, turn): (&crate::supervisor::in_order::InOrder, u64),
) -> Result<(MergeState, Vec<crate::run::GateReason>), String> {
    let read = checks_for_gate(dir);
    let (checks, checks_lost) = checks_or_lost(&read);
    let mut lost: Vec<String> = checks_lost.iter().map(|s| s.to_string()).collect();
    let score = score_for_gate(dir).map_err(|why| lost.push(why)).ok();
    // The record's target, set when the run was accepted: PR.md and the gate name the same
    // branch as `show` and the merge, whatever the config says since.
    let target = rec.target.clone();
    let (_, stat) =
        crate::workspace::diff_against_base(&rec.worktree, &rec.base, target.as_deref())
            .map_err(|e| e.to_string())?;
    let paths: Vec<String> = stat.changed.iter().map(|c| c.path.clone()).collect();
    let protected = score::protected_touched(&paths, &config.gate.protected);
    let tip =
        crate::workspace::branch_tip(&rec.worktree, &rec.branch).map_err(|e| e.to_string())?;
    let (state, reasons) = gate::evaluate(
        &GateInputs {
            checks,
            lost: &lost,
            score: score.as_ref().map(|s| s.score),
            protected_touched: &protected,
            conflicts: &rec.conflicts,
            target: target.as_deref(),
            changed_files: stat.files,
            checked: rec.checked_commit.as_deref(),
            tip: tip.as_deref(),
        },
        &config.gate,
    );
    // PR.md shows the verdict as the run's machine will record it.
    let rec = crate::supervisor::machine::gated(
        &rec,
        GateInput::Evaluated {
            state,
            reasons: reasons.clone(),
        },
    );
    let mut written = Ok(());
    order.write(turn, || {
        written = render_pr(
            dir,
            &rec,
            &stat.changed,
            (checks, checks_lost),
            score.as_ref(),
        );
    });
    written?;
    Ok((state, reasons))
}

/// Write PR.md again from the record as it is now (after the radar or a merge changed it).
/// Blocking.
pub fn write_pr(dir: &Path, rec: &RunRecord) -> Result<(), String> {
    let (_, stat) =
        crate::workspace::diff_against_base(&rec.worktree, &rec.base, rec.target.as_deref())
            .map_err(|e| e.to_string())?;
    // Fails closed like the gate: lost evidence is said as lost, never as "no checks".
    let read = checks_for_gate(dir);
    render_pr(
        dir,
        rec,
        &stat.changed,
        checks_or_lost(&read),
        read_score(dir).as_ref(),
    )
}

/// PR.md from the record and the evidence on disk. Blocking.
fn render_pr(
    dir: &Path,
    rec: &RunRecord,
    changed: &[crate::workspace::ChangedFile],
    (checks, checks_lost): (&[crate::proof::smoke::CheckResult], Option<&str>),
    score: Option<&Score>,
) -> Result<(), String> {
    let calls = read_calls(dir);
    let browser = crate::browser::report::Summary::read(dir);
    let summary = crate::proof::pr_change::agent_summary(&dir.join(pack::TIMELINE));
    let patch = std::fs::read_to_string(dir.join(pack::PATCH)).ok();
    let text = pr::render(&Evidence {
        run: rec,
        changed,
        checks,
        checks_lost,
        score,
        target: rec.target.as_deref(),
        calls: &calls,
        browser: browser.as_ref(),
        summary: summary.as_deref(),
        patch: patch.as_deref(),
    });
    write_atomic(&dir.join(pack::PR), text.as_bytes()).map_err(|e| format!("writing PR.md: {e}"))
}
