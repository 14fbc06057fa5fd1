//! smoke: run the configured checks in the worktree, one after another, and record each in
//! `smoke.json` and the timeline.

use crate::config::SmokeCheck;
use crate::fields;
use crate::paths::pack;
use crate::proof::smoke::{tail, CheckResult};
use crate::proof::store::write_atomic;
use crate::run::{Phase, RunRecord};
use crate::supervisor::context::RunCtx;
use crate::workspace;

use super::{blocking, exec, PhaseJob, PhaseReport, Update};

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
        let result = run_check(ctx, rec, &job.config, check, job.kill_grace).await;
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
    config: &crate::config::Config,
    check: &SmokeCheck,
    grace: std::time::Duration,
) -> CheckResult {
    let r = exec::run(
        ctx,
        rec,
        config,
        &check.command,
        check.timeout.map(|t| t.0),
        grace,
    )
    .await;
    CheckResult {
        name: check.name.clone(),
        command: check.command.clone(),
        exit_code: r.exit_code,
        duration_ms: r.duration_ms,
        passed: r.passed,
        required: check.required,
        output_tail: tail(&r.output, TAIL_LINES, TAIL_BYTES),
        // A plain non-zero exit needs no more words than its exit code.
        error: r.error.filter(|_| r.exit_code.is_none()),
    }
}
