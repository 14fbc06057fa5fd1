//! Keeping work a retry would throw away. Before a retry resets a worktree (or removes it), the
//! worktree's whole state — uncommitted edits and untracked files included, ignored files and
//! setup's files not — is committed on top of the branch tip and kept on a ref of its own,
//! `refs/flightdeck/<id>/attempt-N`. A copy's private repository goes away with the copy, so
//! there the changed files are copied to a directory of the run instead.

use std::path::{Path, PathBuf};

use git2::{BranchType, Commit, Oid, Repository};

use super::checkpoint::stage_all;
use super::{dirty_files_except, signature, WorkspaceError};
use crate::run::WorkspaceKind;

/// What `save` needs to know about the run.
#[derive(Debug, Clone)]
pub struct Keep {
    pub kind: WorkspaceKind,
    /// The user's repository (worktree kind): where the ref goes when the worktree is gone.
    pub repo: PathBuf,
    pub worktree: PathBuf,
    pub branch: String,
    /// The commit the retry goes back to: whatever is past it would be lost.
    pub back_to: String,
    /// The ref to keep it on (worktree kind).
    pub reference: String,
    /// The directory to copy it to (copy kind).
    pub dir: PathBuf,
    /// Setup's files: made again by setup, never part of the run's work.
    pub excludes: Vec<String>,
    /// The commit message's subject.
    pub subject: String,
}

/// Where the work was kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    Ref {
        reference: String,
        commit: String,
        /// Files with changes that were not committed (untracked included).
        uncommitted: Vec<String>,
        /// Commits past `back_to` on the branch.
        commits: usize,
    },
    Dir {
        dir: PathBuf,
        /// Files added or changed since `back_to`, copied into `dir`.
        copied: Vec<String>,
        /// Files deleted since `back_to` (nothing to copy; listed here).
        deleted: Vec<String>,
    },
}

/// Keep what resetting to `back_to` (or removing the workspace) would lose. None when nothing
/// would be lost. Blocking.
pub fn save(k: &Keep) -> Result<Option<Saved>, WorkspaceError> {
    match k.kind {
        WorkspaceKind::Worktree => save_on_ref(k),
        WorkspaceKind::Copy => save_to_dir(k),
    }
}

fn save_on_ref(k: &Keep) -> Result<Option<Saved>, WorkspaceError> {
    let back_to = Oid::from_str(&k.back_to)?;
    let opened = k
        .worktree
        .exists()
        .then(|| Repository::open(&k.worktree))
        .transpose()?;
    let (repo, head, uncommitted, tree) = match opened {
        Some(repo) => {
            let head = repo.head()?.peel_to_commit()?.id();
            let uncommitted = dirty_files_except(&repo, usize::MAX, &k.excludes)?;
            let tree = full_state_tree(&repo, &k.excludes)?;
            (repo, head, uncommitted, tree)
        }
        None => {
            // The worktree is gone; the branch may still hold commits.
            let repo = Repository::open(&k.repo)?;
            let (id, tree) = match repo.find_branch(&k.branch, BranchType::Local) {
                Ok(branch) => {
                    let tip = branch.get().peel_to_commit()?;
                    (tip.id(), tip.tree_id())
                }
                Err(_) => return Ok(None),
            };
            (repo, id, Vec::new(), tree)
        }
    };
    // The branch may have moved away from the worktree's HEAD (a checkout by hand): keep both.
    let mut parents: Vec<Commit> = vec![repo.find_commit(head)?];
    if let Ok(branch) = repo.find_branch(&k.branch, BranchType::Local) {
        if let Some(tip) = branch.get().target() {
            if tip != head && !repo.graph_descendant_of(head, tip)? {
                parents.push(repo.find_commit(tip)?);
            }
        }
    }
    let head_commit = &parents[0];
    let clean = head_commit.tree_id() == tree && parents.len() == 1;
    if clean && head == back_to {
        return Ok(None);
    }
    if clean && repo.graph_descendant_of(back_to, head)? {
        // HEAD is behind the commit the retry goes back to: nothing past it to lose.
        return Ok(None);
    }
    let commits = parents
        .iter()
        .map(|p| ahead_of(&repo, p.id(), back_to))
        .sum::<Result<usize, _>>()?;
    let commit = if clean {
        head
    } else {
        let sig = signature()?;
        let tree = repo.find_tree(tree)?;
        let refs: Vec<&Commit> = parents.iter().collect();
        let sample: Vec<&str> = uncommitted.iter().take(20).map(String::as_str).collect();
        let mut message = format!(
            "{}\n\nThe worktree's state before a retry reset it: {} file(s) not committed{}.\n",
            k.subject,
            uncommitted.len(),
            if sample.is_empty() {
                String::new()
            } else {
                format!(" ({})", sample.join(", "))
            }
        );
        message.push_str("\nflightdeck-kept: work that is no longer on the run's branch\n");
        repo.commit(None, &sig, &sig, &message, &tree, &refs)?
    };
    let reference = free_ref_name(&repo, &k.reference, commit)?;
    // Free, or holding this very commit already (a retry of a retry that changed nothing).
    repo.reference(
        &reference,
        commit,
        true,
        "flightdeck: keep work before a retry",
    )?;
    Ok(Some(Saved::Ref {
        reference,
        commit: commit.to_string(),
        uncommitted,
        commits,
    }))
}

/// A tree of everything in the worktree as it is (new and deleted files too; ignored files and
/// setup's files not), written to the object database without touching the worktree's index.
fn full_state_tree(repo: &Repository, excludes: &[String]) -> Result<Oid, WorkspaceError> {
    // This Repository was opened for this call: its index changes in memory only, and is
    // never written back.
    let mut index = repo.index()?;
    stage_all(repo, &mut index, excludes)?;
    Ok(index.write_tree()?)
}

fn ahead_of(repo: &Repository, tip: Oid, base: Oid) -> Result<usize, WorkspaceError> {
    if tip == base {
        return Ok(0);
    }
    Ok(repo.graph_ahead_behind(tip, base)?.0)
}

/// `name`, or `name.2`, `name.3`, ... when a ref of that name already holds something else.
fn free_ref_name(repo: &Repository, name: &str, commit: Oid) -> Result<String, WorkspaceError> {
    let mut candidate = name.to_string();
    let mut n = 2;
    loop {
        match repo.find_reference(&candidate) {
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(candidate),
            Err(e) => return Err(e.into()),
            Ok(r) if r.target() == Some(commit) => return Ok(candidate),
            Ok(_) => {
                candidate = format!("{name}.{n}");
                n += 1;
            }
        }
    }
}

fn save_to_dir(k: &Keep) -> Result<Option<Saved>, WorkspaceError> {
    if !k.worktree.exists() {
        return Ok(None);
    }
    let repo = Repository::open(&k.worktree)?;
    let tree = repo.find_tree(full_state_tree(&repo, &k.excludes)?)?;
    let old = repo.find_commit(Oid::from_str(&k.back_to)?)?.tree()?;
    let diff = repo.diff_tree_to_tree(Some(&old), Some(&tree), None)?;
    if diff.deltas().len() == 0 {
        return Ok(None);
    }
    let dir = free_dir(&k.dir);
    crate::owner_only::create_dir_all(&dir)
        .map_err(|e| WorkspaceError::io(&format!("creating {}", dir.display()), e))?;
    let (mut copied, mut deleted) = (Vec::new(), Vec::new());
    for delta in diff.deltas() {
        let file = delta.new_file();
        let Some(path) = file.path().or_else(|| delta.old_file().path()) else {
            continue;
        };
        let rel = path.to_string_lossy().into_owned();
        if delta.status() == git2::Delta::Deleted {
            deleted.push(rel);
            continue;
        }
        let blob = repo.find_blob(file.id())?;
        let to = dir.join(path);
        if let Some(parent) = to.parent() {
            crate::owner_only::create_dir_all(parent)
                .map_err(|e| WorkspaceError::io(&format!("creating {}", parent.display()), e))?;
        }
        if file.mode() == git2::FileMode::Link {
            let target = String::from_utf8_lossy(blob.content()).into_owned();
            std::os::unix::fs::symlink(target, &to)
                .map_err(|e| WorkspaceError::io(&format!("keeping {rel}"), e))?;
        } else {
            crate::owner_only::write(&to, blob.content())
                .map_err(|e| WorkspaceError::io(&format!("keeping {rel}"), e))?;
        }
        copied.push(rel);
    }
    Ok(Some(Saved::Dir {
        dir,
        copied,
        deleted,
    }))
}

/// `dir`, or `dir.2`, `dir.3`, ... when it exists already.
fn free_dir(dir: &Path) -> PathBuf {
    let mut candidate = dir.to_path_buf();
    let mut n = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}.{n}", dir.display()));
        n += 1;
    }
    candidate
}
