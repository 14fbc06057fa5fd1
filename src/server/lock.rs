//! One server per `FLIGHTDECK_HOME`: an exclusive, non-blocking `flock` held for the server's
//! whole life. The kernel drops it when the process dies, so a crash leaves no stale lock.

use std::fs::File;
use std::io::Write;

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::paths::Home;

#[derive(Debug, thiserror::Error)]
#[error("a flightdeck server is already running for {0}")]
pub struct AlreadyRunning(pub String);

pub fn acquire(home: &Home) -> Result<Flock<File>> {
    let path = home.lock_file();
    let file = crate::owner_only::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .wrap_err_with(|| format!("cannot open {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            let _ = lock.set_len(0);
            let _ = writeln!(lock, "{}", std::process::id());
            Ok(lock)
        }
        Err((_, Errno::EWOULDBLOCK)) => {
            Err(AlreadyRunning(home.root().display().to_string()).into())
        }
        Err((_, e)) => Err(e).wrap_err_with(|| format!("cannot lock {}", path.display())),
    }
}
