//! The worktree as a directory handle, for the built-in agent's file tools. Every file is
//! opened relative to the handle with cap-std, which on Linux resolves the whole path in the
//! kernel with `openat2(RESOLVE_BENEATH)` (elsewhere it walks the path one component at a
//! time): neither `..` nor a symlink leads out, not even a symlink swapped in after any check,
//! because there is no check apart from the open itself. Writes also refuse a file with more
//! than one hard link (the other name may be outside the project) and anything that is not a
//! regular file.

use std::io::{Read, Write};
use std::path::{Component, Path};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, File, OpenOptions, OpenOptionsExt};

/// The most of a file `read` returns; the rest is counted, not read.
pub const MAX_READ: usize = 16 * 1024;

pub struct Worktree {
    dir: Dir,
}

impl Worktree {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        Ok(Self {
            dir: Dir::open_ambient_dir(root, ambient_authority())?,
        })
    }

    /// A text file, cut at `MAX_READ` bytes (with a line saying how much more there is).
    pub fn read(&self, rel: &str) -> Result<String, String> {
        let p = relative(rel)?;
        let mut options = OpenOptions::new();
        // Non-blocking, so that a FIFO planted in the worktree cannot hang the agent.
        options.read(true).custom_flags(nix::libc::O_NONBLOCK);
        let file = self
            .dir
            .open_with(p, &options)
            .map_err(|e| refusal(rel, "read", &e))?;
        let len = regular(&file, rel)?.len();
        let mut buf = Vec::new();
        (&file)
            .take(MAX_READ as u64 + 4)
            .read_to_end(&mut buf)
            .map_err(|e| format!("cannot read {rel}: {e}"))?;
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t,
            // A character cut in two at the end is fine; anything else is not text.
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => return Err(format!("{rel} is not UTF-8 text")),
        };
        if text.len() as u64 >= len {
            return Ok(text.to_string());
        }
        let end = text.floor_char_boundary(MAX_READ);
        Ok(format!(
            "{}\n… cut: {} more bytes",
            &text[..end],
            len - end as u64
        ))
    }

    /// Create or replace a file whole (its directories are made as needed).
    pub fn write(&self, rel: &str, content: &[u8]) -> Result<(), String> {
        let p = relative(rel)?;
        if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            let shown = parent.display().to_string();
            // Opening it first tells a directory that leads out from one that is missing.
            match self.dir.open_dir(parent) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => self
                    .dir
                    .create_dir_all(parent)
                    .map_err(|e| refusal(&shown, "create", &e))?,
                Err(e) => return Err(refusal(&shown, "open", &e)),
            }
        }
        let mut options = OpenOptions::new();
        // No truncate yet: the file is checked first, through the descriptor we write to.
        options
            .write(true)
            .create(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .mode(0o644);
        let mut file = self
            .dir
            .open_with(p, &options)
            .map_err(|e| refusal(rel, "write", &e))?;
        let meta = regular(&file, rel)?;
        let links = cap_std::fs::MetadataExt::nlink(&meta);
        if links > 1 {
            return Err(format!(
                "`{rel}` has {links} hard links; writing it would change the file under its other names too (maybe outside the project); refused"
            ));
        }
        file.set_len(0)
            .and_then(|_| file.write_all(content))
            .map_err(|e| format!("cannot write {rel}: {e}"))
    }

    /// The names in a directory (directories with a trailing `/`), sorted, `.git` left out.
    pub fn list(&self, rel: &str) -> Result<Vec<String>, String> {
        let p = relative(rel)?;
        let entries = if p.as_os_str().is_empty() {
            self.dir.entries()
        } else {
            self.dir.read_dir(p)
        }
        .map_err(|e| refusal(rel, "list", &e))?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_name() != ".git")
            .map(|e| {
                let mut n = e.file_name().to_string_lossy().into_owned();
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    n.push('/');
                }
                n
            })
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The path as given, when it is relative and does not climb; `.` components are dropped.
fn relative(rel: &str) -> Result<&Path, String> {
    let p = Path::new(rel);
    if p.is_absolute() {
        return Err(format!(
            "`{rel}` is absolute; give a path relative to the project root"
        ));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("`{rel}` leaves the project (`..` is not allowed)"));
    }
    if rel.contains('\0') {
        return Err(format!("`{rel}` holds a NUL byte"));
    }
    Ok(p)
}

fn regular(file: &File, rel: &str) -> Result<cap_std::fs::Metadata, String> {
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot inspect {rel}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("`{rel}` is not a regular file; refused"));
    }
    Ok(meta)
}

/// What to tell the model when an open failed; leading out is said plainly.
fn refusal(rel: &str, verb: &str, e: &std::io::Error) -> String {
    // cap-std's own error for a resolution that would leave the directory (openat2's EXDEV).
    if e.kind() == std::io::ErrorKind::PermissionDenied
        && e.to_string().contains("outside of the filesystem")
    {
        format!("`{rel}` leads outside the project (through a symlink); refused")
    } else {
        format!("cannot {verb} {rel}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worktree with `a/` inside and `b` a symlink to a directory outside; swapping the two
    /// (renameat2 RENAME_EXCHANGE) turns `a/...` into a path that leads out, atomically.
    fn swapped_world() -> (tempfile::TempDir, tempfile::TempDir) {
        let wt = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(wt.path().join("a")).unwrap();
        std::fs::write(wt.path().join("a/secret.txt"), "inside").unwrap();
        std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
        std::os::unix::fs::symlink(outside.path(), wt.path().join("b")).unwrap();
        (wt, outside)
    }

    fn exchange(wt: &Path) {
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &wt.join("a"),
            nix::fcntl::AT_FDCWD,
            &wt.join("b"),
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        )
        .unwrap();
    }

    #[test]
    fn a_symlink_swapped_in_after_the_handle_was_taken_cannot_lead_out() {
        let (wt, outside) = swapped_world();
        let tree = Worktree::open(wt.path()).unwrap();
        // Fine before the swap...
        assert_eq!(tree.read("a/secret.txt").unwrap(), "inside");
        // ...then `a` becomes a symlink to the outside directory, between that and the open.
        exchange(wt.path());
        assert!(std::fs::symlink_metadata(wt.path().join("a"))
            .unwrap()
            .is_symlink());
        let e = tree.read("a/secret.txt").unwrap_err();
        assert!(e.contains("outside the project"), "{e}");
        let e = tree.write("a/secret.txt", b"planted").unwrap_err();
        assert!(e.contains("outside the project"), "{e}");
        let e = tree.write("a/new.txt", b"planted").unwrap_err();
        assert!(e.contains("outside the project"), "{e}");
        assert!(tree.list("a").is_err());
        assert_eq!(
            std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
            "top secret"
        );
        assert!(!outside.path().join("new.txt").exists());
    }

    #[test]
    fn hard_links_fifos_and_directories_are_not_written() {
        let wt = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("rc"), "original").unwrap();
        std::fs::hard_link(outside.path().join("rc"), wt.path().join("linked")).unwrap();
        nix::unistd::mkfifo(&wt.path().join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::create_dir(wt.path().join("dir")).unwrap();
        let tree = Worktree::open(wt.path()).unwrap();
        let e = tree.write("linked", b"changed").unwrap_err();
        assert!(e.contains("2 hard links"), "{e}");
        assert_eq!(
            std::fs::read_to_string(outside.path().join("rc")).unwrap(),
            "original"
        );
        assert!(tree.write("pipe", b"x").is_err());
        assert!(tree
            .read("pipe")
            .unwrap_err()
            .contains("not a regular file"));
        assert!(tree.write("dir", b"x").is_err());
        tree.write("new/deeper/file.txt", b"ok").unwrap();
        tree.write("new/deeper/file.txt", b"o").unwrap();
        assert_eq!(tree.read("./new/deeper/file.txt").unwrap(), "o");
        assert_eq!(tree.list(".").unwrap(), ["dir/", "linked", "new/", "pipe"]);
        assert_eq!(tree.list("").unwrap(), tree.list(".").unwrap());
    }

    #[test]
    fn long_files_are_cut() {
        let wt = tempfile::tempdir().unwrap();
        std::fs::write(wt.path().join("big"), "é".repeat(MAX_READ)).unwrap();
        let tree = Worktree::open(wt.path()).unwrap();
        let text = tree.read("big").unwrap();
        assert!(text.len() <= MAX_READ + 40, "{}", text.len());
        assert!(
            text.ends_with(&format!("cut: {} more bytes", MAX_READ)),
            "{}",
            &text[text.len() - 40..]
        );
    }
}
