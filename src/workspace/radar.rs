//! The conflict radar: which runs would conflict with their target or with each other, found
//! in memory with git2, no checkout. Each run's changes against its base come from a tree diff
//! (identical subtrees are skipped by id), or, for a run still in its agent phase, from its
//! worktree; only files two sides both changed are merged, one file at a time. So the cost
//! follows the number of runs and of files they changed, not the size of the repository.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::{BranchType, Delta, DiffOptions, IndexEntry, IndexTime, Oid, Repository};

use crate::run::ConflictFinding;

use super::{excluded, WorkspaceError};

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
    /// Finished and waiting to merge: compared with the other waiting runs, since merging one
    /// of two that touch the same lines makes the other conflict.
    pub waiting: bool,
    pub excludes: Vec<String>,
}

/// One changed file: its blob before and after (None: absent), and its mode after.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Change {
    old: Option<Oid>,
    new: Option<Oid>,
    mode: u32,
}

type Changes = HashMap<String, Change>;

/// Other runs a run is said to conflict with, at most: past that, more of the same helps no
/// one, and 500 runs that all touch one file would otherwise make 250,000 findings.
pub const MAX_RUN_FINDINGS: usize = 10;

/// Findings per run id (runs with none are present with an empty list).
pub fn scan(runs: &[RadarRun]) -> HashMap<String, Vec<ConflictFinding>> {
    let mut out: HashMap<String, Vec<ConflictFinding>> =
        runs.iter().map(|r| (r.id.clone(), Vec::new())).collect();
    // Each run is judged from the real merge base of its branch and its target: a branch the
    // user brought up to date by hand no longer conflicts with what it already merged.
    let runs: Vec<RadarRun> = runs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let (Some(target), Ok(wt)) = (&r.target, Repository::open(&r.worktree)) {
                r.base = super::effective_base(&wt, &r.base, Some(target));
            }
            r
        })
        .collect();
    let runs = &runs[..];
    let mut by_repo: HashMap<&PathBuf, Vec<&RadarRun>> = HashMap::new();
    for r in runs {
        by_repo.entry(&r.repo).or_default().push(r);
    }
    for (repo_path, group) in by_repo {
        let Ok(repo) = Repository::open(repo_path) else {
            continue;
        };
        let changes: Vec<Option<Changes>> =
            group.iter().map(|r| changes_of(&repo, r).ok()).collect();
        let mut target_changes: HashMap<(String, String), Option<(Oid, Changes)>> = HashMap::new();
        for (i, r) in group.iter().enumerate() {
            let Some(mine) = &changes[i] else { continue };
            if let Some(target) = &r.target {
                let key = (r.base.clone(), target.clone());
                let theirs = target_changes
                    .entry(key)
                    .or_insert_with(|| target_side(&repo, &r.base, target).ok().flatten());
                if let Some((ancestor, theirs)) = theirs {
                    let files = overlap(&repo, mine, theirs, Some(*ancestor));
                    if !files.is_empty() {
                        push(&mut out, &r.id, format!("target:{target}"), files, false);
                    }
                }
            }
            for (j, other) in group.iter().enumerate().skip(i + 1) {
                let both_waiting = r.waiting && other.waiting;
                if !(r.pairwise && other.pairwise || both_waiting) {
                    continue;
                }
                let (r_full, other_full) = (full(&out, &r.id), full(&out, &other.id));
                if r_full && other_full {
                    continue;
                }
                let Some(theirs) = &changes[j] else { continue };
                let ancestor = if r.base == other.base {
                    None
                } else {
                    merge_base_tree(&repo, &r.base, &other.base).ok()
                };
                let files = overlap(&repo, mine, theirs, ancestor);
                if !files.is_empty() {
                    let with = |id: &str| format!("run:{id}");
                    if !r_full {
                        push(
                            &mut out,
                            &r.id,
                            with(&other.id),
                            files.clone(),
                            both_waiting,
                        );
                    }
                    if !other_full {
                        push(&mut out, &other.id, with(&r.id), files, both_waiting);
                    }
                }
            }
        }
    }
    out
}

/// Whether `id` already names as many other runs as it may.
fn full(out: &HashMap<String, Vec<ConflictFinding>>, id: &str) -> bool {
    out.get(id)
        .map_or(0, |f| f.iter().filter(|c| c.run_id().is_some()).count())
        >= MAX_RUN_FINDINGS
}

fn push(
    out: &mut HashMap<String, Vec<ConflictFinding>>,
    id: &str,
    with: String,
    files: Vec<String>,
    both_waiting: bool,
) {
    out.entry(id.to_string())
        .or_default()
        .push(ConflictFinding {
            with,
            files,
            both_waiting,
        });
}

/// What the run changed against its base.
fn changes_of(repo: &Repository, r: &RadarRun) -> Result<Changes, WorkspaceError> {
    let base_tree = repo.find_commit(Oid::from_str(&r.base)?)?.tree()?;
    if !r.live {
        let head = repo
            .find_branch(&r.branch, BranchType::Local)?
            .get()
            .peel_to_tree()?;
        return tree_changes(repo, &base_tree, &head);
    }
    let mut changes = Changes::new();
    let wt = Repository::open(&r.worktree)?;
    let base_tree = wt.find_tree(base_tree.id())?;
    let mut opts = DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let diff = wt.diff_tree_to_workdir_with_index(Some(&base_tree), Some(&mut opts))?;
    for d in diff.deltas() {
        let Some(path) = d.new_file().path().or_else(|| d.old_file().path()) else {
            continue;
        };
        let rel = path.to_string_lossy().into_owned();
        if excluded(&rel, &r.excludes) {
            continue;
        }
        let new = match d.status() {
            Delta::Deleted => None,
            // Hash the file as it is now (writes the blob; only changed files get here).
            _ => wt.blob_path(&r.worktree.join(path)).ok(),
        };
        changes.insert(
            rel,
            change(d.old_file().id(), new, d.new_file().mode().into()),
        );
    }
    Ok(changes)
}

/// Files changed from one tree to another (identical subtrees are skipped by id).
fn tree_changes(
    repo: &Repository,
    from: &git2::Tree,
    to: &git2::Tree,
) -> Result<Changes, WorkspaceError> {
    let diff = repo.diff_tree_to_tree(Some(from), Some(to), None)?;
    let mut changes = Changes::new();
    for d in diff.deltas() {
        let Some(path) = d.new_file().path().or_else(|| d.old_file().path()) else {
            continue;
        };
        let new = (d.status() != Delta::Deleted).then(|| d.new_file().id());
        changes.insert(
            path.to_string_lossy().into_owned(),
            change(d.old_file().id(), new, d.new_file().mode().into()),
        );
    }
    Ok(changes)
}

fn change(old: Oid, new: Option<Oid>, mode: u32) -> Change {
    Change {
        old: (!old.is_zero()).then_some(old),
        new: new.filter(|n| !n.is_zero()),
        mode: if mode == 0 { 0o100644 } else { mode },
    }
}

/// What the target changed since its merge base with `base`, and that merge base's tree.
fn target_side(
    repo: &Repository,
    base: &str,
    target: &str,
) -> Result<Option<(Oid, Changes)>, WorkspaceError> {
    let tip = repo
        .find_branch(target, BranchType::Local)?
        .get()
        .peel_to_commit()?;
    let base = Oid::from_str(base)?;
    if tip.id() == base {
        return Ok(None); // the target has not moved: nothing to conflict with
    }
    let ancestor = repo.find_commit(repo.merge_base(base, tip.id())?)?.tree()?;
    let changes = tree_changes(repo, &ancestor, &tip.tree()?)?;
    Ok(Some((ancestor.id(), changes)))
}

fn merge_base_tree(repo: &Repository, a: &str, b: &str) -> Result<Oid, WorkspaceError> {
    let mb = repo.merge_base(Oid::from_str(a)?, Oid::from_str(b)?)?;
    Ok(repo.find_commit(mb)?.tree()?.id())
}

/// Files both sides changed in ways that do not merge cleanly.
fn overlap(repo: &Repository, a: &Changes, b: &Changes, ancestor_tree: Option<Oid>) -> Vec<String> {
    let mut files: Vec<String> = a
        .iter()
        .filter_map(|(path, ca)| {
            let cb = b.get(path)?;
            conflicting(repo, path, ca, cb, ancestor_tree).then(|| path.clone())
        })
        .collect();
    files.sort();
    files
}

fn conflicting(
    repo: &Repository,
    path: &str,
    a: &Change,
    b: &Change,
    ancestor_tree: Option<Oid>,
) -> bool {
    if a.new == b.new {
        return false; // the same change on both sides
    }
    let ancestor = match ancestor_tree {
        None => a.old,
        Some(t) => repo
            .find_tree(t)
            .ok()
            .and_then(|t| t.get_path(Path::new(path)).ok())
            .map(|e| e.id()),
    };
    let (Some(anc), Some(ours), Some(theirs)) = (ancestor, a.new, b.new) else {
        // Added on both sides with different content, or changed on one and deleted on the other.
        return true;
    };
    let e = |id: Oid, mode: u32| entry(path, id, mode);
    match repo.merge_file_from_index(&e(anc, a.mode), &e(ours, a.mode), &e(theirs, b.mode), None) {
        Ok(result) => !result.is_automergeable(),
        Err(_) => true,
    }
}

fn entry(path: &str, id: Oid, mode: u32) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}
