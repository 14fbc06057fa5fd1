//! Writing a commit's files to a directory of their own (the browser renders the base commit's
//! pages from there), without touching any worktree or index.

use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{Oid, Repository};

/// Check `commit` (of the repository `repo_dir` belongs to) out into `dest`, afresh.
pub fn export_commit(repo_dir: &Path, commit: &str, dest: &Path) -> Result<(), git2::Error> {
    let repo = Repository::open(repo_dir)?;
    let tree = repo.find_commit(Oid::from_str(commit)?)?.tree()?;
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| git2::Error::from_str(&e.to_string()))?;
    }
    crate::owner_only::create_dir_all(dest).map_err(|e| git2::Error::from_str(&e.to_string()))?;
    let mut co = CheckoutBuilder::new();
    co.target_dir(dest).force().recreate_missing(true);
    repo.checkout_tree(tree.as_object(), Some(&mut co))
}
