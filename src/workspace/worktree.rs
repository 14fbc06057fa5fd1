//! A git worktree of the user's repository on a new branch `flightdeck/<run-id>`. The user's
//! checkout, index, HEAD and existing branches are not touched.

use std::sync::Mutex;

use git2::Repository;

use super::{
    dirty_files, fast_checkout, git_checkout, worktree_admin, Created, Spec, WorkspaceError,
};

pub fn create(spec: &Spec) -> Result<Created, WorkspaceError> {
    let repo = Repository::open(&spec.source)?;
    let oid = git2::Oid::from_str(&spec.base)?;
    let commit = repo.find_commit(oid)?;
    let tree = commit.tree()?;

    if let Some(parent) = spec.path.parent() {
        crate::owner_only::create_dir_all(parent)
            .map_err(|e| WorkspaceError::io(&format!("creating {}", parent.display()), e))?;
    }
    if fast_checkout::applicable(&repo, &tree) && !git_checkout::needed(&repo, &tree) {
        new_branch(&repo, spec, &commit)?;
        if let Err(e) = fast_create(&repo, spec, &tree) {
            let _ = std::fs::remove_dir_all(&spec.path);
            worktree_admin::unregister(&repo, &spec.run_id);
            delete_branch(&repo, &spec.branch);
            return Err(e);
        }
    } else {
        // Attributes, filters, submodules, sparse checkout: exactly what the user's git makes.
        git_checkout::add(&spec.source, &spec.path, &spec.branch, &spec.base)?;
    }
    Ok(Created {
        base: spec.base.clone(),
        files_copied: None,
        pooled: None,
    })
}

/// A worktree from the repository's warm pool, if it has one (see pool.rs).
pub fn from_pool(spec: &Spec) -> Result<Option<Created>, WorkspaceError> {
    let Some(at_base) = super::pool::take(spec)? else {
        return Ok(None);
    };
    Ok(Some(Created {
        base: spec.base.clone(),
        files_copied: None,
        pooled: Some(if at_base {
            "at base"
        } else {
            "brought forward"
        }),
    }))
}

/// A scan of one checkout: when it finished, and what it found.
type Scan = Option<(std::time::Instant, Vec<String>)>;

/// The latest scan per checkout (process-wide on purpose, like `ADD_LOCK` and `CHECKOUTS`: it
/// describes the user's checkout, the same whichever supervisor asks); runs started together share one (each scan stats every file
/// of the user's checkout).
static SCANS: Mutex<
    Option<std::collections::HashMap<std::path::PathBuf, std::sync::Arc<Mutex<Scan>>>>,
> = Mutex::new(None);

/// The user's files with uncommitted changes (which a run does not carry), scanned at most
/// once a second per checkout. Blocking: it stats every file of the checkout.
pub fn uncommitted_in(source: &std::path::Path) -> Result<Vec<String>, git2::Error> {
    let slot = {
        let mut scans = SCANS.lock().unwrap_or_else(|p| p.into_inner());
        scans
            .get_or_insert_with(Default::default)
            .entry(source.to_path_buf())
            .or_default()
            .clone()
    };
    // Runs of one checkout wait for each other here, and the later ones reuse the result.
    let mut scan = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, files)) = scan.as_ref() {
        if at.elapsed() < std::time::Duration::from_secs(1) {
            return Ok(files.clone());
        }
    }
    let files = dirty_files(&Repository::open(source)?, 10_000)?;
    *scan = Some((std::time::Instant::now(), files.clone()));
    Ok(files)
}

/// Checkouts under way in this process: they share the threads out (the process's threads,
/// so process-wide on purpose).
static CHECKOUTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A checkout's share of the threads, held while it writes.
pub struct CheckoutThreads(pub usize);

impl Drop for CheckoutThreads {
    fn drop(&mut self) {
        CHECKOUTS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Threads for writing a worktree: the cores, shared among the checkouts under way, so that
/// ten runs starting together never run more writers than there are cores.
pub fn checkout_threads() -> CheckoutThreads {
    let under_way = CHECKOUTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    let budget = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 16);
    CheckoutThreads((budget / under_way).max(1))
}

/// The worktree written by fast_checkout, registered as git does, on the run's branch.
fn fast_create(repo: &Repository, spec: &Spec, tree: &git2::Tree) -> Result<(), WorkspaceError> {
    std::fs::create_dir(&spec.path)
        .map_err(|e| WorkspaceError::io(&format!("creating {}", spec.path.display()), e))?;
    worktree_admin::register(
        repo,
        &spec.run_id,
        &spec.path,
        &format!("ref: refs/heads/{}", spec.branch),
    )?;
    let threads = checkout_threads();
    let entries = fast_checkout::write_tree(&spec.source, tree, &spec.path, threads.0)?;
    write_index(&spec.path, entries)
}

/// The worktree's index: exactly these entries.
pub fn write_index(
    worktree: &std::path::Path,
    entries: Vec<git2::IndexEntry>,
) -> Result<(), WorkspaceError> {
    let wt = Repository::open(worktree)?;
    let mut index = wt.index()?;
    index.clear()?;
    for e in &entries {
        index.add(e)?;
    }
    index.write()?;
    Ok(())
}

pub(super) fn new_branch<'r>(
    repo: &'r Repository,
    spec: &Spec,
    commit: &git2::Commit,
) -> Result<git2::Branch<'r>, WorkspaceError> {
    repo.branch(&spec.branch, commit, false).map_err(|e| {
        if e.code() == git2::ErrorCode::Exists {
            WorkspaceError::Invalid(format!(
                "branch {} already exists in {}; delete it or clean the old run",
                spec.branch,
                spec.source.display()
            ))
        } else {
            e.into()
        }
    })
}

/// Delete a branch flightdeck has just made and that nothing checks out (a take or a create
/// that failed). The ref goes directly: libgit2's `Branch::delete` first asks whether any
/// worktree checks it out, and a worktree record removed meanwhile (a refill at work) makes it
/// answer yes by mistake, which left the branch behind and failed the run's next start with
/// "branch already exists".
pub(super) fn delete_branch(repo: &Repository, name: &str) {
    if let Ok(mut r) = repo.find_reference(&format!("refs/heads/{name}")) {
        let _ = r.delete();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_just_made_is_deleted_while_other_worktree_records_come_and_go() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(tmp.path()).unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        let tree = repo
            .find_tree(repo.index().unwrap().write_tree().unwrap())
            .unwrap();
        let c = repo
            .commit(Some("HEAD"), &sig, &sig, "c", &tree, &[])
            .unwrap();
        let commit = repo.find_commit(c).unwrap();
        // Another worktree's record made and removed over and over (a refill, a clean): a
        // record that vanishes while libgit2 lists them makes its own delete refuse.
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let churn = {
            let (done, common) = (done.clone(), repo.commondir().to_path_buf());
            let wt = tmp.path().join("other");
            std::fs::create_dir_all(&wt).unwrap();
            std::thread::spawn(move || {
                let record = common.join("worktrees/other");
                while !done.load(Ordering::SeqCst) {
                    std::fs::create_dir_all(&record).unwrap();
                    std::fs::write(record.join("commondir"), "../..\n").unwrap();
                    std::fs::write(record.join("HEAD"), "ref: refs/heads/other\n").unwrap();
                    std::fs::write(
                        record.join("gitdir"),
                        format!("{}\n", wt.join(".git").display()),
                    )
                    .unwrap();
                    std::fs::write(wt.join(".git"), format!("gitdir: {}\n", record.display()))
                        .unwrap();
                    let _ = std::fs::remove_dir_all(&record);
                }
            })
        };
        let mut left = 0;
        for i in 0..400 {
            let name = format!("flightdeck/r{i}");
            repo.branch(&name, &commit, false).unwrap();
            delete_branch(&repo, &name);
            if repo.find_branch(&name, git2::BranchType::Local).is_ok() {
                left += 1;
            }
        }
        done.store(true, Ordering::SeqCst);
        churn.join().unwrap();
        assert_eq!(left, 0, "{left} of 400 branches were left behind");
    }

    #[test]
    fn checkouts_under_way_share_the_threads() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let first = checkout_threads();
        let second = checkout_threads();
        assert_eq!(first.0, cores.min(16));
        assert_eq!(second.0, (cores.min(16) / 2).max(1), "shared by the two");
        let (a, b) = (first.0, second.0);
        drop(second);
        drop(first);
        // Both handed back: a checkout alone gets the first one's share again.
        assert!(checkout_threads().0 >= a.max(b));
    }
}
