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

/// A landing under way, on disk before anything moves (`runs/<id>/landing.json`): a server
/// that dies mid-way finishes it at its next start (`finish_interrupted`), so a checkout of
/// the target is never left half-written and the run lands exactly once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Journal {
    pub repo: PathBuf,
    pub target: String,
    pub from: String,
    pub to: String,
    /// Clean checkouts of the target being brought along.
    pub checkouts: Vec<PathBuf>,
}

pub const JOURNAL: &str = "landing.json";

/// Move `target` from `cand.parent` to `cand.commit`, bringing clean checkouts of it along.
/// Refuses (WorkspaceError::Refused) while a checkout of the target has uncommitted changes.
/// `journal`: where the landing is recorded while under way (the caller removes it once the
/// landing is recorded elsewhere).
pub fn land(
    repo_path: &Path,
    target: &str,
    cand: &Candidate,
    journal: &Path,
) -> Result<Landing, WorkspaceError> {
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
    let entry = Journal {
        repo: repo_path.to_path_buf(),
        target: target.to_string(),
        from: cand.parent.clone(),
        to: cand.commit.clone(),
        checkouts: checkouts.iter().map(|(p, _)| p.clone()).collect(),
    };
    let bytes = serde_json::to_vec_pretty(&entry)
        .map_err(|e| WorkspaceError::Io(format!("encoding the landing journal: {e}")))?;
    crate::proof::store::write_atomic(journal, &bytes)
        .map_err(|e| WorkspaceError::io(&format!("writing {}", journal.display()), e))?;
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

/// How an interrupted landing ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    /// The target is at `to` and every checkout of it in the journal holds exactly `to`.
    Landed { updated: Vec<PathBuf> },
    /// The target moved elsewhere meanwhile: nothing landed; the checkouts were put back at
    /// what their HEAD names, where they held flightdeck's half-written files.
    Abandoned { now: String },
}

/// Finish a landing a dead server left in `journal`: the target moves to `to` if it is still
/// at `from`, and every journaled checkout whose HEAD is the target is made to hold exactly the
/// target's tree (they were clean when the landing started, so only flightdeck's own writes
/// are replaced). Blocking.
pub fn finish_interrupted(j: &Journal) -> Result<Finished, WorkspaceError> {
    let repo = Repository::open(&j.repo)?;
    let name = format!("refs/heads/{}", j.target);
    // The dead server may have died holding the target's lock.
    clear_stale_lock(&repo.commondir().join(format!("{name}.lock")));
    let now = repo
        .find_reference(&name)?
        .peel_to_commit()?
        .id()
        .to_string();
    let to = Oid::from_str(&j.to)?;
    let landed = if now == j.from {
        let from = Oid::from_str(&j.from)?;
        repo.reference_matching(
            &name,
            to,
            true,
            from,
            "flightdeck: finish an interrupted landing",
        )?;
        true
    } else {
        now == j.to
    };
    let head_tree = repo.find_reference(&name)?.peel_to_commit()?.tree_id();
    let mut updated = Vec::new();
    for path in &j.checkouts {
        let Ok(co) = Repository::open(path) else {
            continue;
        };
        if !head_is(&co, &name) {
            continue;
        }
        // ...or this checkout's index lock, taken while it wrote the files.
        clear_stale_lock(&co.path().join("index.lock"));
        let tree = co.find_tree(head_tree)?;
        // Files the landing deletes, which a cut-short checkout may have left: gone first
        // (a forced checkout would keep them as untracked, as it keeps the user's own).
        let before = co.find_commit(Oid::from_str(&j.from)?)?.tree()?;
        let diff = co.diff_tree_to_tree(Some(&before), Some(&tree), None)?;
        for delta in diff.deltas() {
            if delta.status() == git2::Delta::Deleted {
                if let Some(p) = delta.old_file().path() {
                    let file = path.join(p);
                    let _ = std::fs::remove_file(&file);
                    // Directories it leaves empty go too, as git's own checkout does.
                    let mut dir = file.parent();
                    while let Some(d) = dir.filter(|d| d.starts_with(path) && *d != path.as_path())
                    {
                        if std::fs::remove_dir(d).is_err() {
                            break;
                        }
                        dir = d.parent();
                    }
                }
            }
        }
        co.checkout_tree(tree.as_object(), Some(CheckoutBuilder::new().force()))?;
        // The index too: a checkout cut short before writing it left it at the old tree, and
        // a forced checkout only touches the entries of files it writes.
        let mut index = co.index()?;
        index.read_tree(&tree)?;
        index.write()?;
        updated.push(path.clone());
    }
    Ok(if landed {
        Finished::Landed { updated }
    } else {
        Finished::Abandoned { now }
    })
}

/// A lock file a dead flightdeck left (the journal says it was writing there when it died). A
/// live git command holds its lock for moments: one still there after two seconds is stale.
fn clear_stale_lock(lock: &Path) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while lock.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if lock.exists() && std::fs::remove_file(lock).is_ok() {
        tracing::warn!(
            "removed {}, left by a server that stopped mid-landing",
            lock.display()
        );
    }
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
            // A record being written names no place yet: never the process's directory.
            if wt.validate().is_ok() && wt.path().is_absolute() {
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
        if head_is(&co, target_ref) {
            out.push((path, co));
        }
    }
    Ok(out)
}

/// Whether the checkout `co` has `full_ref` checked out (its HEAD names it).
fn head_is(co: &Repository, full_ref: &str) -> bool {
    co.find_reference("HEAD")
        .ok()
        .and_then(|h| h.symbolic_target().map(|t| t == full_ref))
        .unwrap_or(false)
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}
