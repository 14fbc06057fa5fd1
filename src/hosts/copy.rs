//! Files to and from a host over the same ssh: this flightdeck installed there
//! (`hosts install`), a run's proof pack fetched here (`fetch`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use color_eyre::eyre::{eyre, Result};
use tokio::io::AsyncWriteExt;

use crate::config::hosts::HostConfig;
use crate::paths::Home;

use super::bridge::VERSION;

/// Run `script` with the host's shell over ssh; its stdout, or why it failed.
async fn sh(home: &Home, name: &str, host: &HostConfig, script: &str) -> Result<String> {
    let control = control(home).await?;
    let out = super::ssh::command_line(&control, host, script)
        .output()
        .await
        .map_err(|e| eyre!("cannot run ssh for host {name}: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let last = said.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(eyre!(
            "on host {name}, `{script}` failed: {}",
            crate::text::printable(last)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

async fn control(home: &Home) -> Result<PathBuf> {
    let h = home.clone();
    tokio::task::spawn_blocking(move || super::ssh::control_dir(&h))
        .await?
        .map_err(|e| eyre!("cannot make {}/ssh: {e}", home.root().display()))
}

/// The machine a program of this build runs on, as `uname -sm` says it.
fn this_machine() -> String {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "aarch64" if os == "Darwin" => "arm64",
        other => other,
    };
    format!("{os} {arch}")
}

/// `hosts install NAME`: copy this flightdeck to the host when its version differs; say what
/// to do instead when the host is another kind of machine.
pub async fn install(home: &Home, name: &str, host: &HostConfig) -> Result<i32> {
    let version = sh(
        home,
        name,
        host,
        &format!(
            "{} --version 2>/dev/null || true",
            super::ssh::quoted(&host.binary)
        ),
    )
    .await?;
    if version == format!("flightdeck {VERSION}") {
        println!(
            "host {name} already has flightdeck {VERSION} at {}",
            host.binary
        );
        return Ok(0);
    }
    let machine = sh(home, name, host, "uname -sm").await?;
    if machine != this_machine() {
        return Err(eyre!(
            "host {name} is a {machine} machine and this flightdeck is built for {}: build it there (cargo install --path . in this repository) and set [hosts.{name}].binary to it",
            this_machine()
        ));
    }
    // A name on PATH says nothing of where to put it: ~/.local/bin, said afterwards.
    let target = if host.binary.starts_with('/') {
        host.binary.clone()
    } else {
        format!(
            "{}/.local/bin/flightdeck",
            sh(home, name, host, "printf %s \"$HOME\"").await?
        )
    };
    let exe = std::env::current_exe()?;
    let bytes = tokio::fs::read(&exe).await?;
    let q = super::ssh::quoted(&target);
    let tmp = super::ssh::quoted(&format!("{target}.part"));
    let script =
        format!("mkdir -p \"$(dirname {q})\" && cat > {tmp} && chmod 755 {tmp} && mv -f {tmp} {q}");
    let control = control(home).await?;
    let mut child = super::ssh::command_line(&control, host, &script)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| eyre!("cannot run ssh for host {name}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&bytes).await?;
        stdin.shutdown().await?;
    }
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        return Err(eyre!(
            "copying flightdeck to host {name} failed: {}",
            crate::text::printable(String::from_utf8_lossy(&out.stderr).trim())
        ));
    }
    // Copied is not yet working: a host with an older C library cannot run this build.
    let runs = sh(home, name, host, &format!("{q} --version 2>&1 || true")).await?;
    if runs != format!("flightdeck {VERSION}") {
        return Err(eyre!(
            "copied flightdeck to {target} on host {name}, but it does not run there: {}; build it on the host (cargo install --path . in this repository) and set [hosts.{name}].binary to it",
            crate::text::printable(runs.lines().last().unwrap_or("it printed nothing"))
        ));
    }
    let was = if version.is_empty() {
        "none".to_string()
    } else {
        version
    };
    println!(
        "installed flightdeck {VERSION} on host {name} at {target} (it had: {was}); a server of the old version there is replaced at the next command (its runs carry on, and the new one adopts them)"
    );
    if target != host.binary {
        println!("set [hosts.{name}].binary = \"{target}\" in your config");
    }
    Ok(0)
}

/// `fetch RUN`: copy a run's proof pack from its host into `dest` (made here), with tar over
/// ssh; returns where it is.
pub async fn fetch(
    home: &Home,
    name: &str,
    host: &HostConfig,
    remote_dir: &Path,
    dest: &Path,
) -> Result<PathBuf> {
    let (Some(parent), Some(id)) = (remote_dir.parent(), remote_dir.file_name()) else {
        return Err(eyre!(
            "the run's proof pack on host {name} has no directory: {}",
            remote_dir.display()
        ));
    };
    let id = id.to_string_lossy().into_owned();
    tokio::fs::create_dir_all(dest).await?;
    let script = format!(
        "tar -C {} -cf - {}",
        super::ssh::quoted(&parent.display().to_string()),
        super::ssh::quoted(&id)
    );
    let control = control(home).await?;
    let mut ssh = super::ssh::command_line(&control, host, &script)
        .spawn()
        .map_err(|e| eyre!("cannot run ssh for host {name}: {e}"))?;
    let Some(mut from) = ssh.stdout.take() else {
        return Err(eyre!("cannot read from ssh for host {name}"));
    };
    let mut untar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(dest)
        .args(["-xf", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| eyre!("cannot run tar: {e}"))?;
    let Some(mut to) = untar.stdin.take() else {
        return Err(eyre!("cannot write to tar"));
    };
    tokio::io::copy(&mut from, &mut to).await?;
    drop(to);
    let sent = ssh.wait_with_output().await?;
    let got = untar.wait_with_output().await?;
    if !sent.status.success() || !got.status.success() {
        return Err(eyre!(
            "fetching the proof pack from host {name} failed: {}{}",
            crate::text::printable(String::from_utf8_lossy(&sent.stderr).trim()),
            crate::text::printable(String::from_utf8_lossy(&got.stderr).trim())
        ));
    }
    Ok(dest.join(id))
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_machine_is_said_as_uname_says_it() {
        let out = std::process::Command::new("uname")
            .arg("-sm")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            super::this_machine()
        );
    }
}
