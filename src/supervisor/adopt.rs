//! Start-up: every run a previous server left unfinished is taken up again. Queued runs queue
//! again; a run in its agent phase whose shim is alive (or recorded the agent's end) is
//! adopted; a run in a phase the server runs itself does that phase again; only a run in its
//! agent phase with neither becomes `interrupted`, with the reason in its timeline.

use crate::proof::kind::TimelineKind;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::fields;
use crate::protocol::ProtocolError;
use crate::run::{Phase, Status};
use crate::shim::files::{self, Found};

use super::machine::Input;
use super::{Internal, Supervisor};

/// What start-up found of one unfinished run.
#[derive(Debug)]
pub struct Unfinished {
    pub run: String,
    pub config: Result<Box<Config>, ProtocolError>,
    pub found: Found,
    /// Its model calls as recorded (the totals in run.json may lag behind a crash).
    pub calls: Vec<crate::models::calls::ModelCall>,
}

impl Supervisor {
    /// Read the unfinished runs' configs and probe their shims off the runtime, oldest first;
    /// the answer comes back as one message.
    pub(super) fn readopt_unfinished(&self) {
        let mut todo: Vec<(String, String, PathBuf, Option<PathBuf>, PathBuf, bool)> = self
            .runs
            .values()
            .filter(|e| !e.record.status.is_terminal())
            .map(|e| {
                (
                    e.record.created_at.clone(),
                    e.record.id.clone(),
                    e.record.repo.clone(),
                    e.record.config_file.clone(),
                    e.ctx.dir.clone(),
                    e.record.phase == Phase::Agent,
                )
            })
            .collect();
        if todo.is_empty() {
            return;
        }
        todo.sort();
        let source = self.config_source.clone();
        let ids: Vec<String> = todo.iter().map(|t| t.1.clone()).collect();
        self.jobs.blocking(
            move || {
                todo.into_iter()
                    .map(|(_, run, repo, explicit, dir, in_agent)| Unfinished {
                        run,
                        config: source
                            .load(Some(repo), explicit)
                            .and_then(|c| super::host_gateway::reapply(&dir, c))
                            .map(Box::new),
                        // Only an agent's shim can be alive without its record yet.
                        found: if in_agent {
                            files::probe_after_restart(&dir, files::RECORD_WITHIN)
                        } else {
                            files::probe(&dir)
                        },
                        calls: crate::proof::store::read_calls(&dir),
                    })
                    .collect::<Vec<_>>()
            },
            move |found| {
                // A look that broke leaves each run interrupted, saying why, not unattended.
                let runs = found.unwrap_or_else(|e| {
                    ids.into_iter()
                        .map(|run| Unfinished {
                            run,
                            config: Err(ProtocolError::internal(format!(
                                "looking at what the last server left {e}"
                            ))),
                            found: Found::Gone(None),
                            calls: Vec::new(),
                        })
                        .collect()
                });
                Internal::Unfinished { runs }.into()
            },
        );
    }

    pub(super) fn on_unfinished(&mut self, runs: Vec<Unfinished>) {
        let mut adopted = 0;
        for u in runs {
            let Some(entry) = self.runs.get_mut(&u.run) else {
                continue;
            };
            let (status, phase) = (entry.record.status, entry.record.phase);
            // The totals come from the calls themselves: the last run.json may predate some.
            if !u.calls.is_empty() {
                entry.record.tokens = Default::default();
                entry.record.cost_usd = None;
                for call in &u.calls {
                    super::commands::add_call(&mut entry.record, call);
                }
            }
            let config = match u.config {
                Ok(c) => c,
                Err(e) => {
                    entry.ctx.emit(
                        phase,
                        TimelineKind::RunInterrupted,
                        fields! {"message" => format!("the server restarted and cannot read the run's config again: {}", e.message)},
                    );
                    self.step(&u.run, Input::Interrupted);
                    continue;
                }
            };
            entry.config = Some(Arc::new(*config));
            match status {
                Status::Queued if !self.queue.iter().any(|q| q == &u.run) => {
                    self.queue.push_back(u.run.clone());
                }
                Status::Running | Status::Paused => {
                    let attach = matches!(u.found, Found::Live(_) | Found::Exited(_));
                    // The server stopped before the agent was started: start it now.
                    let never_started = matches!(u.found, Found::Gone(None));
                    if phase == Phase::Agent && !attach && !never_started {
                        entry.ctx.emit(
                            phase,
                            TimelineKind::RunInterrupted,
                            fields! {"message" => "the server stopped while the agent ran, and the agent's shim is gone without recording how the agent ended; retry --phase agent runs it again (nothing is lost: the worktree is saved first)"},
                        );
                        self.step(&u.run, Input::Interrupted);
                        continue;
                    }
                    let attach = phase == Phase::Agent && attach;
                    if !attach {
                        entry.ctx.emit(
                            phase,
                            TimelineKind::RunAdopted,
                            fields! {"message" => format!("adopted by a new server: phase {phase} runs again")},
                        );
                    }
                    adopted += 1;
                    self.step(&u.run, Input::Adopt { attach });
                }
                _ => {}
            }
        }
        self.adopted = adopted;
        tracing::info!("server started: {adopted} run(s) re-adopted");
        let _ = self.events.send(crate::protocol::Event::Server {
            pid: std::process::id(),
            adopted,
        });
        self.try_start();
    }
}

impl Supervisor {
    /// `kill` on an interrupted run: stop whatever of its agent is still running (found by
    /// the shim's record, checked against pid reuse).
    pub(super) fn kill_leftovers(
        &mut self,
        id: &str,
        reply: tokio::sync::oneshot::Sender<super::Answer>,
    ) {
        let dir = self.runs[id].ctx.dir.clone();
        let ctx = self.runs[id].ctx.clone();
        let run = id.to_string();
        let kill = move || {
            let shim = files::read_shim(&dir)?;
            let live = files::alive(shim.agent_pid, shim.agent_start)
                || files::alive(shim.shim_pid, shim.shim_start);
            if !live || shim.pgid <= 0 {
                return None;
            }
            let group = nix::unistd::Pid::from_raw(shim.pgid);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            Some(shim.pgid)
        };
        let answer = move |killed: Option<i32>| {
            match killed {
                Some(pgid) => {
                    let message = format!(
                        "run {run} was interrupted; killed what was left of it (process group {pgid})"
                    );
                    ctx.emit(
                        Phase::Agent,
                        TimelineKind::RunKillRequested,
                        fields! {"message" => message.clone()},
                    );
                    Ok(crate::protocol::Reply::Done { message })
                }
                None => Err(ProtocolError::refused(format!(
                    "run {run} was interrupted and nothing of it is running; retry it with `flightdeck retry {run}`"
                ))),
            }
        };
        self.jobs.blocking(
            move || answer(kill()),
            move |answer| {
                let answer = answer.unwrap_or_else(|e| {
                    Err(ProtocolError::internal(format!(
                        "killing what was left {e}"
                    )))
                });
                Internal::Answer { reply, answer }.into()
            },
        );
    }
}
