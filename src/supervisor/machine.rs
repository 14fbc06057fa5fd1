//! The run state machine, pure: a state and an input give the next state and the effects the
//! supervisor must carry out. No IO here, so every transition is unit-tested.

use crate::run::{Phase, Status};

use super::merge_gate::{self, GateInput, MergeGate};

/// The part of a run the machine decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub status: Status,
    pub phase: Phase,
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
    /// Why the run is paused, when not by request (`budget`).
    pub pause_reason: Option<String>,
    /// The latest warning worth showing (a budget nearly spent).
    pub warning: Option<String>,
    /// Why the run ended, when it did not simply succeed.
    pub reason: Option<String>,
    /// Whether and why the run may merge (merge_gate.rs).
    pub gate: MergeGate,
}

impl Machine {
    pub fn new() -> Self {
        Self {
            status: Status::Queued,
            phase: Phase::Prepare,
            busy: false,
            kill_requested: false,
            pending: None,
            reached: Phase::Prepare,
            retry: false,
            pause_reason: None,
            warning: None,
            reason: None,
            gate: MergeGate::default(),
        }
    }
}

impl Default for Machine {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed {
        reason: String,
    },
    /// The browser found problems: the agent goes again with the report (its next
    /// iteration), then the checks and the browser again.
    Iterate {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
    Note { kind: &'static str, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the run has already finished ({0}); nothing to do (retry it with `flightdeck retry`)"
    )]
    Finished(Status),
    #[error("the run is {0}, not running; only a running run can be paused")]
    NotRunning(Status),
    #[error("the run is {0}, not paused; only a paused run can be resumed")]
    NotPaused(Status),
    #[error("the run is still {0}; kill it or wait for it to finish before retrying")]
    StillActive(Status),
    #[error("the run never reached phase {wanted} (it stopped in {reached}); retry --phase {reached} or an earlier phase")]
    NotReached { wanted: Phase, reached: Phase },
    #[error("phase {0} cannot be retried; retry one of prepare, agent, smoke, proof, deliver")]
    NotRetryable(Phase),
    #[error("the run succeeded; pass --phase to say which phase to run again")]
    NothingFailed,
    #[error("a kill is already under way")]
    AlreadyKilling,
    #[error("the run has already landed; there is nothing to rebase")]
    Merged,
}

pub fn step(m: &Machine, input: Input) -> Result<(Machine, Vec<Effect>), Refusal> {
    let mut next = m.clone();
    let mut fx = Vec::new();
    match input {
        Input::Start => {
            if m.status != Status::Queued {
                return Err(Refusal::StillActive(m.status));
            }
            next.status = Status::Running;
            next.busy = true;
            next.reached = next.reached.max(m.phase);
            fx.push(Effect::RunPhase {
                phase: m.phase,
                retry: m.retry,
            });
            next.retry = false;
        }
        Input::PhaseFinished { .. } if m.status.is_terminal() => {
            // A worker reporting after its run was ended (shutdown, interrupt): stale.
        }
        Input::PhaseFinished { phase, outcome } => {
            next.busy = false;
            if m.kill_requested {
                fx.push(Effect::Finish {
                    status: Status::Killed,
                    reason: Some("killed by request".into()),
                });
                next.status = Status::Killed;
            } else {
                match outcome {
                    Outcome::Iterate { reason } => {
                        next.phase = Phase::Agent;
                        fx.push(Effect::Note {
                            kind: "browser.iteration",
                            message: reason,
                        });
                        if m.status == Status::Paused {
                            next.pending = Some(Phase::Agent);
                        } else {
                            next.busy = true;
                            fx.push(Effect::RunPhase {
                                phase: Phase::Agent,
                                retry: false,
                            });
                        }
                    }
                    Outcome::Failed { reason } => {
                        next.status = Status::Failed;
                        next.phase = phase;
                        fx.push(Effect::Finish {
                            status: Status::Failed,
                            reason: Some(reason),
                        });
                    }
                    Outcome::Succeeded => {
                        let after = phase.next();
                        next.phase = after;
                        if after == Phase::Done {
                            next.status = Status::Succeeded;
                            fx.push(Effect::Finish {
                                status: Status::Succeeded,
                                reason: None,
                            });
                        } else if m.status == Status::Paused {
                            next.pending = Some(after);
                            fx.push(Effect::Note {
                                kind: "phase.held",
                                message: format!("phase {after} waits for resume"),
                            });
                        } else {
                            next.busy = true;
                            next.reached = next.reached.max(after);
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
            next.warning = Some(message);
        }
        Input::Pause { reason } => {
            if m.status != Status::Running {
                return Err(if m.status.is_terminal() {
                    Refusal::Finished(m.status)
                } else {
                    Refusal::NotRunning(m.status)
                });
            }
            next.status = Status::Paused;
            next.pause_reason = reason;
            fx.push(Effect::Signal(Signal::Stop));
        }
        Input::Resume => {
            if m.status != Status::Paused {
                return Err(if m.status.is_terminal() {
                    Refusal::Finished(m.status)
                } else {
                    Refusal::NotPaused(m.status)
                });
            }
            next.status = Status::Running;
            next.pause_reason = None;
            fx.push(Effect::Signal(Signal::Cont));
            if let Some(p) = m.pending {
                next.pending = None;
                next.busy = true;
                next.phase = p;
                next.reached = next.reached.max(p);
                fx.push(Effect::RunPhase {
                    phase: p,
                    retry: false,
                });
            }
        }
        Input::Kill => {
            if m.status.is_terminal() {
                return Err(Refusal::Finished(m.status));
            }
            if m.kill_requested {
                return Err(Refusal::AlreadyKilling);
            }
            if m.busy {
                next.kill_requested = true;
                fx.push(Effect::Signal(Signal::Term));
                // A stopped process only acts on SIGTERM once continued.
                fx.push(Effect::Signal(Signal::Cont));
                fx.push(Effect::EscalateKill);
            } else {
                next.status = Status::Killed;
                next.pending = None;
                fx.push(Effect::Finish {
                    status: Status::Killed,
                    reason: Some("killed by request".into()),
                });
            }
        }
        Input::Retry { phase } => {
            if !m.status.is_terminal() {
                return Err(Refusal::StillActive(m.status));
            }
            let phase = match phase {
                Some(p) => p,
                None if m.status == Status::Succeeded => return Err(Refusal::NothingFailed),
                None => m.phase,
            };
            if !phase.is_retryable() {
                return Err(Refusal::NotRetryable(phase));
            }
            if phase > m.reached {
                return Err(Refusal::NotReached {
                    wanted: phase,
                    reached: m.reached,
                });
            }
            next.status = Status::Queued;
            next.phase = phase;
            next.kill_requested = false;
            next.busy = false;
            next.pending = None;
            next.retry = true;
            next.reason = None;
            next.gate = merge_gate::step(&m.gate, GateInput::Retried);
            fx.push(Effect::Enqueue);
        }
        Input::Rebased(after) => {
            if !m.status.is_terminal() {
                return Err(Refusal::StillActive(m.status));
            }
            if m.gate.merge == crate::run::MergeState::Merged {
                return Err(Refusal::Merged);
            }
            next.kill_requested = false;
            next.busy = false;
            next.pending = None;
            // No reset: the worktree holds the replayed work.
            next.retry = false;
            next.gate = merge_gate::step(&m.gate, GateInput::Retried);
            next.gate.conflicts.clear();
            match after {
                AfterRebase::Check | AfterRebase::Agent => {
                    next.status = Status::Queued;
                    next.phase = if after == AfterRebase::Agent {
                        Phase::Agent
                    } else {
                        Phase::Smoke
                    };
                    next.reason = None;
                    fx.push(Effect::Enqueue);
                }
                AfterRebase::Person(reason) => {
                    next.status = Status::Failed;
                    next.phase = Phase::Smoke;
                    next.reached = next.reached.max(Phase::Smoke);
                    next.reason = Some(reason.clone());
                    next.gate = merge_gate::step(
                        &next.gate,
                        GateInput::Ended {
                            status: Status::Failed,
                            phase: Phase::Smoke,
                            reason: Some(reason),
                        },
                    );
                }
            }
        }
        Input::Adopt { attach } => {
            if !matches!(m.status, Status::Running | Status::Paused) || m.busy {
                return Ok((next, fx));
            }
            next.busy = true;
            next.reached = next.reached.max(m.phase);
            if m.status == Status::Paused {
                // The slot must know: whatever the worker registers stays stopped.
                fx.push(Effect::Signal(Signal::Stop));
            }
            fx.push(if attach {
                Effect::AdoptPhase { phase: m.phase }
            } else {
                Effect::RunPhase {
                    phase: m.phase,
                    // A half-made workspace is made again (prepare tells its own from work).
                    retry: m.phase == Phase::Prepare,
                }
            });
        }
        Input::Interrupted => {
            if m.status.is_terminal() {
                return Ok((next, fx));
            }
            next.status = Status::Interrupted;
            next.busy = false;
            next.pending = None;
            fx.push(Effect::Finish {
                status: Status::Interrupted,
                reason: Some("the server stopped while the run was in progress".into()),
            });
        }
        Input::Shutdown => {
            if m.status.is_terminal() {
                return Ok((next, fx));
            }
            next.status = Status::Killed;
            next.busy = false;
            next.pending = None;
            fx.push(Effect::Finish {
                status: Status::Killed,
                reason: Some("the server was shut down".into()),
            });
        }
        Input::Gate(input) => next.gate = merge_gate::step(&m.gate, input),
    }
    // However a run ends, the machine keeps why, and the gate follows.
    for effect in &fx {
        if let Effect::Finish { status, reason } = effect {
            next.reason = reason.clone();
            next.gate = merge_gate::step(
                &next.gate,
                GateInput::Ended {
                    status: *status,
                    phase: next.phase,
                    reason: reason.clone(),
                },
            );
        }
    }
    Ok((next, fx))
}

#[cfg(test)]
mod tests;
