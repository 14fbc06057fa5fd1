//! proof: the final `patch.diff` (base → the branch's head) and the acceptance score.

use crate::proof::kind::TimelineKind;
use std::path::Path;

use crate::config::Config;
use crate::fields;
use crate::paths::pack;
use crate::proof::score::{self, Score};
use crate::proof::store;
use crate::proof::store::write_atomic;
use crate::proof::{self};
use crate::run::{Phase, RunRecord};
use crate::supervisor::context::RunCtx;

use super::{blocking, PhaseJob, PhaseReport, Update};

pub async fn run(ctx: &RunCtx, job: &PhaseJob) -> PhaseReport {
    let (dir, rec, config) = (ctx.dir.clone(), job.record.clone(), job.config.clone());
    let written = blocking(move || {
        let head = crate::workspace::head_commit(&rec.worktree).map_err(|e| e.to_string())?;
        let target = crate::gate::target(&config.gate, rec.base_branch.as_deref());
        let stat = proof::patch::write(&dir, &rec.worktree, &rec.base, target)
            .map_err(|e| e.to_string())?;
        let score = score_run(&dir, &rec, &config, &stat)?;
        Ok((head, stat, score))
    })
    .await;
    match written {
        Ok((head, stat, score)) => {
            ctx.emit(
                Phase::Proof,
                TimelineKind::ProofPatch,
                fields! {
                    "message" => format!("patch.diff: {} file(s), +{} -{}", stat.files, stat.insertions, stat.deletions),
                    "files" => stat.files, "insertions" => stat.insertions, "deletions" => stat.deletions,
                },
            );
            ctx.emit(
                Phase::Proof,
                TimelineKind::ProofScore,
                fields! {"message" => format!("acceptance score {:.2}", score.score), "score" => score.score, "factors" => score.factors},
            );
            PhaseReport::ok(vec![
                Update::Checkpoint(Phase::Proof, head),
                Update::Score(score.score),
            ])
        }
        Err(e) => PhaseReport::failed(format!("cannot write the proof: {e}"), vec![]),
    }
}

/// The acceptance score, written to `score.json`. Blocking.
fn score_run(
    dir: &Path,
    rec: &RunRecord,
    config: &Config,
    stat: &crate::workspace::DiffStat,
) -> Result<Score, String> {
    // Fails closed: lost checks score as failed (the gate says which file), never as none.
    let read = store::checks_for_gate(dir);
    let (checks, checks_lost) = store::checks_or_lost(&read);
    let paths: Vec<String> = stat.changed.iter().map(|c| c.path.clone()).collect();
    let protected = score::protected_touched(&paths, &config.gate.protected);
    let s = score::score(
        &score::Inputs {
            checks,
            checks_lost,
            exit_code: rec.exit_code,
            changed_files: &paths,
            changed_lines: (stat.insertions + stat.deletions) as u64,
            protected_touched: &protected,
            budget_over: None,
            browser: crate::browser::report::Summary::read(dir)
                .filter(|s| !s.pages.is_empty())
                .map(|s| s.passed()),
            tests: crate::proof::pr_change::TestsTouched::of(&stat.changed),
        },
        &config.gate,
    );
    let json = serde_json::to_vec_pretty(&s).map_err(|e| e.to_string())?;
    write_atomic(&dir.join(pack::SCORE), &json).map_err(|e| format!("writing score.json: {e}"))?;
    Ok(s)
}
