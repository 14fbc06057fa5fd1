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
    /// its URL there and the host's token (None when this server has no providers), and a
    /// run id reserved here.
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
                let h = home.clone();
                let (config, id) = tokio::task::spawn_blocking(move || {
                    Ok::<_, ProtocolError>((source.load(None, None)?, reserve(&h)?))
                })
                .await
                .map_err(|e| ProtocolError::internal(e.to_string()))??;
                let id = Some(id);
                if config.providers.is_empty() {
                    return Ok(Reply::HostGateway { gateway: None, id });
                }
                let gateway = open(&gw, &tunnels, &home, &name, &host, &config).await?;
                Ok(Reply::HostGateway {
                    gateway: Some(gateway),
                    id,
                })
            }
            .await;
            let _ = reply.send(answer);
        });
    }

    /// At start-up: the tunnels and tokens of the hosts a previous server sent runs to, opened
    /// again (the same token, the same port there when it is free), so those runs keep
    /// reaching their models. Blocking (reads the home); the tunnels open on the runtime.
    pub(super) fn reopen_host_links(&self) {
        let Some(gw) = self.gateway.clone() else {
            return;
        };
        if self.global.providers.is_empty() {
            return;
        }
        let names: Vec<String> = std::fs::read_dir(self.home.root().join(LINKS))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".json"))
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        for name in names {
            let Some(host) = self.global.hosts.get(&name).cloned() else {
                continue;
            };
            let (gw, tunnels, home) = (gw.clone(), self.tunnels.clone(), self.home.clone());
            let config = self.global.clone();
            tokio::spawn(async move {
                match open(&gw, &tunnels, &home, &name, &host, &config).await {
                    Ok(_) => tracing::info!("the tunnel from host `{name}` is open again"),
                    Err(e) => tracing::warn!("{}", e.message),
                }
            });
        }
    }
}

/// Where the hosts' tokens and tunnel ports are kept (one file per host, owner-only), for
/// the next server. The token is this machine's own, never a key.
const LINKS: &str = "host-links";

/// What the next server needs to open a host's tunnel again.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    token: String,
    port: u16,
}

/// The file of host `name`, when the name can be a file's.
fn saved_file(home: &crate::paths::Home, name: &str) -> Option<std::path::PathBuf> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    plain.then(|| home.root().join(LINKS).join(format!("{name}.json")))
}

/// Keep host `name`'s token and tunnel port in `file` for the next server (said in the log
/// when it cannot be written: the next server then opens a new tunnel and token).
async fn keep_saved(file: std::path::PathBuf, saved: Saved, name: &str) {
    let written = tokio::task::spawn_blocking(move || {
        let text = serde_json::to_vec(&saved).map_err(std::io::Error::other)?;
        if let Some(dir) = file.parent() {
            crate::owner_only::create_dir_all(dir)?;
        }
        crate::proof::store::write_atomic(&file, &text)
    })
    .await;
    if let Ok(Err(e)) = written {
        tracing::warn!(
            "cannot keep host `{name}`'s token and tunnel port for the next server: {e}"
        );
    }
}

/// Host `name`'s tunnel opened (or found open) and its link registered in the gateway, with
/// the token and port a previous server used when there are some.
async fn open(
    gw: &Arc<crate::gateway::Gateway>,
    tunnels: &crate::hosts::tunnel::Tunnels,
    home: &crate::paths::Home,
    name: &str,
    host: &HostConfig,
    config: &Config,
) -> Result<HostGateway, ProtocolError> {
    let file = saved_file(home, name);
    let saved: Option<Saved> = match file.clone() {
        Some(f) => tokio::task::spawn_blocking(move || {
            std::fs::read(f)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
        })
        .await
        .ok()
        .flatten(),
        None => None,
    };
    let keys: Vec<String> = config
        .providers
        .values()
        .map(|p| p.api_key_env.clone())
        .collect();
    // Every ssh started for this host (the tunnel's, and the one telling it the tunnel moved)
    // leaves the keys' variables behind: the config that came in a request has none marked.
    let mut host = host.clone();
    host.key_vars = keys.clone();
    let host = &host;
    // The link first: the host's runs call with this token whatever port the tunnel gets,
    // and one that reopens elsewhere is told to the host with it.
    let token = gw
        .host_link(
            name,
            saved.as_ref().map(|s| s.token.clone()),
            Some(home.root()),
            config.providers.clone(),
            Arc::new(config.prices()),
            config.budget,
        )
        .ok_or_else(|| ProtocolError::internal("the gateway's state is poisoned"))?;
    let first = saved.as_ref().map_or(0, |s| s.port);
    let port = tunnels
        .port(
            name,
            host,
            gw.addr().port(),
            keys,
            first,
            moved_news(gw, home, name, host),
        )
        .await
        .map_err(ProtocolError::refused)?;
    let changed = saved.is_none_or(|s| s.token != token || s.port != port);
    if let (Some(f), true) = (file, changed) {
        keep_saved(
            f,
            Saved {
                token: token.clone(),
                port,
            },
            name,
        )
        .await;
    }
    Ok(HostGateway {
        url: format!("http://127.0.0.1:{port}/h/{token}"),
        token,
        providers: config
            .providers
            .iter()
            .map(|(n, p)| (n.clone(), p.kind))
            .collect(),
    })
}

/// What is done when host `name`'s tunnel reopens on another port: the port kept for the next
/// server, and the host told, so its runs' calls go there. (Must run on the runtime.)
fn moved_news(
    gw: &Arc<crate::gateway::Gateway>,
    home: &crate::paths::Home,
    name: &str,
    host: &HostConfig,
) -> crate::hosts::tunnel::OnMoved {
    let (gw, home, name, host) = (gw.clone(), home.clone(), name.to_string(), host.clone());
    let runtime = tokio::runtime::Handle::current();
    // The last port told: news of an earlier one stops trying once a later one comes.
    let latest = Arc::new(std::sync::atomic::AtomicU16::new(0));
    Box::new(move |port| {
        latest.store(port, std::sync::atomic::Ordering::SeqCst);
        let latest = latest.clone();
        // No link yet: no run there was given a port.
        let Some(token) = gw.host_token(&name) else {
            return;
        };
        let (home, name, host) = (home.clone(), name.clone(), host.clone());
        runtime.spawn(async move {
            if let Some(f) = saved_file(&home, &name) {
                keep_saved(
                    f,
                    Saved {
                        token: token.clone(),
                        port,
                    },
                    &name,
                )
                .await;
            }
            super::tunnel_moved::tell(home, name, host, token, port, latest).await;
        });
    })
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
    // Whole or not at all: a retry or an adopting server reads it for the run's token.
    crate::proof::store::write_atomic(&dir.join(FILE), &text)
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
