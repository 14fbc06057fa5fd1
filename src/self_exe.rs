//! Which flightdeck program runs a run's helpers (the shim, the tether, the built-in agent):
//! this very binary by default, or the one a caller names (an in-process test supervisor
//! lives in a test binary, which is not flightdeck).

use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct SelfExe(Option<Arc<Path>>);

impl SelfExe {
    /// This very binary.
    pub fn this() -> Self {
        Self(None)
    }

    /// The flightdeck binary at `path`.
    pub fn at(path: PathBuf) -> Self {
        Self(Some(Arc::from(path)))
    }

    /// The program to start a helper with: `/proc/self/exe` by default, so that a binary
    /// replaced on disk since the server started (an upgrade) does not serve its runs.
    pub fn program(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new("/proc/self/exe"))
    }

    /// The program as an agent's argv names it (readable in the timeline).
    pub fn for_argv(&self) -> String {
        match &self.0 {
            Some(p) => p.to_string_lossy().into_owned(),
            None => std::env::current_exe()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "flightdeck".into()),
        }
    }
}
