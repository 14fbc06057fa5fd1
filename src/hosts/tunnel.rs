//! Reverse tunnels from other hosts to this server's gateway: for each host a run is sent to,
//! this server keeps `ssh -N -R 127.0.0.1:0:127.0.0.1:GATEWAY DEST` open, so the host's
//! gateway reaches this one at a loopback port there and the provider keys stay here.
//!
//! The tunnel is a connection of its own, not a forward on the host's ControlMaster: a master
//! exits once idle for `ControlPersist` whatever it forwards, and killing it (or a dropped
//! link) must not cut runs off their models for longer than a reconnect. When the connection
//! ends it is opened again (with a growing wait), asking for the same port on the host, so runs
//! already given the tunnel's URL keep it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use crate::config::hosts::HostConfig;

/// How long a caller waits for a tunnel to open.
const OPEN_WAIT: Duration = Duration::from_secs(30);
/// What is done when a tunnel reopens on another port than the one its runs were given
/// (told the port now).
pub type OnMoved = Box<dyn Fn(u16) + Send + Sync>;

/// Waits between attempts: doubling from the first to the most.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MOST: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Opening,
    /// Open: the port on the host.
    Open(u16),
    /// Closed, said why; opened again after a wait.
    Down(String),
}

struct Tunnel {
    state: watch::Receiver<State>,
    gateway_port: u16,
    task: tokio::task::JoinHandle<()>,
}

/// This server's tunnels, one per host; each ends (its ssh killed) when this is dropped.
#[derive(Default, Clone)]
pub struct Tunnels {
    hosts: Arc<Mutex<HashMap<String, Tunnel>>>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tunnels {
    /// The port on host `name` that reaches this machine's `gateway_port`: the open tunnel's,
    /// or a new one's once it is open. Must be called on the runtime.
    /// `keys`: the variables holding provider keys, taken out of ssh's environment (a
    /// `SendEnv` in an ssh config must not carry one to the host).
    /// `first`: the port to ask for on the host when the tunnel is opened (0: any; a server
    /// opening its predecessor's tunnel again asks for its port, which runs there were given).
    /// `moved`: called whenever the tunnel opens again on another port than the last (or
    /// than `first`): the host's runs must be told.
    pub async fn port(
        &self,
        name: &str,
        host: &HostConfig,
        gateway_port: u16,
        keys: Vec<String>,
        first: u16,
        moved: OnMoved,
    ) -> Result<u16, String> {
        let mut state = {
            let mut hosts = self
                .hosts
                .lock()
                .map_err(|_| "the tunnels' state is poisoned".to_string())?;
            let fresh = hosts
                .get(name)
                .is_none_or(|t| t.gateway_port != gateway_port || t.task.is_finished());
            if fresh {
                let (tx, rx) = watch::channel(State::Opening);
                let task = tokio::spawn(keep_open(
                    name.to_string(),
                    host.clone(),
                    gateway_port,
                    keys,
                    first,
                    tx,
                    moved,
                ));
                hosts.insert(
                    name.to_string(),
                    Tunnel {
                        state: rx,
                        gateway_port,
                        task,
                    },
                );
            }
            hosts
                .get(name)
                .map(|t| t.state.clone())
                .ok_or_else(|| "the tunnel went away".to_string())?
        };
        let settled =
            tokio::time::timeout(OPEN_WAIT, state.wait_for(|s| !matches!(s, State::Opening))).await;
        match settled {
            Ok(Ok(s)) => match &*s {
                State::Open(port) => Ok(*port),
                State::Down(why) => Err(why.clone()),
                State::Opening => Err("the tunnel is still opening".into()),
            },
            Ok(Err(_)) => Err("the tunnel's keeper ended".into()),
            Err(_) => Err(format!(
                "the tunnel to host `{name}` did not open within {} s",
                OPEN_WAIT.as_secs()
            )),
        }
    }
}

/// `ssh [the user's options] [ours] -N -R 127.0.0.1:PORT:127.0.0.1:GATEWAY DESTINATION`. No
/// secret is on it: the host's token goes to the host inside the run's request, over stdin.
pub fn command(host: &HostConfig, remote_port: u16, gateway_port: u16) -> Command {
    let mut words = host.ssh_words();
    let destination = words.pop().unwrap_or_default();
    let mut c = Command::new("ssh");
    c.args(words)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            // A connection of its own (see the module's note).
            "-o",
            "ControlMaster=no",
            "-o",
            "ControlPath=none",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "ServerAliveInterval=10",
            "-o",
            "ServerAliveCountMax=3",
            // ssh says the forward's success (and the port it was given) only at this level.
            "-o",
            "LogLevel=DEBUG1",
            "-N",
            "-T",
            "-R",
        ])
        .arg(format!("127.0.0.1:{remote_port}:127.0.0.1:{gateway_port}"))
        .arg(destination)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for k in host.key_vars.iter().filter(|k| !k.is_empty()) {
        c.env_remove(k);
    }
    // SAFETY: prctl is a plain system call, async-signal-safe. The tunnel ends with the server
    // (even a `kill -9`): the next server opens it again on the same port.
    unsafe {
        c.pre_exec(|| {
            nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGTERM);
            Ok(())
        });
    }
    c
}

/// What a line of ssh's stderr says of the forward: opened on a port (`Some(Ok)`), refused
/// (`Some(Err)`), or nothing of it. `asked` is the port asked for (0: any).
pub fn forward_said(line: &str, asked: u16) -> Option<Result<u16, ()>> {
    if let Some(rest) = line.split("Allocated port ").nth(1) {
        return rest
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .map(Ok);
    }
    if line.contains("remote forward success for: listen") && asked != 0 {
        return Some(Ok(asked));
    }
    if line.contains("remote forward failure") || line.contains("remote port forwarding failed") {
        return Some(Err(()));
    }
    None
}

/// Keep host `name`'s tunnel open for as long as this task lives.
async fn keep_open(
    name: String,
    host: HostConfig,
    gateway_port: u16,
    keys: Vec<String>,
    first: u16,
    tx: watch::Sender<State>,
    moved: OnMoved,
) {
    let mut asked = first;
    let mut wait = RETRY_FIRST;
    // The port the host's runs were given: a later one is news to them.
    let mut told = (first != 0).then_some(first);
    let mut opened_on = |port: u16| {
        if told.is_some_and(|t| t != port) {
            tracing::info!("the tunnel to host `{name}` opened on port {port}, not {told:?}");
            moved(port);
        }
        told = Some(port);
    };
    loop {
        let _ = tx.send(State::Opening);
        let mut ssh = command(&host, asked, gateway_port);
        for k in keys.iter().filter(|k| !k.is_empty()) {
            ssh.env_remove(k);
        }
        let said = match ssh.spawn() {
            Ok(mut child) => {
                let opened = std::time::Instant::now();
                let why = follow(&mut child, asked, &tx, &mut opened_on).await;
                let _ = child.kill().await;
                // A tunnel that stayed open a while starts the waits over.
                if opened.elapsed() > RETRY_MOST {
                    wait = RETRY_FIRST;
                }
                why
            }
            Err(e) => Err(format!("cannot run ssh: {e}")),
        };
        match said {
            // The port it had: asked for again.
            Ok(port) => asked = port,
            Err(why) => {
                // The port could be taken by now: any will do.
                asked = 0;
                tracing::warn!("the tunnel to host `{name}` is closed: {why}");
                let _ = tx.send(State::Down(format!(
                    "the tunnel from host `{name}` to this machine's gateway could not be opened: {why}"
                )));
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RETRY_MOST);
    }
}

/// Read ssh's stderr until it ends: the port once opened (said on `tx` and to `opened_on`);
/// Ok(port) when an open tunnel closed, Err(why) when it never opened.
async fn follow(
    child: &mut tokio::process::Child,
    asked: u16,
    tx: &watch::Sender<State>,
    opened_on: &mut (dyn FnMut(u16) + Send),
) -> Result<u16, String> {
    let Some(stderr) = child.stderr.take() else {
        return Err("ssh's stderr was not piped".into());
    };
    let mut lines = BufReader::new(stderr).lines();
    let mut open = None;
    // The last lines that are not debug chatter, to say why it failed.
    let mut tail: Vec<String> = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        if open.is_none() {
            // A refusal needs nothing here: ssh ends at once (ExitOnForwardFailure), saying why.
            if let Some(Ok(port)) = forward_said(&line, asked) {
                open = Some(port);
                opened_on(port);
                let _ = tx.send(State::Open(port));
            }
        }
        if !line.starts_with("debug") {
            tail.push(line);
            if tail.len() > 4 {
                tail.remove(0);
            }
        }
    }
    let status = child.wait().await;
    match open {
        Some(port) => {
            tracing::info!("the tunnel on port {port} closed ({status:?}); opening it again");
            Ok(port)
        }
        None if tail.is_empty() => Err(format!(
            "ssh ended ({}) without saying the forward's port (does the host's ssh option say LogLevel=QUIET, or its sshd forbid forwarding?)",
            status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
        )),
        None => Err(tail.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forward_is_read_from_ssh_s_words() {
        assert_eq!(
            forward_said(
                "Allocated port 41234 for remote forward to 127.0.0.1:5000",
                0
            ),
            Some(Ok(41234))
        );
        assert_eq!(
            forward_said(
                "debug1: remote forward success for: listen 127.0.0.1:41234, connect 127.0.0.1:5000",
                41234
            ),
            Some(Ok(41234))
        );
        // Asked for any port: the success line comes before the port it was given.
        assert_eq!(
            forward_said(
                "debug1: remote forward success for: listen 127.0.0.1:0, connect 127.0.0.1:5000",
                0
            ),
            None
        );
        assert_eq!(
            forward_said(
                "Error: remote port forwarding failed for listen port 41234",
                41234
            ),
            Some(Err(()))
        );
        assert_eq!(forward_said("debug1: Authentication succeeded", 0), None);
    }

    #[test]
    fn the_command_has_the_user_s_options_first_and_the_destination_last() {
        let host: HostConfig = toml::from_str("ssh = \"-p 2222 me@b1\"").unwrap();
        let c = command(&host, 0, 5000);
        let args: Vec<String> = c
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&args[..2], ["-p", "2222"]);
        assert_eq!(args.last().map(String::as_str), Some("me@b1"));
        assert!(args.contains(&"127.0.0.1:0:127.0.0.1:5000".to_string()));
    }
}
