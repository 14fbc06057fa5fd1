//! prepare: make the run's workspace (a worktree on its own branch, or a copy).

use crate::fields;
use crate::run::{Phase, RunRecord};
use crate::supervisor::context::RunCtx;
use crate::workspace::{self, Spec};

use super::{blocking, PhaseJob, PhaseReport, Update};

pub async fn run(ctx: &RunCtx, job: &PhaseJob) -> PhaseReport {
    let rec = job.record.clone();
    if job.retry && rec.worktree.exists() {
        ctx.emit(
            Phase::Prepare,
            "workspace.removed",
            fields! {"message" => "retrying prepare: the old workspace is removed and made again", "path" => rec.worktree},
        );
        let r = rec.clone();
        if let Err(e) = blocking(move || workspace::remove(&r).map_err(|e| e.to_string())).await {
            return PhaseReport::failed(format!("cannot remove the old workspace: {e}"), vec![]);
        }
    }
    let spec = spec_of(&rec);
    let created = match blocking(move || workspace::create(&spec).map_err(|e| e.to_string())).await
    {
        Ok(c) => c,
        Err(e) => return PhaseReport::failed(format!("cannot create the workspace: {e}"), vec![]),
    };
    ctx.emit(
        Phase::Prepare,
        "workspace.created",
        fields! {
            "kind" => rec.workspace,
            "path" => rec.worktree,
            "branch" => rec.branch,
            "base" => created.base,
            "files_copied" => created.files_copied,
        },
    );
    if !created.uncommitted.is_empty() {
        let n = created.uncommitted.len();
        let sample: Vec<&String> = created.uncommitted.iter().take(5).collect();
        ctx.emit(
            Phase::Prepare,
            "workspace.uncommitted_not_carried",
            fields! {
                "message" => format!(
                    "{n} file(s) with uncommitted changes in {} were not carried over; the run starts from commit {}",
                    rec.repo.display(), created.base
                ),
                "files" => n,
                "sample" => sample,
            },
        );
    }
    PhaseReport::ok(vec![Update::Base(created.base)])
}

fn spec_of(rec: &RunRecord) -> Spec {
    Spec {
        run_id: rec.id.clone(),
        kind: rec.workspace,
        source: rec.repo.clone(),
        base: rec.base.clone(),
        branch: rec.branch.clone(),
        path: rec.worktree.clone(),
    }
}
