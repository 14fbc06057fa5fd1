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

    /// Agents' private state (Codex's CODEX_HOME with its run token), outside proof packs.
    pub fn agent_homes(&self) -> PathBuf {
        self.root.join("agent-homes")
    }

    /// Which repositories' `.flightdeck.toml` the user trusts (`flightdeck trust`).
    pub fn trust_store(&self) -> PathBuf {
        self.root.join("trusted.json")
    }

    /// Create the state directory, owner-only (0700) all the way down; one made by an older
    /// version is tightened.
    pub fn ensure(&self) -> Result<()> {
        let fail = |e: std::io::Error| {
            eyre!(
                "cannot create the state directory {}: {e}; set FLIGHTDECK_HOME to a writable directory",
                self.root.display()
            )
        };
        crate::owner_only::create_dir_all(&self.runs_dir()).map_err(fail)?;
        // A shared directory (sticky, like /tmp) or the user's home given as FLIGHTDECK_HOME
        // is not ours to lock down; what we create inside it is.
        use std::os::unix::fs::PermissionsExt;
        let sticky = std::fs::metadata(&self.root)
            .map(|m| m.permissions().mode() & 0o1000 != 0)
            .unwrap_or(true);
        let is_user_home = std::env::var_os("HOME").is_some_and(|h| Path::new(&h) == self.root);
        if !sticky && !is_user_home {
            crate::owner_only::tighten_dir(&self.root).map_err(fail)?;
        }
        for dir in [
            self.runs_dir(),
            self.default_worktree_root(),
            self.agent_homes(),
        ] {
            crate::owner_only::tighten_dir(&dir).map_err(fail)?;
        }
        Ok(())
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
