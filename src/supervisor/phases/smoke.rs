//! smoke: run the configured checks in the worktree, one after another, and record each in
//! `smoke.json` and the timeline.

use std::io::Read;
use std::process::Stdio;
use std::time::Instant;

use crate::config::SmokeCheck;
use crate::fields;
use crate::paths::pack;
use crate::proof::smoke::{tail, CheckResult};
use crate::proof::store::write_atomic;
use crate::run::{Phase, RunRecord};
use crate::supervisor::context::RunCtx;
use crate::supervisor::process::{self, Exit};
use crate::workspace;

use super::{blocking, PhaseJob, PhaseReport, Update};

const TAIL_LINES: usize = 40;
const TAIL_BYTES: usize = 4096;

pub async fn run(ctx: &RunCtx, job: &PhaseJob) -> PhaseReport {
    let rec = &job.record;
    let wt = rec.worktree.clone();
    let head = match blocking(move || workspace::head_commit(&wt).map_err(|e| e.to_string())).await
    {
        Ok(h) => h,
        Err(e) => return PhaseReport::failed(format!("cannot read the worktree: {e}"), vec![]),
    };
    let updates = vec![Update::Checkpoint(Phase::Smoke, head)];

    let mut results = Vec::new();
    for check in &job.config.smoke {
        if ctx.procs.is_killing() {
            break;
        }
        ctx.emit(
            Phase::Smoke,
            "check.started",
            fields! {"name" => check.name, "command" => check.command, "required" => check.required},
        );
        let result = run_check(ctx, rec, check, job.kill_grace).await;
        let mut f = fields! {
            "name" => result.name,
            "exit_code" => result.exit_code,
            "passed" => result.passed,
            "required" => result.required,
            "duration_ms" => result.duration_ms,
        };
        if !result.passed {
            f.insert("output_tail".into(), result.output_tail.clone().into());
            if let Some(e) = &result.error {
                f.insert("error".into(), e.clone().into());
            }
        }
        ctx.emit(Phase::Smoke, "check.finished", f);
        results.push(result);
    }

    let json = match serde_json::to_vec_pretty(&results) {
        Ok(j) => j,
        Err(e) => return PhaseReport::failed(format!("cannot encode smoke.json: {e}"), updates),
    };
    let path = ctx.path(pack::SMOKE);
    if let Err(e) = blocking(move || write_atomic(&path, &json).map_err(|e| e.to_string())).await {
        return PhaseReport::failed(format!("cannot write smoke.json: {e}"), updates);
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.required && !r.passed)
        .map(|r| r.name.as_str())
        .collect();
    if failed.is_empty() {
        PhaseReport::ok(updates)
    } else {
        PhaseReport::failed(
            format!("required smoke check(s) failed: {}", failed.join(", ")),
            updates,
        )
    }
}

async fn run_check(
    ctx: &RunCtx,
    rec: &RunRecord,
    check: &SmokeCheck,
    grace: std::time::Duration,
) -> CheckResult {
    let started = Instant::now();
    let mut result = CheckResult {
        name: check.name.clone(),
        command: check.command.clone(),
        exit_code: None,
        duration_ms: 0,
        passed: false,
        required: check.required,
        output_tail: String::new(),
        error: None,
    };
    let (mut reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            result.error = Some(format!("cannot make a pipe: {e}"));
            return result;
        }
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => {
            result.error = Some(format!("cannot make a pipe: {e}"));
            return result;
        }
    };
    let mut cmd = tokio::process::Command::new(&check.command[0]);
    cmd.args(&check.command[1..])
        .current_dir(&rec.worktree)
        .env("FLIGHTDECK_TASK", &rec.task)
        .env("FLIGHTDECK_RUN_ID", &rec.id)
        .env("FLIGHTDECK_WORKTREE", &rec.worktree)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .process_group(0);
    let spawned = cmd.spawn();
    drop(cmd); // our ends of the pipe's write side: the reader sees EOF when the check is done
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            result.error = Some(format!("cannot start `{}`: {e}", check.command[0]));
            result.output_tail = result.error.clone().unwrap_or_default();
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
    let exit = process::wait(&mut child, &ctx.procs, check.timeout.map(|t| t.0), grace).await;
    ctx.procs.unregister_and_reap();
    let output = collector.await.unwrap_or_default();
    result.duration_ms = started.elapsed().as_millis() as u64;
    result.output_tail = tail(&output, TAIL_LINES, TAIL_BYTES);
    match exit {
        Ok(Exit::Exited(status)) => {
            result.exit_code = status.code();
            result.passed = status.success();
            if status.code().is_none() {
                result.error = Some(format!("check {}", process::describe(&status)));
            }
        }
        Ok(Exit::TimedOut(limit)) => {
            result.error = Some(format!(
                "timed out after {}",
                crate::time::human_duration(limit.as_secs() as i64)
            ));
        }
        Err(e) => result.error = Some(format!("lost track of the check: {e}")),
    }
    result
}
