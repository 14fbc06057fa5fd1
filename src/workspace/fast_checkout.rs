//! Checking a tree out into an empty directory on several threads at once, and writing the
//! index that matches it (with each file's stat data, so git sees a clean worktree without
//! hashing anything). libgit2 checks out on one thread; git's own `worktree add` does too by
//! default. Used only where no filter could change a file's bytes (no `.gitattributes`, no
//! autocrlf); elsewhere libgit2's checkout runs.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use git2::{IndexEntry, IndexTime, ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use super::WorkspaceError;

/// One entry of the tree to write.
struct Item {
    path: String,
    id: Oid,
    mode: i32,
}

/// Whether the fast path writes exactly what git would: no attributes file anywhere in the
/// tree and no end-of-line conversion configured.
pub fn applicable(repo: &Repository, tree: &git2::Tree) -> bool {
    let config = repo.config().ok();
    let autocrlf = config
        .as_ref()
        .and_then(|c| c.get_string("core.autocrlf").ok())
        .is_some_and(|v| v != "false");
    let eol = config
        .as_ref()
        .and_then(|c| c.get_string("core.eol").ok())
        .is_some_and(|v| v == "crlf");
    if autocrlf || eol || repo.path().join("info/attributes").exists() {
        return false;
    }
    let mut attributes = false;
    let _ = tree.walk(TreeWalkMode::PreOrder, |_, e| {
        if e.name() == Some(".gitattributes") {
            attributes = true;
            return TreeWalkResult::Abort;
        }
        TreeWalkResult::Ok
    });
    !attributes
}

/// Write `tree` into `dir` (which must be empty) on `threads` threads; returns the index
/// entries, stat data included, sorted by path.
pub fn write_tree(
    repo_path: &Path,
    tree: &git2::Tree,
    dir: &Path,
    threads: usize,
) -> Result<Vec<IndexEntry>, WorkspaceError> {
    let mut items = Vec::new();
    let mut dirs = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |root, e| {
        let Some(name) = e.name() else {
            return TreeWalkResult::Skip;
        };
        let path = format!("{root}{name}");
        match e.kind() {
            Some(ObjectType::Tree) => dirs.push(path),
            Some(ObjectType::Blob) | Some(ObjectType::Commit) => items.push(Item {
                path,
                id: e.id(),
                mode: e.filemode(),
            }),
            _ => {}
        }
        TreeWalkResult::Ok
    })?;
    // Directories first, in tree order (parents before children), on this thread.
    for d in &dirs {
        let p = dir.join(d);
        if let Err(e) = std::fs::create_dir(&p) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(WorkspaceError::io(&format!("creating {}", p.display()), e));
            }
        }
    }
    let threads = threads.clamp(1, 16).min(items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<IndexEntry>, WorkspaceError>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || write_items(repo_path, dir, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(WorkspaceError::Io("a checkout thread panicked".into()))
                })
            })
            .collect()
    });
    let mut entries = Vec::with_capacity(items.len());
    for r in results {
        entries.extend(r?);
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// One thread's share: its own repository handle (git2's is not shared across threads).
fn write_items(
    repo_path: &Path,
    dir: &Path,
    items: &[Item],
) -> Result<Vec<IndexEntry>, WorkspaceError> {
    let repo = Repository::open(repo_path)?;
    let odb = repo.odb()?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let path: PathBuf = dir.join(&item.path);
        let what =
            |e: std::io::Error| WorkspaceError::io(&format!("writing {}", path.display()), e);
        match item.mode {
            0o160000 => {
                // A submodule: an empty directory, as git leaves it until `submodule update`.
                std::fs::create_dir_all(&path).map_err(what)?;
            }
            0o120000 => {
                let blob = odb.read(item.id)?;
                let target =
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(blob.data());
                std::os::unix::fs::symlink(target, &path).map_err(what)?;
            }
            mode => {
                let blob = odb.read(item.id)?;
                let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(perm)
                    .open(&path)
                    .map_err(what)?;
                f.write_all(blob.data()).map_err(what)?;
            }
        }
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| WorkspaceError::io(&format!("reading {}", path.display()), e))?;
        out.push(entry(item, &meta));
    }
    Ok(out)
}

/// The index entry git would write for a file it just checked out.
fn entry(item: &Item, meta: &std::fs::Metadata) -> IndexEntry {
    let time = |secs: i64, nanos: i64| IndexTime::new(secs as i32, nanos as u32);
    let gitlink = item.mode == 0o160000;
    IndexEntry {
        ctime: if gitlink {
            IndexTime::new(0, 0)
        } else {
            time(meta.ctime(), meta.ctime_nsec())
        },
        mtime: if gitlink {
            IndexTime::new(0, 0)
        } else {
            time(meta.mtime(), meta.mtime_nsec())
        },
        dev: if gitlink { 0 } else { meta.dev() as u32 },
        ino: if gitlink { 0 } else { meta.ino() as u32 },
        mode: item.mode as u32,
        uid: if gitlink { 0 } else { meta.uid() },
        gid: if gitlink { 0 } else { meta.gid() },
        file_size: if gitlink { 0 } else { meta.size() as u32 },
        id: item.id,
        flags: item.path.len().min(0xfff) as u16,
        flags_extended: 0,
        path: item.path.as_bytes().to_vec(),
    }
}
