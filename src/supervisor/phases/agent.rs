//! agent: start the agent in the worktree, record its output, wait for it (timeout, pause and
//! kill aware), then commit what it did on the run's branch as the next phase's checkpoint.

use crate::proof::kind::TimelineKind;
use std::process::Stdio;
use std::time::Instant;

use std::sync::Arc;

use crate::agents::adapters;
use crate::agents::{self, output, Vars};
use crate::config::AgentKind;
use crate::fields;
use crate::gateway::budget::Spent;
use crate::gateway::RunLink;
use crate::models::pricing::PriceTable;
use crate::paths::pack;
use crate::proof;
use crate::run::Phase;
use crate::supervisor::agent_process::{self, AgentProcess};
use crate::supervisor::child_env::{self, RunVars};
use crate::supervisor::context::RunCtx;
use crate::supervisor::process::{self, Exit};
use crate::workspace;

use super::agent_adopt::Adoption;
use super::agent_env::{builtin_env, codex_config, env_for_gateway, secrets_pipe};
use super::agent_output::AgentSink;
use super::{blocking, keep, PhaseJob, PhaseReport, Update};

pub async fn run(ctx: &std::sync::Arc<RunCtx>, job: &PhaseJob) -> PhaseReport {
    if job.adopt {
        return super::agent_adopt::adopt(ctx, job).await;
    }
    let rec = &job.record;
    let mut updates = Vec::new();
    let worktree = rec.worktree.clone();

    // The checkpoint this phase starts from: the base on the first attempt.
    let checkpoint = rec
        .checkpoints
        .get(&Phase::Agent)
        .cloned()
        .unwrap_or_else(|| rec.base.clone());
    if job.retry {
        if let Err(e) = keep::before_reset(ctx, rec, Phase::Agent, &checkpoint).await {
            return PhaseReport::failed(e, updates);
        }
        let (wt, cp, excludes) = (
            worktree.clone(),
            checkpoint.clone(),
            rec.setup_excludes.clone(),
        );
        if let Err(e) =
            blocking(move || workspace::reset_to(&wt, &cp, &excludes).map_err(|e| e.to_string()))
                .await
        {
            return PhaseReport::failed(
                format!("cannot reset the worktree for the retry: {e}"),
                updates,
            );
        }
        ctx.emit(
            Phase::Agent,
            TimelineKind::WorkspaceReset,
            fields! {"message" => format!("worktree reset to {checkpoint} for the retry"), "commit" => checkpoint},
        );
        // Setup's files stayed; bring its copies back as they are in the checkout now.
        let (src, wt, copy) = (
            rec.repo.clone(),
            worktree.clone(),
            job.config.setup.copy.clone(),
        );
        if let Err(e) = blocking(move || {
            workspace::copy_setup_files(&src, &wt, &copy).map_err(|e| e.to_string())
        })
        .await
        {
            return PhaseReport::failed(format!("cannot copy setup files again: {e}"), updates);
        }
    }
    updates.push(Update::Checkpoint(Phase::Agent, checkpoint));

    let (name, agent) = match job.config.agent(Some(&rec.agent)) {
        Ok(a) => a,
        Err(e) => return PhaseReport::failed(e, updates),
    };
    let agent_home = ctx.agent_home();
    let codex_home = agent_home.join("codex");
    let made = super::blocking(move || {
        crate::owner_only::create_dir_all(&codex_home).map_err(|e| e.to_string())
    })
    .await;
    if let Err(e) = made {
        return PhaseReport::failed(
            format!("cannot create {}: {e}", agent_home.display()),
            updates,
        );
    }
    // A round with feedback (a rebase's conflicts, the pull request's, the browser's or the
    // checks' report): the task goes with it.
    let feedback = super::feedback::take(&ctx.dir, rec.attempt, &rec.task, job.retry).await;
    let task = feedback
        .as_ref()
        .map_or_else(|| rec.task.clone(), |f| f.prompt.clone());
    // Claude Code carries its session into the next iteration.
    let resume = ((job.retry && agent.resume_on_retry)
        || (feedback.is_some() && agent.kind == AgentKind::ClaudeCode))
        .then_some(rec.agent_session.as_deref())
        .flatten();
    let launch = match agents::build(
        &name,
        agent,
        &Vars {
            task: &task,
            worktree: &worktree,
            run_id: &rec.id,
            run_dir: &ctx.dir,
            agent_home: &agent_home,
            resume,
            exe: &ctx.exe,
        },
    ) {
        Ok(l) => l,
        Err(e) => return PhaseReport::failed(e, updates),
    };
    let run_vars = RunVars {
        task: &task,
        run_id: &rec.id,
        worktree: &worktree,
        run_dir: &ctx.dir,
    };
    if let Some(reason) = child_env::too_long_argument(&launch.args, &task, &name) {
        return PhaseReport::failed(reason, updates);
    }
    if let Err(e) = child_env::ensure_task_file(&run_vars).await {
        return PhaseReport::failed(format!("cannot write the task file: {e}"), updates);
    }

    let log_path = ctx.path(pack::AGENT_LOG);
    let opened = {
        let log_path = log_path.clone();
        let analytics = ctx.path(agents::AIDER_ANALYTICS);
        super::blocking(move || {
            let log = crate::owner_only::options()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|e| e.to_string())?;
            let offset = log.metadata().map(|m| m.len()).unwrap_or(0);
            // Aider appends to it: earlier iterations' calls are counted already.
            let analytics = std::fs::metadata(&analytics).map_or(0, |m| m.len());
            Ok((log, offset, analytics))
        })
        .await
    };
    let (log, offset, analytics_offset) = match opened {
        Ok(o) => o,
        Err(e) => return PhaseReport::failed(format!("cannot open agent.log: {e}"), updates),
    };
    let (stdout, stderr) = match log.try_clone() {
        Ok(second) => (Stdio::from(log), Stdio::from(second)),
        Err(e) => return PhaseReport::failed(format!("cannot open agent.log: {e}"), updates),
    };

    let prices = Arc::new(job.config.prices());
    // Model traffic goes through the metering gateway when providers are configured.
    let gateway = job
        .gateway
        .clone()
        .filter(|_| !job.config.providers.is_empty());
    let token = gateway
        .as_ref()
        .map(|gw| gw.register(link_for(ctx, job, &prices)));
    // Every way out before the agent starts takes the run's token back.
    let unregister = || {
        if let (Some(gw), Some(t)) = (&gateway, &token) {
            gw.unregister(t);
        }
    };
    let mut gateway_env: Vec<(String, String)> = Vec::new();
    // The built-in agent takes its token on stdin, never in an environment its commands (or
    // their children) could read from /proc.
    let mut stdin = Stdio::null();
    if agent.kind == AgentKind::Builtin {
        let secrets = builtin_env(
            &name,
            agent,
            &job.config.providers,
            gateway.as_deref(),
            token.as_deref(),
        )
        .and_then(|(env, secrets)| {
            gateway_env.extend(env);
            secrets_pipe(&secrets)
                .map_err(|e| format!("cannot hand the built-in agent its token: {e}"))
        });
        match secrets {
            Ok(pipe) => stdin = pipe,
            Err(reason) => {
                unregister();
                return PhaseReport::failed(reason, updates);
            }
        }
    }
    let builtin = agent.kind == AgentKind::Builtin;
    if let (Some(gw), Some(token), false) = (&gateway, &token, builtin) {
        gateway_env.extend(env_for_gateway(
            &gw.base_url(token),
            token,
            &job.config.providers,
            agent.provider.as_deref(),
        ));
        if agent.kind == AgentKind::Codex {
            let text = codex_config(
                &gw.base_url(token),
                &job.config.providers,
                agent.provider.as_deref(),
            );
            let path = agent_home.join("codex").join("config.toml");
            let written = match text {
                Some(text) => {
                    super::blocking(move || {
                        crate::owner_only::write(&path, text.as_bytes()).map_err(|e| e.to_string())
                    })
                    .await
                }
                None => Ok(()),
            };
            if let Err(e) = written {
                unregister();
                return PhaseReport::failed(format!("cannot write Codex's config: {e}"), updates);
            }
        }
    }

    let mut cmd = agent_process::shim_command(&ctx.exe, &ctx.dir, &launch.program, &launch.args);
    cmd.current_dir(&launch.cwd);
    // The provider keys stay with the server: the agent gets its run token instead.
    child_env::apply_with(&mut cmd, &job.config, &run_vars, &agent.env_passthrough);
    cmd.envs(launch.env.iter().map(|(k, v)| (k, v)))
        .envs(gateway_env.iter().map(|(k, v)| (k, v)))
        .envs(
            feedback
                .iter()
                .map(|f| ("FLIGHTDECK_FEEDBACK_FILE", f.path.as_os_str())),
        )
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(false);
    // What a later server needs to adopt this agent, written before it starts.
    let adoption = Adoption {
        log_offset: offset,
        analytics_offset,
        token: token.clone(),
        agent: name.clone(),
    };
    if let Err(e) = adoption.write(&ctx.dir) {
        unregister();
        return PhaseReport::failed(format!("cannot write agent.json: {e}"), updates);
    }
    let started = Instant::now();
    let proc = match agent_process::start(&ctx.spawner, cmd, &ctx.dir).await {
        Ok(p) => p,
        Err(failed) => {
            unregister();
            let (reason, error) = match failed {
                agent_process::Failed::Spawn(e) => (
                    child_env::spawn_error(&e, &task, &launch.program, &name),
                    e.to_string(),
                ),
                agent_process::Failed::Shim(m) => (m.clone(), m),
            };
            ctx.emit(
                Phase::Agent,
                TimelineKind::AgentSpawnFailed,
                fields! {"program" => launch.program, "error" => error, "message" => reason},
            );
            return PhaseReport::failed_said(reason, updates);
        }
    };
    ctx.emit(
        Phase::Agent,
        TimelineKind::AgentStarted,
        fields! {"agent" => name, "pid" => proc.shim.agent_pid, "shim_pid" => proc.shim.shim_pid, "argv" => launch.argv(), "attempt" => rec.attempt, "log_offset" => offset},
    );
    let watch = Watch {
        kind: agent.kind,
        model: agent.model.clone(),
        timeout: agent.timeout.map(|t| t.0),
        log_path,
        offset,
        analytics_offset,
        prices,
        gateway,
        token,
        started,
    };
    supervise(ctx, job, proc, watch, updates).await
}

/// The run's link in the gateway: its meter, providers, prices, budget and what it spent.
pub(super) fn link_for(ctx: &Arc<RunCtx>, job: &PhaseJob, prices: &Arc<PriceTable>) -> RunLink {
    let rec = &job.record;
    RunLink::new(
        rec.id.clone(),
        crate::supervisor::budget::meter_for(ctx),
        job.config.providers.clone(),
        prices.clone(),
        job.config.budget,
        job.config.agent_cap(&rec.agent),
        Spent {
            tokens: rec.tokens.total(),
            usd: rec.cost_usd.unwrap_or(0.0),
        },
    )
}

/// What watching an agent needs, whether this server started it or adopted it.
pub(super) struct Watch {
    pub(super) kind: AgentKind,
    pub(super) model: Option<String>,
    pub(super) timeout: Option<std::time::Duration>,
    pub(super) log_path: std::path::PathBuf,
    /// Where in agent.log to read from.
    pub(super) offset: u64,
    /// Where this attempt's events start in aider's analytics log.
    pub(super) analytics_offset: u64,
    pub(super) prices: Arc<PriceTable>,
    pub(super) gateway: Option<Arc<crate::gateway::Gateway>>,
    pub(super) token: Option<String>,
    pub(super) started: Instant,
}

/// Follow the agent's output, wait for it (timeout, pause, kill aware), then record how it
/// ended and commit what it did.
pub(super) async fn supervise(
    ctx: &Arc<RunCtx>,
    job: &PhaseJob,
    mut proc: AgentProcess,
    w: Watch,
    mut updates: Vec<Update>,
) -> PhaseReport {
    let rec = &job.record;
    let worktree = rec.worktree.clone();
    if proc.pgid() > 0 {
        ctx.procs.register(proc.pgid());
    }
    let Watch {
        kind,
        model,
        timeout,
        log_path,
        offset,
        analytics_offset,
        prices,
        gateway,
        token,
        started,
    } = w;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let follower = {
        let sources = adapters::Sources {
            agent_home: Some(ctx.agent_home()),
            analytics: Some((ctx.path(agents::AIDER_ANALYTICS), analytics_offset)),
        };
        let adapter = adapters::for_kind(kind, model.as_deref(), sources);
        let mut sink = AgentSink::new(ctx.clone(), prices.clone(), adapter, token.is_none());
        tokio::task::spawn_blocking(move || {
            output::follow(&log_path, offset, done_rx, &mut sink);
            sink.finish();
            sink
        })
    };

    let exit = process::wait(&mut proc, &ctx.procs, timeout, job.kill_grace).await;
    ctx.procs.unregister_and_reap();
    // The follower drains what is left for a bounded time: the run ends when the agent ends.
    let _ = done_tx.send(());
    let sink = match follower.await {
        Ok(sink) => sink,
        Err(e) => return PhaseReport::failed(format!("internal error: {e}"), updates),
    };
    if let (Some(gw), Some(t)) = (&gateway, &token) {
        gw.unregister(t);
    }
    let duration_ms = started.elapsed().as_millis() as u64;

    let (failure, exit_code) = match exit {
        Ok(Exit::Exited(status)) => {
            let code = status.code();
            ctx.emit(
                Phase::Agent,
                TimelineKind::AgentExited,
                fields! {"exit_code" => code, "message" => format!("agent {}", process::describe(&status)), "duration_ms" => duration_ms},
            );
            let failure =
                (!status.success()).then(|| format!("agent {}", process::describe(&status)));
            (failure, code)
        }
        Ok(Exit::TimedOut(limit)) => {
            let reason = format!(
                "agent timed out after {}",
                crate::time::human_duration(limit.as_secs() as i64)
            );
            ctx.emit(
                Phase::Agent,
                TimelineKind::AgentTimeout,
                fields! {"message" => reason, "duration_ms" => duration_ms},
            );
            (Some(reason), None)
        }
        Err(e) => (Some(format!("lost track of the agent process: {e}")), None),
    };
    updates.push(Update::ExitCode(exit_code));
    let reported = sink.reported;
    if let Some(s) = reported.session {
        updates.push(Update::Session(s));
    }
    if let Some(c) = reported.cost {
        updates.push(Update::ReportedCost(c));
    }

    // Checkpoint: whatever the agent left, committed on the run's branch, and the patch.
    let note = failure.clone().unwrap_or_default();
    let message = workspace::message_for(&rec.task, &rec.id, &note);
    let (wt, dir, base) = (worktree.clone(), ctx.dir.clone(), rec.base.clone());
    let target =
        crate::gate::target(&job.config.gate, rec.base_branch.as_deref()).map(str::to_string);
    let mut excludes = rec.setup_excludes.clone();
    let committed = blocking(move || {
        agents::own_files(kind, &wt, &mut excludes).map_err(|e| e.to_string())?;
        // The agent has exited: a lock left in its worktree is held by nothing.
        let cleared = workspace::clear_index_lock(&wt).map_err(|e| e.to_string())?;
        let commit = workspace::commit_all(&wt, &message, &excludes).map_err(|e| e.to_string())?;
        let stat =
            proof::patch::write(&dir, &wt, &base, target.as_deref()).map_err(|e| e.to_string())?;
        Ok((commit, stat, excludes, cleared))
    })
    .await;
    match committed {
        Ok((commit, stat, excludes, cleared)) => {
            if let Some(lock) = cleared {
                ctx.emit(
                    Phase::Agent,
                    TimelineKind::WorkspaceLockCleared,
                    fields! {
                        "path" => lock.display().to_string(),
                        "message" => format!("removed {}, left by a git that stopped mid-write (the agent's, or a server's killed while committing)", lock.display()),
                    },
                );
            }
            if excludes != rec.setup_excludes {
                updates.push(Update::SetupExcludes(excludes));
            }
            for f in &stat.changed {
                ctx.emit(
                    Phase::Agent,
                    TimelineKind::FileChanged,
                    fields! {"path" => f.path, "change" => f.change, "insertions" => f.insertions, "deletions" => f.deletions},
                );
            }
            ctx.emit(
                Phase::Agent,
                TimelineKind::WorkspaceCommitted,
                fields! {
                    "commit" => commit,
                    "message" => match &commit {
                        Some(c) => format!("committed the agent's changes as {c}"),
                        None => "the agent changed nothing".to_string(),
                    },
                    "files" => stat.files, "insertions" => stat.insertions, "deletions" => stat.deletions,
                },
            );
        }
        Err(e) => {
            let reason = format!("cannot commit the agent's changes: {e}");
            return PhaseReport::failed(failure.unwrap_or(reason), updates);
        }
    }

    match failure {
        Some(reason) => PhaseReport::failed(reason, updates),
        None => PhaseReport::ok(updates),
    }
}
