//! The server's descriptor budget. Processes often start with a soft RLIMIT_NOFILE of 1024
//! while allowed far more: the server raises it towards the hard limit, then sizes its connection
//! caps from what it got, so a flood of connections meets a cap long before it runs the
//! server (and its runs) out of descriptors.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raised to at most this: plenty for the caps below, and the server's children inherit the
/// soft limit (some old programs loop over every possible descriptor).
const MOST: u64 = 65536;

/// The limits the server started with, which its children get back.
static STARTED_WITH: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();

/// Raise the soft limit towards the hard one; returns the soft limit in force afterwards.
pub fn raise() -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let _ = STARTED_WITH.set((soft, hard));
    let want = hard.min(MOST);
    if soft < want && setrlimit(Resource::RLIMIT_NOFILE, want, hard).is_ok() {
        return want;
    }
    soft
}

/// Give `cmd`'s process the descriptor limit the server started with: the raise is for the
/// server's connections, not for a run's programs (some loop over every possible descriptor).
pub fn restore_for(cmd: &mut tokio::process::Command) {
    let Some(&(soft, hard)) = STARTED_WITH.get() else {
        return;
    };
    // SAFETY: setrlimit is a plain system call, async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, soft, hard);
            Ok(())
        });
    }
}

/// How many connections the control socket and the gateway each keep open at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub control: usize,
    pub gateway: usize,
}

/// An eighth of the descriptors for the control socket and a quarter for the gateway, within
/// bounds; the rest is for runs (logs, pipes, shims) and the server's own files.
pub fn caps(limit: u64) -> Caps {
    let share = |part: u64, least: usize, most: usize| {
        usize::try_from(limit / part)
            .unwrap_or(most)
            .clamp(least, most)
    };
    Caps {
        control: share(8, 8, 256),
        gateway: share(4, 16, 512),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_leave_most_descriptors_to_runs() {
        assert_eq!(
            caps(256),
            Caps {
                control: 32,
                gateway: 64
            }
        );
        assert_eq!(
            caps(1024),
            Caps {
                control: 128,
                gateway: 256
            }
        );
        assert_eq!(
            caps(1 << 20),
            Caps {
                control: 256,
                gateway: 512
            }
        );
        assert_eq!(
            caps(32),
            Caps {
                control: 8,
                gateway: 16
            }
        );
    }

    #[test]
    fn raising_never_lowers() {
        let (before, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert!(raise() >= before);
    }
}
