//! Setup steps' file work: copying files from the user's checkout into a new worktree, and
//! finding what setup commands added, so both stay out of the run's commits.

use std::path::Path;

use git2::Repository;

use super::WorkspaceError;

/// Copy each of `paths` (relative) from `source` to `worktree` where it exists. Returns the
/// ones copied and the ones missing.
pub fn copy_setup_files(
    source: &Path,
    worktree: &Path,
    paths: &[String],
) -> Result<(Vec<String>, Vec<String>), WorkspaceError> {
    let (mut copied, mut missing) = (Vec::new(), Vec::new());
    for rel in paths {
        let from = source.join(rel);
        if !from.is_file() {
            missing.push(rel.clone());
            continue;
        }
        let to = worktree.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| WorkspaceError::io(&format!("creating {}", parent.display()), e))?;
        }
        std::fs::copy(&from, &to).map_err(|e| WorkspaceError::io(&format!("copying {rel}"), e))?;
        copied.push(rel.clone());
    }
    Ok((copied, missing))
}

/// Untracked entries of the worktree, folders as `dir/` without listing their contents.
pub fn new_entries(worktree: &Path) -> Result<Vec<String>, WorkspaceError> {
    let repo = Repository::open(worktree)?;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut opts))?;
    Ok(statuses
        .iter()
        .filter(|s| s.status().is_wt_new())
        .filter_map(|s| s.path().map(str::to_string))
        .collect())
}
