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

/// How long a host has to say whether it has a run.
const HOST_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// `cmd`'s answer from `c`, or an error once it has taken `HOST_WAIT` (a host whose link is
/// up but whose server is stuck answers nothing at all).
pub async fn request_within(
    c: &Client,
    cmd: &Command,
) -> Result<crate::protocol::Reply, ClientError> {
    match tokio::time::timeout(HOST_WAIT, c.request(cmd)).await {
        Ok(answer) => answer,
        Err(_) => Err(ClientError::Connect(format!(
            "host {} did not answer within {} s",
            c.host_name(),
            HOST_WAIT.as_secs()
        ))),
    }
}

/// The id of the run a `Show` answer is about.
fn found_id(reply: &crate::protocol::Reply) -> Option<String> {
    match reply {
        crate::protocol::Reply::Run { run } | crate::protocol::Reply::Shown { run, .. } => {
            Some(run.id.clone())
        }
        _ => None,
    }
}

/// Which of the runs found (id, host) `run` names: the one, none, or a sentence saying it is
/// ambiguous.
fn one_of(run: &str, found: &[(String, &str)]) -> Result<Option<usize>, String> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(Some(0)),
        _ => {
            let each: Vec<String> = found
                .iter()
                .map(|(id, host)| format!("{id} on {host}"))
                .collect();
            Err(format!(
                "`{run}` matches runs on more than one host: {}; give more of the id, or --host",
                each.join(", ")
            ))
        }
    }
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
    /// has a run by exactly that id (ids are unique across hosts), else the one server whose
    /// runs match it. A prefix matching runs on two hosts is ambiguous, said with both; a host
    /// that does not answer within `HOST_WAIT` is named, not waited on.
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
            async move {
                let reply = request_within(&c, &Command::Show { run }).await?;
                Ok((found_id(&reply), c))
            }
        };
        // The hosts are asked at once, this machine meanwhile: its exact match ends the search.
        let remote: Vec<_> = self.remote.iter().map(|c| tokio::spawn(ask(c))).collect();
        let here = ask(&self.local).await;
        if let Ok((Some(id), c)) = &here {
            if id == run {
                remote.iter().for_each(|t| t.abort());
                return Ok(c.clone());
            }
        }
        let mut answers = vec![here];
        for t in remote {
            answers.push(
                t.await
                    .unwrap_or_else(|e| Err(ClientError::Connect(e.to_string()))),
            );
        }
        let mut found: Vec<(String, Client)> = Vec::new();
        let mut missed = Vec::new();
        let clients = std::iter::once(&self.local).chain(&self.remote);
        for (c, answer) in clients.zip(answers) {
            match answer {
                Ok((id, found_on)) => found.push((id.unwrap_or_default(), found_on)),
                Err(ClientError::Server(e)) if e.kind == ErrorKind::UnknownRun => {}
                // Ambiguous on that server: its answer is the one to give.
                Err(ClientError::Server(e)) if e.kind == ErrorKind::AmbiguousRun => {
                    return Err(ClientError::Server(e).into())
                }
                // Anything else (another version's refusal, a server that cannot start) is a
                // host not asked, like one out of reach: the others still answer.
                Err(e) => missed.push(format!("{} ({e})", c.host_name())),
            }
        }
        let named: Vec<(String, &str)> = found
            .iter()
            .map(|(id, c)| (id.clone(), c.host_name()))
            .collect();
        if let Some(i) = one_of(run, &named).map_err(RouteError::Config)? {
            // A prefix could also name a run on a host that was not asked: only a whole id
            // is sure.
            if !missed.is_empty() && named[i].0 != run {
                return Err(RouteError::Config(format!(
                    "`{run}` matches {} on {}, but not every host could be asked ({}); give the whole id",
                    named[i].0,
                    named[i].1,
                    missed.join("; ")
                )));
            }
            return Ok(found.swap_remove(i).1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_found_on_two_hosts_is_ambiguous_and_says_where() {
        assert_eq!(one_of("ab", &[]), Ok(None));
        assert_eq!(one_of("ab", &[("abc12345".into(), "b1")]), Ok(Some(0)));
        let two = one_of(
            "ab",
            &[("abc12345".into(), "local"), ("abz99999".into(), "b1")],
        )
        .unwrap_err();
        assert_eq!(
            two,
            "`ab` matches runs on more than one host: abc12345 on local, abz99999 on b1; give more of the id, or --host"
        );
    }
}
