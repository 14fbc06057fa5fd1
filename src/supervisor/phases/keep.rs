//! Before a retry resets or removes the workspace: keep what it would lose, and say where in
//! the timeline (`workspace.saved`).

use crate::fields;
use crate::proof::kind::TimelineKind;
use crate::run::{Phase, RunRecord};
use crate::supervisor::context::RunCtx;
use crate::workspace::{self, Keep, Saved};

use super::blocking;

/// Keep the workspace's state past `back_to` before the retry of `phase` throws it away. An
/// error means nothing may be reset.
pub async fn before_reset(
    ctx: &RunCtx,
    rec: &RunRecord,
    phase: Phase,
    back_to: &str,
) -> Result<(), String> {
    // The work being set aside is the previous attempt's.
    let attempt = rec.attempt.saturating_sub(1).max(1);
    let keep = Keep {
        kind: rec.workspace,
        repo: rec.repo.clone(),
        worktree: rec.worktree.clone(),
        branch: rec.branch.clone(),
        back_to: back_to.to_string(),
        reference: format!("refs/flightdeck/{}/attempt-{attempt}", rec.id),
        dir: ctx.path("saved").join(format!("attempt-{attempt}")),
        excludes: rec.setup_excludes.clone(),
        subject: format!(
            "flightdeck: attempt {attempt} of run {} as it was before retrying {phase}",
            rec.id
        ),
    };
    let saved = blocking(move || workspace::keep_work(&keep).map_err(|e| e.to_string()))
        .await
        .map_err(|e| {
            format!("cannot keep the worktree's state before the retry (nothing was reset): {e}")
        })?;
    match saved {
        None => {}
        Some(Saved::Ref {
            reference,
            commit,
            uncommitted,
            commits,
        }) => {
            let sample: Vec<&String> = uncommitted.iter().take(10).collect();
            ctx.emit(
                phase,
                TimelineKind::WorkspaceSaved,
                fields! {
                    "message" => format!(
                        "before retrying {phase}, kept attempt {attempt}'s work ({} uncommitted file(s), {commits} commit(s)) on {reference} at {commit}; see it with `git show {commit}`",
                        uncommitted.len()
                    ),
                    "ref" => reference,
                    "commit" => commit,
                    "files" => uncommitted.len(),
                    "sample" => sample,
                    "commits" => commits,
                },
            );
        }
        Some(Saved::Dir {
            dir,
            copied,
            deleted,
        }) => {
            let sample: Vec<&String> = copied.iter().take(10).collect();
            ctx.emit(
                phase,
                TimelineKind::WorkspaceSaved,
                fields! {
                    "message" => format!(
                        "before retrying {phase}, copied attempt {attempt}'s {} changed file(s) to {}{}",
                        copied.len(),
                        dir.display(),
                        if deleted.is_empty() { String::new() } else { format!("; it had deleted {}", deleted.join(", ")) }
                    ),
                    "path" => dir,
                    "files" => copied.len(),
                    "sample" => sample,
                    "deleted" => deleted,
                },
            );
        }
    }
    Ok(())
}
