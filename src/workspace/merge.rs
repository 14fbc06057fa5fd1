//! Merging a run's branch into its target, in memory with git2. A checkout of the target is
//! never changed behind the user's back: with uncommitted changes it refuses; clean, it is
//! updated along with the branch.

use std::path::{Path, PathBuf};

use git2::{build::CheckoutBuilder, BranchType, Oid, Repository};

use super::{dirty_files, signature, WorkspaceError};

#[derive(Debug, Clone, PartialEq)]
pub struct MergeOutcome {
    pub commit: String,
    pub fast_forward: bool,
    /// Checkouts of the target that were updated to the new commit.
    pub updated: Vec<PathBuf>,
    /// The run's work was already in the target.
    pub already: bool,
}

/// Merge `branch` into `target` in `repo`, provided the branch still points at `checked`, the
/// commit the smoke checks ran on (what was checked is what merges). Blocking.
pub fn merge_run(
    repo_path: &Path,
    branch: &str,
    target: &str,
    checked: Option<&str>,
    message: &str,
) -> Result<MergeOutcome, WorkspaceError> {
    let repo = Repository::open(repo_path)?;
    let target_ref = repo.find_branch(target, BranchType::Local).map_err(|_| {
        WorkspaceError::Invalid(format!(
            "the target branch `{target}` does not exist in {}; set gate.target",
            repo_path.display()
        ))
    })?;
    let target_name = target_ref
        .get()
        .name()
        .ok_or_else(|| WorkspaceError::Invalid("the target branch name is not UTF-8".into()))?
        .to_string();
    let target_tip = target_ref.get().peel_to_commit()?;
    let run_tip = repo
        .find_branch(branch, BranchType::Local)
        .map_err(|_| {
            WorkspaceError::Invalid(format!(
                "branch {branch} is gone (cleaned?); nothing to merge"
            ))
        })?
        .get()
        .peel_to_commit()?;
    let tip = run_tip.id().to_string();
    match checked {
        Some(c) if c == tip => {}
        Some(c) => {
            return Err(WorkspaceError::Unchecked(format!(
                "branch {branch} moved after smoke checked {} (it is now at {}); retry --phase smoke so the checks run on what would merge",
                short(c),
                short(&tip)
            )))
        }
        None => {
            return Err(WorkspaceError::Unchecked(
                "smoke has not recorded which commit it checked; retry --phase smoke".into(),
            ))
        }
    }
    if run_tip.id() == target_tip.id() || repo.graph_descendant_of(target_tip.id(), run_tip.id())? {
        return Ok(MergeOutcome {
            commit: target_tip.id().to_string(),
            fast_forward: false,
            updated: vec![],
            already: true,
        });
    }

    let checkouts = checkouts_of(&repo, &target_name)?;
    for (path, co) in &checkouts {
        let dirty = dirty_files(co, 5)?;
        let tracked_dirty: Vec<String> = dirty
            .into_iter()
            .filter(|p| {
                co.status_file(Path::new(p))
                    .map(|s| !s.is_wt_new())
                    .unwrap_or(true)
            })
            .collect();
        if !tracked_dirty.is_empty() {
            return Err(WorkspaceError::Refused(format!(
                "{target} is checked out in {} with uncommitted changes ({}); commit or stash them, then merge again",
                path.display(),
                tracked_dirty.join(", ")
            )));
        }
    }

    let fast_forward = repo.graph_descendant_of(run_tip.id(), target_tip.id())?;
    let new_commit: Oid = if fast_forward {
        run_tip.id()
    } else {
        let mut index = repo.merge_commits(&target_tip, &run_tip, None)?;
        if index.has_conflicts() {
            let mut files: Vec<String> = index
                .conflicts()?
                .filter_map(Result::ok)
                .filter_map(|c| c.our.or(c.their).or(c.ancestor))
                .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                .collect();
            files.dedup();
            return Err(WorkspaceError::Conflict(files));
        }
        let tree = repo.find_tree(index.write_tree_to(&repo)?)?;
        let sig = signature()?;
        repo.commit(None, &sig, &sig, message, &tree, &[&target_tip, &run_tip])?
    };

    // Update each clean checkout first (HEAD still names the old commit, so libgit2 knows what
    // the files were), then move the branch.
    let new_tree = repo.find_commit(new_commit)?.tree()?;
    let mut updated = Vec::new();
    for (path, co) in &checkouts {
        let tree = co.find_tree(new_tree.id())?;
        co.checkout_tree(tree.as_object(), Some(CheckoutBuilder::new().safe()))?;
        updated.push(path.clone());
    }
    repo.reference_matching(
        &target_name,
        new_commit,
        true,
        target_tip.id(),
        &format!("flightdeck: merge {branch}"),
    )?;
    Ok(MergeOutcome {
        commit: new_commit.to_string(),
        fast_forward,
        updated,
        already: false,
    })
}

/// The checkouts (the main one and linked worktrees) whose HEAD is `target_ref`.
fn checkouts_of(
    repo: &Repository,
    target_ref: &str,
) -> Result<Vec<(PathBuf, Repository)>, WorkspaceError> {
    let mut out = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(wd) = repo.workdir() {
        candidates.push(wd.to_path_buf());
    }
    for name in repo.worktrees()?.iter().flatten() {
        if let Ok(wt) = repo.find_worktree(name) {
            if wt.validate().is_ok() {
                candidates.push(wt.path().to_path_buf());
            }
        }
    }
    for path in candidates {
        let Ok(co) = Repository::open(&path) else {
            continue;
        };
        let head_is_target = co
            .find_reference("HEAD")
            .ok()
            .and_then(|h| h.symbolic_target().map(|t| t == target_ref))
            .unwrap_or(false);
        if head_is_target {
            out.push((path, co));
        }
    }
    Ok(out)
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}
