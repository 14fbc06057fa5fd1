//! prepare: make the run's workspace (a worktree on its own branch, or a copy).

use crate::fields;
use crate::proof::kind::TimelineKind;
use crate::run::{Phase, RunRecord, WorkspaceKind};
use crate::supervisor::context::RunCtx;
use crate::workspace::{self, Spec};

use super::{blocking, exec, keep, PhaseJob, PhaseReport, Update};

/// In the run's directory while prepare makes the workspace: a workspace found with it is
/// flightdeck's own, cut short (a crash mid-checkout or mid-setup), not work to keep.
const UNDER_WAY: &str = "prepare.incomplete";

pub async fn run(ctx: &RunCtx, job: &PhaseJob) -> PhaseReport {
    let rec = job.record.clone();
    let marker = ctx.path(UNDER_WAY);
    let cut_short = tokio::fs::try_exists(&marker).await.unwrap_or(false);
    if job.retry {
        let worktree_exists = tokio::fs::try_exists(&rec.worktree).await.unwrap_or(false);
        // Everything past the base goes: the worktree, and the branch with its commits.
        if cut_short && worktree_exists {
            ctx.emit(
                Phase::Prepare,
                TimelineKind::WorkspaceIncomplete,
                fields! {"message" => "the workspace was cut short while flightdeck made it (before any agent ran); it is made again, nothing of it kept", "path" => rec.worktree},
            );
        } else if !rec.base.is_empty() {
            if let Err(e) = keep::before_reset(ctx, &rec, Phase::Prepare, &rec.base).await {
                return PhaseReport::failed(e, vec![]);
            }
        }
        if worktree_exists {
            ctx.emit(
                Phase::Prepare,
                TimelineKind::WorkspaceRemoved,
                fields! {"message" => "retrying prepare: the old workspace is removed and made again", "path" => rec.worktree},
            );
        }
        let r = rec.clone();
        if let Err(e) = blocking(move || workspace::remove(&r).map_err(|e| e.to_string())).await {
            return PhaseReport::failed(format!("cannot remove the old workspace: {e}"), vec![]);
        }
    }
    let m = marker.clone();
    if let Err(e) =
        blocking(move || crate::owner_only::write(&m, b"").map_err(|e| e.to_string())).await
    {
        return PhaseReport::failed(format!("cannot write {UNDER_WAY}: {e}"), vec![]);
    }
    let spec = spec_of(&rec);
    let pool_size = job.config.pool;
    // Which of the user's files are uncommitted (a run does not carry them): a scan of their
    // checkout, made while the workspace is, and said once the workspace is there.
    let scan = (rec.workspace == WorkspaceKind::Worktree).then(|| {
        let source = rec.repo.clone();
        tokio::task::spawn_blocking(move || workspace::uncommitted_in(&source))
    });
    let created = match blocking(move || {
        let pooled = if spec.kind == WorkspaceKind::Worktree && pool_size > 0 {
            workspace::from_pool(&spec).map_err(|e| e.to_string())?
        } else {
            None
        };
        match pooled {
            Some(c) => Ok(c),
            None => workspace::create(&spec).map_err(|e| e.to_string()),
        }
    })
    .await
    {
        Ok(c) => c,
        Err(e) => return PhaseReport::failed(format!("cannot create the workspace: {e}"), vec![]),
    };
    // The next run of this repository finds a worktree ready (made once this one is going).
    if rec.workspace == WorkspaceKind::Worktree {
        if let Some(pool) = workspace::pool::dir_for(&rec.worktree) {
            job.pools.refill_later(
                rec.repo.clone(),
                pool,
                created.base.clone(),
                pool_size,
                rec.base_ref.clone(),
            );
        }
    }
    ctx.emit(
        Phase::Prepare,
        TimelineKind::WorkspaceCreated,
        fields! {
            "kind" => rec.workspace,
            "path" => rec.worktree,
            "branch" => rec.branch,
            "base" => created.base,
            "files_copied" => created.files_copied,
            "pool" => created.pooled,
        },
    );
    // A checkout allocates on several threads; hand what it freed back, off the run's path.
    tokio::task::spawn_blocking(crate::memory::trim);
    let uncommitted = match scan {
        Some(scan) => match scan.await {
            Ok(Ok(files)) => files,
            Ok(Err(e)) => {
                ctx.emit(
                    Phase::Prepare,
                    TimelineKind::WorkspaceScanFailed,
                    fields! {"message" => format!("could not tell which files of {} have uncommitted changes: {e}", rec.repo.display())},
                );
                Vec::new()
            }
            Err(_) => Vec::new(),
        },
        None => Vec::new(),
    };
    if !uncommitted.is_empty() {
        let n = uncommitted.len();
        let sample: Vec<&String> = uncommitted.iter().take(5).collect();
        ctx.emit(
            Phase::Prepare,
            TimelineKind::WorkspaceUncommittedNotCarried,
            fields! {
                "message" => format!(
                    "{n} file(s) with uncommitted changes in {} were not carried over; the run starts from commit {}",
                    rec.repo.display(), created.base
                ),
                "files" => n,
                "sample" => sample,
            },
        );
    }
    let mut updates = vec![Update::Base(created.base.clone())];
    let mut rec = rec;
    rec.base = created.base;
    match setup(ctx, &rec, job, Phase::Prepare).await {
        Ok(excludes) => {
            updates.push(Update::SetupExcludes(excludes));
            // Made whole: from here on what the workspace holds is the run's.
            if let Err(e) = tokio::fs::remove_file(&marker).await {
                return PhaseReport::failed(format!("cannot remove {UNDER_WAY}: {e}"), updates);
            }
            PhaseReport::ok(updates)
        }
        Err(reason) => PhaseReport::failed(reason, updates),
    }
}

/// `[setup]`: copy files from the user's checkout, then run the commands, in `rec.worktree`
/// (the run's, or the base commit's tree the browser phase renders). Returns what setup added
/// to it, to keep it out of the run's commits.
pub(super) async fn setup(
    ctx: &RunCtx,
    rec: &RunRecord,
    job: &PhaseJob,
    phase: Phase,
) -> Result<Vec<String>, String> {
    let cfg = &job.config.setup;
    if cfg.copy.is_empty() && cfg.commands.is_empty() {
        return Ok(Vec::new());
    }
    let (src, wt, copy) = (rec.repo.clone(), rec.worktree.clone(), cfg.copy.clone());
    let (copied, missing) =
        blocking(move || workspace::copy_setup_files(&src, &wt, &copy).map_err(|e| e.to_string()))
            .await
            .map_err(|e| format!("setup could not copy files: {e}"))?;
    for path in &copied {
        ctx.emit(
            phase,
            TimelineKind::SetupCopied,
            fields! {"path" => path, "message" => format!("copied {path} from {}", rec.repo.display())},
        );
    }
    for path in &missing {
        ctx.emit(
            phase,
            TimelineKind::SetupCopySkipped,
            fields! {"path" => path, "message" => format!("{path} does not exist in {}; not copied", rec.repo.display())},
        );
    }
    for argv in &cfg.commands {
        ctx.emit(
            phase,
            TimelineKind::SetupStarted,
            fields! {"command" => argv},
        );
        let r = exec::run(
            ctx,
            rec,
            &job.config,
            argv,
            cfg.timeout.map(|t| t.0),
            job.kill_grace,
        )
        .await;
        let text = String::from_utf8_lossy(&r.output);
        let lines: Vec<&str> = text.lines().collect();
        const MAX_LINES: usize = 200;
        let skip = lines.len().saturating_sub(MAX_LINES);
        if skip > 0 {
            ctx.emit(
                phase,
                TimelineKind::SetupOutput,
                fields! {"text" => format!("… {skip} earlier line(s) not shown")},
            );
        }
        for line in &lines[skip..] {
            ctx.emit(phase, TimelineKind::SetupOutput, fields! {"text" => line});
        }
        ctx.emit(
            phase,
            TimelineKind::SetupFinished,
            fields! {"command" => argv, "exit_code" => r.exit_code, "passed" => r.passed, "duration_ms" => r.duration_ms},
        );
        if !r.passed {
            return Err(format!(
                "setup command `{}` failed: {}",
                argv.join(" "),
                r.error.unwrap_or_else(|| "unknown error".into())
            ));
        }
        if ctx.procs.is_killing() {
            return Err("killed during setup".into());
        }
    }
    // A base commit's tree for the browser is no repository and makes no commits.
    if phase != Phase::Prepare {
        return Ok(Vec::new());
    }
    let wt = rec.worktree.clone();
    let mut excludes =
        blocking(move || workspace::new_entries(&wt).map_err(|e| e.to_string())).await?;
    for path in copied {
        if !excludes.contains(&path) {
            excludes.push(path);
        }
    }
    excludes.sort();
    Ok(excludes)
}

fn spec_of(rec: &RunRecord) -> Spec {
    Spec {
        run_id: rec.id.clone(),
        kind: rec.workspace,
        source: rec.repo.clone(),
        base: rec.base.clone(),
        branch: rec.branch.clone(),
        path: rec.worktree.clone(),
    }
}
