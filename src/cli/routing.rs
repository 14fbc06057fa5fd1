//! Commands about a run go to the server that has it: this machine's or a host's, found by
//! the run's id (or `--host`); a command naming runs on several hosts sends each to its own.

use std::path::PathBuf;

use color_eyre::eyre::Result;

use super::{actions, local_only, view, Cmd};
use crate::hosts::route::Hosts;

/// Commands about a run (or that need no host): sent to the server that has the run.
pub(super) async fn on_run(
    cmd: Cmd,
    local: &crate::client::Client,
    host: Option<&str>,
    config: Option<PathBuf>,
    home: crate::paths::Home,
) -> Result<i32> {
    let hosts = Hosts::load(local, config.clone()).await?;
    let to = |run: String| {
        let hosts = &hosts;
        async move { hosts.for_run(&run, host).await }
    };
    match cmd {
        Cmd::Show { run, json } => view::show(&to(run.clone()).await?, &run, json).await,
        Cmd::Logs { run, follow } => view::logs(&to(run.clone()).await?, &run, follow).await,
        Cmd::Pause { run } => actions::pause(&to(run.clone()).await?, &run).await,
        Cmd::Resume { run } => actions::resume(&to(run.clone()).await?, &run).await,
        Cmd::Kill { run } => actions::kill(&to(run.clone()).await?, &run).await,
        Cmd::Retry { run, phase } => actions::retry(&to(run.clone()).await?, &run, phase).await,
        Cmd::Clean {
            runs,
            merged,
            force,
        } => {
            // Each run on its own host; `--merged` on --host's, or on every host.
            let groups = if runs.is_empty() {
                match host {
                    Some(h) => vec![(hosts.named(h)?.clone(), Vec::new())],
                    None if merged => std::iter::once(&hosts.local)
                        .chain(&hosts.remote)
                        .map(|c| (c.clone(), Vec::new()))
                        .collect(),
                    None => vec![(local.clone(), Vec::new())],
                }
            } else {
                by_host(&hosts, &runs, host).await?
            };
            let mut code = 0;
            for (client, runs) in groups {
                let cleaned = actions::clean(&client, &runs, merged, force).await;
                code = code.max(match cleaned {
                    Ok(c) => c,
                    // A host out of reach keeps its landed runs; the others are cleaned.
                    Err(e) if merged && runs.is_empty() && client.remote().is_some() => {
                        eprintln!("flightdeck: host {}: {e}", client.host_name());
                        1
                    }
                    Err(e) => return Err(e),
                });
            }
            Ok(code)
        }
        Cmd::Rebase { run, by_hand } => {
            actions::rebase(&to(run.clone()).await?, &run, by_hand).await
        }
        Cmd::Merge { runs, no_wait } => {
            // A merge queue is a host's: each host's runs go to its own, in turn.
            let groups = match runs.is_empty() {
                true => vec![(local.clone(), runs)],
                false => by_host(&hosts, &runs, host).await?,
            };
            let mut code = 0;
            for (client, runs) in groups {
                code = code.max(actions::merge(&client, &runs, no_wait).await?);
            }
            Ok(code)
        }
        Cmd::Pr { run, json } => actions::pr(&to(run.clone()).await?, &run, json).await,
        Cmd::Reply { run, text } => {
            actions::reply(&to(run.clone()).await?, &run, &text.join(" ")).await
        }
        other => local_only(other, local, config, home).await,
    }
}

/// `runs` grouped by the server that has each, in the order first named.
async fn by_host(
    hosts: &Hosts,
    runs: &[String],
    host: Option<&str>,
) -> Result<Vec<(crate::client::Client, Vec<String>)>> {
    let mut groups: Vec<(crate::client::Client, Vec<String>)> = Vec::new();
    for run in runs {
        let client = hosts.for_run(run, host).await?;
        match groups
            .iter_mut()
            .find(|(c, _)| c.host_name() == client.host_name())
        {
            Some((_, named)) => named.push(run.clone()),
            None => groups.push((client, vec![run.clone()])),
        }
    }
    Ok(groups)
}

/// Whether `cmd` is about a run (and goes to the server that has it).
pub(super) fn about_a_run(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Show { .. }
            | Cmd::Logs { .. }
            | Cmd::Pause { .. }
            | Cmd::Resume { .. }
            | Cmd::Kill { .. }
            | Cmd::Retry { .. }
            | Cmd::Clean { .. }
            | Cmd::Rebase { .. }
            | Cmd::Merge { .. }
            | Cmd::Pr { .. }
            | Cmd::Reply { .. }
    )
}
