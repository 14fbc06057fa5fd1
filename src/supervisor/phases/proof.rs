//! proof: the final `patch.diff` (base → the branch's head) and a durable timeline.

use crate::fields;
use crate::proof;
use crate::run::Phase;
use crate::supervisor::context::RunCtx;

use super::{blocking, PhaseJob, PhaseReport, Update};

pub async fn run(ctx: &RunCtx, job: &PhaseJob) -> PhaseReport {
    let rec = &job.record;
    let (dir, wt, base) = (ctx.dir.clone(), rec.worktree.clone(), rec.base.clone());
    let head_wt = wt.clone();
    let written = blocking(move || {
        let head = crate::workspace::head_commit(&head_wt).map_err(|e| e.to_string())?;
        let stat = proof::patch::write(&dir, &wt, &base).map_err(|e| e.to_string())?;
        Ok((head, stat))
    })
    .await;
    match written {
        Ok((head, stat)) => {
            ctx.emit(
                Phase::Proof,
                "proof.patch",
                fields! {
                    "message" => format!("patch.diff: {} file(s), +{} -{}", stat.files, stat.insertions, stat.deletions),
                    "files" => stat.files, "insertions" => stat.insertions, "deletions" => stat.deletions,
                },
            );
            PhaseReport::ok(vec![Update::Checkpoint(Phase::Proof, head)])
        }
        Err(e) => PhaseReport::failed(format!("cannot write patch.diff: {e}"), vec![]),
    }
}
