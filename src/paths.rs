//! Where flightdeck keeps its state: `FLIGHTDECK_HOME` and the layout beneath it.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, Result};

/// The state directory and the files in it, as DESIGN.md lays them out.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `FLIGHTDECK_HOME`, or the platform data directory.
    pub fn from_env() -> Result<Self> {
        if let Some(dir) = std::env::var_os("FLIGHTDECK_HOME").filter(|v| !v.is_empty()) {
            return Ok(Self::at(PathBuf::from(dir)));
        }
        let dirs = directories::ProjectDirs::from("", "", "flightdeck").ok_or_else(|| {
            eyre!("cannot find a home directory for flightdeck's state; set FLIGHTDECK_HOME")
        })?;
        Ok(Self::at(dirs.data_dir().to_path_buf()))
    }

    pub fn at(root: PathBuf) -> Self {
        // An absolute path keeps the server and clients agreeing whatever their cwd.
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()
                .map(|cwd| cwd.join(&root))
                .unwrap_or(root)
        };
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("flightdeck.sock")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join("server.lock")
    }

    pub fn server_log(&self) -> PathBuf {
        self.root.join("server.log")
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runs_dir().join(id)
    }

    pub fn default_worktree_root(&self) -> PathBuf {
        self.root.join("worktrees")
    }

    pub fn ensure(&self) -> Result<()> {
        std::fs::create_dir_all(self.runs_dir()).map_err(|e| {
            eyre!(
                "cannot create the state directory {}: {e}; set FLIGHTDECK_HOME to a writable directory",
                self.root.display()
            )
        })
    }
}

/// File names of a run's proof pack.
pub mod pack {
    pub const RUN: &str = "run.json";
    pub const TIMELINE: &str = "timeline.jsonl";
    pub const AGENT_LOG: &str = "agent.log";
    pub const PATCH: &str = "patch.diff";
    pub const SMOKE: &str = "smoke.json";
    pub const SCORE: &str = "score.json";
    pub const MODEL_CALLS: &str = "model_calls.jsonl";
    pub const PR: &str = "PR.md";
}
