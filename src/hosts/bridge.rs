//! The way to another host's server: `ssh HOST flightdeck bridge`, whose stdin and stdout are
//! a connection to the server there (started on demand, as locally). One command per
//! connection, as on the local socket; the ControlMaster makes each one a new channel.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{Client, ClientError, Remote, ReplyStream};
use crate::paths::Home;
use crate::protocol::{Command, ProtocolError, Reply};

/// This build's version: a host's bridge refuses to serve another.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Most of ssh's stderr kept, to say why a host cannot be reached.
const STDERR_KEEP: usize = 4096;

/// Send `cmd` to `remote`'s server through ssh and the bridge there.
pub async fn stream(
    home: &Home,
    remote: &Remote,
    cmd: &Command,
) -> Result<ReplyStream, ClientError> {
    let name = remote.name.clone();
    let home2 = home.clone();
    let control = tokio::task::spawn_blocking(move || super::ssh::control_dir(&home2))
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?
        .map_err(|e| {
            ClientError::Connect(format!("cannot make {}/ssh: {e}", home.root().display()))
        })?;
    let mut child = super::ssh::command(
        &control,
        &remote.host,
        &["bridge", "--expect-version", VERSION],
    )
    .spawn()
    .map_err(|e| ClientError::Connect(format!("cannot run ssh to reach host {name}: {e}")))?;
    let (Some(stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(ClientError::Connect(format!(
            "cannot talk to ssh for host {name}"
        )));
    };
    let said = Arc::new(Mutex::new(Vec::new()));
    let said2 = said.clone();
    let reading = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = said2.lock() {
                s.extend_from_slice(&buf[..n]);
                let over = s.len().saturating_sub(STDERR_KEEP);
                s.drain(..over);
            }
        }
    });
    // ssh may have ended before the command is written (a refused connection is quick): the
    // write fails then, and what ssh said is why, as when no answer comes.
    let sent = Client::send_over(Box::new(stdout), Box::new(stdin), Some(child), cmd).await;
    let primed = match sent {
        Ok(mut s) => match s.prime().await {
            Ok(()) => Ok(s),
            Err(_) => Err(Some(s)),
        },
        Err(ClientError::Io(_)) => Err(None),
        Err(e) => return Err(e),
    };
    match primed {
        Ok(s) => Ok(s),
        Err(s) => {
            // ssh has ended (or will, once dropped): what it said is why.
            drop(s);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), reading).await;
            let text = said
                .lock()
                .map(|s| String::from_utf8_lossy(&s).into_owned())
                .unwrap_or_default();
            Err(ClientError::Connect(unreachable(&name, &text)))
        }
    }
}

/// Why host `name` could not be reached, from what ssh (or the host's shell) said.
pub(crate) fn unreachable(name: &str, stderr: &str) -> String {
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| crate::text::printable(l).into_owned());
    match last {
        Some(l) if l.contains("unrecognized subcommand") => format!(
            "host {name}: its flightdeck has no `bridge` (an older version): `flightdeck hosts install {name}` copies this one there"
        ),
        Some(l) if l.contains("not found") || l.contains("No such file") => format!(
            "host {name}: {l}; set [hosts.{name}].binary to the flightdeck program there, or `flightdeck hosts install {name}`"
        ),
        Some(l) => format!("cannot reach host {name} over ssh: {l}"),
        None => format!("cannot reach host {name} over ssh (it closed the connection without a word)"),
    }
}

/// What a host says to a client of version `theirs`, not its own.
pub fn version_refusal(theirs: &str) -> String {
    format!(
        "flightdeck on this host is version {VERSION} and the local one {theirs}: the two must be the same (`flightdeck hosts install` with this host's name copies the local one there)"
    )
}

/// `flightdeck bridge`, on the host: relay stdin to this host's server and its answers to
/// stdout, until either side ends. A client of another version is told so and refused.
pub async fn serve(client: &Client, expect_version: Option<&str>) -> color_eyre::Result<i32> {
    let mut stdout = tokio::io::stdout();
    if let Some(v) = expect_version.filter(|v| *v != VERSION) {
        let refusal = Reply::Error {
            error: ProtocolError::refused(version_refusal(v)),
        };
        let mut line = serde_json::to_vec(&refusal)?;
        line.push(b'\n');
        stdout.write_all(&line).await?;
        stdout.flush().await?;
        return Ok(1);
    }
    let sock = match current_server(client).await {
        Ok(s) => s,
        Err(e) => {
            let refusal = Reply::Error {
                error: ProtocolError::internal(format!("on this host: {e}")),
            };
            let mut line = serde_json::to_vec(&refusal)?;
            line.push(b'\n');
            stdout.write_all(&line).await?;
            stdout.flush().await?;
            return Ok(1);
        }
    };
    let (mut from_server, mut to_server) = sock.into_split();
    let mut stdin = tokio::io::stdin();
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_server.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        // Nothing more to send: the answer may still be on its way.
        let _ = to_server.shutdown().await;
        std::future::pending::<()>().await
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_server.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    // Flushed each time: a followed timeline goes line by line.
                    if stdout.write_all(&buf[..n]).await.is_err() || stdout.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    // The server closing ends the bridge (a client gone closes ssh's channel, and with it
    // this process's stdout).
    tokio::select! {
        () = up => {}
        () = down => {}
    }
    Ok(0)
}

/// How long the host's server has to answer the bridge's `Ping`.
const PING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A connection to this host's server, of this version. A server still running an older
/// flightdeck (the program was replaced under it, e.g. by `hosts install`) would half-understand
/// this one's requests: it is stopped, its runs carrying on without it, and a new one started,
/// which adopts them.
async fn current_server(client: &Client) -> Result<tokio::net::UnixStream, ClientError> {
    let sock = client.connect().await?;
    let asked = async { Client::send_on(sock, &Command::Ping).await?.next().await };
    let (version, pid) = match tokio::time::timeout(PING_WAIT, asked).await {
        Ok(Ok(Some(Reply::Pong { version, pid, .. }))) => (version, Some(pid)),
        // A reply this build cannot read: another version's (its pid unknown).
        Ok(Err(ClientError::Protocol(_))) => (None, None),
        // Busy, or gone while answering: it is let be; the command itself will say.
        Ok(_) | Err(_) => (Some(VERSION.to_string()), None),
    };
    if version.as_deref() != Some(VERSION) {
        let was = version.unwrap_or_else(|| "an older one".into());
        tracing::info!("the server here runs flightdeck {was}, not {VERSION}: replacing it");
        retire(client, pid, &was).await?;
    }
    client.connect().await
}

/// How long an old server has to stop (it lets its runs go on, and the new one adopts them).
const RETIRE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Stop the server of another version: that very process (by its pid, with SIGTERM, which
/// stops it as `stop --keep-runs` does), so two bridges replacing it at once never stop the
/// new server one of them started. Without a pid (its answer could not be read), through its
/// socket.
async fn retire(client: &Client, pid: Option<u32>, was: &str) -> Result<(), ClientError> {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        if let Some(old) = client.connect_existing().await {
            client.stop_server_on(old, false).await?;
        }
        return Ok(());
    };
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + RETIRE_WAIT;
    while nix::sys::signal::kill(pid, None).is_ok() {
        if tokio::time::Instant::now() > deadline {
            return Err(ClientError::Connect(format!(
                "the flightdeck server on this host (pid {pid}) runs version {was}, not {VERSION}, and did not stop within {} s: stop it there (`flightdeck stop --keep-runs`) and try again",
                RETIRE_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Its socket goes as it exits; the next connection starts a server of this version.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn why_a_host_is_unreachable_is_said_with_what_to_do() {
        assert_eq!(
            unreachable("b1", "ssh: connect to host 10.0.0.9 port 22: Connection refused\n"),
            "cannot reach host b1 over ssh: ssh: connect to host 10.0.0.9 port 22: Connection refused"
        );
        assert!(
            unreachable("b1", "error: unrecognized subcommand 'bridge'\n")
                .contains("flightdeck hosts install b1")
        );
        assert!(unreachable("b1", "sh: 1: flightdeck: not found\n").contains("[hosts.b1].binary"));
        assert!(unreachable("b1", "").contains("without a word"));
    }
}
