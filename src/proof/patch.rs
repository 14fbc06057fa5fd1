//! `patch.diff`: the run's changes against its base, as `git diff` prints them, apart from the commit.

use std::path::Path;

use crate::paths::pack;
use crate::proof::store::write_atomic;
use crate::workspace;

/// Write `patch.diff` for `worktree` against `base`; returns (files, insertions, deletions).
/// Blocking: call from `spawn_blocking`.
pub fn write(
    run_dir: &Path,
    worktree: &Path,
    base: &str,
    target: Option<&str>,
) -> Result<workspace::DiffStat, workspace::WorkspaceError> {
    let (text, stat) = workspace::diff_against_base(worktree, base, target)?;
    write_atomic(&run_dir.join(pack::PATCH), text.as_bytes())
        .map_err(|e| workspace::WorkspaceError::Io(format!("writing patch.diff: {e}")))?;
    Ok(stat)
}
