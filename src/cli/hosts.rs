//! `flightdeck hosts` and the runs of every host in `ls`.

use std::fmt::Write;
use std::time::Instant;

use color_eyre::eyre::{eyre, Result};
use serde::Serialize;

use crate::client::Client;
use crate::config::hosts::RepoThere;
use crate::hosts::route::Hosts;
use crate::protocol::{Command, Reply, RunSnapshot};
use crate::run::Status;

/// One host as `flightdeck hosts` shows it.
#[derive(Debug, Serialize)]
pub struct HostState {
    pub host: String,
    pub reachable: bool,
    /// Its flightdeck's version (a host of another version refuses to serve).
    pub version: Option<String>,
    pub runs: usize,
    pub active: usize,
    /// Runs it may start now: its `max_parallel` less what is active.
    pub free_slots: Option<usize>,
    /// How long listing its runs took, over ssh for a host.
    pub latency_ms: Option<u64>,
    /// Why it could not be reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn active(r: &RunSnapshot) -> bool {
    matches!(r.status, Status::Running | Status::Queued | Status::Paused)
}

async fn list(c: &Client) -> Result<Vec<RunSnapshot>, crate::client::ClientError> {
    match crate::hosts::route::request_within(c, &Command::List).await? {
        Reply::Runs { runs } => Ok(runs),
        other => Err(crate::client::ClientError::Protocol(format!("{other:?}"))),
    }
}

/// What a server says of itself: its version and its `max_parallel`.
async fn about(c: &Client) -> Result<(Option<String>, Option<usize>), crate::client::ClientError> {
    match crate::hosts::route::request_within(c, &Command::Ping).await? {
        Reply::Pong {
            version,
            max_parallel,
            ..
        } => Ok((version, max_parallel)),
        other => Err(crate::client::ClientError::Protocol(format!("{other:?}"))),
    }
}

/// Host `c`'s runs at once: `[hosts.NAME].max_parallel` when set, else what its server says,
/// else (this machine) `local`.
fn cap_of(hosts: &Hosts, c: &Client, said: Option<usize>, local: usize) -> Option<usize> {
    match hosts.config(c.host_name()) {
        Some(h) => h.max_parallel.or(said),
        None => said.or(Some(local)),
    }
}

pub async fn hosts(hosts: &Hosts, local_parallel: usize, json: bool) -> Result<i32> {
    // Every host asked at once: the slowest sets the time, not their sum.
    let clients: Vec<&Client> = std::iter::once(&hosts.local).chain(&hosts.remote).collect();
    let answers = futures_util::future::join_all(clients.iter().map(|c| async move {
        // Both at once, each on its own channel of the host's connection.
        let timed_list = async {
            let started = Instant::now();
            let listed = list(c).await;
            (listed, started.elapsed().as_millis() as u64)
        };
        let ((listed, latency), about) = futures_util::future::join(timed_list, about(c)).await;
        (listed.and_then(|runs| about.map(|a| (runs, a))), latency)
    }))
    .await;
    let mut states = Vec::new();
    for (c, (listed, latency)) in clients.into_iter().zip(answers) {
        states.push(match listed {
            Ok((runs, (version, said_cap))) => {
                let active = runs.iter().filter(|r| active(r)).count();
                let cap = cap_of(hosts, c, said_cap, local_parallel);
                HostState {
                    host: c.host_name().into(),
                    reachable: true,
                    version,
                    runs: runs.len(),
                    active,
                    free_slots: cap.map(|m| m.saturating_sub(active)),
                    latency_ms: Some(latency),
                    error: None,
                }
            }
            Err(e) => HostState {
                host: c.host_name().into(),
                reachable: false,
                version: None,
                runs: 0,
                active: 0,
                free_slots: None,
                latency_ms: None,
                error: Some(e.to_string()),
            },
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&states)?);
    } else {
        print!("{}", hosts_table(&states));
    }
    Ok(if states.iter().all(|s| s.reachable) {
        0
    } else {
        1
    })
}

fn hosts_table(states: &[HostState]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<12} {:<10} {:<9} {:>5} {:>6} {:>5} {:>8}",
        "HOST", "REACHABLE", "VERSION", "RUNS", "ACTIVE", "FREE", "LATENCY"
    );
    let dash = || "-".to_string();
    for s in states {
        let _ = writeln!(
            o,
            "{:<12} {:<10} {:<9} {:>5} {:>6} {:>5} {:>8}",
            crate::text::cut(&s.host, 12),
            if s.reachable { "yes" } else { "no" },
            s.version.clone().unwrap_or_else(dash),
            s.runs,
            s.active,
            s.free_slots.map_or_else(dash, |n| n.to_string()),
            s.latency_ms.map_or_else(dash, |n| format!("{n} ms"))
        );
        if let Some(e) = &s.error {
            let _ = writeln!(o, "             {}", crate::text::printable(e));
        }
    }
    o
}

/// `ls` over every host: the runs newest first, each with its host; a host that cannot be
/// reached is said on stderr and the others are listed.
pub async fn ls(hosts: &Hosts, json: bool, all: bool) -> Result<i32> {
    let mut runs: Vec<(String, RunSnapshot)> = Vec::new();
    let mut missed = 0;
    let clients: Vec<&Client> = std::iter::once(&hosts.local).chain(&hosts.remote).collect();
    let answers = futures_util::future::join_all(clients.iter().map(|c| list(c))).await;
    for (c, listed) in clients.into_iter().zip(answers) {
        match listed {
            Ok(found) => runs.extend(found.into_iter().map(|r| (c.host_name().to_string(), r))),
            Err(e) => {
                missed += 1;
                eprintln!("host {}: {e}", c.host_name());
            }
        }
    }
    if !all {
        runs.retain(|(_, r)| !r.is_stale_cleaned());
    }
    runs.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
    if json {
        let mut out = Vec::with_capacity(runs.len());
        for (host, r) in &runs {
            let mut v = serde_json::to_value(r)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("host".into(), host.clone().into());
            }
            out.push(v);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if runs.is_empty() {
        println!(
            "no runs yet; start one with: flightdeck run \"TASK\" (--host NAME for another host)"
        );
    } else {
        let hosts: Vec<&str> = runs.iter().map(|(h, _)| h.as_str()).collect();
        let records: Vec<RunSnapshot> = runs.iter().map(|(_, r)| r.clone()).collect();
        print!("{}", super::format::table_on_hosts(&records, Some(&hosts)));
    }
    if missed > 0 && runs.is_empty() && missed == hosts.remote.len() + 1 {
        return Err(eyre!("no host could be reached"));
    }
    Ok(0)
}

/// Where `run --host NAME` makes its run: that host's client, the repository's path there
/// and the run's base (`auto`: the reachable host with the most free slots that has the
/// repository). A repository the host clones from a URL is cloned or fetched there first, and
/// the run's base is then the commit it names here, so both machines start from the same one.
pub async fn placed(
    hosts: &Hosts,
    name: &str,
    repo: &std::path::Path,
    base: Option<String>,
    config: Option<std::path::PathBuf>,
) -> Result<(crate::client::Client, String, Option<String>)> {
    let (c, there) = chosen(hosts, name, repo, config).await?;
    match (there, hosts.config(c.host_name())) {
        (RepoThere::Clone { url, rest }, Some(host)) => {
            let ready = crate::hosts::clone::prepare(
                hosts.local.home(),
                c.host_name(),
                host,
                &url,
                &rest,
                repo,
                base.as_deref(),
            )
            .await?;
            Ok((c, ready.path, Some(ready.base)))
        }
        (RepoThere::Clone { url, .. }, None) => Err(eyre!(
            "internal error: {url} is a clone URL for this machine, which clones nothing"
        )),
        (RepoThere::Path(path), _) => Ok((c, path, base)),
    }
}

/// The host a run goes to and where its repository is there.
async fn chosen(
    hosts: &Hosts,
    name: &str,
    repo: &std::path::Path,
    config: Option<std::path::PathBuf>,
) -> Result<(crate::client::Client, RepoThere)> {
    let there = |c: &crate::client::Client| -> Option<RepoThere> {
        match hosts.config(c.host_name()) {
            None => Some(RepoThere::Path(repo.display().to_string())),
            // A clone URL counts as having it: the host clones it when the run goes there.
            Some(h) => h.repo_there(repo),
        }
    };
    if name != "auto" {
        let c = hosts.named(name)?;
        let path = there(c).ok_or_else(|| {
            color_eyre::eyre::eyre!(
                "host {name} has no path for the repository {}: add it to [hosts.{name}.repos], e.g. \"{}\" = \"/path/on/{name}\" (or a URL the host can clone)",
                repo.display(),
                repo.display()
            )
        })?;
        return Ok((c.clone(), path));
    }
    let local_cap = local_parallel(config).await;
    let mut best: Option<(usize, crate::client::Client, RepoThere)> = None;
    for c in std::iter::once(&hosts.local).chain(&hosts.remote) {
        let Some(path) = there(c) else { continue };
        let (runs, about) = futures_util::future::join(list(c), about(c)).await;
        let Ok(runs) = runs else {
            continue;
        };
        // A host whose cap is said nowhere takes one run at a time.
        let said = about.ok().and_then(|(_, cap)| cap);
        let cap = cap_of(hosts, c, said, local_cap).unwrap_or(1);
        let busy = runs.iter().filter(|r| active(r)).count();
        let free = cap.saturating_sub(busy);
        if best.as_ref().is_none_or(|(f, _, _)| free > *f) {
            best = Some((free, c.clone(), path));
        }
    }
    best.map(|(_, c, p)| (c, p)).ok_or_else(|| {
        color_eyre::eyre::eyre!(
            "no host can take the run: none that has the repository {} could be reached",
            repo.display()
        )
    })
}

/// This machine's `max_parallel`, from the user's config (the default when it cannot be read).
pub async fn local_parallel(config: Option<std::path::PathBuf>) -> usize {
    let read = tokio::task::spawn_blocking(move || {
        crate::config::load(&crate::config::Sources {
            explicit: config,
            ..Default::default()
        })
    })
    .await;
    match read {
        Ok(Ok(c)) => c.max_parallel,
        _ => crate::config::Config::default().max_parallel,
    }
}

/// For a run sent to host `name`: this machine's gateway, through a tunnel this machine's
/// server opens (started on demand: the tunnel outlives this command, as the run does; None
/// when this machine has no providers, and the host's own are used), and the run's id,
/// reserved here so that ids stay unique across hosts.
pub async fn gateway_for(
    local: &crate::client::Client,
    name: &str,
    host: &crate::config::hosts::HostConfig,
) -> Result<(Option<crate::protocol::HostGateway>, Option<String>)> {
    let asked = crate::protocol::Command::HostGateway {
        name: name.to_string(),
        host: Box::new(host.clone()),
    };
    match local.request(&asked).await? {
        crate::protocol::Reply::HostGateway { gateway, id } => Ok((gateway, id)),
        other => Err(eyre!("unexpected answer from the server: {other:?}")),
    }
}
