//! Testing a merge queue candidate: the commit that would land, checked out in the run's
//! scratch worktree, goes through `[setup]`, the required smoke checks and (when required) the
//! browser check, each in the run's timeline; the verdict says why not with the failing
//! output's gist.

use crate::proof::kind::TimelineKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::fields;
use crate::proof::smoke::{tail, CheckResult};
use crate::run::{Phase, RunRecord};
use crate::workspace::{scratch, Candidate};

use super::context::RunCtx;
use super::merge_queue::Ports;
use super::phases::{blocking, exec};

/// How a candidate's test went.
#[derive(Debug, Clone)]
pub(super) struct Tested {
    pub commit: String,
    pub passed: bool,
    /// Why not, in a sentence with the failing output's gist.
    pub why: String,
}

/// Check the candidate out in the run's scratch worktree, run `[setup]` and the required
/// checks there, and say how it went (the timeline gets each check and the verdict).
pub(super) async fn test_candidate(
    ctx: &Arc<RunCtx>,
    mut record: RunRecord,
    config: &Arc<Config>,
    cand: &Candidate,
    cancel: &AtomicBool,
    ports: &Ports,
) -> Tested {
    super::phases::panic_if_asked("merge-test", "the merge test");
    let started = Instant::now();
    let target = record.target.clone().unwrap_or_default();
    let failed = |why: String| Tested {
        commit: cand.commit.clone(),
        passed: false,
        why,
    };
    let Some(dir) = scratch::dir_for(&record.worktree, &record.id) else {
        return failed("the run's worktree has no parent directory".into());
    };
    let (repo, path, id, commit) = (
        record.repo.clone(),
        dir.clone(),
        record.id.clone(),
        cand.commit.clone(),
    );
    if let Err(e) =
        blocking(move || scratch::at_commit(&repo, &path, &id, &commit).map_err(|e| e.to_string()))
            .await
    {
        return failed(format!(
            "cannot check the merged result out for testing: {e}"
        ));
    }
    record.worktree = dir;
    let grace = std::time::Duration::from_secs(5);
    let timeout = config.setup.timeout.map(|t| t.0);
    for argv in &config.setup.commands {
        if cancel.load(Ordering::SeqCst) {
            return failed("cancelled".into());
        }
        let r = exec::run(ctx, &record, config, argv, timeout, grace).await;
        if !r.passed {
            let why = format!(
                "setup `{}` fails on the merged result with {target}: {}",
                argv.join(" "),
                gist(&r.output, r.error.as_deref())
            );
            emit_tested(ctx, cand, false, &[], &why, started);
            return failed(why);
        }
    }
    let mut results = Vec::new();
    for check in config.smoke.iter().filter(|c| c.required) {
        if cancel.load(Ordering::SeqCst) {
            return failed("cancelled".into());
        }
        let r = exec::run(
            ctx,
            &record,
            config,
            &check.command,
            check.timeout.map(|t| t.0),
            grace,
        )
        .await;
        results.push(CheckResult {
            name: check.name.clone(),
            command: check.command.clone(),
            exit_code: r.exit_code,
            duration_ms: r.duration_ms,
            passed: r.passed,
            required: true,
            output_tail: tail(&r.output, 40, 4096),
            error: r.error.filter(|_| r.exit_code.is_none()),
            tests: crate::proof::test_counts::parse(&r.output),
        });
    }
    if cancel.load(Ordering::SeqCst) {
        return failed("cancelled".into());
    }
    let failing: Vec<&CheckResult> = results.iter().filter(|r| !r.passed).collect();
    // A required browser check runs on the merged result too, once the checks pass.
    if failing.is_empty() && config.browser.enabled() && config.browser.required {
        if let Err(why) = browser_check(ctx, &record, config, ports, &target).await {
            emit_tested(ctx, cand, false, &results, &why, started);
            return failed(why);
        }
    }
    let why = if failing.is_empty() {
        String::new()
    } else {
        format!(
            "the required checks fail once merged with {target}: {}",
            failing
                .iter()
                .map(|r| format!(
                    "{} ({}): {}",
                    r.name,
                    r.exit_code.map(|c| format!("exit {c}")).unwrap_or_else(|| r
                        .error
                        .clone()
                        .unwrap_or_else(|| "no exit code".into())),
                    gist(r.output_tail.as_bytes(), None)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    emit_tested(ctx, cand, failing.is_empty(), &results, &why, started);
    Tested {
        commit: cand.commit.clone(),
        passed: failing.is_empty(),
        why,
    }
}

/// The run's browser check, on the scratch worktree holding the merged result: Err with why
/// when it finds problems. Its report stays in the run's `browser/`, but it sends the agent
/// nowhere (the run is done), so its feedback file goes.
async fn browser_check(
    ctx: &Arc<RunCtx>,
    record: &RunRecord,
    config: &Arc<Config>,
    ports: &Ports,
    target: &str,
) -> Result<(), String> {
    let port = ports
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .lease(config.browser.ports);
    let job = super::phases::PhaseJob {
        phase: Phase::Browser,
        record: record.clone(),
        config: config.clone(),
        retry: false,
        kill_grace: std::time::Duration::from_secs(5),
        gateway: None,
        adopt: false,
        port,
        leases: Some(ports.clone()),
        // A browser check refills no pool.
        pools: Default::default(),
    };
    let report = super::phases::browser::run(ctx, &job).await;
    if let Some(p) = port {
        ports.lock().unwrap_or_else(|p| p.into_inner()).release(p);
    }
    let feedback = ctx.path(super::phases::browser::FEEDBACK);
    let _ = blocking(move || {
        let _ = std::fs::remove_file(feedback);
        Ok::<(), String>(())
    })
    .await;
    match report.outcome {
        super::machine::Outcome::Succeeded => Ok(()),
        // Problems found: on the merged result that is a refusal, not another agent round.
        super::machine::Outcome::Failed { reason } => Err(format!(
            "the browser check fails once merged with {target}: {reason}"
        )),
        super::machine::Outcome::Iterate { .. } => Err(format!(
            "the browser check fails once merged with {target}: it finds problems the run alone did not have; see browser/report.md"
        )),
    }
}

fn emit_tested(
    ctx: &RunCtx,
    cand: &Candidate,
    passed: bool,
    checks: &[CheckResult],
    why: &str,
    started: Instant,
) {
    let checks = serde_json::to_value(checks).unwrap_or_default();
    ctx.emit(
        Phase::Deliver,
        TimelineKind::MergeTested,
        fields! {
            "message" => if passed {
                format!("the required checks pass on {}", short(&cand.commit))
            } else {
                why.to_string()
            },
            "commit" => cand.commit, "passed" => passed, "checks" => checks,
            "duration_ms" => started.elapsed().as_millis() as u64,
        },
    );
}

/// The last meaningful line of a command's output (a test runner's verdict or the exception),
/// or how it failed when it said nothing.
fn gist(output: &[u8], error: Option<&str>) -> String {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // Python's unittest ends with "FAILED (errors=1)"; the exception above it says more.
    let pick = lines
        .iter()
        .rev()
        .find(|l| l.contains("Error") || l.contains("error:") || l.contains("assert"))
        .or_else(|| lines.last());
    match (pick, error) {
        (Some(l), _) => crate::text::cut(l, 200),
        (None, Some(e)) => e.to_string(),
        (None, None) => "no output".into(),
    }
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}
