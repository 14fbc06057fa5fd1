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
    let mut args: Vec<std::ffi::OsString> = vec!["serve".into()];
    if let Some(c) = config {
        args.extend(["--config".into(), c.as_os_str().to_owned()]);
    }
    detached(home, &args, &home.server_log()).wrap_err("cannot start the flightdeck server")
}

/// This flightdeck with `args`, in a session of its own (it outlives the caller), its output
/// appended to `log` (made owner-only).
pub fn detached(
    home: &Home,
    args: &[std::ffi::OsString],
    log: &Path,
) -> Result<std::process::Child> {
    let exe = std::env::current_exe().wrap_err("cannot find the flightdeck executable")?;
    let out = crate::owner_only::options()
        .create(true)
        .append(true)
        .open(log)
        .wrap_err_with(|| format!("cannot open {}", log.display()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .env("FLIGHTDECK_HOME", home.root())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // SAFETY: setsid is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    Ok(cmd.spawn()?)
}
