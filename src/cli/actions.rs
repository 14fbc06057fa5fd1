//! pause, resume, kill, retry, clean, serve, shutdown.

use std::path::PathBuf;
use std::time::Duration;

use color_eyre::eyre::{eyre, Result};

use crate::client::Client;
use crate::paths::Home;
use crate::protocol::{Command, Reply};
use crate::run::Phase;

use super::run::expect_run;

pub async fn pause(client: &Client, run: &str) -> Result<i32> {
    let r = expect_run(client.request(&Command::Pause { run: run.into() }).await?)?;
    println!("paused run {} (phase {})", r.id, r.phase);
    Ok(0)
}

pub async fn resume(client: &Client, run: &str) -> Result<i32> {
    let r = expect_run(client.request(&Command::Resume { run: run.into() }).await?)?;
    println!("resumed run {} (phase {})", r.id, r.phase);
    Ok(0)
}

pub async fn kill(client: &Client, run: &str) -> Result<i32> {
    let reply = client.request(&Command::Kill { run: run.into() }).await?;
    // An interrupted run: what was left of it was killed, and the answer says so.
    if let Reply::Done { message } = reply {
        println!("{message}");
        return Ok(0);
    }
    let r = expect_run(reply)?;
    if r.status.is_terminal() {
        println!("killed run {}", r.id);
    } else {
        println!(
            "killing run {}: its processes got SIGTERM, SIGKILL follows after the grace period",
            r.id
        );
    }
    Ok(0)
}

pub async fn retry(client: &Client, run: &str, phase: Option<Phase>) -> Result<i32> {
    let r = expect_run(
        client
            .request(&Command::Retry {
                run: run.into(),
                phase,
            })
            .await?,
    )?;
    println!(
        "retrying run {} from phase {} (attempt {})",
        r.id, r.phase, r.attempt
    );
    Ok(0)
}

pub async fn clean(client: &Client, runs: &[String], merged: bool, force: bool) -> Result<i32> {
    let runs: Vec<String> = if merged {
        let all = match client.request(&Command::List).await? {
            Reply::Runs { runs } => runs,
            other => return Err(eyre!("unexpected answer from the server: {other:?}")),
        };
        let landed: Vec<String> = all
            .into_iter()
            .filter(|r| r.merge == crate::run::MergeState::Merged && !r.cleaned)
            .map(|r| r.id)
            .collect();
        if landed.is_empty() {
            println!("no landed run left to clean");
            return Ok(0);
        }
        landed
    } else {
        runs.to_vec()
    };
    let mut failed = 0;
    for run in &runs {
        let cmd = Command::Clean {
            run: run.clone(),
            force,
        };
        match client
            .request(&cmd)
            .await
            .map_err(|e| eyre!("{e}"))
            .and_then(expect_run)
        {
            Ok(r) => println!(
                "removed {} and branch {}; the proof pack stays",
                r.worktree.display(),
                r.branch
            ),
            Err(e) => {
                eprintln!("flightdeck: {e}");
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

pub async fn pr(client: &Client, run: &str, json: bool) -> Result<i32> {
    let r = expect_run(client.request(&Command::Pr { run: run.into() }).await?)?;
    let Some(pr) = &r.pr else {
        return Err(eyre!(
            "run {} has no pull request after all; `flightdeck logs {}` says why",
            r.id,
            r.id
        ));
    };
    if json {
        println!("{}", serde_json::to_string_pretty(pr)?);
    } else {
        println!("{}", pr.url);
    }
    Ok(0)
}

pub async fn reply(client: &Client, run: &str, text: &str) -> Result<i32> {
    let reply = client
        .request(&Command::Reply {
            run: run.into(),
            text: text.into(),
        })
        .await?;
    if let Reply::Done { message } = reply {
        println!("{message}");
    }
    Ok(0)
}

pub async fn rebase(client: &Client, run: &str, by_hand: bool) -> Result<i32> {
    let r = expect_run(
        client
            .request(&Command::Rebase {
                run: run.into(),
                by_hand,
            })
            .await?,
    )?;
    let target = r.target.as_deref().unwrap_or("its target");
    match (r.status, r.phase) {
        (crate::run::Status::Failed, _) => {
            println!("{}", r.reason.as_deref().unwrap_or("the rebase conflicts"));
        }
        (_, Phase::Agent) => println!(
            "run {} conflicts with {target}; the agent gets one more iteration to resolve it (`flightdeck logs {} --follow`)",
            r.id, r.id
        ),
        _ => println!(
            "run {} replayed onto {target} at {}; its checks run again (`flightdeck logs {} --follow`)",
            r.id,
            r.base.get(..10).unwrap_or(&r.base),
            r.id
        ),
    }
    Ok(0)
}

pub async fn merge(client: &Client, runs: &[String], no_wait: bool) -> Result<i32> {
    // Queued in the order given, one after another; then every landing is awaited at once.
    let mut queued = Vec::new();
    let mut failed = 0;
    for run in runs {
        // A host's run landed already (merged with --no-wait, or from the cockpit): with
        // `land = "fetch"`, merging it again brings what landed here.
        if let Some(r) = landed_there(client, run).await {
            println!(
                "run {} landed on host {} already ({})",
                r.id,
                client.host_name(),
                r.merged_commit.as_deref().unwrap_or("")
            );
            if let Err(e) = fetch_if_asked(client, &r).await {
                eprintln!("flightdeck: {e}");
                failed += 1;
            }
            continue;
        }
        let cmd = Command::Merge {
            run: run.clone(),
            no_wait: true,
        };
        match client
            .request(&cmd)
            .await
            .map_err(|e| eyre!("{e}"))
            .and_then(expect_run)
        {
            Ok(r) if r.merge == crate::run::MergeState::Merged && r.pr.is_some() => {
                // Landed through the forge's merge API.
                if let Some(pr) = &r.pr {
                    println!(
                        "merged run {} through {} #{} ({})",
                        r.id,
                        pr.forge.pr_word(),
                        pr.number,
                        pr.url
                    );
                }
            }
            Ok(r) => {
                println!(
                    "run {} is in the merge queue of {}",
                    r.id,
                    r.target.as_deref().unwrap_or("its target")
                );
                // What landing it does to other waiting runs, known now (a landed run names
                // no rivals any more).
                queued.push((r.id.clone(), r.merge_effects()));
            }
            Err(e) => {
                eprintln!("flightdeck: {e}");
                failed += 1;
            }
        }
    }
    if no_wait {
        if client
            .remote()
            .is_some_and(|r| r.host.land != crate::config::hosts::Land::Host)
        {
            for (id, _) in &queued {
                println!(
                    "note: run {id} lands on host {} in the background; `flightdeck merge {id}` once it has landed {}",
                    client.host_name(),
                    match client.remote().map(|r| r.host.land) {
                        Some(crate::config::hosts::Land::Push) => "pushes it to the origin there (land = \"push\")",
                        _ => "brings it here (land = \"fetch\")",
                    }
                );
            }
        }
        return Ok(if failed == 0 { 0 } else { 1 });
    }
    let waits = queued.iter().map(|(id, _)| async move {
        client
            .request(&Command::AwaitMerge { run: id.clone() })
            .await
            .map_err(|e| eyre!("{e}"))
            .and_then(expect_run)
    });
    let results = futures_util::future::join_all(waits).await;
    for ((_, effects), result) in queued.iter().zip(results) {
        match result {
            Ok(r) => {
                println!(
                    "merged run {} into {} ({})",
                    r.id,
                    r.target.as_deref().unwrap_or("its target"),
                    r.merged_commit.as_deref().unwrap_or("")
                );
                for (_, effect) in effects {
                    println!("note: {effect}");
                }
                if let Err(e) = fetch_if_asked(client, &r).await {
                    eprintln!("flightdeck: {e}");
                    failed += 1;
                }
            }
            Err(e) => {
                eprintln!("flightdeck: {e}");
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// Run `run` of a host with `land = "fetch"` or `"push"`, when it has landed there already.
async fn landed_there(client: &Client, run: &str) -> Option<crate::protocol::RunSnapshot> {
    let remote = client.remote()?;
    if remote.host.land == crate::config::hosts::Land::Host {
        return None;
    }
    let shown = client
        .request(&Command::Show { run: run.into() })
        .await
        .ok()?;
    let r = match shown {
        Reply::Run { run } | Reply::Shown { run, .. } => *run,
        _ => return None,
    };
    (r.merge == crate::run::MergeState::Merged).then_some(r)
}

/// A run of a host with `land = "fetch"` (or `"push"`) landed there: bring the landed target
/// here too (or have the host push it to its copy's origin).
async fn fetch_if_asked(client: &Client, r: &crate::protocol::RunSnapshot) -> Result<()> {
    let Some(remote) = client.remote() else {
        return Ok(());
    };
    let (Some(target), Some(commit)) = (r.target.clone(), r.merged_commit.clone()) else {
        return Ok(());
    };
    let (home, name, host, there) = (
        client.home().clone(),
        remote.name.clone(),
        remote.host.clone(),
        r.repo.clone(),
    );
    match remote.host.land {
        crate::config::hosts::Land::Host => return Ok(()),
        crate::config::hosts::Land::Push => {
            crate::hosts::land::push_landed(&home, &name, &host, &there, &target)
                .await
                .map_err(|e| eyre!("{e}"))?;
            println!(
                "host {name} pushed {target} ({}) to its origin",
                &commit[..commit.len().min(10)]
            );
            return Ok(());
        }
        crate::config::hosts::Land::Fetch => {}
    }
    let fetched = tokio::task::spawn_blocking(move || {
        crate::hosts::land::fetch_landed(&home, &name, &host, &there, &target, &commit)
    })
    .await
    .map_err(|e| eyre!("fetching what landed failed: {e}"))?
    .map_err(|e| eyre!("{e}"))?;
    println!(
        "fetched {} at {} from host {} into {}",
        fetched.target,
        &fetched.commit[..fetched.commit.len().min(10)],
        remote.name,
        fetched.repo.display()
    );
    Ok(())
}

pub async fn serve(
    client: &Client,
    home: Home,
    config: Option<PathBuf>,
    detach: bool,
    replace: bool,
) -> Result<i32> {
    if detach {
        let reply = client.request(&Command::Ping).await?;
        if let Reply::Pong { pid, .. } = reply {
            println!(
                "flightdeck server running (pid {pid}); log: {}",
                home.server_log().display()
            );
        }
        return Ok(0);
    }
    let global = crate::config::load(&crate::config::Sources {
        explicit: config.clone(),
        ..Default::default()
    })
    .map_err(|e| eyre!("{e}"))?;
    // Replacing: the old server lets go of its lock as it exits; give it a few seconds.
    let mut tries = if replace { 200 } else { 1 };
    loop {
        tries -= 1;
        match crate::server::serve(home.clone(), global.clone(), config.clone()).await {
            Ok(()) => return Ok(0),
            Err(e) if e.downcast_ref::<crate::server::AlreadyRunning>().is_some() => {
                if tries > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                eprintln!("flightdeck: {e}; nothing to do (`flightdeck serve --replace` takes over from it)");
                return Ok(0);
            }
            Err(e) => return Err(e),
        }
    }
}

pub async fn shutdown(client: &Client, kill_runs: bool, keep_runs: bool) -> Result<i32> {
    let Some(mut stream) = client.connect_existing().await else {
        println!("no server is running");
        return Ok(0);
    };
    if !kill_runs && !keep_runs {
        // Live runs carry on without a server, but nothing checks or delivers them until one
        // starts again: make that a choice, not a surprise.
        let mut s = Client::send_on(stream, &Command::List).await?;
        let live: Vec<String> = match s.next().await? {
            Some(Reply::Runs { runs }) => runs
                .iter()
                .filter(|r| !r.status.is_terminal())
                .map(|r| r.id.clone())
                .collect(),
            _ => Vec::new(),
        };
        if !live.is_empty() {
            return Err(eyre!(
                "{} run(s) are live ({}); `flightdeck stop --all` stops them with the server, `flightdeck stop --keep-runs` stops only the server (the runs carry on, and the next server adopts them)",
                live.len(),
                live.join(", ")
            ));
        }
        stream = match client.connect_existing().await {
            Some(s) => s,
            None => {
                println!("no server is running");
                return Ok(0);
            }
        };
    }
    let said = client.stop_server_on(stream, kill_runs).await?;
    println!("{said}");
    Ok(0)
}
