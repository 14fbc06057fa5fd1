//! Who is asking: the user, or a process of a run (an agent, a setup step, a smoke check, a
//! dev server, anything they started). Requests from inside a run are not the user's: such a
//! caller may read (ls, show, logs) but may not start, stop, merge or change anything.
//!
//! The server learns the caller's pid from the socket (`SO_PEERCRED`) and walks its ancestry:
//! every process of a run descends from the run's shim or a tether, and both are child
//! subreapers, so an agent that double-forks or calls `setsid` still has one as an ancestor.
//! Only this home's runs count: a test suite that a run's smoke check drives may start
//! servers of its own (other homes) and use them fully.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::protocol::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    User,
    /// A process of a run; `ancestor` is the shim or tether it descends from.
    Run {
        pid: i32,
        ancestor: i32,
    },
}

/// The caller whose pid the socket gave (`SO_PEERCRED`). When it cannot be told (no pid,
/// gone already), it is treated as a run's: read-only, never more than it is owed. Reads
/// /proc: call off the async runtime.
pub fn identify(pid: Option<i32>, runs: &Path) -> Caller {
    let Some(pid) = pid else {
        return Caller::Run {
            pid: 0,
            ancestor: 0,
        };
    };
    match run_ancestor(pid, runs) {
        Some(Some(ancestor)) => Caller::Run { pid, ancestor },
        Some(None) => Caller::User,
        None => Caller::Run { pid, ancestor: 0 },
    }
}

/// The nearest shim or tether of a run under `runs` (a home's run directories) above `pid`
/// (`Some(None)`: none; `None`: the ancestry could not be read, e.g. the process is gone).
pub fn run_ancestor(pid: i32, runs: &Path) -> Option<Option<i32>> {
    let mut at = pid;
    // Ancestry is finite; the bound only guards against a /proc that changes under us.
    for _ in 0..4096 {
        if at <= 1 {
            return Some(None);
        }
        if is_run_process(at, runs) {
            return Some(Some(at));
        }
        at = crate::shim::files::parent_of(at)?;
    }
    Some(None)
}

/// Whether `pid` is a shim or a tether of a run under `runs` (`flightdeck shim --dir RUN …`,
/// `flightdeck tether --run RUN …`).
fn is_run_process(pid: i32, runs: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut args = cmdline.split(|b| *b == 0).skip(1);
    match (args.next(), args.next(), args.next()) {
        (Some(b"shim"), Some(b"--dir"), Some(dir))
        | (Some(b"tether"), Some(b"--run"), Some(dir)) => {
            Path::new(std::ffi::OsStr::from_bytes(dir)).starts_with(runs)
        }
        _ => false,
    }
}

/// Whether this very process runs inside one of `home`'s runs.
pub fn inside_run(home: &crate::paths::Home) -> bool {
    matches!(
        run_ancestor(std::process::id() as i32, &home.root().join("runs")),
        Some(Some(_))
    )
}

/// Whether `cmd` only reads (what a run's process may ask).
pub fn reads_only(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::List
            | Command::Show { .. }
            | Command::Timeline { .. }
            | Command::Patch { .. }
            | Command::Proof { .. }
            | Command::BrowserReport { .. }
            | Command::BrowserPictures { .. }
            | Command::Subscribe
            | Command::Ping
            | Command::Wait { .. }
            | Command::AwaitMerge { .. }
    )
}

/// The refusal for a run's process asking for more than reading.
pub fn refusal(caller: Caller) -> String {
    let Caller::Run { pid, .. } = caller else {
        return String::new();
    };
    format!(
        "refused: this request comes from inside a run (pid {pid}); a run's processes may read (ls, show, logs) but not start, stop, merge, trust or change runs"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_is_the_users_and_its_ancestry_ends_at_init() {
        let runs = Path::new("/nonexistent/runs");
        assert_eq!(run_ancestor(std::process::id() as i32, runs), Some(None));
        assert_eq!(run_ancestor(i32::MAX, runs), None);
    }

    #[test]
    fn only_reading_commands_pass() {
        assert!(reads_only(&Command::List));
        assert!(!reads_only(&Command::Kill { run: "x".into() }));
        assert!(!reads_only(&Command::Shutdown { kill_runs: false }));
        // A run's process may not open a tunnel nor learn a host's token.
        assert!(!reads_only(&Command::HostGateway {
            name: "b1".into(),
            host: Box::new(toml::from_str("ssh = \"b1\"").unwrap()),
        }));
        // Nor point a host's runs at another port.
        assert!(!reads_only(&Command::HostTunnelMoved(Box::new(
            crate::protocol::TunnelMoved {
                token: "fdh-x".into(),
                port: 1,
            }
        ))));
    }
}
