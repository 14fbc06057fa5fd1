//! Landing a run, in two steps the merge queue keeps apart: `candidate` makes the commit that
//! would land (the run's work on top of a given parent: the target, or the runs queued ahead of
//! it) without moving anything; `land` moves the target to a candidate whose checks passed,
//! only if the target is still where the candidate was made. A checkout of the target is never
//! changed behind the user's back: with uncommitted changes the landing is refused; clean, it
//! is brought along. Blocking.

use std::path::{Path, PathBuf};

use git2::{build::CheckoutBuilder, BranchType, Oid, Repository};

use super::{dirty_files, signature, WorkspaceError};
use crate::config::MergeStyle;

/// What a run would land as.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The commit the checks run on and the target moves to.
    pub commit: String,
    /// The commit it was made on top of.
    pub parent: String,
    /// The run's work was already in the parent: landing moves nothing.
    pub already: bool,
}

/// What the run needs to make its candidate.
#[derive(Debug, Clone)]
pub struct LandSpec<'a> {
    pub branch: &'a str,
    /// The commit the run's own checks passed on: the branch must still be there.
    pub checked: Option<&'a str>,
    pub style: MergeStyle,
    pub message: &'a str,
}

/// The commit that lands `spec`'s branch on top of `parent`, made but referenced by nothing.
pub fn candidate(
    repo_path: &Path,
    parent: &str,
    spec: &LandSpec,
) -> Result<Candidate, WorkspaceError> {
    let repo = Repository::open(repo_path)?;
    let parent_commit = repo.find_commit(Oid::from_str(parent)?)?;
    let run_tip = repo
        .find_branch(spec.branch, BranchType::Local)
        .map_err(|_| {
            WorkspaceError::Invalid(format!(
                "branch {} is gone (cleaned?); nothing to merge",
                spec.branch
            ))
        })?
        .get()
        .peel_to_commit()?;
    let tip = run_tip.id().to_string();
    match spec.checked {
        Some(c) if c == tip => {}
        Some(c) => {
            return Err(WorkspaceError::Unchecked(format!(
                "branch {} moved after smoke checked {} (it is now at {}); retry --phase smoke so the checks run on what would merge",
                spec.branch,
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
    let already = || Candidate {
        commit: parent.to_string(),
        parent: parent.to_string(),
        already: true,
    };
    if run_tip.id() == parent_commit.id()
        || repo.graph_descendant_of(parent_commit.id(), run_tip.id())?
    {
        return Ok(already());
    }
    // The merge base git itself would use, so a branch brought up to date by hand merges as it is.
    let mut index = repo.merge_commits(&parent_commit, &run_tip, None)?;
    if index.has_conflicts() {
        let mut files: Vec<String> = index
            .conflicts()?
            .filter_map(Result::ok)
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        files.sort();
        files.dedup();
        return Err(WorkspaceError::Conflict(files));
    }
    let tree = repo.find_tree(index.write_tree_to(&repo)?)?;
    if tree.id() == parent_commit.tree_id() && spec.style == MergeStyle::Squash {
        return Ok(already());
    }
    let sig = signature()?;
    let parents: Vec<&git2::Commit> = match spec.style {
        MergeStyle::Squash => vec![&parent_commit],
        MergeStyle::Merge => vec![&parent_commit, &run_tip],
    };
    let commit = repo.commit(None, &sig, &sig, spec.message, &tree, &parents)?;
    Ok(Candidate {
        commit: commit.to_string(),
        parent: parent.to_string(),
        already: false,
    })
}

/// The commit `target` points at now.
pub fn target_tip(repo_path: &Path, target: &str) -> Result<String, WorkspaceError> {
    let repo = Repository::open(repo_path)?;
    let branch = repo.find_branch(target, BranchType::Local).map_err(|_| {
        WorkspaceError::Invalid(format!(
            "the target branch `{target}` does not exist in {}; set gate.target",
            repo_path.display()
        ))
    })?;
    let tip = branch.get().peel_to_commit()?.id().to_string();
    Ok(tip)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Landing {
    /// The target is at the candidate now; these checkouts of it were brought along.
    Landed { updated: Vec<PathBuf> },
    /// The target is no longer at the candidate's parent (someone else moved it): test again.
    Moved { now: String },
}

/// Move `target` from `cand.parent` to `cand.commit`, bringing clean checkouts of it along.
/// Refuses (WorkspaceError::Refused) while a checkout of the target has uncommitted changes.
pub fn land(repo_path: &Path, target: &str, cand: &Candidate) -> Result<Landing, WorkspaceError> {
    let repo = Repository::open(repo_path)?;
    let target_ref = repo
        .find_branch(target, BranchType::Local)
        .map_err(|_| WorkspaceError::Invalid(format!("the target branch `{target}` is gone")))?;
    let target_name = target_ref
        .get()
        .name()
        .ok_or_else(|| WorkspaceError::Invalid("the target branch name is not UTF-8".into()))?
        .to_string();
    let now = target_ref.get().peel_to_commit()?.id();
    if now.to_string() != cand.parent {
        return Ok(Landing::Moved {
            now: now.to_string(),
        });
    }
    if cand.already {
        return Ok(Landing::Landed { updated: vec![] });
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
    let new_commit = Oid::from_str(&cand.commit)?;
    // Each clean checkout first (HEAD still names the old commit, so libgit2 knows what the
    // files were), then the branch, in one compare-and-swap.
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
        now,
        "flightdeck: land a tested commit",
    )?;
    Ok(Landing::Landed { updated })
}

/// The checkouts (the main one and linked worktrees) whose HEAD is `target_ref`.
fn checkouts_of(
    repo: &Repository,
    target_ref: &str,
) -> Result<Vec<(PathBuf, Repository)>, WorkspaceError> {
    let mut out = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    // The main checkout, also when the repository was opened through a linked worktree.
    let common = repo.commondir();
    if let Ok(main) = Repository::open(common) {
        if let Some(wd) = main.workdir() {
            candidates.push(wd.to_path_buf());
        }
    }
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
    let mut seen = std::collections::HashSet::new();
    for path in candidates {
        let key = path.canonicalize().unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
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
