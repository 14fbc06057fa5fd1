//! The agent as the server sees it: started under its shim (`flightdeck shim`, in a session
//! of its own, so it outlives this server), or found again after a restart from the files
//! the shim keeps in the run directory (see `shim::files`).

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::shim::files::{self, ExitFile, ShimFile};

pub struct AgentProcess {
    dir: PathBuf,
    /// The shim, when this server started it (so its exit must be reaped here).
    child: Option<tokio::process::Child>,
    pub shim: ShimFile,
}

/// Why the agent did not start.
pub enum Failed {
    /// The exec failed (no such program, argument list too long, …).
    Spawn(std::io::Error),
    /// The shim itself could not start or record the agent.
    Shim(String),
}

/// The program that runs the shim: flightdeck (`exe`; by default this very binary, even if it
/// was replaced on disk since).
pub fn shim_command(
    exe: &crate::self_exe::SelfExe,
    dir: &Path,
    program: &str,
    args: &[String],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(exe.program());
    cmd.arg("shim")
        .arg("--dir")
        .arg(dir)
        .arg("--")
        .arg(program)
        .args(args);
    // A session of its own: the server's death, its terminal or its group signals do not
    // reach the shim.
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    crate::fd_limit::restore_for(&mut cmd);
    cmd
}

/// Start `cmd` (from [`shim_command`]) with `spawner` and wait until the shim has recorded the
/// agent.
pub async fn start(
    spawner: &super::spawner::Spawner,
    mut cmd: tokio::process::Command,
    dir: &Path,
) -> Result<AgentProcess, Failed> {
    for f in [files::shim_path(dir), files::exit_path(dir)] {
        let _ = tokio::fs::remove_file(f).await;
    }
    // The shim's exec carries the agent's argv and environment: an error here (too long an
    // argument list, say) is the agent's as much as the shim's.
    let mut child = spawner.spawn(&mut cmd).map_err(Failed::Spawn)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = dir.to_path_buf();
        let (shim, exit) =
            tokio::task::spawn_blocking(move || (files::read_shim(&d), files::read_exit(&d)))
                .await
                .unwrap_or((None, None));
        // A quick agent may have ended already: that is an exit, not a failure to start.
        if let Some(exit) = exit.filter(|e| e.spawn_errno.is_some() || e.spawn_error.is_some()) {
            let _ = child.wait().await;
            return Err(spawn_failure(&exit));
        }
        if let Some(shim) = shim {
            return Ok(AgentProcess {
                dir: dir.to_path_buf(),
                child: Some(child),
                shim,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            // It may have written its files just before it ended.
            if let Some(shim) = files::read_shim(dir) {
                return Ok(AgentProcess {
                    dir: dir.to_path_buf(),
                    child: Some(child),
                    shim,
                });
            }
            if let Some(exit) = files::read_exit(dir) {
                return Err(spawn_failure(&exit));
            }
            return Err(Failed::Shim(format!(
                "the run's shim ended before starting the agent ({})",
                super::process::describe(&status)
            )));
        }
        if Instant::now() > deadline {
            let _ = child.start_kill();
            return Err(Failed::Shim(
                "the run's shim did not start the agent within 30 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn spawn_failure(exit: &ExitFile) -> Failed {
    match exit.spawn_errno {
        Some(errno) if errno > 0 => Failed::Spawn(std::io::Error::from_raw_os_error(errno)),
        _ => Failed::Shim(
            exit.spawn_error
                .clone()
                .unwrap_or_else(|| "the agent ended before it was recorded".into()),
        ),
    }
}

impl AgentProcess {
    /// The agent of a run whose shim is alive, found by a new server.
    pub fn adopt(dir: &Path, shim: ShimFile) -> Self {
        Self {
            dir: dir.to_path_buf(),
            child: None,
            shim,
        }
    }

    pub fn pgid(&self) -> i32 {
        self.shim.pgid
    }

    fn exit_status(&self) -> std::io::Result<ExitStatus> {
        files::read_exit(&self.dir)
            .map(|e| e.status())
            .ok_or_else(|| {
                std::io::Error::other(
                    "the agent's shim ended without recording how the agent ended",
                )
            })
    }
}

impl super::process::Waitable for AgentProcess {
    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        if let Some(child) = self.child.as_mut() {
            child.wait().await?;
            return self.exit_status();
        }
        // Not our child: watch its files and its pid (with start time, against reuse).
        loop {
            let dir = self.dir.clone();
            let (pid, start) = (self.shim.shim_pid, self.shim.shim_start);
            let done = tokio::task::spawn_blocking(move || {
                files::exit_path(&dir).exists() || !files::alive(pid, start)
            })
            .await
            .unwrap_or(true);
            if done {
                return self.exit_status();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
