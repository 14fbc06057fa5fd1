//! The conflict radar: which runs would conflict with their target or with each other, found
//! in memory with git2 (three-way tree merges, no checkout). A run still in its agent phase is
//! read from its worktree into an in-memory index, so its uncommitted work counts too.

use std::collections::HashMap;
use std::path::PathBuf;

use git2::{BranchType, Oid, Repository};

use crate::run::ConflictFinding;

use super::checkpoint::stage_all;
use super::WorkspaceError;

#[derive(Debug, Clone)]
pub struct RadarRun {
    pub id: String,
    pub repo: PathBuf,
    pub worktree: PathBuf,
    pub base: String,
    pub branch: String,
    /// The branch it would merge into, if any.
    pub target: Option<String>,
    /// Read the worktree (agent still at work) rather than the branch's commit.
    pub live: bool,
    /// Compared with the other pairwise runs (active ones); every run is compared with its target.
    pub pairwise: bool,
    pub excludes: Vec<String>,
}

/// Findings per run id (runs with none are present with an empty list).
pub fn scan(runs: &[RadarRun]) -> HashMap<String, Vec<ConflictFinding>> {
    let mut out: HashMap<String, Vec<ConflictFinding>> =
        runs.iter().map(|r| (r.id.clone(), Vec::new())).collect();
    let mut by_repo: HashMap<&PathBuf, Vec<&RadarRun>> = HashMap::new();
    for r in runs {
        by_repo.entry(&r.repo).or_default().push(r);
    }
    for (repo_path, group) in by_repo {
        let Ok(repo) = Repository::open(repo_path) else {
            continue;
        };
        let trees: Vec<Option<Oid>> = group.iter().map(|r| tree_of(&repo, r).ok()).collect();
        for (i, r) in group.iter().enumerate() {
            let Some(tree) = trees[i] else { continue };
            if let Some(target) = &r.target {
                if let Ok(files) = against_target(&repo, r, tree, target) {
                    if !files.is_empty() {
                        push(&mut out, &r.id, format!("target:{target}"), files);
                    }
                }
            }
            for (j, other) in group.iter().enumerate().skip(i + 1) {
                if !(r.pairwise && other.pairwise) {
                    continue;
                }
                let Some(other_tree) = trees[j] else { continue };
                if let Ok(files) = between(&repo, &r.base, tree, &other.base, other_tree) {
                    if !files.is_empty() {
                        push(&mut out, &r.id, format!("run:{}", other.id), files.clone());
                        push(&mut out, &other.id, format!("run:{}", r.id), files);
                    }
                }
            }
        }
    }
    out
}

fn push(
    out: &mut HashMap<String, Vec<ConflictFinding>>,
    id: &str,
    with: String,
    files: Vec<String>,
) {
    out.entry(id.to_string())
        .or_default()
        .push(ConflictFinding { with, files });
}

/// The run's tree: its branch head, or its worktree as it is now.
fn tree_of(repo: &Repository, r: &RadarRun) -> Result<Oid, WorkspaceError> {
    if r.live {
        let wt = Repository::open(&r.worktree)?;
        let mut index = wt.index()?;
        stage_all(&wt, &mut index, &r.excludes)?;
        // Written to the object store only; the worktree's index file is left alone.
        return Ok(index.write_tree_to(&wt)?);
    }
    let b = repo.find_branch(&r.branch, BranchType::Local)?;
    Ok(b.get().peel_to_tree()?.id())
}

fn against_target(
    repo: &Repository,
    r: &RadarRun,
    tree: Oid,
    target: &str,
) -> Result<Vec<String>, WorkspaceError> {
    let tip = repo
        .find_branch(target, BranchType::Local)?
        .get()
        .peel_to_commit()?;
    let base = Oid::from_str(&r.base)?;
    if tip.id() == base {
        return Ok(Vec::new()); // the target has not moved: nothing to conflict with
    }
    let ancestor = repo.merge_base(base, tip.id())?;
    conflicts(
        repo,
        repo.find_commit(ancestor)?.tree()?.id(),
        tip.tree()?.id(),
        tree,
    )
}

fn between(
    repo: &Repository,
    base_a: &str,
    a: Oid,
    base_b: &str,
    b: Oid,
) -> Result<Vec<String>, WorkspaceError> {
    let (ba, bb) = (Oid::from_str(base_a)?, Oid::from_str(base_b)?);
    let ancestor = if ba == bb {
        ba
    } else {
        repo.merge_base(ba, bb)?
    };
    conflicts(repo, repo.find_commit(ancestor)?.tree()?.id(), a, b)
}

fn conflicts(
    repo: &Repository,
    ancestor: Oid,
    ours: Oid,
    theirs: Oid,
) -> Result<Vec<String>, WorkspaceError> {
    if ours == theirs || ours == ancestor || theirs == ancestor {
        return Ok(Vec::new());
    }
    let index = repo.merge_trees(
        &repo.find_tree(ancestor)?,
        &repo.find_tree(ours)?,
        &repo.find_tree(theirs)?,
        None,
    )?;
    if !index.has_conflicts() {
        return Ok(Vec::new());
    }
    let mut files: Vec<String> = index
        .conflicts()?
        .filter_map(Result::ok)
        .filter_map(|c| c.our.or(c.their).or(c.ancestor))
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}
