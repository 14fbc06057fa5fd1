//! What makes the radar look again: a change under a repository's refs (a run's branch or its
//! target moved) or in a worktree whose agent is at work, seen with `notify` (inotify), so an
//! idle server with a hundred runs waiting to merge scans nothing at all. Where a watch cannot
//! be set (no inotify, out of watches), that repository is simply scanned every tick.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::{RecursiveMode, Watcher};

/// Repositories with something new to compare; shared with notify's thread.
type Dirty = Arc<Mutex<HashSet<PathBuf>>>;
/// Watched path → the repository it belongs to; shared with notify's thread.
type Owners = Arc<Mutex<Vec<(PathBuf, PathBuf)>>>;

pub struct RadarWatch {
    watcher: Option<notify::RecommendedWatcher>,
    dirty: Dirty,
    owners: Owners,
    /// Repositories whose refs are watched.
    repos: HashSet<PathBuf>,
    /// Worktrees watched while their agent works: run id → (repo, worktree).
    worktrees: HashMap<String, (PathBuf, PathBuf)>,
    /// Repositories that could not be watched: scanned every tick.
    unwatched: HashSet<PathBuf>,
}

impl RadarWatch {
    pub fn new() -> Self {
        let dirty: Dirty = Arc::default();
        let owners: Owners = Arc::default();
        let (d, o) = (dirty.clone(), owners.clone());
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            let owners = o.lock().unwrap_or_else(|p| p.into_inner());
            let mut dirty = d.lock().unwrap_or_else(|p| p.into_inner());
            for path in &event.paths {
                if let Some((_, repo)) = owners.iter().find(|(p, _)| path.starts_with(p)) {
                    dirty.insert(repo.clone());
                }
            }
        })
        .map_err(|e| tracing::warn!("the radar cannot watch files ({e}); it scans every tick"))
        .ok();
        Self {
            watcher,
            dirty,
            owners,
            repos: HashSet::new(),
            worktrees: HashMap::new(),
            unwatched: HashSet::new(),
        }
    }

    /// Watch what the radar's current runs depend on: each repository's refs, and the
    /// worktrees of runs whose agent is at work (`live`: run id → (repo, worktree)).
    pub fn follow(&mut self, repos: &HashSet<PathBuf>, live: &HashMap<String, (PathBuf, PathBuf)>) {
        for repo in repos {
            if !self.repos.contains(repo) {
                self.repos.insert(repo.clone());
                let git_dir = git_dir(repo);
                let ok = self.watch(&git_dir.join("refs"), RecursiveMode::Recursive, repo)
                    && self.watch(&git_dir, RecursiveMode::NonRecursive, repo);
                if !ok {
                    self.unwatched.insert(repo.clone());
                }
            }
        }
        let gone: Vec<String> = self
            .worktrees
            .keys()
            .filter(|id| !live.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some((_, wt)) = self.worktrees.remove(&id) {
                self.unwatch(&wt);
            }
        }
        for (id, (repo, wt)) in live {
            if !self.worktrees.contains_key(id) {
                if !self.watch(wt, RecursiveMode::Recursive, repo) {
                    self.unwatched.insert(repo.clone());
                }
                self.worktrees
                    .insert(id.clone(), (repo.clone(), wt.clone()));
            }
        }
    }

    /// Repositories to scan now (and forget): those something changed in, and those that
    /// cannot be watched.
    pub fn take_dirty(&mut self) -> HashSet<PathBuf> {
        let mut dirty = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|p| p.into_inner()));
        dirty.extend(self.unwatched.iter().cloned());
        dirty
    }

    fn watch(&mut self, path: &Path, mode: RecursiveMode, repo: &Path) -> bool {
        let Some(w) = self.watcher.as_mut() else {
            return false;
        };
        if w.watch(path, mode).is_err() {
            return false;
        }
        self.owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((path.to_path_buf(), repo.to_path_buf()));
        true
    }

    fn unwatch(&mut self, path: &Path) {
        if let Some(w) = self.watcher.as_mut() {
            let _ = w.unwatch(path);
        }
        self.owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(p, _)| p != path);
    }
}

impl Default for RadarWatch {
    fn default() -> Self {
        Self::new()
    }
}

/// The repository's git directory (where refs live), for a work tree or a bare path.
fn git_dir(repo: &Path) -> PathBuf {
    let dot_git = repo.join(".git");
    if dot_git.is_dir() {
        dot_git
    } else {
        repo.to_path_buf()
    }
}
