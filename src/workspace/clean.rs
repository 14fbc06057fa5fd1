//! Removing a run's workspace without losing work: refuse when the worktree has uncommitted
//! changes or the branch has commits its base branch lacks, unless forced. (git2's prune with
//! `working_tree(true)` would delete a dirty tree without a word, so the checks come first.)

use git2::{BranchType, Oid, Repository};

use super::{dirty_files_except, WorkspaceError};
use crate::run::{RunRecord, WorkspaceKind};

/// Ok when removing loses nothing; otherwise the reason, saying what to do.
pub fn check_clean(run: &RunRecord) -> Result<(), WorkspaceError> {
    if run.worktree.exists() {
        let wt = Repository::open(&run.worktree)?;
        let dirty = dirty_files_except(&wt, 5, &run.setup_excludes)?;
        if !dirty.is_empty() {
            return Err(WorkspaceError::Refused(format!(
                "worktree {} has uncommitted changes ({}); commit or discard them, or pass --force",
                run.worktree.display(),
                dirty.join(", ")
            )));
        }
        if run.workspace == WorkspaceKind::Copy {
            let head = wt.head()?.peel_to_commit()?.id();
            if !run.base.is_empty() && head.to_string() != run.base {
                return Err(WorkspaceError::Refused(format!(
                    "the copy {} holds changes that exist nowhere else (patch.diff has them); apply them to {}, or pass --force",
                    run.worktree.display(),
                    run.repo.display()
                )));
            }
        }
    }
    if run.workspace == WorkspaceKind::Worktree {
        let repo = Repository::open(&run.repo)?;
        let Ok(branch) = repo.find_branch(&run.branch, BranchType::Local) else {
            return Ok(());
        };
        let Some(tip) = branch.get().target() else {
            return Ok(());
        };
        let (target, target_name) = match run
            .base_branch
            .as_deref()
            .and_then(|b| repo.find_branch(b, BranchType::Local).ok())
            .and_then(|b| {
                b.get()
                    .target()
                    .map(|t| (t, b.name().ok().flatten().map(str::to_string)))
            }) {
            Some((t, name)) => (t, name.unwrap_or_default()),
            None => (
                Oid::from_str(&run.base)?,
                format!("its base {}", short(&run.base)),
            ),
        };
        if tip != target && !repo.graph_descendant_of(target, tip)? {
            let (ahead, _) = repo.graph_ahead_behind(tip, target)?;
            return Err(WorkspaceError::Refused(format!(
                "branch {} has {ahead} commit(s) not merged into {target_name}; merge them, or pass --force to delete them",
                run.branch
            )));
        }
    }
    Ok(())
}

/// Remove the worktree (or copy) and the run's branch. The proof pack stays.
pub fn remove(run: &RunRecord) -> Result<(), WorkspaceError> {
    // git's record of the worktree: named for the run, or for the pool entry it came from.
    let record = super::worktree_admin::name_of(&run.worktree).unwrap_or_else(|| run.id.clone());
    if run.worktree.exists() {
        std::fs::remove_dir_all(&run.worktree)
            .map_err(|e| WorkspaceError::io(&format!("removing {}", run.worktree.display()), e))?;
    }
    if run.workspace == WorkspaceKind::Worktree {
        let repo = Repository::open(&run.repo)?;
        if let Ok(wt) = repo.find_worktree(&record) {
            // The directory is gone, so this only drops git's record of it.
            wt.prune(None)?;
        }
        let found = repo.find_branch(&run.branch, BranchType::Local);
        if let Ok(mut branch) = found {
            branch.delete()?;
        }
    }
    Ok(())
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}
