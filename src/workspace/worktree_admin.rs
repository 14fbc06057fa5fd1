//! A linked worktree's bookkeeping, as `git worktree add` writes it: the administrative
//! directory `<git-dir>/worktrees/<name>/` (`HEAD`, `commondir`, `gitdir`, `index`) and the
//! worktree's `.git` file pointing back at it. Written directly, so that a worktree can be
//! checked out on several threads (fast_checkout) and handed from the pool to a run by
//! renaming (O(1)), which libgit2 offers neither of.

use std::path::{Path, PathBuf};

use git2::Repository;

use super::WorkspaceError;

fn io(what: &str, path: &Path, e: std::io::Error) -> WorkspaceError {
    WorkspaceError::io(&format!("{what} {}", path.display()), e)
}

/// The administrative directory of worktree `name`.
pub fn admin_dir(repo: &Repository, name: &str) -> PathBuf {
    repo.commondir().join("worktrees").join(name)
}

/// Register `path` as worktree `name` with `head` (`ref: refs/heads/...` or a commit id).
/// The directory must exist; its files and index are written by the caller.
pub fn register(
    repo: &Repository,
    name: &str,
    path: &Path,
    head: &str,
) -> Result<PathBuf, WorkspaceError> {
    let admin = admin_dir(repo, name);
    if admin.exists() {
        return Err(WorkspaceError::Invalid(format!(
            "a worktree named {name} is already registered in {}; run `git worktree prune` there",
            repo.commondir().display()
        )));
    }
    std::fs::create_dir_all(&admin).map_err(|e| io("creating", &admin, e))?;
    let write = |file: &str, text: String| {
        let p = admin.join(file);
        std::fs::write(&p, text).map_err(|e| io("writing", &p, e))
    };
    write("HEAD", format!("{head}\n"))?;
    write("commondir", "../..\n".into())?;
    write("gitdir", format!("{}\n", path.join(".git").display()))?;
    let dot_git = path.join(".git");
    std::fs::write(&dot_git, format!("gitdir: {}\n", admin.display()))
        .map_err(|e| io("writing", &dot_git, e))?;
    Ok(admin)
}

/// Point worktree `name` at `head` (its HEAD file).
pub fn set_head(repo: &Repository, name: &str, head: &str) -> Result<(), WorkspaceError> {
    let p = admin_dir(repo, name).join("HEAD");
    std::fs::write(&p, format!("{head}\n")).map_err(|e| io("writing", &p, e))
}

/// What worktree `name`'s HEAD holds (a ref line or a commit id).
pub fn head(repo: &Repository, name: &str) -> Option<String> {
    std::fs::read_to_string(admin_dir(repo, name).join("HEAD"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Move worktree `from` (at `from_path`) to the name `to` at `to_path`: two renames and two
/// small files, whatever the size of the tree. The index stays valid (renaming the directory
/// changes no file's stat data).
pub fn rename(
    repo: &Repository,
    from: &str,
    from_path: &Path,
    to: &str,
    to_path: &Path,
) -> Result<(), WorkspaceError> {
    let from_admin = admin_dir(repo, from);
    let to_admin = admin_dir(repo, to);
    if to_admin.exists() || to_path.exists() {
        return Err(WorkspaceError::Invalid(format!(
            "{} or worktree {to} already exists",
            to_path.display()
        )));
    }
    std::fs::rename(from_path, to_path).map_err(|e| io("moving", from_path, e))?;
    if let Err(e) = std::fs::rename(&from_admin, &to_admin) {
        // Put the directory back: a half-moved worktree helps no one.
        let _ = std::fs::rename(to_path, from_path);
        return Err(io("moving", &from_admin, e));
    }
    let gitdir = to_admin.join("gitdir");
    std::fs::write(&gitdir, format!("{}\n", to_path.join(".git").display()))
        .map_err(|e| io("writing", &gitdir, e))?;
    let dot_git = to_path.join(".git");
    std::fs::write(&dot_git, format!("gitdir: {}\n", to_admin.display()))
        .map_err(|e| io("writing", &dot_git, e))
}

/// Forget worktree `name` (its directory is gone or going).
pub fn unregister(repo: &Repository, name: &str) {
    let _ = std::fs::remove_dir_all(admin_dir(repo, name));
}
