//! The run's changes against its base commit, printed as `git diff` prints them.

use std::path::Path;

use git2::{DiffFormat, DiffOptions, Oid, Repository};
use serde::{Deserialize, Serialize};

use super::WorkspaceError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffStat {
    pub files: usize,
    pub insertions: usize,
    pub deletions: usize,
    pub changed: Vec<ChangedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedFile {
    pub path: String,
    /// added, modified, deleted, renamed, ...
    pub change: String,
    pub insertions: usize,
    pub deletions: usize,
}

/// Base commit → the branch's head commit (the checkpoint made after the agent), which is what a
/// merge would bring in. New and deleted files included. With a `target` branch, the base is
/// the real merge base of the branch and the target, so a branch brought up to date with the
/// target by hand is credited with its own changes only.
pub fn diff_against_base(
    worktree: &Path,
    base: &str,
    target: Option<&str>,
) -> Result<(String, DiffStat), WorkspaceError> {
    let repo = Repository::open(worktree)?;
    let base = effective_base(&repo, base, target);
    let base_tree = repo.find_commit(Oid::from_str(&base)?)?.tree()?;
    let head_tree = repo.head()?.peel_to_tree()?;
    let mut opts = DiffOptions::new();
    opts.show_binary(true);
    let mut diff = repo.diff_tree_to_tree(Some(&base_tree), Some(&head_tree), Some(&mut opts))?;
    diff.find_similar(None)?;
    let stats = diff.stats()?;
    let mut changed = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (_, insertions, deletions) = git2::Patch::from_diff(&diff, i)?
            .map(|p| p.line_stats())
            .transpose()?
            .unwrap_or((0, 0, 0));
        changed.push(ChangedFile {
            path,
            change: change_name(delta.status()).into(),
            insertions,
            deletions,
        });
    }
    let mut text = Vec::new();
    diff.print(DiffFormat::Patch, |_delta, _hunk, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin() as u8);
        }
        text.extend_from_slice(line.content());
        true
    })?;
    Ok((
        String::from_utf8_lossy(&text).into_owned(),
        DiffStat {
            files: stats.files_changed(),
            insertions: stats.insertions(),
            deletions: stats.deletions(),
            changed,
        },
    ))
}

fn change_name(status: git2::Delta) -> &'static str {
    match status {
        git2::Delta::Added => "added",
        git2::Delta::Deleted => "deleted",
        git2::Delta::Renamed => "renamed",
        git2::Delta::Copied => "copied",
        git2::Delta::Typechange => "type changed",
        _ => "modified",
    }
}

/// The commit a run's work is measured from: the merge base of its branch's head (`repo` is
/// opened at the run's worktree) and `target`, when both exist; otherwise the run's `base`.
pub fn effective_base(repo: &Repository, base: &str, target: Option<&str>) -> String {
    let found = (|| {
        let head = repo.head().ok()?.peel_to_commit().ok()?.id();
        let tip = repo
            .find_branch(target?, git2::BranchType::Local)
            .ok()?
            .get()
            .peel_to_commit()
            .ok()?
            .id();
        repo.merge_base(head, tip).ok()
    })();
    found.map_or_else(|| base.to_string(), |o| o.to_string())
}
