//! The warm pool: per repository, a few worktrees already checked out at a base commit, kept
//! in `<worktree_root>/<repo>/.pool/`. A run whose base matches takes one in O(1): two renames
//! (worktree_admin::rename), a branch, a HEAD file. One at another commit is brought forward
//! with libgit2's checkout, which writes only the files that differ. Pool worktrees are not
//! runs: nothing lists them, and a refill, `pool = 0` or a stopping server removes them.
//! Blocking; refills run on a thread of their own, one per pool at a time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::Repository;

use super::{fast_checkout, worktree, worktree_admin, Spec, WorkspaceError};

/// The pool directory beside a repository's run worktrees.
pub fn dir_for(run_worktree: &Path) -> Option<PathBuf> {
    run_worktree.parent().map(|p| p.join(".pool"))
}

/// One pooled worktree: its name (also its git worktree name) and its path.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    path: PathBuf,
}

/// Pooled worktrees of `pool` that belong to `repo`, with the commit each is at.
fn entries(repo: &Repository, pool: &Path) -> Vec<(Entry, String)> {
    let Ok(dir) = std::fs::read_dir(pool) else {
        return Vec::new();
    };
    let mut out: Vec<(Entry, String)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            if !name.starts_with("pool-") {
                return None;
            }
            let head = worktree_admin::head(repo, &name)?;
            Some((
                Entry {
                    name,
                    path: e.path(),
                },
                head,
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    out
}

/// Hand a pooled worktree to the run `spec` describes, if the pool has one: at its base
/// (O(1)), else brought forward from another commit. `None`: the pool is empty.
pub fn take(spec: &Spec) -> Result<Option<bool>, WorkspaceError> {
    let Some(pool) = dir_for(&spec.path) else {
        return Ok(None);
    };
    let repo = Repository::open(&spec.source)?;
    let mut found = entries(&repo, &pool);
    // Those at the run's base first.
    found.sort_by_key(|(_, head)| *head != spec.base);
    for (entry, head) in found {
        let at_base = head == spec.base;
        // The rename is the claim: of two runs racing for one entry, one gets NotFound.
        match worktree_admin::rename(&repo, &entry.name, &entry.path, &spec.run_id, &spec.path) {
            Ok(()) => {}
            Err(_) if !entry.path.exists() => continue,
            Err(e) => return Err(e),
        }
        let commit = repo.find_commit(git2::Oid::from_str(&spec.base)?)?;
        let handed = (|| {
            repo.branch(&spec.branch, &commit, false)?;
            if !at_base {
                bring_forward(&spec.path, &commit)?;
            }
            worktree_admin::set_head(
                &repo,
                &spec.run_id,
                &format!("ref: refs/heads/{}", spec.branch),
            )
        })();
        if let Err(e) = handed {
            let _ = std::fs::remove_dir_all(&spec.path);
            worktree_admin::unregister(&repo, &spec.run_id);
            let _ = repo
                .find_branch(&spec.branch, git2::BranchType::Local)
                .and_then(|mut b| b.delete());
            return Err(e);
        }
        return Ok(Some(at_base));
    }
    Ok(None)
}

/// Check `commit`'s tree out over a worktree at another commit: libgit2 compares against the
/// index and writes only what differs.
fn bring_forward(worktree: &Path, commit: &git2::Commit) -> Result<(), WorkspaceError> {
    let wt = Repository::open(worktree)?;
    let tree = wt.find_tree(commit.tree_id())?;
    let mut opts = git2::build::CheckoutBuilder::new();
    opts.force().remove_untracked(true);
    wt.checkout_tree(tree.as_object(), Some(&mut opts))?;
    wt.set_head_detached(commit.id())?;
    Ok(())
}

/// Set when the server stops: refills end, and no new one starts.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stop refilling (the server is stopping), waiting up to `wait` for refills under way.
pub fn stop_refills(wait: std::time::Duration) {
    STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
    let until = std::time::Instant::now() + wait;
    while std::time::Instant::now() < until {
        let busy = REFILLING.lock().unwrap_or_else(|p| p.into_inner());
        if busy.as_ref().is_none_or(|s| s.is_empty()) {
            return;
        }
        drop(busy);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn stopping() -> bool {
    STOPPING.load(std::sync::atomic::Ordering::SeqCst)
}

/// Pools being refilled now (one refill per pool at a time; a request meanwhile is dropped,
/// since the running refill ends with the pool full anyway).
static REFILLING: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Bring the pool of `source` to `size` worktrees at `base`, on a thread of its own. Returns at
/// once.
pub fn refill_later(source: PathBuf, pool: PathBuf, base: String, size: usize) {
    if stopping() {
        return;
    }
    {
        let mut busy = REFILLING.lock().unwrap_or_else(|p| p.into_inner());
        if !busy.get_or_insert_with(HashSet::new).insert(pool.clone()) {
            return;
        }
    }
    let done = |pool: &Path| {
        let mut busy = REFILLING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = busy.as_mut() {
            set.remove(pool);
        }
    };
    let key = pool.clone();
    let spawned = std::thread::Builder::new()
        .name("flightdeck-pool".into())
        .spawn(move || {
            // Let the run that asked get going first.
            std::thread::sleep(std::time::Duration::from_millis(300));
            if let Err(e) = refill(&source, &pool, &base, size) {
                crate::log!("pool {}: {e}", pool.display());
            }
            done(&pool);
        });
    if spawned.is_err() {
        done(&key);
    }
}

/// Bring the pool to `size` worktrees at `base`: bring stale ones forward, add or remove.
pub fn refill(source: &Path, pool: &Path, base: &str, size: usize) -> Result<(), WorkspaceError> {
    let repo = Repository::open(source)?;
    let commit = repo.find_commit(git2::Oid::from_str(base)?)?;
    let found = entries(&repo, pool);
    for (entry, _) in found.iter().skip(size) {
        remove(&repo, &entry.name, &entry.path);
    }
    let mut have = 0;
    for (entry, head) in found.iter().take(size) {
        if head != base {
            bring_forward(&entry.path, &commit)?;
        }
        have += 1;
    }
    if have < size {
        crate::owner_only::create_dir_all(pool)
            .map_err(|e| WorkspaceError::io(&format!("creating {}", pool.display()), e))?;
    }
    // A refill cut short (the server stopped) leaves a half-made worktree: never handed out,
    // since it only gets its pool- name once complete; removed here.
    if let Ok(dir) = std::fs::read_dir(pool) {
        for e in dir.flatten() {
            if let Some(name) = e.file_name().to_str().filter(|n| n.starts_with("making-")) {
                remove(&repo, name, &e.path());
            }
        }
    }
    let tree = commit.tree()?;
    while have < size && !stopping() {
        let id = crate::run::id::generate();
        let name = format!("making-{id}");
        let path = pool.join(&name);
        let made = (|| {
            std::fs::create_dir(&path)
                .map_err(|e| WorkspaceError::io(&format!("creating {}", path.display()), e))?;
            worktree_admin::register(&repo, &name, &path, base)?;
            if fast_checkout::applicable(&repo, &tree) {
                let entries =
                    fast_checkout::write_tree(source, &tree, &path, worktree::checkout_threads())?;
                worktree::write_index(&path, entries)
            } else {
                let wt = Repository::open(&path)?;
                let mut opts = git2::build::CheckoutBuilder::new();
                opts.force();
                wt.checkout_tree(tree.as_object(), Some(&mut opts))?;
                Ok(())
            }
        })();
        let ready = format!("pool-{id}");
        let made = made
            .and_then(|()| worktree_admin::rename(&repo, &name, &path, &ready, &pool.join(&ready)));
        if let Err(e) = made {
            remove(&repo, &name, &path);
            return Err(e);
        }
        have += 1;
    }
    Ok(())
}

fn remove(repo: &Repository, name: &str, path: &Path) {
    let _ = std::fs::remove_dir_all(path);
    worktree_admin::unregister(repo, name);
}

/// Remove a pool once no refill is filling it (waiting a few seconds at most).
pub fn drain_when_idle(pool: &Path) -> usize {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < until {
        let busy = REFILLING.lock().unwrap_or_else(|p| p.into_inner());
        if !busy.as_ref().is_some_and(|s| s.contains(pool)) {
            break;
        }
        drop(busy);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drain(pool)
}

/// Remove every worktree of a pool (a stopping server leaves none behind).
pub fn drain(pool: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(pool) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let path = e.path();
        // The worktree's .git file names its admin directory in its repository.
        let admin = std::fs::read_to_string(path.join(".git"))
            .ok()
            .and_then(|t| t.strip_prefix("gitdir:").map(|s| PathBuf::from(s.trim())));
        let _ = std::fs::remove_dir_all(&path);
        if let Some(admin) = admin.filter(|a| a.parent().is_some_and(|p| p.ends_with("worktrees")))
        {
            let _ = std::fs::remove_dir_all(admin);
        }
        removed += 1;
    }
    let _ = std::fs::remove_dir(pool);
    removed
}
