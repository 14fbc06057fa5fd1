//! `flightdeck tether`: the parent of every process the server starts for a run itself (setup
//! steps, smoke checks, dev servers, Chromium). Two jobs:
//! - Its environment is the child's own, so what a child reads of its parent
//!   (`/proc/$PPID/environ`) holds no key; the server's environment is never a parent's.
//! - Its stdin is a pipe whose other end only the server holds. When the server dies (a crash,
//!   `kill -9`) the pipe reads end-of-file and the tether kills its process group: a check is
//!   never left running as an orphan while the next server runs it again.
//!
//! The tether leads the process group the server signals (pause, resume, kill, timeout), and
//! ends the way its child ended: the same exit code, or the same signal.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use nix::sys::signal::{killpg, raise, signal, SigHandler, Signal};
use nix::unistd::getpgrp;

/// Exit code when the child could not be started (as a shell says it).
const CANNOT_START: i32 = 127;

/// Run `argv` as the child; returns the exit code when the child did not die by a signal.
pub fn main(argv: &[String]) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        eprintln!("flightdeck tether: no command");
        return CANNOT_START;
    };
    crate::reaper::adopt_orphans();
    let child = match std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start `{program}`: {e}");
            return CANNOT_START;
        }
    };
    std::thread::spawn(|| {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // The server is gone: so is everything it started here.
        let _ = killpg(getpgrp(), Signal::SIGKILL);
    });
    let sig = match crate::reaper::wait_for(child.id()) {
        Ok(crate::reaper::Ended::Code(code)) => return code,
        Ok(crate::reaper::Ended::Signal(s)) => s,
        Err(e) => {
            eprintln!("flightdeck tether: lost `{program}`: {e}");
            return CANNOT_START;
        }
    };
    if let Ok(sig) = Signal::try_from(sig) {
        let no_core = nix::libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls: no core file for a signal that was the child's, not
        // ours, and the default disposition back (no handler code is installed).
        unsafe {
            nix::libc::setrlimit(nix::libc::RLIMIT_CORE, &no_core);
            let _ = signal(sig, SigHandler::SigDfl);
        }
        let _ = raise(sig);
        return 128 + sig as i32;
    }
    CANNOT_START
}

/// The server's end of a tether's lifeline: keep it as long as the child runs; dropping it
/// (or the server dying) makes the tether kill its group.
pub struct Lifeline(#[allow(dead_code)] std::io::PipeWriter);

/// Whose tether: the run (its directory names it; the server tells a run's processes by it),
/// the flightdeck program that is the tether, and what starts it.
#[derive(Clone, Copy)]
pub struct Owner<'a> {
    pub exe: &'a crate::self_exe::SelfExe,
    pub run_dir: &'a Path,
    pub spawner: &'a crate::supervisor::spawner::Spawner,
}

/// A command that runs `program args` in `cwd` under a tether, in the run's environment the
/// caller sets on it (the tether passes it on whole). `pre_exec` hooks and fds set up by the
/// caller apply to the tether and are inherited by the child; `owner.spawner` starts it. A
/// `program` that cannot be started is `NotFound` here, by name, rather than the tether's exit
/// code later.
pub fn command(
    owner: Owner<'_>,
    program: &str,
    args: &[String],
    cwd: &Path,
) -> std::io::Result<(tokio::process::Command, Lifeline)> {
    if !startable(program, cwd) {
        return Err(std::io::ErrorKind::NotFound.into());
    }
    let (read, write) = std::io::pipe()?;
    let run_dir = owner.run_dir;
    let mut cmd = tokio::process::Command::new(owner.exe.program());
    cmd.arg("tether")
        .arg("--run")
        .arg(run_dir)
        .arg("--")
        .arg(program)
        .args(args)
        .current_dir(cwd)
        .stdin(read);
    crate::fd_limit::restore_for(&mut cmd);
    Ok((cmd, Lifeline(write)))
}

/// Whether `program` names something that can be started from `cwd` with the server's PATH
/// (a run's processes get that PATH).
fn startable(program: &str, cwd: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(&cwd.join(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| executable(&d.join(program)))
}
