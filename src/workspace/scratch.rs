//! Scratch worktrees: where the merge queue tests a candidate (the target with the runs ahead
//! and the run, merged) before anything lands. Detached, beside the runs' worktrees under
//! `.queue/<run-id>`, registered with git under `queue-<run-id>` so `git worktree list` shows
//! what they are. A scratch worktree is reused when the same run is tested again (only the
//! files that differ are written) and removed when the run leaves the queue. Blocking.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::{pool, worktree_admin, WorkspaceError};

/// The scratch directory of `run` beside the run worktrees of its repository.
pub fn dir_for(run_worktree: &Path, run: &str) -> Option<PathBuf> {
    run_worktree.parent().map(|p| p.join(".queue").join(run))
}

fn record_name(run: &str) -> String {
    format!("queue-{run}")
}

/// A worktree at `path` holding exactly `commit`, detached: made, or brought there.
pub fn at_commit(
    source: &Path,
    path: &Path,
    run: &str,
    commit: &str,
) -> Result<(), WorkspaceError> {
    let repo = Repository::open(source)?;
    let target = repo.find_commit(Oid::from_str(commit)?)?;
    let record = record_name(run);
    let registered =
        worktree_admin::record_of(path).is_some_and(|r| r.ends_with(&record) && r.is_dir());
    if registered {
        return pool::bring_forward(source, path, &target);
    }
    // Leftovers of a server that stopped mid-way: start over.
    remove(source, path, run);
    // Another run's scratch going may take the empty `.queue` with it while this one is made
    // (`remove` below): make it again.
    let mut made = crate::owner_only::create_dir_all(path);
    for _ in 0..5 {
        match &made {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                made = crate::owner_only::create_dir_all(path);
            }
            _ => break,
        }
    }
    made.map_err(|e| WorkspaceError::io(&format!("creating {}", path.display()), e))?;
    let tree = target.tree()?;
    let made = pool::check_out_new(&repo, source, &record, path, commit, &tree);
    if made.is_err() {
        pool::remove(&repo, &record, path);
    }
    made
}

/// Remove `run`'s scratch worktree and git's record of it, if there is one.
pub fn remove(source: &Path, path: &Path, run: &str) {
    let _ = std::fs::remove_dir_all(path);
    if let Ok(repo) = Repository::open(source) {
        worktree_admin::unregister(&repo, &record_name(run));
    }
    if let Some(parent) = path.parent() {
        // The .queue directory goes with its last entry.
        let _ = std::fs::remove_dir(parent);
    }
}
