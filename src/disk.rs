//! A full disk under `FLIGHTDECK_HOME`: told apart from other write errors, said in one
//! sentence, and checked before a run starts.

use std::path::Path;

/// Below this much free space a new run is refused: it could not keep its proof.
pub const LEAST_FREE: u64 = 4 * 1024 * 1024;

/// Whether a write failed because the disk (or the user's quota) is full.
pub fn is_full(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::ENOSPC) | Some(nix::libc::EDQUOT)
    )
}

/// Bytes free for this user on the file system holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

/// The sentence for a run that hit a full disk.
pub fn sentence(home: &Path, what: &str) -> String {
    format!(
        "disk full under FLIGHTDECK_HOME ({}): {what}; free space there (agent.log files of old runs are the usual bulk: `flightdeck clean`) and retry",
        home.display()
    )
}

/// The sentence for a run whose files could not be written for another reason.
pub fn write_sentence(home: &Path, what: &str) -> String {
    format!(
        "cannot write the run's files under FLIGHTDECK_HOME ({}): {what}; check that directory's permissions and the disk, then retry",
        home.display()
    )
}

/// Refuse a new run when the home has no room for its proof.
pub fn check_room(home: &Path) -> Result<(), String> {
    match free_bytes(home) {
        Some(free) if free < LEAST_FREE => Err(sentence(
            home,
            &format!(
                "{} KiB free, a run needs at least {} MiB for its proof",
                free / 1024,
                LEAST_FREE / (1024 * 1024)
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_a_full_disk_and_other_errors_are_not() {
        assert!(is_full(&std::io::Error::from_raw_os_error(
            nix::libc::ENOSPC
        )));
        assert!(!is_full(&std::io::Error::from_raw_os_error(
            nix::libc::EACCES
        )));
        assert!(free_bytes(Path::new("/")).is_some());
        assert!(
            check_room(Path::new("/")).is_ok() || free_bytes(Path::new("/")).unwrap() < LEAST_FREE
        );
    }
}
