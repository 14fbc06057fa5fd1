//! Files and directories only their owner can read: everything under `FLIGHTDECK_HOME` (run
//! tokens, agents' private homes, proof packs) and the parents of worktrees.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// `create_dir_all`, with every directory it creates 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Make one new directory, 0700; `AlreadyExists` if something is there (a claim).
pub fn create_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(path)
}

/// Options for a new file that is 0600 from its first byte (no window at 0644).
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// Write a whole file, 0600.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(bytes)
}

/// Make an existing directory owner-only (a state directory made by an older version).
pub fn tighten_dir(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(path, Permissions::from_mode(DIR_MODE))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all(&deep).unwrap();
        for d in ["a", "a/b", "a/b/c"] {
            let m = std::fs::metadata(dir.path().join(d)).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o700, "{d}");
        }
        let f = deep.join("f");
        write(&f, b"x").unwrap();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(dir.path().join("a"), Permissions::from_mode(0o755)).unwrap();
        tighten_dir(&dir.path().join("a")).unwrap();
        let m = std::fs::metadata(dir.path().join("a")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
    }
}
