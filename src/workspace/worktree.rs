//! A git worktree of the user's repository on a new branch `flightdeck/<run-id>`. The user's
//! checkout, index, HEAD and existing branches are not touched.

use std::sync::Mutex;

use git2::{Repository, WorktreeAddOptions};

use super::{dirty_files, Created, Spec, WorkspaceError};

/// libgit2 writes `.git/worktrees/` and refs with lock files; serialising additions keeps ten
/// runs starting at once from tripping over each other's locks.
static ADD_LOCK: Mutex<()> = Mutex::new(());

pub fn create(spec: &Spec) -> Result<Created, WorkspaceError> {
    let repo = Repository::open(&spec.source)?;
    let uncommitted = dirty_files(&repo, 10_000)?;
    let oid = git2::Oid::from_str(&spec.base)?;
    let commit = repo.find_commit(oid)?;

    if let Some(parent) = spec.path.parent() {
        crate::owner_only::create_dir_all(parent)
            .map_err(|e| WorkspaceError::io(&format!("creating {}", parent.display()), e))?;
    }
    let _guard = ADD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let branch = repo.branch(&spec.branch, &commit, false).map_err(|e| {
        if e.code() == git2::ErrorCode::Exists {
            WorkspaceError::Invalid(format!(
                "branch {} already exists in {}; delete it or clean the old run",
                spec.branch,
                spec.source.display()
            ))
        } else {
            e.into()
        }
    })?;
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(branch.get()));
    if let Err(e) = repo.worktree(&spec.run_id, &spec.path, Some(&opts)) {
        // Leave no half-made branch behind.
        let _ = repo
            .find_branch(&spec.branch, git2::BranchType::Local)
            .and_then(|mut b| b.delete());
        return Err(e.into());
    }
    Ok(Created {
        base: spec.base.clone(),
        uncommitted,
        files_copied: None,
    })
}
