//! Workspaces: each run's own working directory. A git worktree on its own branch where the
//! repository is a git repository, a plain copy elsewhere. Everything here is blocking (git2 and
//! file copies): the supervisor calls it from `spawn_blocking`.

mod checkpoint;
mod clean;
mod copy;
mod diff;
pub mod export;
mod fast_checkout;
mod git_checkout;
mod inspect;
mod keep;
mod merge;
pub mod pool;
pub mod radar;
pub mod rebase;
pub mod scratch;
mod setup;
mod worktree;
mod worktree_admin;

use std::path::PathBuf;

pub use checkpoint::{
    branch_tip, clear_index_lock, commit_all, head_commit, message_for, reset_to,
};
pub use clean::{check_clean, remove};
pub use diff::{diff_against_base, effective_base, ChangedFile, DiffStat};
pub use inspect::{inspect, run_home, Source};
pub use keep::{save as keep_work, Keep, Saved};
pub use merge::{
    candidate, finish_interrupted, land, target_tip, Candidate, Finished, Journal, LandSpec,
    Landing, JOURNAL,
};
pub use setup::{copy_setup_files, new_entries};
pub use worktree::{from_pool, uncommitted_in};

use crate::run::WorkspaceKind;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The user's input is wrong (path, base ref): say what to do.
    #[error("{0}")]
    Invalid(String),
    /// Cleaning would lose work.
    #[error("{0}")]
    Refused(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("{0}")]
    Io(String),
    /// The branch holds something the smoke checks did not run on.
    #[error("{0}")]
    Unchecked(String),
    /// Merging would conflict in these files.
    #[error("merging would conflict in {}", .0.join(", "))]
    Conflict(Vec<String>),
}

impl WorkspaceError {
    fn io(what: &str, e: std::io::Error) -> Self {
        WorkspaceError::Io(format!("{what}: {e}"))
    }
}

/// What `create` needs to make a run's workspace.
#[derive(Debug, Clone)]
pub struct Spec {
    pub run_id: String,
    pub kind: WorkspaceKind,
    /// The repository root (worktree) or the directory (copy).
    pub source: PathBuf,
    /// The base commit (worktree kind); the copy's base is made by `create`.
    pub base: String,
    pub branch: String,
    pub path: PathBuf,
}

/// What `create` made.
#[derive(Debug, Clone)]
pub struct Created {
    /// The base commit id (for a copy, the snapshot commit of its private repository).
    pub base: String,
    pub files_copied: Option<usize>,
    /// Taken from the warm pool: "at base", or "brought forward" from an older commit.
    pub pooled: Option<&'static str>,
}

pub fn create(spec: &Spec) -> Result<Created, WorkspaceError> {
    match spec.kind {
        WorkspaceKind::Worktree => worktree::create(spec),
        WorkspaceKind::Copy => copy::create(spec),
    }
}

pub const AUTHOR_NAME: &str = "flightdeck";
pub const AUTHOR_EMAIL: &str = "flightdeck@localhost";

fn signature() -> Result<git2::Signature<'static>, git2::Error> {
    git2::Signature::now(AUTHOR_NAME, AUTHOR_EMAIL)
}

/// Whether `path` is one of `excludes` or lies in an excluded folder (`dir/`).
pub fn excluded(path: &str, excludes: &[String]) -> bool {
    excludes.iter().any(|e| {
        if let Some(dir) = e.strip_suffix('/') {
            path == dir || path.starts_with(e.as_str())
        } else {
            path == e
        }
    })
}

/// Files with changes not committed (untracked included, ignored files not).
fn dirty_files(repo: &git2::Repository, limit: usize) -> Result<Vec<String>, git2::Error> {
    dirty_files_except(repo, limit, &[])
}

/// What a worktree holds beyond its commit: changed and untracked files (recursing into new
/// directories), not ignored ones, not submodules.
pub(crate) fn worktree_status_options() -> git2::StatusOptions {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    opts
}

fn dirty_files_except(
    repo: &git2::Repository,
    limit: usize,
    excludes: &[String],
) -> Result<Vec<String>, git2::Error> {
    let statuses = repo.statuses(Some(&mut worktree_status_options()))?;
    Ok(statuses
        .iter()
        .filter(|s| !s.status().is_ignored())
        .filter_map(|s| s.path().map(str::to_string))
        .filter(|p| !excluded(p, excludes))
        .take(limit)
        .collect())
}
