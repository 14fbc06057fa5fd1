//! The system `ssh`, driven with one ControlMaster per host: the user's ssh config, keys,
//! agent and known_hosts apply, and after the first connection each command is a new channel
//! on the open one (no new handshake).

use std::path::Path;

use tokio::process::Command;

use crate::config::hosts::HostConfig;
use crate::paths::Home;

/// How long an idle master connection stays open after its last command.
const PERSIST_SECS: u32 = 300;

/// `s` as one word for the remote shell (ssh runs the command through it).
pub fn quoted(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:@=%,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command run on the host: the host's flightdeck with its home, and `args`.
pub fn remote_command(host: &HostConfig, args: &[&str]) -> String {
    let mut words = Vec::new();
    if !host.env.is_empty() || host.home.is_some() || host.config.is_some() {
        words.push("env".into());
    }
    if let Some(home) = &host.home {
        words.push(format!("FLIGHTDECK_HOME={}", quoted(home)));
    }
    if let Some(config) = &host.config {
        words.push(format!("FLIGHTDECK_CONFIG={}", quoted(config)));
    }
    for (k, v) in &host.env {
        // Names were checked with the config; a value is one quoted word.
        words.push(format!("{k}={}", quoted(v)));
    }
    words.push(quoted(&host.binary));
    words.extend(args.iter().map(|a| quoted(a)));
    words.join(" ")
}

/// Where the master connections' sockets are: the home's `ssh` directory, owner-only.
/// Blocking (makes the directory).
pub fn control_dir(home: &Home) -> std::io::Result<std::path::PathBuf> {
    let dir = home.root().join("ssh");
    crate::owner_only::create_dir_all(&dir)?;
    Ok(dir)
}

/// `ssh … HOST 'script'` for the host's shell: stdout and stderr piped, killed when dropped.
pub fn command_line(control: &Path, host: &HostConfig, script: &str) -> Command {
    let mut c = base(control, host);
    c.arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    c
}

/// `ssh … HOST 'command'`, its stdio piped, killed when dropped. The user's options come
/// first (ssh takes the first value it is given for an option, so theirs win over ours), their
/// destination (the last word) after ours.
pub fn command(control: &Path, host: &HostConfig, args: &[&str]) -> Command {
    let mut c = base(control, host);
    c.arg(remote_command(host, args))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    c
}

/// `ssh [the user's options] [ours] DESTINATION`, the remote command still to add.
fn base(control: &Path, host: &HostConfig) -> Command {
    let (options, destination) = options_and_destination(control, host);
    let mut c = Command::new("ssh");
    c.args(options).arg(destination);
    for k in host.key_vars.iter().filter(|k| !k.is_empty()) {
        c.env_remove(k);
    }
    c
}

/// The words between `ssh` and the destination (the user's options, then ours: the shared
/// master connection), and the destination. `git` over ssh uses them too.
pub fn options_and_destination(control: &Path, host: &HostConfig) -> (Vec<String>, String) {
    let mut words = host.ssh_words();
    let destination = words.pop().unwrap_or_default();
    words.extend(
        [
            "-o",
            "BatchMode=yes",
            // A host that drops packets is said to be unreachable in seconds, not minutes.
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ControlMaster=auto",
            "-o",
            &format!("ControlPersist={PERSIST_SECS}"),
            "-o",
            &format!("ControlPath={}/%C", control.display()),
            "-o",
            "ServerAliveInterval=10",
            "-o",
            "ServerAliveCountMax=3",
        ]
        .map(str::to_string),
    );
    (words, destination)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_command_is_quoted_for_its_shell() {
        let host: HostConfig = toml::from_str(
            "ssh = \"b\"\nhome = \"/srv/fd home\"\nbinary = \"/opt/it's/flightdeck\"",
        )
        .unwrap();
        assert_eq!(
            remote_command(&host, &["bridge", "--expect-version", "0.1.0"]),
            "env FLIGHTDECK_HOME='/srv/fd home' '/opt/it'\\''s/flightdeck' bridge --expect-version 0.1.0"
        );
        let plain: HostConfig = toml::from_str("ssh = \"b\"").unwrap();
        assert_eq!(
            remote_command(&plain, &["--version"]),
            "flightdeck --version"
        );
    }
}
