//! `flightdeck run`: submit a run; with `--wait`, follow it to its end.

use std::path::PathBuf;

use color_eyre::eyre::Result;

use crate::client::Client;
use crate::protocol::{Command, Reply, RunRequest};
use crate::run::{RunRecord, Status};

pub struct Args {
    pub repo: PathBuf,
    pub agent: Option<String>,
    pub base: Option<String>,
    pub wait: bool,
    pub json: bool,
    pub task: String,
    pub config: Option<PathBuf>,
    /// A run on another host: this machine's gateway, through the tunnel.
    pub gateway: Option<crate::protocol::HostGateway>,
    /// A run on another host: the id this machine reserved for it.
    pub id: Option<String>,
}

pub async fn start(client: &Client, a: Args) -> Result<i32> {
    if a.task.len() > crate::protocol::MAX_TASK_BYTES {
        return Err(color_eyre::eyre::eyre!(
            "{}",
            crate::protocol::task_too_long(a.task.len())
        ));
    }
    let request = RunRequest {
        task: a.task,
        repo: a.repo,
        agent: a.agent,
        base: a.base,
        config: a.config,
        gateway: a.gateway.map(Box::new),
        id: a.id,
    };
    let record = expect_run(client.request(&Command::Run(request)).await?)?;
    if !a.wait {
        if a.json {
            println!("{}", serde_json::to_string_pretty(&record)?);
        } else {
            println!("{}", record.id);
        }
        return Ok(0);
    }
    if !a.json {
        println!("{}", record.id);
    }
    let done = expect_run(
        client
            .request(&Command::Wait {
                run: record.id.clone(),
            })
            .await?,
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    }
    Ok(report_end(&done))
}

/// Print how a run ended (stderr) and give the exit code: 0 only for success.
pub fn report_end(run: &RunRecord) -> i32 {
    match run.status {
        Status::Succeeded => {
            eprintln!(
                "run {} succeeded; proof pack: flightdeck show {}",
                run.id, run.id
            );
            0
        }
        status => {
            eprintln!(
                "run {} {} in phase {}{}; see `flightdeck logs {}`",
                run.id,
                status.ended(),
                run.phase,
                run.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default(),
                run.id
            );
            1
        }
    }
}

pub fn expect_run(reply: Reply) -> Result<RunRecord> {
    match reply {
        Reply::Run { run } => Ok(*run),
        Reply::Shown { run, .. } => Ok(*run),
        other => Err(color_eyre::eyre::eyre!(
            "unexpected answer from the server: {other:?}"
        )),
    }
}
