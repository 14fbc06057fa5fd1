//! smoke: run the configured checks in the worktree, one after another, and record each in
//! `smoke.json` and the timeline.

use crate::config::SmokeCheck;
use crate::fields;
use crate::paths::pack;
use crate::proof;
use crate::proof::kind::TimelineKind;
use crate::proof::smoke::{feedback_report, tail, CheckResult, CHECKS_FAILED, RETRY_WITH_OUTPUT};
use crate::proof::store::write_atomic;
use crate::proof::test_counts;
use crate::run::{Phase, RunRecord};
use crate::supervisor::context::RunCtx;
use crate::supervisor::machine::Outcome;
use crate::workspace;

use super::{blocking, exec, PhaseJob, PhaseReport, Update};

const TAIL_LINES: usize = 40;
const TAIL_BYTES: usize = 4096;

/// Where the agent finds the failing checks' report for its next round (consumed by the agent
/// phase); each round's report stays as `smoke/report-<attempt>-<round>.md`.
pub const FEEDBACK: &str = "smoke/feedback.md";

pub async fn run(ctx: &RunCtx, job: &PhaseJob) -> PhaseReport {
    let rec = &job.record;
    // A report left by an earlier failure is stale once the checks run again.
    let stale = ctx.path(FEEDBACK);
    let _ = blocking(move || {
        let _ = std::fs::remove_file(&stale);
        Ok(())
    })
    .await;
    // The record's target (set when the run was accepted), as everywhere else.
    let target = rec.target.clone();
    let head = match checkpoint(ctx, rec, target).await {
        Ok(h) => h,
        Err(e) => return PhaseReport::failed(e, vec![]),
    };
    let updates = vec![
        Update::Checkpoint(Phase::Smoke, head.clone()),
        Update::Checked(head),
    ];

    let mut results = Vec::new();
    for check in &job.config.smoke {
        if ctx.procs.is_killing() {
            break;
        }
        ctx.emit(
            Phase::Smoke,
            TimelineKind::CheckStarted,
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
        if let Some(t) = &result.tests {
            f.insert("tests".into(), t.to_string().into());
        }
        if !result.passed {
            f.insert("output_tail".into(), result.output_tail.clone().into());
            if let Some(e) = &result.error {
                f.insert("error".into(), e.clone().into());
            }
        }
        ctx.emit(Phase::Smoke, TimelineKind::CheckFinished, f);
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
    let failing: Vec<&CheckResult> = results.iter().filter(|r| r.required && !r.passed).collect();
    if failing.is_empty() {
        return PhaseReport::ok(updates);
    }
    let names: Vec<&str> = failing.iter().map(|r| r.name.as_str()).collect();
    let failed = format!("{CHECKS_FAILED}: {}", names.join(", "));
    let fb = job.config.smoke_feedback;
    if !fb.enabled || ctx.procs.is_killing() {
        return PhaseReport::failed(failed, updates);
    }
    let round = match write_feedback(ctx, rec.attempt, &failing).await {
        Ok(round) => round,
        Err(e) => {
            return PhaseReport::failed(
                format!("{failed} (and the report for the agent could not be written: {e})"),
                updates,
            )
        }
    };
    if round <= fb.max_iterations {
        return PhaseReport {
            outcome: Outcome::Iterate {
                reason: format!(
                    "{failed}; the agent goes again with their output (iteration {} of at most {})",
                    round + 1,
                    fb.max_iterations + 1
                ),
            },
            updates,
            said: false,
        };
    }
    let still = if round > 1 {
        format!(
            ", still after {} more round(s) of the agent with their output",
            round - 1
        )
    } else {
        String::new()
    };
    PhaseReport::failed(format!("{failed}{still}; {RETRY_WITH_OUTPUT}"), updates)
}

/// Write the failing checks' report for the agent (`FEEDBACK`, and this round's copy);
/// returns the round: how many times the checks failed in this attempt.
async fn write_feedback(
    ctx: &RunCtx,
    attempt: u32,
    failing: &[&CheckResult],
) -> Result<u32, String> {
    let dir = ctx.dir.join("smoke");
    let failing: Vec<CheckResult> = failing.iter().map(|c| (*c).clone()).collect();
    blocking(move || {
        crate::owner_only::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let prefix = format!("report-{attempt}-");
        let before = std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count() as u32;
        let round = before + 1;
        let md = feedback_report(round, &failing.iter().collect::<Vec<_>>());
        let write = |name: &str| {
            crate::owner_only::write(&dir.join(name), md.as_bytes())
                .map_err(|e| format!("cannot write smoke/{name}: {e}"))
        };
        write(&format!("report-{attempt}-{round}.md"))?;
        write("feedback.md")?;
        Ok(round)
    })
    .await
}

/// The checks run on exactly what would merge: changes left in the worktree (edits by hand, an
/// orphaned process's files) are committed on the branch first, as a checkpoint the timeline
/// names, and `patch.diff` follows. Returns the commit the checks run on.
async fn checkpoint(
    ctx: &RunCtx,
    rec: &RunRecord,
    target: Option<String>,
) -> Result<String, String> {
    let note = format!(
        "uncommitted changes committed before smoke (attempt {})",
        rec.attempt
    );
    let message = workspace::message_for(&rec.task, &rec.id, &note);
    let (wt, dir, base) = (rec.worktree.clone(), ctx.dir.clone(), rec.base.clone());
    let excludes = rec.setup_excludes.clone();
    let (committed, head) = blocking(move || {
        let committed =
            workspace::commit_all(&wt, &message, &excludes).map_err(|e| e.to_string())?;
        let stat = match committed {
            Some(_) => Some(
                proof::patch::write(&dir, &wt, &base, target.as_deref())
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let head = workspace::head_commit(&wt).map_err(|e| e.to_string())?;
        Ok((committed.zip(stat), head))
    })
    .await
    .map_err(|e| format!("cannot commit the worktree's state before smoke: {e}"))?;
    if let Some((commit, stat)) = committed {
        ctx.emit(
            Phase::Smoke,
            TimelineKind::WorkspaceCheckpoint,
            fields! {
                "reason" => "the worktree had uncommitted changes; the checks run on what would merge",
                "message" => format!(
                    "committed the worktree's uncommitted changes as {commit} before smoke, so the checks run on what would merge; patch.diff now has {} file(s), +{} -{}",
                    stat.files, stat.insertions, stat.deletions
                ),
                "commit" => commit,
                "files" => stat.files, "insertions" => stat.insertions, "deletions" => stat.deletions,
            },
        );
    }
    Ok(head)
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
    // A test suite's output can be megabytes: read off the runtime.
    let output = r.output;
    let (output_tail, tests) = blocking(move || {
        Ok((
            tail(&output, TAIL_LINES, TAIL_BYTES),
            test_counts::parse(&output),
        ))
    })
    .await
    .unwrap_or_default();
    CheckResult {
        name: check.name.clone(),
        command: check.command.clone(),
        exit_code: r.exit_code,
        duration_ms: r.duration_ms,
        passed: r.passed,
        required: check.required,
        output_tail,
        // A plain non-zero exit needs no more words than its exit code.
        error: r.error.filter(|_| r.exit_code.is_none()),
        tests,
    }
}
