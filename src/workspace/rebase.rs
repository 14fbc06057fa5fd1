//! `flightdeck rebase`: the run's work replayed onto its target's current head, in its own
//! worktree, as one commit. The branch's old head is kept on `refs/flightdeck/<id>/attempt-N`
//! first, so nothing is lost. The replay is git's own (`merge --squash`), so the repository's
//! merge drivers and attributes apply as they do for the user; where it conflicts, git's
//! conflict markers and index are left for the agent or the person to resolve. Blocking.

use std::path::Path;
use std::process::Command;

use super::{commit_all, head_commit, WorkspaceError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// The work is one commit on top of `onto` now.
    Clean { onto: String, commit: String },
    /// The target already holds all of the run's work.
    Nothing { onto: String },
    /// The worktree is at `onto` with the work applied and these files in conflict.
    Conflicts { onto: String, files: Vec<String> },
}

pub struct RebaseSpec<'a> {
    pub worktree: &'a Path,
    pub onto: &'a str,
    /// Where the branch's head is kept before anything moves.
    pub keep_ref: &'a str,
    pub message: &'a str,
    pub excludes: &'a [String],
}

/// git in the worktree, with an environment of its own (nothing of the server's).
fn git(worktree: &Path, args: &[&str]) -> Result<std::process::Output, WorkspaceError> {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(worktree).env_clear();
    for key in ["PATH", "HOME", "LANG", "TMPDIR"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| WorkspaceError::Io(format!("cannot run git: {e}")))
}

fn git_ok(worktree: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    let out = git(worktree, args)?;
    if !out.status.success() {
        return Err(WorkspaceError::Io(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn replay(spec: &RebaseSpec) -> Result<Replayed, WorkspaceError> {
    let wt = spec.worktree;
    // What is in the worktree now is part of the work: committed first, like a checkpoint.
    commit_all(wt, spec.message, spec.excludes)?;
    let head = head_commit(wt)?;
    git_ok(wt, &["update-ref", spec.keep_ref, &head])?;
    let onto = spec.onto.to_string();
    git_ok(wt, &["reset", "-q", "--hard", &onto])?;
    let merged = git(wt, &["merge", "--squash", "--no-commit", &head])?;
    let conflicted: Vec<String> = git_ok(wt, &["diff", "--name-only", "--diff-filter=U"])?
        .lines()
        .map(str::to_string)
        .collect();
    if !conflicted.is_empty() {
        return Ok(Replayed::Conflicts {
            onto,
            files: conflicted,
        });
    }
    if !merged.status.success() {
        // Not a conflict: put the branch back where it was and say what git said.
        let _ = git(wt, &["reset", "-q", "--hard", &head]);
        return Err(WorkspaceError::Io(format!(
            "git merge --squash failed: {}",
            String::from_utf8_lossy(&merged.stderr).trim()
        )));
    }
    match commit_all(wt, spec.message, spec.excludes)? {
        Some(commit) => Ok(Replayed::Clean { onto, commit }),
        None => Ok(Replayed::Nothing { onto }),
    }
}
