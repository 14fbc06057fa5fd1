//! Checkpoints on the run's branch: commit the agent's work, read HEAD, reset for a retry.

use std::path::Path;

use git2::{build::CheckoutBuilder, IndexAddOption, Oid, Repository, ResetType};

use super::{signature, WorkspaceError};

pub fn head_commit(worktree: &Path) -> Result<String, WorkspaceError> {
    let repo = Repository::open(worktree)?;
    let id = repo.head()?.peel_to_commit()?.id();
    Ok(id.to_string())
}

/// The commit `branch` points at, seen from the worktree (a linked worktree shares its
/// repository's branches; a copy has its own). None when the branch is gone.
pub fn branch_tip(worktree: &Path, branch: &str) -> Result<Option<String>, WorkspaceError> {
    let repo = Repository::open(worktree)?;
    let found = repo.find_branch(branch, git2::BranchType::Local);
    Ok(found
        .ok()
        .and_then(|b| b.get().target())
        .map(|o| o.to_string()))
}

/// Clear the worktree's `index.lock` left by a git that died mid-write (an agent's, or a
/// server killed while committing). Called once the agent has exited, when nothing of the
/// run can still hold it; a git still finishing gets two seconds first. Returns the lock's
/// path when one was removed. Blocking.
pub fn clear_index_lock(worktree: &Path) -> Result<Option<std::path::PathBuf>, WorkspaceError> {
    let repo = Repository::open(worktree)?;
    let lock = repo.path().join("index.lock");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while lock.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    match std::fs::remove_file(&lock) {
        Ok(()) => Ok(Some(lock)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WorkspaceError::Io(format!(
            "removing {}: {e}",
            lock.display()
        ))),
    }
}

/// Commit everything in the worktree (new and deleted files too, ignored files not) on its
/// branch, except what setup put there (`excludes`). Returns the new commit, or None when
/// nothing changed.
pub fn commit_all(
    worktree: &Path,
    message: &str,
    excludes: &[String],
) -> Result<Option<String>, WorkspaceError> {
    let repo = Repository::open(worktree)?;
    let mut index = repo.index()?;
    stage_all(&repo, &mut index, excludes)?;
    index.write()?;
    let tree_id = index.write_tree()?;
    let head = repo.head()?.peel_to_commit()?;
    if head.tree_id() == tree_id {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id)?;
    let sig = signature()?;
    let id = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&head])?;
    Ok(Some(id.to_string()))
}

/// Stage every change in `index`, then unstage setup's files that HEAD does not track.
pub(super) fn stage_all(
    repo: &Repository,
    index: &mut git2::Index,
    excludes: &[String],
) -> Result<(), WorkspaceError> {
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    index.update_all(["*"], None)?;
    let head_tree = repo.head()?.peel_to_tree()?;
    for ex in excludes {
        let path = ex.trim_end_matches('/');
        if path.is_empty() || head_tree.get_path(Path::new(path)).is_ok() {
            continue;
        }
        if ex.ends_with('/') {
            index.remove_dir(Path::new(path), 0)?;
        } else {
            let _ = index.remove_path(Path::new(path));
        }
    }
    Ok(())
}

/// Put the worktree and its branch back at `commit`: tracked files reset, untracked files
/// removed except setup's (`excludes`); ignored ones, like a copied `.env`, stay. Keep what
/// this loses first (`keep::save`).
pub fn reset_to(worktree: &Path, commit: &str, excludes: &[String]) -> Result<(), WorkspaceError> {
    let repo = Repository::open(worktree)?;
    let target = repo.find_object(Oid::from_str(commit)?, None)?;
    let mut checkout = CheckoutBuilder::new();
    checkout.force();
    // libgit2's hard reset checks out with plain FORCE whatever it is given, so untracked
    // files survive it: they are removed below.
    repo.reset(&target, ResetType::Hard, Some(&mut checkout))?;
    remove_untracked(&repo, worktree, excludes)
}

/// Delete untracked (not ignored) files outside `excludes`, and the folders they leave empty.
fn remove_untracked(
    repo: &Repository,
    worktree: &Path,
    excludes: &[String],
) -> Result<(), WorkspaceError> {
    let statuses = repo.statuses(Some(&mut super::worktree_status_options()))?;
    let untracked: Vec<String> = statuses
        .iter()
        .filter(|s| s.status().is_wt_new())
        .filter_map(|s| s.path().map(str::to_string))
        .filter(|p| !super::excluded(p, excludes))
        .collect();
    for rel in &untracked {
        let path = worktree.join(rel);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WorkspaceError::io(&format!("removing {rel}"), e)),
        }
        // Folders left empty go too (remove_dir refuses a folder that still holds anything).
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == worktree || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    Ok(())
}

/// A message for the checkpoint commit: the task's first line as subject, the rest as body.
pub fn message_for(task: &str, run_id: &str, note: &str) -> String {
    let mut lines = task.trim().lines();
    let subject: String = lines
        .next()
        .unwrap_or("flightdeck run")
        .chars()
        .take(72)
        .collect();
    let body: Vec<&str> = lines.collect();
    let mut msg = subject;
    msg.push_str("\n\n");
    if task.trim().chars().count() > 72 || !body.is_empty() {
        msg.push_str(task.trim());
        msg.push_str("\n\n");
    }
    msg.push_str(&format!("flightdeck-run: {run_id}\n"));
    if !note.is_empty() {
        msg.push_str(&format!("flightdeck-note: {note}\n"));
    }
    msg
}
