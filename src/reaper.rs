//! Keeping a run's descendants in reach: the shim and the tether are child subreapers, so a
//! process that double-forks or calls `setsid` to slip away is re-parented to them, not to
//! init (the server tells a run's processes by that ancestry, see `server::caller`); and they
//! reap such orphans while they wait for their own child.

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// Make this process the subreaper of its descendants.
pub fn adopt_orphans() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("flightdeck: cannot become a child subreaper: {e}");
    }
}

/// How `pid` ended.
pub enum Ended {
    Code(i32),
    Signal(i32),
}

/// Wait for `pid` to end, reaping any adopted orphan that ends meanwhile.
pub fn wait_for(pid: u32) -> std::io::Result<Ended> {
    let want = Pid::from_raw(pid as i32);
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, code)) if p == want => return Ok(Ended::Code(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == want => {
                return Ok(Ended::Signal(sig as i32))
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
