//! What makes the radar look again: a change under a repository's refs (a run's branch or its
//! target moved) or in a worktree whose agent is at work, seen with `notify` (inotify), so an
//! idle server with a hundred runs waiting to merge scans nothing at all. Where a watch cannot
//! be set (no inotify, out of watches), that repository is simply scanned every tick.
//!
//! A worktree is watched directory by directory, never under what `.gitignore` leaves out
//! (`target/`, `node_modules/`: a build makes thousands of directories there and the user's
//! inotify watches run out); directories made later are added as they appear.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::{RecursiveMode, Watcher};

/// Repositories with something new to compare; shared with notify's thread.
type Dirty = Arc<Mutex<HashSet<PathBuf>>>;
/// Watched path → the repository it belongs to; shared with notify's thread.
type Owners = Arc<Mutex<Vec<(PathBuf, PathBuf)>>>;
/// Directories made (or moved in) since the last look; shared with notify's thread.
type Made = Arc<Mutex<Vec<PathBuf>>>;

/// A live worktree: its repository and the directories watched in it.
struct Live {
    repo: PathBuf,
    root: PathBuf,
    dirs: HashSet<PathBuf>,
}

pub struct RadarWatch {
    watcher: Option<notify::RecommendedWatcher>,
    dirty: Dirty,
    owners: Owners,
    /// Repositories whose refs are watched.
    repos: HashSet<PathBuf>,
    /// Worktrees watched while their agent works, by run id.
    worktrees: HashMap<String, Live>,
    made: Made,
    /// Repositories that could not be watched: scanned every tick.
    unwatched: HashSet<PathBuf>,
}

impl RadarWatch {
    /// Its callback stats the paths of each event: Blocking work, on notify's own thread.
    pub fn new() -> Self {
        let dirty: Dirty = Arc::default();
        let owners: Owners = Arc::default();
        let made: Made = Arc::default();
        let (d, o, m) = (dirty.clone(), owners.clone(), made.clone());
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            use notify::event::{EventKind, ModifyKind};
            match event.kind {
                EventKind::Access(_) => return,
                EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)) => {
                    let dirs = event.paths.iter().filter(|p| p.is_dir()).cloned();
                    m.lock().unwrap_or_else(|p| p.into_inner()).extend(dirs);
                }
                _ => {}
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
            made,
            unwatched: HashSet::new(),
        }
    }

    /// Watch what the radar's current runs depend on: each repository's refs, and the
    /// worktrees of runs whose agent is at work (`live`: run id → (repo, worktree)). Blocking
    /// (walks the worktrees).
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
            if let Some(live) = self.worktrees.remove(&id) {
                for dir in &live.dirs {
                    self.unwatch(dir);
                }
            }
        }
        for (id, (repo, wt)) in live {
            if !self.worktrees.contains_key(id) {
                let mut live = Live {
                    repo: repo.clone(),
                    root: wt.clone(),
                    dirs: HashSet::new(),
                };
                self.watch_tree(&mut live, wt);
                self.worktrees.insert(id.clone(), live);
            }
        }
    }

    /// Watch the directories made in live worktrees since the last look (and what is under
    /// them: `mkdir -p` makes several before the first watch is set). Blocking.
    pub fn watch_made(&mut self) {
        let made = std::mem::take(&mut *self.made.lock().unwrap_or_else(|p| p.into_inner()));
        if made.is_empty() {
            return;
        }
        let mut worktrees = std::mem::take(&mut self.worktrees);
        for dir in made {
            let Some(live) = worktrees.values_mut().find(|l| dir.starts_with(&l.root)) else {
                continue;
            };
            let in_git_dir = dir
                .strip_prefix(&live.root)
                .is_ok_and(|rel| rel.components().any(|c| c.as_os_str() == ".git"));
            let parent_watched = dir.parent().is_some_and(|p| live.dirs.contains(p));
            // Under an ignored directory, its parent is not watched: neither is it.
            if !in_git_dir && parent_watched {
                self.watch_tree(live, &dir);
            }
        }
        self.worktrees = worktrees;
    }

    /// Watch `top` and every directory under it that git does not ignore, one by one. Blocking.
    fn watch_tree(&mut self, live: &mut Live, top: &Path) {
        let repo = git2::Repository::open(&live.root).ok();
        let ignored = |dir: &Path| {
            let (Some(repo), Ok(rel)) = (&repo, dir.strip_prefix(&live.root)) else {
                return false;
            };
            !rel.as_os_str().is_empty() && repo.is_path_ignored(rel).unwrap_or(false)
        };
        if ignored(top) {
            return;
        }
        let mut todo = vec![top.to_path_buf()];
        while let Some(dir) = todo.pop() {
            // Watched again even when it was: a directory removed and made anew is a new one.
            if !self.watch(&dir, RecursiveMode::NonRecursive, &live.repo) {
                self.unwatched.insert(live.repo.clone());
                return;
            }
            live.dirs.insert(dir.clone());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                let path = e.path();
                if is_dir && e.file_name() != ".git" && !ignored(&path) {
                    todo.push(path);
                }
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
        let mut owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        if !owners.iter().any(|(p, _)| p == path) {
            owners.push((path.to_path_buf(), repo.to_path_buf()));
        }
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
/// Blocking (`follow`'s).
fn git_dir(repo: &Path) -> PathBuf {
    let dot_git = repo.join(".git");
    if dot_git.is_dir() {
        dot_git
    } else {
        repo.to_path_buf()
    }
}
