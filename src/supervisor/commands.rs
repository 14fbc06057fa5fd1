//! Answering client commands and reports from the supervisor's own tasks.

use crate::proof::kind::TimelineKind;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::fields;
use crate::protocol::{Command, ProtocolError, Reply};
use crate::run::Phase;
use crate::run::Status;
use crate::workspace::{self, WorkspaceError};

use super::context::RunCtx;
use super::machine::{self, Control, Input};
use super::merge_gate::GateInput;
use super::submit;
use super::{Answer, Entry, Internal, Supervisor};

impl Supervisor {
    pub(super) fn on_command(&mut self, cmd: Command, reply: oneshot::Sender<Answer>) {
        let answer = match cmd {
            Command::Run(request) => {
                let source = self.config_source.clone();
                let home = self.home.clone();
                self.jobs.blocking(
                    move || {
                        // No room for its proof: not started, said so.
                        crate::disk::check_room(home.root()).map_err(ProtocolError::refused)?;
                        let mut v = submit::validate(request, &source)?;
                        v.id = submit::claim(&home, &v.request.task, v.request.id.as_deref())?;
                        // Sent from another machine: its gateway holds the keys.
                        if let Some(g) = &v.request.gateway {
                            super::host_gateway::write(&home.run_dir(&v.id), g)?;
                            super::host_gateway::apply(&mut v.config, g);
                        }
                        Ok(Box::new(v))
                    },
                    |result| {
                        let result = result.unwrap_or_else(|e| Err(failed("checking the run", e)));
                        Internal::Submitted { result, reply }.into()
                    },
                );
                return;
            }
            Command::List => Ok(Reply::Runs {
                runs: self.sorted_records(),
            }),
            Command::Show { run } => self.resolve(&run).map(|id| Reply::Run {
                run: Box::new(self.runs[&id].record.clone()),
            }),
            Command::Pause { run } => self.simple(
                &run,
                Input::Pause { reason: None },
                TimelineKind::RunPaused,
                "paused",
            ),
            Command::Resume { run } => return self.resume_command(&run, reply),
            Command::Kill { run } => match self.resolve(&run) {
                Ok(id) if self.runs[&id].record.status == Status::Interrupted => {
                    return self.kill_leftovers(&id, reply)
                }
                _ => self.simple(&run, Input::Kill, TimelineKind::RunKillRequested, "killing"),
            },
            Command::Retry { run, phase } => {
                let id = match self.resolve(&run) {
                    Ok(id) => id,
                    Err(e) => return drop(reply.send(Err(e))),
                };
                // Asked first, so a refusal needs no config reload.
                let e = &self.runs[&id];
                if let Err(e) = machine::guard(&e.record.state, &e.control, &Input::Retry { phase })
                {
                    return drop(reply.send(Err(ProtocolError::refused(format!(
                        "cannot retry run {id}: {e}"
                    )))));
                }
                self.reload_config(&id, move |run, config| Internal::RetryReady {
                    run,
                    phase,
                    config,
                    reply,
                });
                return;
            }
            Command::Clean { run, force } => return self.clean(&run, force, reply),
            Command::Merge { run, no_wait } => return self.merge_command(&run, no_wait, reply),
            Command::Pr { run } => return self.pr_command(&run, reply),
            Command::Reply { run, text } => return self.reply_command(&run, text, reply),
            Command::AwaitMerge { run } => return self.await_merge(&run, reply),
            Command::Rebase { run, by_hand } => return self.rebase_command(&run, by_hand, reply),
            Command::Wait { run } => match self.resolve(&run) {
                Ok(id) => {
                    let rec = &self.runs[&id].record;
                    if rec.status.is_terminal() {
                        Ok(Reply::Run {
                            run: Box::new(rec.clone()),
                        })
                    } else {
                        self.waiters.entry(id).or_default().push(reply);
                        return;
                    }
                }
                Err(e) => Err(e),
            },
            Command::HostGateway { name, host } => {
                return self.host_gateway_command(name, *host, reply)
            }
            Command::HostTunnelMoved(moved) => return self.tunnel_moved_command(*moved, reply),
            Command::Ping => Ok(Reply::Pong {
                pid: std::process::id(),
                adopted: self.adopted,
                version: Some(self.version.clone()),
                max_parallel: Some(self.global.max_parallel),
            }),
            Command::Timeline { .. }
            | Command::Subscribe
            | Command::Patch { .. }
            | Command::Proof { .. }
            | Command::BrowserReport { .. }
            | Command::BrowserPictures { .. }
            | Command::Shutdown { .. } => Err(ProtocolError::internal(
                "this command is handled by the server, not the supervisor",
            )),
        };
        self.answer(reply, answer);
    }

    /// Pause, resume, kill: one machine input, one timeline note.
    pub(super) fn simple(
        &mut self,
        run: &str,
        input: Input,
        kind: TimelineKind,
        verb: &str,
    ) -> Answer {
        let id = self.resolve(run)?;
        let message = format!("{verb} by request");
        self.step_noted(&id, input, |r| {
            Some((r.phase, kind, fields! {"message" => message}))
        })
        .map_err(|e| ProtocolError::refused(format!("cannot {} run {id}: {e}", verb_of(kind))))?;
        Ok(Reply::Run {
            run: Box::new(self.runs[&id].record.clone()),
        })
    }

    /// Read a run's config again off the runtime (a retry or a resume may find it changed),
    /// then hand it back as the message `then` makes.
    pub(super) fn reload_config(
        &self,
        id: &str,
        then: impl FnOnce(String, Result<Box<crate::config::Config>, ProtocolError>) -> Internal
            + Send
            + 'static,
    ) {
        let rec = &self.runs[id].record;
        let (repo, explicit) = (rec.repo.clone(), rec.config_file.clone());
        let run = id.to_string();
        let source = self.config_source.clone();
        let dir = self.home.run_dir(id);
        self.jobs.blocking(
            move || {
                source
                    .load(Some(repo), explicit)
                    .and_then(|c| super::host_gateway::reapply(&dir, c))
                    .map(Box::new)
            },
            move |config| {
                let config = config.unwrap_or_else(|e| Err(failed("reading the config", e)));
                then(run, config).into()
            },
        );
    }

    pub(super) fn clean(&mut self, run: &str, force: bool, reply: oneshot::Sender<Answer>) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        self.leave_queue(&id, "the run is being cleaned");
        let rec = self.runs[&id].record.clone();
        if !rec.status.is_terminal() {
            let e = ProtocolError::refused(format!(
                "run {id} is {}; kill it or wait for it to finish before cleaning",
                rec.status
            ));
            return drop(reply.send(Err(e)));
        }
        // Cleaning the last run of a repository takes its warm pool along: flightdeck leaves
        // nothing behind in a repository it no longer works in.
        let last_of_repo = !self
            .runs
            .values()
            .any(|e| e.record.id != id && e.record.repo == rec.repo && !e.record.cleaned);
        let pool = last_of_repo
            .then(|| workspace::pool::dir_for(&rec.worktree))
            .flatten();
        let keeper = self.pools.clone();
        self.jobs.blocking(
            move || {
                if !force {
                    workspace::check_clean(&rec)?;
                }
                workspace::remove(&rec)?;
                // A merge-queue test's scratch worktree, if a landing left one.
                if let Some(dir) = workspace::scratch::dir_for(&rec.worktree, &rec.id) {
                    workspace::scratch::remove(&rec.repo, &dir, &rec.id);
                }
                if let Some(pool) = pool {
                    keeper.drain_when_idle(&pool);
                }
                Ok(())
            },
            move |result| {
                let result = result
                    .unwrap_or_else(|e| Err(WorkspaceError::Io(e.to_string())))
                    .map_err(|e| match e {
                        WorkspaceError::Refused(m) => {
                            ProtocolError::refused(format!("not cleaning run {id}: {m}"))
                        }
                        other => {
                            ProtocolError::internal(format!("cleaning run {id} failed: {other}"))
                        }
                    });
                Internal::Cleaned {
                    run: id,
                    result,
                    reply,
                }
                .into()
            },
        );
    }

    pub(super) fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::Unfinished { runs } => self.on_unfinished(runs),
            Internal::Submitted { result, reply } => {
                let answer = result.and_then(|v| self.accept(v));
                self.answer(reply, answer);
            }
            Internal::RetryReady {
                run,
                phase,
                config,
                reply,
            } => {
                let answer = config.and_then(|config| {
                    let entry = self
                        .runs
                        .get_mut(&run)
                        .ok_or_else(|| ProtocolError::internal("the run disappeared"))?;
                    // The state may have changed while the config was read.
                    machine::guard(&entry.record.state, &entry.control, &Input::Retry { phase })
                        .map_err(|e| ProtocolError::refused(format!("cannot retry run {run}: {e}")))?;
                    entry.config = Some(Arc::new(*config));
                    entry.ctx.procs.reset();
                    self.leave_queue(&run, "the run is being retried");
                    self.step_noted(&run, Input::Retry { phase }, |rec| {
                        let from = rec.phase;
                        Some((
                            from,
                            TimelineKind::RunRetried,
                            fields! {"message" => format!("retrying from phase {from}"), "attempt" => rec.attempt},
                        ))
                    })
                    .map_err(|e| ProtocolError::refused(format!("cannot retry run {run}: {e}")))?;
                    Ok(Reply::Run {
                        run: Box::new(self.runs[&run].record.clone()),
                    })
                });
                self.answer(reply, answer);
            }
            Internal::PhaseDone { run, phase, report } => self.phase_done(&run, phase, report),
            Internal::Lane(report) => self.lane_report(*report),
            Internal::Rebased {
                run,
                by_hand,
                result,
                reply,
            } => self.rebased(&run, by_hand, *result, reply),
            Internal::RadarTick => self.radar_tick(),
            Internal::BudgetStop { run, message } => self.budget_stop(&run, message),
            Internal::BudgetWarn { run, message } => self.budget_warn(&run, message),
            Internal::ResumeReady { run, config, reply } => self.resume_ready(&run, config, reply),
            Internal::Call { run, call } => {
                if let Some(e) = self.runs.get_mut(&run) {
                    add_call(&mut e.record, &call);
                    self.persist(&run);
                }
            }
            Internal::RadarDone { findings } => self.radar_done(findings),
            Internal::Forge(msg) => self.on_forge(*msg),
            Internal::Answer { reply, answer } => drop(reply.send(answer)), // written already
            Internal::KillGraceOver { run } => {
                if let Some(e) = self.runs.get(&run) {
                    if e.control.busy && e.control.kill_requested {
                        e.ctx.procs.kill_now();
                    }
                }
            }
            Internal::Cleaned { run, result, reply } => {
                if result.is_ok() {
                    self.gate(&run, GateInput::Cleaned);
                    if let Some(e) = self.runs.get(&run) {
                        let message = format!(
                            "removed {} and branch {}; the proof pack stays in {}",
                            e.record.worktree.display(),
                            e.record.branch,
                            e.ctx.dir.display()
                        );
                        e.ctx.emit(
                            e.record.phase,
                            TimelineKind::WorkspaceCleaned,
                            fields! {"message" => message},
                        );
                        self.persist(&run);
                    }
                }
                if let (Err(e), Some(entry)) = (&result, self.runs.get(&run)) {
                    // Said here too: a clean nobody waits on (gate.clean_merged) has no caller.
                    entry.ctx.emit(
                        entry.record.phase,
                        TimelineKind::WorkspaceCleanRefused,
                        fields! {"message" => e.message.clone()},
                    );
                }
                let answer = result.map(|()| Reply::Run {
                    run: Box::new(self.runs[&run].record.clone()),
                });
                self.answer(reply, answer);
            }
        }
    }

    /// A validated request, whose directory the submit job made, becomes a queued run.
    fn accept(&mut self, v: Box<submit::Validated>) -> Answer {
        let id = v.id.clone();
        let dir = self.home.run_dir(&id);
        let record = submit::new_record(&id, &v, &self.home);
        let ctx = RunCtx::new(
            id.clone(),
            dir,
            self.events.clone(),
            self.tx.clone(),
            self.exe.clone(),
            self.spawner.clone(),
        );
        ctx.emit(
            Phase::Prepare,
            TimelineKind::RunCreated,
            fields! {
                "task" => record.task,
                "agent" => record.agent,
                "repo" => record.repo,
                "base" => record.base,
                "base_ref" => record.base_ref,
                "workspace" => record.workspace,
            },
        );
        let control = Control::new();
        let mut record = record;
        machine::refresh(&mut record, &control);
        self.runs.insert(
            id.clone(),
            Entry {
                record,
                control,
                ctx,
                config: Some(Arc::new(v.config.clone())),
                told: None,
            },
        );
        self.queue.push_back(id.clone());
        self.persist(&id);
        self.try_start();
        Ok(Reply::Run {
            run: Box::new(self.runs[&id].record.clone()),
        })
    }
}

/// A job that broke before it could answer: the caller hears it as an internal error.
fn failed(what: &str, e: super::jobs::JobFailed) -> ProtocolError {
    ProtocolError::internal(format!("{what} {e}"))
}

fn verb_of(kind: TimelineKind) -> &'static str {
    match kind {
        TimelineKind::RunPaused => "pause",
        TimelineKind::RunResumed => "resume",
        _ => "kill",
    }
}

/// A model call's tokens and cost, added to the run's totals.
pub(super) fn add_call(record: &mut crate::run::RunRecord, call: &crate::models::calls::ModelCall) {
    let t = &mut record.tokens;
    t.input += call.input_tokens;
    t.output += call.output_tokens;
    t.cache_read += call.cache_read_tokens;
    t.cache_write += call.cache_write_tokens;
    if let Some(c) = call.cost_usd {
        let total = record.cost_usd.unwrap_or(0.0) + c;
        record.cost_usd = Some((total * 1e8).round() / 1e8);
    }
}
