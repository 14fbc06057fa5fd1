//! Which server a command goes to: this machine's, or a host's of `[hosts]`. A run is found
//! where it is (here first, then each host in order), so its id is all a command needs;
//! `--host NAME` says where outright.

use std::path::PathBuf;

use crate::client::{Client, ClientError};
use crate::config::hosts::{HostConfig, LOCAL};
use crate::protocol::{Command, ErrorKind};

/// Every server the user's config names: this machine's first, then the hosts by name.
pub struct Hosts {
    pub local: Client,
    pub remote: Vec<Client>,
    configs: Vec<(String, HostConfig)>,
    /// Why the config could not be read: this machine's runs are still reached, a host is not.
    problem: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl Hosts {
    /// The hosts of the user's config (`--config` and the user's file; a repository's file
    /// may not name hosts).
    pub async fn load(local: &Client, config: Option<PathBuf>) -> Result<Hosts, RouteError> {
        let loaded = tokio::task::spawn_blocking(move || {
            crate::config::load(&crate::config::Sources {
                explicit: config,
                ..Default::default()
            })
        })
        .await
        .map_err(|e| RouteError::Config(e.to_string()))?;
        // A broken config must not keep a person from this machine's runs.
        let (configs, problem): (Vec<(String, HostConfig)>, _) = match loaded {
            Ok(c) => {
                let keys: Vec<String> = c
                    .providers
                    .values()
                    .map(|p| p.api_key_env.clone())
                    .collect();
                let hosts = c.hosts.into_iter().map(|(name, mut h)| {
                    h.key_vars = keys.clone();
                    (name, h)
                });
                (hosts.collect(), None)
            }
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let remote = configs
            .iter()
            .map(|(name, h)| Client::for_host(local.home().clone(), name, h.clone()))
            .collect();
        Ok(Hosts {
            local: local.clone(),
            remote,
            configs,
            problem,
        })
    }

    pub fn any_remote(&self) -> bool {
        !self.remote.is_empty()
    }

    /// The client of host `name` (`local` is this machine).
    pub fn named(&self, name: &str) -> Result<&Client, RouteError> {
        if name == LOCAL {
            return Ok(&self.local);
        }
        self.remote
            .iter()
            .find(|c| c.host_name() == name)
            .ok_or_else(|| {
                if let Some(p) = &self.problem {
                    return RouteError::Config(format!(
                        "cannot read your config, so not its hosts either: {p}"
                    ));
                }
                let known: Vec<&str> = std::iter::once(LOCAL)
                    .chain(self.configs.iter().map(|(n, _)| n.as_str()))
                    .collect();
                RouteError::Config(format!(
                    "no host `{name}` in your config; the hosts are: {} (add [hosts.{name}] with its ssh destination)",
                    known.join(", ")
                ))
            })
    }

    /// Host `name`'s config.
    pub fn config(&self, name: &str) -> Option<&HostConfig> {
        self.configs.iter().find(|(n, _)| n == name).map(|(_, h)| h)
    }

    /// The client of the server that has `run`: `host` when given; else this machine when it
    /// knows the run, else the first host that does.
    pub async fn for_run(&self, run: &str, host: Option<&str>) -> Result<Client, RouteError> {
        if let Some(h) = host {
            return Ok(self.named(h)?.clone());
        }
        if !self.any_remote() {
            return Ok(self.local.clone());
        }
        let ask = |c: &Client| {
            let c = c.clone();
            let run = run.to_string();
            async move { c.request(&Command::Show { run }).await.map(|_| c) }
        };
        // Asked at once; answered in order (this machine first).
        let clients: Vec<&Client> = std::iter::once(&self.local).chain(&self.remote).collect();
        let answers = futures_util::future::join_all(clients.iter().map(|c| ask(c))).await;
        let mut missed = Vec::new();
        for (c, answer) in clients.into_iter().zip(answers) {
            match answer {
                Ok(found) => return Ok(found),
                Err(ClientError::Server(e)) if e.kind == ErrorKind::UnknownRun => {}
                // Ambiguous here, or refused: this server's answer is the one to give.
                Err(ClientError::Server(e)) => return Err(ClientError::Server(e).into()),
                Err(e) => missed.push(format!("{} ({e})", c.host_name())),
            }
        }
        let names: Vec<&str> = self.remote.iter().map(Client::host_name).collect();
        let mut said = format!(
            "no run matches `{run}` here or on {}; `flightdeck ls` lists the runs",
            names.join(", ")
        );
        if !missed.is_empty() {
            said.push_str(&format!(
                "; not asked, since they could not be reached: {}",
                missed.join("; ")
            ));
        }
        Err(RouteError::Config(said))
    }
}
