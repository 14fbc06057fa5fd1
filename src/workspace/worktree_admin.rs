//! A linked worktree's bookkeeping, as `git worktree add` writes it: the administrative
//! directory `<git-dir>/worktrees/<name>/` (`HEAD`, `commondir`, `gitdir`, `index`) and the
//! worktree's `.git` file pointing back at it. Written directly, so that a worktree can be
//! checked out on several threads (fast_checkout) and handed from the pool to a run by
//! moving its directory (O(1)), which libgit2 offers neither of. A record is never renamed:
//! git and libgit2 list `worktrees/` and open each entry, and one renamed between the two
//! steps fails their command.

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
    // Each file whole or not at all: a landing or a scan reading the records meanwhile never
    // sees an empty `gitdir` (which names no place, so the process's own directory).
    let write = |file: &str, text: String| write_whole(&admin.join(file), &text);
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
    write_whole(&admin_dir(repo, name).join("HEAD"), &format!("{head}\n"))
}

/// Tell git that worktree `name` now lives at `path` (its `gitdir` file). The worktree's own
/// `.git` file names the record, not the place, so moving the directory needs only this.
/// libgit2 takes a linked worktree's working directory from this file, so write it before
/// opening the worktree at its new place.
pub fn set_gitdir(repo: &Repository, name: &str, path: &Path) -> Result<(), WorkspaceError> {
    write_whole(
        &admin_dir(repo, name).join("gitdir"),
        &format!("{}\n", path.join(".git").display()),
    )
}

/// Replace a small record file as git does (`<file>.lock`, then a rename): a reader never
/// sees it empty or half-written, and a git command holding the lock makes this fail rather
/// than interleave.
fn write_whole(path: &Path, text: &str) -> Result<(), WorkspaceError> {
    use std::io::Write;
    let lock = path.with_file_name(format!(
        "{}.lock",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
        .map_err(|e| io("locking", &lock, e))?;
    let written = f.write_all(text.as_bytes());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&lock, path)) {
        let _ = std::fs::remove_file(&lock);
        return Err(io("writing", path, e));
    }
    Ok(())
}

/// What worktree `name`'s HEAD holds (a ref line or a commit id).
pub fn head(repo: &Repository, name: &str) -> Option<String> {
    std::fs::read_to_string(admin_dir(repo, name).join("HEAD"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The name of the record a linked worktree's `.git` file points at (`.git/worktrees/<name>`),
/// which is not always the directory's name: a worktree from the pool keeps its pool- record.
pub fn name_of(worktree: &Path) -> Option<String> {
    record_of(worktree)?
        .file_name()?
        .to_str()
        .map(str::to_string)
}

/// The record directory a linked worktree's `.git` file points at.
pub fn record_of(worktree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let admin = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
    admin
        .parent()
        .is_some_and(|p| p.ends_with("worktrees"))
        .then_some(admin)
}

/// Forget worktree `name` (its directory is gone or going).
pub fn unregister(repo: &Repository, name: &str) {
    let _ = std::fs::remove_dir_all(admin_dir(repo, name));
}
