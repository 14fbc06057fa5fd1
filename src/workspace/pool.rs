//! The warm pool: per repository, a few worktrees already checked out at a base commit, kept
//! in `<worktree_root>/<repo>/.pool/`. A run whose base matches takes one in O(1): a rename of
//! its directory, a branch, two small record files. One at another commit is brought forward
//! with libgit2's checkout, which writes only the files that differ. Pool worktrees are not
//! runs: nothing lists them, and a refill, `pool = 0` or a stopping server removes them.
//!
//! Who owns an entry: one named `pool-<id>` belongs to no one. Whoever acts on it (a run
//! taking it, a refill bringing it forward, a drain removing it) first renames its directory
//! away from that name; a rename is atomic, so of two racing, one gets NotFound and moves on.
//! A refill builds under `making-<id>` and publishes with one rename, its last step. git's
//! record of the worktree (`.git/worktrees/pool-<id>`) keeps its name for life, taken or not:
//! renaming a record under a git command that is listing them fails that command.
//!
//! Blocking; refills run on a thread of their own, one per pool at a time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::Repository;

use super::{fast_checkout, git_checkout, worktree, worktree_admin, Spec, WorkspaceError};

/// The pool directory beside a repository's run worktrees.
pub fn dir_for(run_worktree: &Path) -> Option<PathBuf> {
    run_worktree.parent().map(|p| p.join(".pool"))
}

/// Directory names: published (free to claim), being made or brought forward by the refill,
/// being removed by a drain.
const READY: &str = "pool-";
const MAKING: &str = "making-";
const DROPPING: &str = "drop-";
/// A file beside the entries: the ref the pool follows (the base ref of the run that last
/// filled it), so that `follow` knows what "the base moved" means.
const FOLLOWS: &str = ".follows";

/// One published entry: its id, its directory, the name of its git record, its commit.
#[derive(Debug, Clone)]
struct Entry {
    id: String,
    path: PathBuf,
    record: String,
    head: String,
}

/// Published entries of `pool` that belong to `repo` (their record is in it), by name.
fn entries(repo: &Repository, pool: &Path) -> Vec<Entry> {
    let Ok(dir) = std::fs::read_dir(pool) else {
        return Vec::new();
    };
    let mut out: Vec<Entry> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let id = name.strip_prefix(READY)?.to_string();
            // Taken meanwhile: its .git file is gone from here, and it is skipped.
            let record = worktree_admin::name_of(&e.path())?;
            let head = worktree_admin::head(repo, &record)?;
            Some(Entry {
                id,
                path: e.path(),
                record,
                head,
            })
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Claim `entry` by moving its directory to `to`. False: someone else claimed it first.
fn claim(entry: &Entry, to: &Path) -> Result<bool, WorkspaceError> {
    match std::fs::rename(&entry.path, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(WorkspaceError::io(
            &format!("moving {}", entry.path.display()),
            e,
        )),
    }
}

/// Hand a pooled worktree to the run `spec` describes, if the pool has one: at its base
/// (O(1)), else brought forward from another commit. `None`: the pool is empty.
pub fn take(spec: &Spec) -> Result<Option<bool>, WorkspaceError> {
    let Some(pool) = dir_for(&spec.path) else {
        return Ok(None);
    };
    if spec.path.exists() {
        // A rename would replace an empty directory there; the cold path says what to do.
        return Ok(None);
    }
    let repo = Repository::open(&spec.source)?;
    let found = entries(&repo, &pool);
    take_listed(&repo, spec, found)
}

/// `take` once the pool was listed. What the listing says of an entry is a hint only: between
/// the listing and the claim a refill may claim the same entry, bring it to another commit and
/// publish it again under the same name (the claim then succeeds on a different tree). So
/// where the entry stands is read again once it is ours, from its record.
fn take_listed(
    repo: &Repository,
    spec: &Spec,
    mut found: Vec<Entry>,
) -> Result<Option<bool>, WorkspaceError> {
    if found.is_empty() {
        return Ok(None);
    }
    let commit = repo.find_commit(git2::Oid::from_str(&spec.base)?)?;
    // Those at the run's base first.
    found.sort_by_key(|e| e.head != spec.base);
    // The branch first: a name already taken is said as the cold path says it, and costs
    // no pooled worktree.
    worktree::new_branch(repo, spec, &commit)?;
    let drop_branch = || worktree::delete_branch(repo, &spec.branch);
    for entry in found {
        if !claim(&entry, &spec.path)? {
            continue;
        }
        // Ours now: no refill or taker acts on it, so its record says what it holds (a refill
        // writes the record's HEAD after the files and index, and publishes last).
        let at_base = worktree_admin::head(repo, &entry.record).as_deref() == Some(&spec.base);
        let handed = (|| {
            worktree_admin::set_gitdir(repo, &entry.record, &spec.path)?;
            if !at_base {
                bring_forward(&spec.source, &spec.path, &commit)?;
            }
            worktree_admin::set_head(
                repo,
                &entry.record,
                &format!("ref: refs/heads/{}", spec.branch),
            )
        })();
        if let Err(e) = handed {
            remove(repo, &entry.record, &spec.path);
            drop_branch();
            return Err(e);
        }
        return Ok(Some(at_base));
    }
    // Others took them all meanwhile: the cold path makes the branch again.
    drop_branch();
    Ok(None)
}

/// Check `commit`'s tree out over a worktree at another commit: libgit2 compares against the
/// index and writes only what differs; where it cannot check out as git does, the user's git.
pub(super) fn bring_forward(
    source: &Path,
    worktree: &Path,
    commit: &git2::Commit,
) -> Result<(), WorkspaceError> {
    let wt = Repository::open(worktree)?;
    let tree = wt.find_tree(commit.tree_id())?;
    if !fast_checkout::applicable(&wt, &tree) || git_checkout::needed(&wt, &tree) {
        return git_checkout::reset_to(source, worktree, &commit.id().to_string());
    }
    let mut opts = git2::build::CheckoutBuilder::new();
    opts.force().remove_untracked(true);
    wt.checkout_tree(tree.as_object(), Some(&mut opts))?;
    wt.set_head_detached(commit.id())?;
    Ok(())
}

/// One server's keeping of its warm pools: which it is refilling now (one refill per pool at a
/// time; a request meanwhile is dropped, since the running refill ends with the pool full
/// anyway) and whether it is stopping (refills end, and no new one starts). Owned by the
/// supervisor, so a stopped server's flag never stops another's refills in the same process.
#[derive(Clone, Default)]
pub struct Keeper {
    state: std::sync::Arc<KeeperState>,
}

#[derive(Default)]
struct KeeperState {
    stopping: std::sync::atomic::AtomicBool,
    refilling: Mutex<HashSet<PathBuf>>,
    /// Per pool, its last refill's failure: what it said, how many refills failed in a row,
    /// and when the next may start (backing off, so a broken pool is not retried every tick).
    failed: Mutex<std::collections::HashMap<PathBuf, Failure>>,
}

#[derive(Debug, Clone)]
struct Failure {
    said: String,
    times: u32,
    next: std::time::Instant,
}

/// The wait after a pool's first failed refill; it doubles with each failure, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_secs(10);
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(300);

impl Keeper {
    /// Stop refilling (the server is stopping), waiting up to `wait` for refills under way.
    pub fn stop(&self, wait: std::time::Duration) {
        self.state
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until {
            if self.refilling().is_empty() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Whether its server is stopping (refills end, none starts).
    pub fn is_stopping(&self) -> bool {
        self.state
            .stopping
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn failed(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<PathBuf, Failure>> {
        self.state.failed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why the pool's refills fail, and how many have in a row (none: the last one worked).
    pub fn failure(&self, pool: &Path) -> Option<(String, u32)> {
        self.failed().get(pool).map(|f| (f.said.clone(), f.times))
    }

    /// A refill ended: a failure is logged once (again only when its cause changes) and holds
    /// the pool's refills back, doubling the wait each time; a success ends that.
    fn refilled(&self, pool: &Path, result: Result<(), WorkspaceError>) {
        let mut failed = self.failed();
        match result {
            Ok(()) => {
                if failed.remove(pool).is_some() {
                    tracing::info!("pool {}: refilled again", pool.display());
                }
            }
            Err(e) => {
                let said = e.to_string();
                let times = failed.get(pool).map_or(0, |f| f.times) + 1;
                let wait = FIRST_BACKOFF
                    .saturating_mul(1 << (times - 1).min(8))
                    .min(MAX_BACKOFF);
                if failed.get(pool).is_none_or(|f| f.said != said) {
                    tracing::warn!(
                        "pool {}: cannot refill: {said}; runs start without it, and it is tried again in {} s (then less often while it fails)",
                        pool.display(),
                        wait.as_secs()
                    );
                }
                failed.insert(
                    pool.to_path_buf(),
                    Failure {
                        said,
                        times,
                        next: std::time::Instant::now() + wait,
                    },
                );
            }
        }
    }

    fn refilling(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.state
            .refilling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Bring the pool of `source` to `size` worktrees at `base` (what `follows` named when the
    /// run that asked started), on a thread of its own. Returns at once.
    pub fn refill_later(
        &self,
        source: PathBuf,
        pool: PathBuf,
        base: String,
        size: usize,
        follows: String,
    ) {
        let backing_off = self
            .failed()
            .get(&pool)
            .is_some_and(|f| std::time::Instant::now() < f.next);
        if self.is_stopping() || backing_off || !self.refilling().insert(pool.clone()) {
            return;
        }
        let keeper = self.clone();
        let key = pool.clone();
        let spawned = std::thread::Builder::new()
            .name("flightdeck-pool".into())
            .spawn(move || {
                // Let the run that asked get going first.
                std::thread::sleep(std::time::Duration::from_millis(300));
                let result = keeper.refill(&source, &pool, &base, size);
                if result.is_ok() && size > 0 {
                    let _ = std::fs::write(pool.join(FOLLOWS), format!("{follows}\n"));
                }
                keeper.refilled(&pool, result);
                // Said when the refill is over, so that what it left can be looked at.
                tracing::debug!("pool {}: refilled to {size}", pool.display());
                keeper.refilling().remove(&pool);
            });
        if spawned.is_err() {
            self.refilling().remove(&key);
        }
    }
    /// Bring the pool forward when the ref it follows has moved (a merge, a commit on the user's
    /// branch), so that the next run finds worktrees at the new base rather than bringing one
    /// forward while it waits. The radar calls this for repositories whose refs changed. Blocking;
    /// when nothing moved it costs a ref lookup and a few small reads.
    pub fn follow(&self, source: &Path, pool: &Path, size: usize) {
        if size == 0 || self.is_stopping() || !pool.is_dir() {
            return;
        }
        let follows = std::fs::read_to_string(pool.join(FOLLOWS))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "HEAD".into());
        let Ok(repo) = Repository::open(source) else {
            return;
        };
        let Ok(commit) = repo
            .revparse_single(&follows)
            .and_then(|o| o.peel_to_commit())
        else {
            return;
        };
        let base = commit.id().to_string();
        let found = entries(&repo, pool);
        if found.len() >= size && found.iter().all(|e| e.head == base) {
            return;
        }
        self.refill_later(
            source.to_path_buf(),
            pool.to_path_buf(),
            base,
            size,
            follows,
        );
    }

    /// Bring the pool to `size` worktrees at `base`: bring stale ones forward, add or remove.
    /// One refill per pool at a time (`refill_later` sees to it): `making-` entries are its own.
    pub fn refill(
        &self,
        source: &Path,
        pool: &Path,
        base: &str,
        size: usize,
    ) -> Result<(), WorkspaceError> {
        let repo = Repository::open(source)?;
        let commit = repo.find_commit(git2::Oid::from_str(base)?)?;
        // A refill cut short (the server stopped or died) leaves a half-made worktree: never
        // handed out, since it only gets its pool- name once complete; removed here, with what a
        // drain cut short left.
        remove_leftovers(pool, MAKING);
        remove_leftovers(pool, DROPPING);
        let found = entries(&repo, pool);
        for entry in found.iter().skip(size) {
            let to = pool.join(format!("{DROPPING}{}", entry.id));
            if claim(entry, &to)? {
                remove(&repo, &entry.record, &to);
            }
        }
        for entry in found.iter().take(size).filter(|e| e.head != base) {
            if self.is_stopping() {
                return Ok(());
            }
            let at = pool.join(format!("{MAKING}{}", entry.id));
            if !claim(entry, &at)? {
                continue; // a run took it
            }
            let moved = (|| {
                worktree_admin::set_gitdir(&repo, &entry.record, &at)?;
                bring_forward(source, &at, &commit)?;
                publish(&repo, &entry.record, &at, &entry.path)
            })();
            if let Err(e) = moved {
                remove(&repo, &entry.record, &at);
                return Err(e);
            }
        }
        let tree = commit.tree()?;
        // Runs may take entries while this fills; it keeps going until the pool is full, within
        // a bound so that a steady stream of runs cannot keep it busy for ever.
        let mut made = 0;
        while !self.is_stopping() && made < size * 4 && entries(&repo, pool).len() < size {
            crate::owner_only::create_dir_all(pool)
                .map_err(|e| WorkspaceError::io(&format!("creating {}", pool.display()), e))?;
            make_one(&repo, source, pool, base, &tree)?;
            made += 1;
        }
        Ok(())
    }
}

/// Check out one new entry at `base` under a `making-` name, then publish it.
fn make_one(
    repo: &Repository,
    source: &Path,
    pool: &Path,
    base: &str,
    tree: &git2::Tree,
) -> Result<(), WorkspaceError> {
    let id = crate::run::id::generate();
    let record = format!("{READY}{id}");
    let path = pool.join(format!("{MAKING}{id}"));
    std::fs::create_dir(&path)
        .map_err(|e| WorkspaceError::io(&format!("creating {}", path.display()), e))?;
    let made = (|| {
        check_out_new(repo, source, &record, &path, base, tree)?;
        publish(repo, &record, &path, &pool.join(&record))
    })();
    if let Err(e) = made {
        remove(repo, &record, &path);
        return Err(e);
    }
    Ok(())
}

/// Register the existing empty directory `path` as worktree `record`, detached at `base`, and
/// check `tree` (base's) out into it.
pub(super) fn check_out_new(
    repo: &Repository,
    source: &Path,
    record: &str,
    path: &Path,
    base: &str,
    tree: &git2::Tree,
) -> Result<(), WorkspaceError> {
    let admin = worktree_admin::register(repo, record, path, base)?;
    if fast_checkout::applicable(repo, tree) && !git_checkout::needed(repo, tree) {
        let threads = worktree::checkout_threads();
        let entries = fast_checkout::write_tree(source, tree, path, threads.0)?;
        worktree::write_index(path, entries)?;
    } else {
        // Attributes, filters, submodules, sparse checkout: as the user's git checks it out.
        git_checkout::copy_sparse(source, &admin)?;
        git_checkout::reset_to(source, path, base)?;
    }
    Ok(())
}

/// Make a finished entry at `at` claimable at `ready`: its record first points there, then
/// the rename. After it, the refill never touches the entry again.
fn publish(repo: &Repository, record: &str, at: &Path, ready: &Path) -> Result<(), WorkspaceError> {
    worktree_admin::set_gitdir(repo, record, ready)?;
    std::fs::rename(at, ready)
        .map_err(|e| WorkspaceError::io(&format!("moving {}", at.display()), e))
}

pub(super) fn remove(repo: &Repository, record: &str, path: &Path) {
    let _ = std::fs::remove_dir_all(path);
    worktree_admin::unregister(repo, record);
}

/// Remove entries whose directory name starts with `prefix`, with their records.
fn remove_leftovers(pool: &Path, prefix: &str) {
    let Ok(dir) = std::fs::read_dir(pool) else {
        return;
    };
    for e in dir.flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(prefix))
        {
            remove_with_record(&e.path());
        }
    }
}

/// Remove a worktree directory and the git record its `.git` file names (read before the
/// directory goes), whichever repository that record is in.
fn remove_with_record(path: &Path) {
    let record = worktree_admin::record_of(path);
    let _ = std::fs::remove_dir_all(path);
    if let Some(record) = record {
        let _ = std::fs::remove_dir_all(record);
    }
}

impl Keeper {
    /// Remove a pool once no refill is filling it (waiting a few seconds at most).
    pub fn drain_when_idle(&self, pool: &Path) -> usize {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < until && self.refilling().contains(pool) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        drain(pool)
    }
}

/// Remove every worktree of a pool (a stopping server leaves none behind). Each published
/// entry is claimed first, so one a run is taking at this moment stays the run's.
pub fn drain(pool: &Path) -> usize {
    let Ok(dir) = std::fs::read_dir(pool) else {
        return 0;
    };
    let mut removed = 0;
    for e in dir.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let mut path = e.path();
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if let Some(id) = name.strip_prefix(READY) {
            let to = pool.join(format!("{DROPPING}{id}"));
            match std::fs::rename(&path, &to) {
                Ok(()) => path = to,
                Err(_) => continue, // taken
            }
        }
        remove_with_record(&path);
        removed += 1;
    }
    let _ = std::fs::remove_dir(pool);
    removed
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
