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
        // Landed through the queue (squashed): the branch's work is in the target as the
        // landed commit, as long as nothing was committed on the branch since its checks.
        let landed = run.merge == crate::run::MergeState::Merged
            && run.checked_commit.as_deref() == Some(tip.to_string().as_str())
            && run
                .merged_commit
                .as_deref()
                .and_then(|c| Oid::from_str(c).ok())
                .is_some_and(|m| {
                    m == target || repo.graph_descendant_of(target, m).unwrap_or(false)
                });
        if !landed && tip != target && !repo.graph_descendant_of(target, tip)? {
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
    let repo = match run.workspace {
        WorkspaceKind::Worktree => Some(Repository::open(&run.repo)?),
        WorkspaceKind::Copy => None,
    };
    // A branch someone checked out elsewhere (to try the run's work) stays, and so does
    // everything else: refused before anything is removed.
    if let Some(repo) = &repo {
        let full = format!("refs/heads/{}", run.branch);
        if let Some(at) = checked_out_at(repo, &full, Some(&run.worktree)) {
            return Err(WorkspaceError::Refused(format!(
                "branch {} is checked out in {}; switch that checkout to another branch first",
                run.branch,
                at.display()
            )));
        }
    }
    // git's record of the worktree: named for the run, or for the pool entry it came from.
    let record = super::worktree_admin::name_of(&run.worktree).unwrap_or_else(|| run.id.clone());
    if run.worktree.exists() {
        std::fs::remove_dir_all(&run.worktree)
            .map_err(|e| WorkspaceError::io(&format!("removing {}", run.worktree.display()), e))?;
    }
    if let Some(repo) = &repo {
        if let Ok(wt) = repo.find_worktree(&record) {
            // The directory is gone, so this only drops git's record of it.
            wt.prune(None)?;
        }
        delete_branch(repo, &run.branch)?;
    }
    Ok(())
}

/// Delete a run's branch. libgit2 refuses a branch checked out in some worktree, and to know
/// it opens every worktree record; one removed meanwhile (another run cleaned at the same
/// moment) makes it answer "checked out" by mistake. So a refusal is checked against the
/// records as they are now, and the ref deleted directly when no checkout holds it.
fn delete_branch(repo: &Repository, name: &str) -> Result<(), WorkspaceError> {
    let Ok(mut branch) = repo.find_branch(name, BranchType::Local) else {
        return Ok(());
    };
    match branch.delete() {
        Ok(()) => Ok(()),
        Err(e) if e.class() == git2::ErrorClass::Reference => {
            let full = format!("refs/heads/{name}");
            if let Some(at) = checked_out_at(repo, &full, None) {
                return Err(WorkspaceError::Refused(format!(
                    "branch {name} is checked out in {}; switch that checkout to another branch, or delete the branch yourself",
                    at.display()
                )));
            }
            match repo.find_reference(&full) {
                Ok(mut r) => Ok(r.delete()?),
                Err(_) => Ok(()), // gone meanwhile
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Where `full_ref` is checked out: the main checkout, or a linked worktree that still exists
/// (other than `except`).
fn checked_out_at(
    repo: &Repository,
    full_ref: &str,
    except: Option<&std::path::Path>,
) -> Option<std::path::PathBuf> {
    let head_is = |text: &str| text.trim().strip_prefix("ref:").map(str::trim) == Some(full_ref);
    if let Ok(text) = std::fs::read_to_string(repo.commondir().join("HEAD")) {
        if head_is(&text) {
            return Some(repo.workdir().unwrap_or(repo.path()).to_path_buf());
        }
    }
    let same = |a: &std::path::Path, b: &std::path::Path| {
        a == b
            || a.canonicalize()
                .ok()
                .is_some_and(|a| b.canonicalize().ok() == Some(a))
    };
    let records = std::fs::read_dir(repo.commondir().join("worktrees")).ok()?;
    records.flatten().find_map(|record| {
        let text = std::fs::read_to_string(record.path().join("HEAD")).ok()?;
        let gitdir = std::fs::read_to_string(record.path().join("gitdir")).ok()?;
        let worktree = std::path::Path::new(gitdir.trim()).parent()?.to_path_buf();
        let other = except.is_none_or(|e| !same(e, &worktree));
        (head_is(&text) && other && worktree.exists()).then_some(worktree)
    })
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}
