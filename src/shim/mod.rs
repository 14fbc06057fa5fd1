//! `flightdeck shim`: a small process per run that is the agent's parent, so that the agent
//! outlives the server (a crash, a restart, an upgrade) and the next server can adopt it. The
//! server starts it in a session of its own; it starts the agent in a process group of its
//! own, records both in `shim.json`, waits, and records the end in `exit.json`. It takes
//! pause, resume and kill as signals the server sends the agent's group directly; as the
//! group's parent it keeps a stopped group from being orphaned (the kernel would continue it).
//! It holds no key: the agent's environment is the one the server built, already scrubbed.

pub mod files;

use std::path::Path;
use std::process::Command;

use nix::sys::signal::{killpg, signal, SigHandler, Signal};
use nix::unistd::Pid;

use files::{ExitFile, ShimFile};

/// Run the agent `argv` for the run in `dir`; returns the shim's exit code.
pub fn main(dir: &Path, argv: &[String]) -> i32 {
    // The server's death or a terminal hang-up must not end the shim.
    // SAFETY: setting a signal to SIG_IGN installs no handler code.
    unsafe {
        let _ = signal(Signal::SIGHUP, SigHandler::SigIgn);
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGPIPE, SigHandler::SigIgn);
    }
    let _ = std::fs::remove_file(files::exit_path(dir));
    crate::reaper::adopt_orphans();
    let Some((program, args)) = argv.split_first() else {
        return write_exit(dir, None, None, Some((22, "no agent command".into())));
    };
    let mut cmd = Command::new(program);
    cmd.args(args).process_group(0);
    // SAFETY: restoring default dispositions in the child before exec is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let _ = signal(Signal::SIGHUP, SigHandler::SigDfl);
            let _ = signal(Signal::SIGINT, SigHandler::SigDfl);
            let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
            Ok(())
        });
    }
    use std::os::unix::process::CommandExt;
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return write_exit(
                dir,
                None,
                None,
                Some((e.raw_os_error().unwrap_or(0), e.to_string())),
            )
        }
    };
    let pid = child.id() as i32;
    let me = std::process::id() as i32;
    let record = ShimFile {
        shim_pid: me,
        shim_start: files::start_time(me).unwrap_or(0),
        agent_pid: pid,
        pgid: pid,
        agent_start: files::start_time(pid).unwrap_or(0),
    };
    if let Err(e) = files::write_json(&files::shim_path(dir), &record) {
        eprintln!("flightdeck shim: cannot write shim.json: {e}");
    }
    let status = crate::reaper::wait_for(child.id());
    // Whatever the agent left in its group goes with it.
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    match status {
        Ok(crate::reaper::Ended::Code(c)) => write_exit(dir, Some(c), None, None),
        Ok(crate::reaper::Ended::Signal(s)) => write_exit(dir, None, Some(s), None),
        Err(e) => write_exit(dir, None, None, Some((0, format!("lost the agent: {e}")))),
    }
}

fn write_exit(
    dir: &Path,
    code: Option<i32>,
    signal: Option<i32>,
    spawn: Option<(i32, String)>,
) -> i32 {
    let failed = spawn.is_some();
    let exit = ExitFile {
        code,
        signal,
        spawn_errno: spawn.as_ref().map(|(n, _)| *n),
        spawn_error: spawn.map(|(_, m)| m),
        at: crate::time::now_rfc3339(),
    };
    if let Err(e) = files::write_json(&files::exit_path(dir), &exit) {
        eprintln!("flightdeck shim: cannot write exit.json: {e}");
        return 1;
    }
    if failed {
        127
    } else {
        0
    }
}
