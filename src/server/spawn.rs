//! Starting a server in the background: its own session (so a closing terminal does not take
//! it down), output to `server.log`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

use color_eyre::eyre::{Result, WrapErr};

use crate::paths::Home;

/// Returns the child so a caller can notice a server that exits at once (a bad config).
pub fn spawn_detached(home: &Home, config: Option<&Path>) -> Result<std::process::Child> {
    home.ensure()?;
    let exe = std::env::current_exe().wrap_err("cannot find the flightdeck executable")?;
    let log_path = home.server_log();
    let log = crate::owner_only::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .wrap_err_with(|| format!("cannot open {}", log_path.display()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("serve");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.env("FLIGHTDECK_HOME", home.root())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn().wrap_err("cannot start the flightdeck server")
}
