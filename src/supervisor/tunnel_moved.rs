//! A host's tunnel back to this machine's gateway reopened on another port there (the link
//! dropped, or this machine's server restarted, and its port was taken meanwhile). The runs
//! there were given the old port: this machine tells the host (`tell`), and the host points
//! those runs at the new one, live in its gateway and in their `host-gateway.json` for a retry
//! or an adopting server (`Supervisor::tunnel_moved_command`).

use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::config::hosts::HostConfig;
use crate::paths::Home;
use crate::protocol::{Command, ProtocolError, Reply, TunnelMoved};

use super::{Answer, Internal, Supervisor};

/// Waits between tries to reach the host with the news: doubling from the first to the most.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const MOST_WAIT: Duration = Duration::from_secs(60);

/// On this machine: tell host `name` that runs calling with `token` are to use `port`. Tried
/// until the host has it (its runs cannot reach their models before), or until a later move
/// (`latest` is no longer `port`) makes this news old; said in the server log.
pub async fn tell(
    home: Home,
    name: String,
    host: HostConfig,
    token: String,
    port: u16,
    latest: Arc<AtomicU16>,
) {
    let client = crate::client::Client::for_host(home, &name, host);
    let cmd = Command::HostTunnelMoved(Box::new(TunnelMoved { token, port }));
    let mut wait = FIRST_WAIT;
    let mut warned = false;
    while latest.load(Ordering::SeqCst) == port {
        match client.request(&cmd).await {
            Ok(Reply::Done { message }) => {
                tracing::info!("host `{name}`: {message}");
                return;
            }
            Ok(Reply::Error { error }) => {
                tracing::warn!("host `{name}` did not take the tunnel's new port {port}: {error}")
            }
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(
                    "cannot tell host `{name}` its tunnel moved to port {port} (its runs cannot reach their models until it is told; trying again until it answers): {e}"
                )
            }
            _ => {}
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MOST_WAIT);
    }
}

/// Point every run under `runs` whose `host-gateway.json` has `moved`'s token at its URL;
/// how many. Blocking.
pub fn repoint_files(runs: &Path, moved: &TunnelMoved) -> Result<usize, ProtocolError> {
    let entries = match std::fs::read_dir(runs) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => {
            return Err(ProtocolError::internal(format!(
                "cannot read {}: {e}",
                runs.display()
            )))
        }
    };
    let mut count = 0;
    for dir in entries.flatten().map(|e| e.path()) {
        // A run whose file cannot be read is not one of this token's to move.
        let Ok(Some(mut g)) = super::host_gateway::read(&dir) else {
            continue;
        };
        if g.token != moved.token {
            continue;
        }
        let url = moved.url();
        if g.url != url {
            g.url = url;
            super::host_gateway::write(&dir, &g)?;
        }
        count += 1;
    }
    Ok(count)
}

impl Supervisor {
    /// On a host: the tunnel of the machine whose runs call with `moved.token` is now on
    /// `moved.port`; those runs' files and live calls go there.
    pub(super) fn tunnel_moved_command(
        &mut self,
        moved: TunnelMoved,
        reply: oneshot::Sender<Answer>,
    ) {
        if !crate::gateway::hosts::is_host_token(&moved.token) || moved.port == 0 {
            let e = ProtocolError::refused("not a host's token and tunnel port");
            return drop(reply.send(Err(e)));
        }
        let runs = self.home.root().join("runs");
        let gateway = self.gateway.clone();
        self.jobs.blocking(
            move || {
                let files = repoint_files(&runs, &moved)?;
                let live = gateway.map_or(0, |g| g.repoint_host_calls(&moved.token, &moved.url()));
                Ok(Reply::Done {
                    message: format!(
                        "{files} run(s) now call their models through port {} ({live} live)",
                        moved.port
                    ),
                })
            },
            |result| {
                let answer = result.unwrap_or_else(|e| {
                    Err(ProtocolError::internal(format!(
                        "pointing runs at the tunnel's new port: {e}"
                    )))
                });
                Internal::Answer { reply, answer }.into()
            },
        );
    }
}

/// The gateway a run on a host calls with, written as `HostGateway` (for tests here).
#[cfg(test)]
fn sample(token: &str, port: u16) -> crate::protocol::HostGateway {
    crate::protocol::HostGateway {
        url: format!("http://127.0.0.1:{port}/h/{token}"),
        token: token.into(),
        providers: [(
            "anthropic".to_string(),
            crate::config::ProviderKind::Anthropic,
        )]
        .into_iter()
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_s_runs_are_pointed_at_the_new_port() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let mine = "fdh-aaaaaaaaaaaaaaaaaaaaaaaa";
        let other = "fdh-bbbbbbbbbbbbbbbbbbbbbbbb";
        for (id, token) in [("r1", mine), ("r2", other), ("r3", mine)] {
            std::fs::create_dir_all(runs.join(id)).unwrap();
            super::super::host_gateway::write(&runs.join(id), &sample(token, 4000)).unwrap();
        }
        // A run of this host's own, and one whose file is garbage.
        std::fs::create_dir_all(runs.join("r4")).unwrap();
        std::fs::create_dir_all(runs.join("r5")).unwrap();
        std::fs::write(runs.join("r5").join(super::super::host_gateway::FILE), "{").unwrap();
        let moved = TunnelMoved {
            token: mine.into(),
            port: 4100,
        };
        assert_eq!(repoint_files(&runs, &moved).unwrap(), 2);
        let url = |id: &str| {
            super::super::host_gateway::read(&runs.join(id))
                .unwrap()
                .unwrap()
                .url
        };
        assert_eq!(url("r1"), format!("http://127.0.0.1:4100/h/{mine}"));
        assert_eq!(url("r3"), format!("http://127.0.0.1:4100/h/{mine}"));
        assert_eq!(url("r2"), format!("http://127.0.0.1:4000/h/{other}"));
        assert_eq!(repoint_files(&dir.path().join("none"), &moved).unwrap(), 0);
    }
}
