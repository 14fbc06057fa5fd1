//! Runs across hosts and the keys. On the sending machine: a tunnel from a host to this
//! server's gateway and the host's token there (`Command::HostGateway`). On the host: a run
//! sent with a `HostGateway` has every provider pointed at that URL, with the token in place of
//! a key; the token is kept beside the run (`host-gateway.json`, owner-only) for a retry or a
//! server that adopts the run. No provider key reaches the host, in a file or an environment.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::config::hosts::HostConfig;
use crate::config::{Config, ProviderConfig};
use crate::protocol::{HostGateway, ProtocolError, Reply};

use super::{Answer, Supervisor};

/// The file in a run's directory that says its calls go to another machine's gateway.
pub const FILE: &str = "host-gateway.json";
/// The directory of the home where ids given to runs on other hosts are reserved.
const RESERVED: &str = "host-run-ids";

/// Reserve a run id for a run sent to another host: no run here will have it, so ids stay
/// unique across this machine and its hosts. Blocking.
pub fn reserve(home: &crate::paths::Home) -> Result<String, ProtocolError> {
    let dir = home.root().join(RESERVED);
    crate::owner_only::create_dir_all(&dir)
        .map_err(|e| ProtocolError::internal(format!("cannot create {}: {e}", dir.display())))?;
    loop {
        let id = crate::run::id::generate();
        match crate::owner_only::create_dir(&dir.join(&id)) {
            // Made first, then checked (as `claim` does the other way round): of two at once,
            // one sees the other.
            Ok(()) if home.run_dir(&id).exists() => {
                let _ = std::fs::remove_dir(dir.join(&id));
            }
            Ok(()) => return Ok(id),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(ProtocolError::internal(format!(
                    "cannot reserve a run id in {}: {e}",
                    dir.display()
                )))
            }
        }
    }
}

/// Whether `id` was reserved for a run on another host. Blocking.
pub fn reserved(home: &crate::paths::Home, id: &str) -> bool {
    home.root().join(RESERVED).join(id).exists()
}

impl Supervisor {
    /// Open (or find open) the tunnel from host `name` to this server's gateway; answer with
    /// its URL there and the host's token. None when this server has no providers.
    pub(super) fn host_gateway_command(
        &mut self,
        name: String,
        host: HostConfig,
        reply: oneshot::Sender<Answer>,
    ) {
        let Some(gw) = self.gateway.clone() else {
            let e = ProtocolError::refused(
                "this machine's gateway did not start (see the server log), so a run on another host could not reach its providers without their keys",
            );
            return drop(reply.send(Err(e)));
        };
        let source = self.config_source.clone();
        let tunnels = self.tunnels.clone();
        let home = self.home.clone();
        tokio::spawn(async move {
            let answer = async {
                // The providers pinned at start, the budgets and prices as your files say now;
                // and the run's id.
                let (config, id) = tokio::task::spawn_blocking(move || {
                    Ok::<_, ProtocolError>((source.load(None, None)?, reserve(&home)?))
                })
                .await
                .map_err(|e| ProtocolError::internal(e.to_string()))??;
                let id = Some(id);
                if config.providers.is_empty() {
                    return Ok(Reply::HostGateway { gateway: None, id });
                }
                let keys = config
                    .providers
                    .values()
                    .map(|p| p.api_key_env.clone())
                    .collect();
                let port = tunnels
                    .port(&name, &host, gw.addr().port(), keys)
                    .await
                    .map_err(ProtocolError::refused)?;
                let kinds = config
                    .providers
                    .iter()
                    .map(|(n, p)| (n.clone(), p.kind))
                    .collect();
                let token = gw
                    .host_link(
                        &name,
                        config.providers.clone(),
                        Arc::new(config.prices()),
                        config.budget,
                    )
                    .ok_or_else(|| ProtocolError::internal("the gateway's state is poisoned"))?;
                Ok(Reply::HostGateway {
                    gateway: Some(HostGateway {
                        url: format!("http://127.0.0.1:{port}/h/{token}"),
                        token,
                        providers: kinds,
                    }),
                    id,
                })
            }
            .await;
            let _ = reply.send(answer);
        });
    }
}

/// Point every provider of a run sent from another machine at that machine's gateway.
pub fn apply(config: &mut Config, g: &HostGateway) {
    config.providers = g
        .providers
        .iter()
        .map(|(name, kind)| {
            let provider = ProviderConfig {
                kind: *kind,
                base_url: format!("{}/{name}", g.url.trim_end_matches('/')),
                api_key_env: String::new(),
                host_token: Some(g.token.clone()),
            };
            (name.clone(), provider)
        })
        .collect();
}

/// Keep it beside the run. Blocking.
pub fn write(dir: &Path, g: &HostGateway) -> Result<(), ProtocolError> {
    let text = serde_json::to_vec(g).map_err(|e| ProtocolError::internal(e.to_string()))?;
    crate::owner_only::write(&dir.join(FILE), &text)
        .map_err(|e| ProtocolError::internal(format!("cannot write {FILE}: {e}")))
}

/// The run's, if it was sent from another machine. Blocking.
pub fn read(dir: &Path) -> Result<Option<HostGateway>, ProtocolError> {
    match std::fs::read(dir.join(FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ProtocolError::internal(format!("{FILE} cannot be read: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ProtocolError::internal(format!("cannot read {FILE}: {e}"))),
    }
}

/// A run's config read again: its providers pointed where its request said. Blocking.
pub fn reapply(dir: &Path, mut config: Config) -> Result<Config, ProtocolError> {
    if let Some(g) = read(dir)? {
        apply(&mut config, &g);
    }
    Ok(config)
}
