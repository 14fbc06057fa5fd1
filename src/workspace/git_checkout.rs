//! Checking a tree out with the user's own `git`, for what libgit2 cannot do as git does:
//! external filters (Git LFS's smudge), submodules, sparse checkout, and trees with attributes
//! (git's checkout is also faster there than libgit2's single thread). What it makes is what
//! `git worktree add` makes, because it is git. Blocking.

use std::path::Path;
use std::process::{Command, Stdio};

use super::WorkspaceError;

/// `git -C dir ARGS`, with no prompt ever waited on; its stderr in the error.
pub(super) fn git(dir: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| WorkspaceError::io("running git", e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rfind(|l| !l.trim().is_empty() && !l.starts_with("hint:"))
            .unwrap_or("no reason given");
        return Err(WorkspaceError::Io(format!(
            "`git {}` in {} failed: {}",
            args.join(" "),
            dir.display(),
            crate::text::printable(line.trim())
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `-c` settings for git's checkouts: its parallel checkout (`checkout.workers`, git 2.32+) on
/// every core, unless the user set it. git writes the same tree either way (entries that need
/// an external filter such as LFS's smudge are still written one by one); on 50,000 files with
/// attributes one worker took 34-59 s and two 12 s on this 2-core machine.
fn parallel_checkout(source: &Path) -> Vec<String> {
    if git(source, &["config", "--get", "checkout.workers"]).is_ok() {
        return Vec::new();
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    vec![
        "-c".into(),
        format!("checkout.workers={cores}"),
        "-c".into(),
        "checkout.thresholdForParallelism=100".into(),
    ]
}

/// A new worktree at `path` on a new branch `branch` at `base`, as `git worktree add` makes
/// it, with the submodules the user's checkout has initialised.
pub fn add(source: &Path, path: &Path, branch: &str, base: &str) -> Result<(), WorkspaceError> {
    let p = path.to_string_lossy();
    {
        // git's own adds race each other (one reads another's record half made: "failed to
        // read .git/worktrees/X/commondir"), and ten checkouts at once on a few cores are
        // slower than one after another: this process makes them one at a time. A record
        // flightdeck itself is making can still be read half made: then it is tried again.
        let _one = ADDS.lock().unwrap_or_else(|p| p.into_inner());
        let mut args = parallel_checkout(source);
        args.extend(["worktree", "add", "--quiet", "-b", branch, &p, base].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut tries = 0;
        loop {
            tries += 1;
            match git(source, &args) {
                Ok(_) => break,
                Err(WorkspaceError::Io(e)) if tries < 4 && e.contains("failed to read") => {
                    let _ = std::fs::remove_dir_all(path);
                    let _ = git(source, &["worktree", "prune"]);
                    let _ = git(source, &["branch", "-D", branch]);
                    std::thread::sleep(std::time::Duration::from_millis(50 * tries));
                }
                Err(e) => return Err(e),
            }
        }
    }
    init_submodules(source, path)
}

/// `git worktree add`s under way in this process: one at a time (process-wide on purpose: it
/// is git's records of the user's repository that race, whichever supervisor asks).
static ADDS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Check `commit` out over the worktree `wt` (files, index and HEAD, detached), removing what
/// is not tracked, and its submodules as the user's checkout has them.
pub fn reset_to(source: &Path, wt: &Path, commit: &str) -> Result<(), WorkspaceError> {
    let mut args = parallel_checkout(source);
    args.extend(["reset", "--quiet", "--hard", commit].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    git(wt, &args)?;
    git(wt, &["clean", "--quiet", "-fd"])?;
    init_submodules(source, wt)
}

/// Give a worktree registered by hand (its git records in `admin`) the sparse checkout of the
/// user's checkout `source`, as `git worktree add` does: the patterns file, and the
/// worktree's own config where the repository keeps one (that is where `git sparse-checkout`
/// turns it on). Nothing when the user's checkout is not sparse.
pub fn copy_sparse(source: &Path, admin: &Path) -> Result<(), WorkspaceError> {
    let sparse = git(source, &["config", "--type=bool", "core.sparseCheckout"])
        .is_ok_and(|v| v.trim() == "true");
    if !sparse {
        return Ok(());
    }
    let from = |what: &str| -> Result<std::path::PathBuf, WorkspaceError> {
        let p = git(
            source,
            &["rev-parse", "--path-format=absolute", "--git-path", what],
        )?;
        Ok(std::path::PathBuf::from(p.trim()))
    };
    let copy = |from: &Path, to: &Path| -> Result<(), WorkspaceError> {
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| WorkspaceError::io(&format!("creating {}", dir.display()), e))?;
        }
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| WorkspaceError::io(&format!("copying {}", from.display()), e))
    };
    let patterns = from("info/sparse-checkout")?;
    if patterns.exists() {
        copy(&patterns, &admin.join("info").join("sparse-checkout"))?;
    }
    let per_worktree = git(
        source,
        &["config", "--type=bool", "extensions.worktreeConfig"],
    )
    .is_ok_and(|v| v.trim() == "true");
    if per_worktree {
        // Only the sparse settings: a main checkout's own config may say more (core.bare).
        for key in [
            "core.sparseCheckout",
            "core.sparseCheckoutCone",
            "index.sparse",
        ] {
            if let Ok(v) = git(source, &["config", "--worktree", key]) {
                git(
                    admin,
                    &["config", "--file", "config.worktree", key, v.trim()],
                )?;
            }
        }
    }
    Ok(())
}

/// Initialise in `wt` the submodules initialised in the user's checkout `source` (their paths
/// from `git submodule status`: a leading `-` means not initialised), and inside each the
/// ones initialised there, as deep as the user's checkout goes.
fn init_submodules(source: &Path, wt: &Path) -> Result<(), WorkspaceError> {
    init_submodules_at(source, wt, 0)
}

/// Nested submodules deeper than this are left as git left them (a loop of submodules
/// referring to each other would not end).
const SUBMODULE_DEPTH: usize = 8;

fn init_submodules_at(source: &Path, wt: &Path, depth: usize) -> Result<(), WorkspaceError> {
    if depth > SUBMODULE_DEPTH || !wt.join(".gitmodules").exists() {
        return Ok(());
    }
    let status = git(source, &["submodule", "status"])?;
    let paths: Vec<&str> = status
        .lines()
        .filter(|l| !l.starts_with('-'))
        .filter_map(|l| l.get(1..)?.split_whitespace().nth(1))
        .collect();
    if paths.is_empty() {
        return Ok(());
    }
    let mut args = vec!["submodule", "update", "--init", "--quiet", "--"];
    args.extend(paths.iter().copied());
    git(wt, &args)?;
    for p in paths {
        init_submodules_at(&source.join(p), &wt.join(p), depth + 1)?;
    }
    Ok(())
}

/// Whether the user's git, not libgit2 or our own writer, must check `tree` out: it has
/// submodules, or the repository checks out sparsely. (Attributes are decided by the fast
/// path's own test.)
pub fn needed(repo: &git2::Repository, tree: &git2::Tree) -> bool {
    let sparse = repo
        .config()
        .ok()
        .and_then(|c| c.get_bool("core.sparseCheckout").ok())
        .unwrap_or(false);
    sparse
        || tree
            .iter()
            .any(|e| e.kind() == Some(git2::ObjectType::Commit))
        || tree.get_name(".gitmodules").is_some()
}
