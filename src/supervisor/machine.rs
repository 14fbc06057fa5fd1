//! The run state machine, pure: a state and an input give the next state and the effects the
//! supervisor must carry out. No IO here, so every transition is unit-tested.

use crate::proof::kind::TimelineKind;
use crate::run::allowed::{Allowed, MergeRefusal};
use crate::run::{Phase, RunRecord, RunState, Status};

use super::merge_gate::{self, GateInput};

/// What only the running supervisor knows of a run, beside its state: never persisted, made
/// afresh from the state when a server loads the run (`Control::loaded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// A phase worker is running for this run.
    pub busy: bool,
    /// Kill was asked for; the run ends as `killed` when its worker returns.
    pub kill_requested: bool,
    /// A phase due to start while the run was paused; it starts on resume.
    pub pending: Option<Phase>,
    /// The furthest phase this run has started (retry may go back to any phase up to it).
    pub reached: Phase,
    /// The next start re-runs its phase from that phase's checkpoint.
    pub retry: bool,
}

impl Control {
    pub fn new() -> Self {
        Self {
            busy: false,
            kill_requested: false,
            pending: None,
            reached: Phase::Prepare,
            retry: false,
        }
    }

    /// A run read from disk: how far it got (the furthest checkpoint, or for an unfinished run
    /// the phase it was in), and whether its next start is a retry.
    pub fn loaded(state: &RunState, checkpointed: Option<Phase>) -> Self {
        let reached = checkpointed
            .unwrap_or(Phase::Prepare)
            .max(if state.status.is_terminal() {
                state.phase.min(Phase::Proof)
            } else {
                state.phase.min(Phase::Deliver)
            });
        Self {
            reached,
            // A queued run past its first attempt waits to be retried (from its checkpoint).
            retry: state.status == Status::Queued && state.attempt > 1,
            ..Self::new()
        }
    }
}

impl Default for Control {
    fn default() -> Self {
        Self::new()
    }
}

/// A transition: the run's next state and control, and what the supervisor must carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct Next {
    pub state: RunState,
    pub control: Control,
    pub effects: Vec<Effect>,
}

/// The one place a run's state changes: feed `input` to the run's machine and keep what it
/// decided. `now` is the clock's time (RFC 3339), for the times the machine records.
pub fn advance(
    record: &mut RunRecord,
    control: &mut Control,
    input: Input,
    now: &str,
) -> Result<Vec<Effect>, Refusal> {
    let next = step(&record.state, control, input, now)?;
    record.state = next.state;
    *control = next.control;
    refresh(record, control);
    Ok(next.effects)
}

/// Say what may be done with the run now (a run just accepted or loaded, or after a step).
pub fn refresh(record: &mut RunRecord, control: &Control) {
    record.state.allowed = allowed(record, control);
}

/// The guard's and the gate's answers for each action a person may ask for.
fn allowed(record: &RunRecord, c: &Control) -> Allowed {
    let s = &record.state;
    let no = |input: Input| guard(s, c, &input).err();
    Allowed {
        pause: no(Input::Pause { reason: None }),
        resume: no(Input::Resume),
        kill: no(Input::Kill),
        // From some phase: the cockpit then asks which (prepare is always one).
        retry: no(Input::Retry {
            phase: Some(Phase::Prepare),
        }),
        merge: MergeRefusal::of(record),
    }
}

/// A record as the gate would make it after `input`, for rendering (PR.md) before the
/// supervisor has stepped the run itself.
pub fn gated(record: &RunRecord, input: GateInput) -> RunRecord {
    RunRecord {
        state: merge_gate::step(&record.state, input),
        ..record.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed {
        reason: String,
    },
    /// The browser found problems, or required smoke checks failed: the agent goes again
    /// with the report (its next iteration), then the checks (and the browser) again.
    Iterate {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A slot is free: start the queued run at its phase.
    Start,
    PhaseFinished {
        phase: Phase,
        outcome: Outcome,
    },
    /// Pause; `reason` says why when no person asked (`budget`).
    Pause {
        reason: Option<String>,
    },
    Resume,
    /// A warning to show with the run (it does not change its course).
    Warn(String),
    Kill,
    Retry {
        phase: Option<Phase>,
    },
    /// The run's work was replayed onto its target's head (`flightdeck rebase`): what comes
    /// next.
    Rebased(AfterRebase),
    /// The server found the run unfinished on start-up, with no supervisor behind it.
    Interrupted,
    /// The server is shutting down and ends the run (its processes are killed).
    Shutdown,
    /// Something for the merge gate: the gate's evaluation, the radar, a merge (no effects).
    Gate(GateInput),
    /// The server found the run unfinished on start-up with something to carry on from:
    /// `attach` when its agent's shim is alive or recorded the agent's end; otherwise the
    /// phase (one the server runs itself) starts again.
    Adopt {
        attach: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterRebase {
    /// Replayed cleanly: the checks run again, then proof and deliver.
    Check,
    /// Conflicts: the agent gets one more iteration to resolve them (the worktree as it is).
    Agent,
    /// Conflicts left to a person: the run waits, failed in smoke with this reason, until
    /// `retry` (smoke) after the resolution.
    Person(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Stop,
    Cont,
    Term,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Start a worker for this phase. `retry`: the phase runs again from its checkpoint.
    RunPhase { phase: Phase, retry: bool },
    /// Start a worker that takes over the agent a previous server started.
    AdoptPhase { phase: Phase },
    /// Signal the process group of whatever the run is executing, if anything.
    Signal(Signal),
    /// SIGKILL the group if it is still there after the grace period.
    EscalateKill,
    /// Put the run at the back of the queue.
    Enqueue,
    /// Record the end: timestamps, reason, the `run.finished` line, free the slot.
    Finish {
        status: Status,
        reason: Option<String>,
    },
    /// Note in the timeline (type, message).
    Note { kind: TimelineKind, message: String },
}

pub use crate::run::allowed::Refusal;

/// Whether the machine takes `input` now, and if not why, with what to do instead: the one
/// place a run's refusals are decided (commands ask it before work they must not start for a
/// refused input, and the cockpit's `can_*` come from it).
pub fn guard(s: &RunState, c: &Control, input: &Input) -> Result<(), Refusal> {
    let finished_or = |other: Refusal| {
        Err(if s.status.is_terminal() {
            Refusal::Finished { status: s.status }
        } else {
            other
        })
    };
    match input {
        Input::Start if s.status != Status::Queued => {
            Err(Refusal::StillActive { status: s.status })
        }
        Input::Pause { .. } if s.status != Status::Running => {
            finished_or(Refusal::NotRunning { status: s.status })
        }
        Input::Resume if s.status != Status::Paused => {
            finished_or(Refusal::NotPaused { status: s.status })
        }
        Input::Kill if s.status.is_terminal() => Err(Refusal::Finished { status: s.status }),
        Input::Kill if c.kill_requested => Err(Refusal::AlreadyKilling),
        Input::Retry { .. } | Input::Rebased(_) if !s.status.is_terminal() => {
            Err(Refusal::StillActive { status: s.status })
        }
        Input::Retry { phase } => {
            let phase = match phase {
                Some(p) => *p,
                None if s.status == Status::Succeeded => return Err(Refusal::NothingFailed),
                None => retry_phase(s),
            };
            if !phase.is_retryable() {
                Err(Refusal::NotRetryable { phase })
            } else if phase > c.reached {
                Err(Refusal::NotReached {
                    wanted: phase,
                    reached: c.reached,
                })
            } else {
                Ok(())
            }
        }
        Input::Rebased(_) if s.merge == crate::run::MergeState::Merged => Err(Refusal::Merged),
        _ => Ok(()),
    }
}

/// Where a retry without a phase starts: where the run stopped, except after checks that
/// failed on the agent's code with their output waiting for it (checking the same work again
/// would fail again), where the agent goes round with that output. The cockpit proposes the same.
pub fn retry_phase(s: &RunState) -> Phase {
    if s.status == Status::Failed && crate::proof::smoke::agent_may_fix(s.reason.as_deref()) {
        Phase::Agent
    } else {
        s.phase
    }
}

/// The transition: `guard` first, then the next state, control and effects.
pub fn step(s: &RunState, c: &Control, input: Input, now: &str) -> Result<Next, Refusal> {
    guard(s, c, &input)?;
    let (mut ns, mut nc) = (s.clone(), c.clone());
    let mut fx = Vec::new();
    match input {
        Input::Start => {
            ns.status = Status::Running;
            nc.busy = true;
            nc.reached = nc.reached.max(s.phase);
            // A fresh start or a retry times the run anew; a run that goes on keeps its start.
            if s.phase == Phase::Prepare || c.retry || s.started_at.is_none() {
                // A retry's ELAPSED goes on from what the earlier attempts worked.
                if c.retry {
                    ns.earlier_attempts_secs = s.active_secs(now).unwrap_or(0);
                }
                ns.started_at = Some(now.to_string());
                ns.finished_at = None;
                ns.paused_at = None;
                ns.paused_secs = 0;
            }
            fx.push(Effect::RunPhase {
                phase: s.phase,
                retry: c.retry,
            });
            nc.retry = false;
        }
        Input::PhaseFinished { .. } if s.status.is_terminal() => {
            // A worker reporting after its run was ended (shutdown, interrupt): stale.
        }
        Input::PhaseFinished { phase, outcome } => {
            nc.busy = false;
            if c.kill_requested {
                fx.push(Effect::Finish {
                    status: Status::Killed,
                    reason: Some("killed by request".into()),
                });
                ns.status = Status::Killed;
            } else {
                match outcome {
                    Outcome::Iterate { reason } => {
                        ns.phase = Phase::Agent;
                        let kind = if phase == Phase::Smoke {
                            TimelineKind::SmokeIteration
                        } else {
                            TimelineKind::BrowserIteration
                        };
                        fx.push(Effect::Note {
                            kind,
                            message: reason,
                        });
                        if s.status == Status::Paused {
                            nc.pending = Some(Phase::Agent);
                        } else {
                            nc.busy = true;
                            fx.push(Effect::RunPhase {
                                phase: Phase::Agent,
                                retry: false,
                            });
                        }
                    }
                    Outcome::Failed { reason } => {
                        ns.status = Status::Failed;
                        ns.phase = phase;
                        fx.push(Effect::Finish {
                            status: Status::Failed,
                            reason: Some(reason),
                        });
                    }
                    Outcome::Succeeded => {
                        let after = phase.next();
                        ns.phase = after;
                        if after == Phase::Done {
                            ns.status = Status::Succeeded;
                            fx.push(Effect::Finish {
                                status: Status::Succeeded,
                                reason: None,
                            });
                        } else if s.status == Status::Paused {
                            nc.pending = Some(after);
                            fx.push(Effect::Note {
                                kind: TimelineKind::PhaseHeld,
                                message: format!("phase {after} waits for resume"),
                            });
                        } else {
                            nc.busy = true;
                            nc.reached = nc.reached.max(after);
                            fx.push(Effect::RunPhase {
                                phase: after,
                                retry: false,
                            });
                        }
                    }
                }
            }
        }
        Input::Warn(message) => {
            ns.warning = Some(message);
        }
        Input::Pause { reason } => {
            ns.status = Status::Paused;
            ns.pause_reason = reason;
            ns.paused_at = Some(now.to_string());
            fx.push(Effect::Signal(Signal::Stop));
        }
        Input::Resume => {
            ns.status = Status::Running;
            ns.pause_reason = None;
            if let Some(at) = ns.paused_at.take() {
                ns.paused_secs += RunState::secs_between(&at, now);
            }
            fx.push(Effect::Signal(Signal::Cont));
            if let Some(p) = c.pending {
                nc.pending = None;
                nc.busy = true;
                ns.phase = p;
                nc.reached = nc.reached.max(p);
                fx.push(Effect::RunPhase {
                    phase: p,
                    retry: false,
                });
            }
        }
        Input::Kill => {
            if c.busy {
                nc.kill_requested = true;
                fx.push(Effect::Signal(Signal::Term));
                // A stopped process only acts on SIGTERM once continued.
                fx.push(Effect::Signal(Signal::Cont));
                fx.push(Effect::EscalateKill);
            } else {
                ns.status = Status::Killed;
                nc.pending = None;
                fx.push(Effect::Finish {
                    status: Status::Killed,
                    reason: Some("killed by request".into()),
                });
            }
        }
        Input::Retry { phase } => {
            let phase = phase.unwrap_or_else(|| retry_phase(s));
            ns.status = Status::Queued;
            ns.phase = phase;
            ns.attempt += 1;
            nc.kill_requested = false;
            nc.busy = false;
            nc.pending = None;
            nc.retry = true;
            ns.reason = None;
            ns = merge_gate::step(&ns, GateInput::Retried);
            fx.push(Effect::Enqueue);
        }
        Input::Rebased(after) => {
            ns.attempt += 1;
            nc.kill_requested = false;
            nc.busy = false;
            nc.pending = None;
            // No reset: the worktree holds the replayed work.
            nc.retry = false;
            ns = merge_gate::step(&ns, GateInput::Retried);
            ns.conflicts.clear();
            match after {
                AfterRebase::Check | AfterRebase::Agent => {
                    ns.status = Status::Queued;
                    ns.phase = if after == AfterRebase::Agent {
                        Phase::Agent
                    } else {
                        Phase::Smoke
                    };
                    ns.reason = None;
                    fx.push(Effect::Enqueue);
                }
                AfterRebase::Person(reason) => {
                    ns.status = Status::Failed;
                    ns.phase = Phase::Smoke;
                    nc.reached = nc.reached.max(Phase::Smoke);
                    ns.reason = Some(reason.clone());
                    ns = merge_gate::step(
                        &ns,
                        GateInput::Ended {
                            status: Status::Failed,
                            phase: Phase::Smoke,
                            reason: Some(reason),
                        },
                    );
                }
            }
        }
        // Adopting twice, or a run not under way, does nothing.
        Input::Adopt { .. } if !matches!(s.status, Status::Running | Status::Paused) || c.busy => {}
        Input::Adopt { attach } => {
            nc.busy = true;
            nc.reached = nc.reached.max(s.phase);
            if s.status == Status::Paused {
                // The slot must know: whatever the worker registers stays stopped.
                fx.push(Effect::Signal(Signal::Stop));
            }
            fx.push(if attach {
                Effect::AdoptPhase { phase: s.phase }
            } else {
                Effect::RunPhase {
                    phase: s.phase,
                    // A half-made workspace is made again (prepare tells its own from work).
                    retry: s.phase == Phase::Prepare,
                }
            });
        }
        // Stale for a run already ended.
        Input::Interrupted | Input::Shutdown if s.status.is_terminal() => {}
        ended @ (Input::Interrupted | Input::Shutdown) => {
            let (status, reason) = match ended {
                Input::Interrupted => (
                    Status::Interrupted,
                    "the server stopped while the run was in progress",
                ),
                _ => (Status::Killed, "the server was shut down"),
            };
            ns.status = status;
            nc.busy = false;
            nc.pending = None;
            fx.push(Effect::Finish {
                status,
                reason: Some(reason.into()),
            });
        }
        Input::Gate(input) => ns = merge_gate::step(&ns, input),
    }
    // However a run ends, the machine keeps why, and the gate follows.
    for effect in &fx {
        if let Effect::Finish { status, reason } = effect {
            ns.reason = reason.clone();
            ns.finished_at = Some(now.to_string());
            // A run ended while paused (killed) was paused up to its end.
            if let Some(at) = ns.paused_at.take() {
                ns.paused_secs += RunState::secs_between(&at, now);
            }
            ns = merge_gate::step(
                &ns,
                GateInput::Ended {
                    status: *status,
                    phase: ns.phase,
                    reason: reason.clone(),
                },
            );
        }
    }
    Ok(Next {
        state: ns,
        control: nc,
        effects: fx,
    })
}

#[cfg(test)]
mod tests;
