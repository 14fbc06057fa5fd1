//! Running a command in the worktree for a phase (setup steps, smoke checks): its own process
//! group (so pause and kill reach it), stdout and stderr together, a timeout, and the run's
//! environment without the server's keys.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::run::RunRecord;
use crate::supervisor::child_env::{self, RunVars};
use crate::supervisor::context::RunCtx;
use crate::supervisor::process::{self, Exit};

pub struct ExecResult {
    /// None when it could not start, timed out or was killed by a signal.
    pub exit_code: Option<i32>,
    pub passed: bool,
    pub duration_ms: u64,
    pub output: Vec<u8>,
    /// Why it failed when not by its exit code.
    pub error: Option<String>,
}

pub async fn run(
    ctx: &RunCtx,
    rec: &RunRecord,
    config: &Config,
    argv: &[String],
    timeout: Option<Duration>,
    grace: Duration,
) -> ExecResult {
    let started = Instant::now();
    let mut result = ExecResult {
        exit_code: None,
        passed: false,
        duration_ms: 0,
        output: Vec::new(),
        error: None,
    };
    let Some((program, args)) = argv.split_first() else {
        result.error = Some("empty command".into());
        return result;
    };
    let pipe = std::io::pipe().and_then(|(r, w)| Ok((r, w.try_clone()?, w)));
    let (mut reader, writer, writer2) = match pipe {
        Ok(p) => p,
        Err(e) => {
            result.error = Some(format!("cannot make a pipe: {e}"));
            return result;
        }
    };
    let vars = RunVars {
        task: &rec.task,
        run_id: &rec.id,
        worktree: &rec.worktree,
        run_dir: &ctx.dir,
    };
    if let Err(e) = child_env::ensure_task_file(&vars).await {
        result.error = Some(format!("cannot write the task file: {e}"));
        return result;
    }
    // Under a tether: a parent that holds no key and dies with the server.
    let (mut cmd, lifeline) =
        match crate::tether::command(ctx.tether(), program, args, &rec.worktree) {
            Ok(t) => t,
            Err(e) => {
                result.error = Some(format!("cannot start `{program}`: {e}"));
                result.output = result.error.clone().unwrap_or_default().into_bytes();
                return result;
            }
        };
    child_env::apply(&mut cmd, config, &vars);
    cmd.stdout(writer).stderr(writer2).process_group(0);
    let spawned = ctx.spawner.spawn(&mut cmd);
    drop(cmd); // our copies of the write side: the reader sees EOF when the command is done
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            result.error = Some(format!("cannot start `{program}`: {e}"));
            result.output = result.error.clone().unwrap_or_default().into_bytes();
            result.duration_ms = started.elapsed().as_millis() as u64;
            return result;
        }
    };
    ctx.procs.register(child.id().unwrap_or(0) as i32);
    let collector = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        out
    });
    let exit = process::wait(&mut child, &ctx.procs, timeout, grace).await;
    ctx.procs.unregister_and_reap();
    drop(lifeline);
    result.output = collector.await.unwrap_or_default();
    result.duration_ms = started.elapsed().as_millis() as u64;
    match exit {
        Ok(Exit::Exited(status)) => {
            result.exit_code = status.code();
            result.passed = status.success();
            if !status.success() {
                result.error = Some(process::describe(&status));
            }
        }
        Ok(Exit::TimedOut(limit)) => {
            result.error = Some(format!(
                "timed out after {}",
                crate::time::human_duration(limit.as_secs() as i64)
            ));
        }
        Err(e) => result.error = Some(format!("lost track of the command: {e}")),
    }
    result
}
