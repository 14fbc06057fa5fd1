//! The run state machine, pure: a state and an input give the next state and the effects the
//! supervisor must carry out. No IO here, so every transition is unit-tested.

use crate::run::{Phase, Status};

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
    /// The server found the run unfinished on start-up, with no supervisor behind it.
    Interrupted,
    /// The server found the run unfinished on start-up with something to carry on from:
    /// `attach` when its agent's shim is alive or recorded the agent's end; otherwise the
    /// phase (one the server runs itself) starts again.
    Adopt {
        attach: bool,
    },
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
            fx.push(Effect::Enqueue);
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
                    // A half-made workspace is saved and made again.
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
    }
    Ok((next, fx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: &Machine, input: Input) -> (Machine, Vec<Effect>) {
        step(m, input).expect("transition allowed")
    }

    fn started() -> Machine {
        run(&Machine::new(), Input::Start).0
    }

    fn ok(phase: Phase) -> Input {
        Input::PhaseFinished {
            phase,
            outcome: Outcome::Succeeded,
        }
    }

    #[test]
    fn happy_path_walks_the_pipeline() {
        let (m, fx) = run(&Machine::new(), Input::Start);
        assert_eq!(m.status, Status::Running);
        assert_eq!(
            fx,
            vec![Effect::RunPhase {
                phase: Phase::Prepare,
                retry: false
            }]
        );
        let mut m = m;
        for (p, expect) in [
            (Phase::Prepare, Phase::Agent),
            (Phase::Agent, Phase::Smoke),
            (Phase::Smoke, Phase::Browser),
            (Phase::Browser, Phase::Proof),
            (Phase::Proof, Phase::Deliver),
        ] {
            let (n, fx) = run(&m, ok(p));
            assert_eq!(n.phase, expect);
            assert_eq!(
                fx,
                vec![Effect::RunPhase {
                    phase: expect,
                    retry: false
                }]
            );
            m = n;
        }
        let (m, fx) = run(&m, ok(Phase::Deliver));
        assert_eq!((m.status, m.phase), (Status::Succeeded, Phase::Done));
        assert!(matches!(
            fx[0],
            Effect::Finish {
                status: Status::Succeeded,
                ..
            }
        ));
    }

    #[test]
    fn failure_stops_in_its_phase() {
        let m = run(&started(), ok(Phase::Prepare)).0;
        let (m, fx) = run(
            &m,
            Input::PhaseFinished {
                phase: Phase::Agent,
                outcome: Outcome::Failed {
                    reason: "exit 1".into(),
                },
            },
        );
        assert_eq!((m.status, m.phase), (Status::Failed, Phase::Agent));
        assert_eq!(
            fx,
            vec![Effect::Finish {
                status: Status::Failed,
                reason: Some("exit 1".into())
            }]
        );
    }

    #[test]
    fn pause_and_resume_signal_the_group() {
        let (m, fx) = run(&started(), Input::Pause { reason: None });
        assert_eq!(m.status, Status::Paused);
        assert_eq!(fx, vec![Effect::Signal(Signal::Stop)]);
        assert_eq!(
            step(&m, Input::Pause { reason: None }).unwrap_err(),
            Refusal::NotRunning(Status::Paused)
        );
        let (m, fx) = run(&m, Input::Resume);
        assert_eq!(m.status, Status::Running);
        assert_eq!(fx, vec![Effect::Signal(Signal::Cont)]);
        assert!(step(&m, Input::Resume).is_err());
    }

    #[test]
    fn a_budget_pause_keeps_its_reason_until_resumed() {
        let (m, _) = run(&started(), Input::Warn("80% used".into()));
        assert_eq!(m.warning.as_deref(), Some("80% used"));
        let (m, _) = run(
            &m,
            Input::Pause {
                reason: Some("budget".into()),
            },
        );
        assert_eq!(m.pause_reason.as_deref(), Some("budget"));
        // A second pause (a person, later) is refused and leaves the reason alone.
        assert!(step(&m, Input::Pause { reason: None }).is_err());
        let (m, _) = run(&m, Input::Resume);
        assert_eq!(m.pause_reason, None);
        assert_eq!(m.warning.as_deref(), Some("80% used"));
    }

    #[test]
    fn a_phase_ending_while_paused_waits_for_resume() {
        let m = run(&started(), Input::Pause { reason: None }).0;
        let (m, fx) = run(&m, ok(Phase::Prepare));
        assert_eq!(m.pending, Some(Phase::Agent));
        assert!(!m.busy);
        assert!(fx.iter().all(|e| !matches!(e, Effect::RunPhase { .. })));
        let (m, fx) = run(&m, Input::Resume);
        assert!(m.busy);
        assert!(fx.contains(&Effect::RunPhase {
            phase: Phase::Agent,
            retry: false
        }));
    }

    #[test]
    fn kill_terminates_then_escalates_and_ends_killed() {
        let (m, fx) = run(&started(), Input::Kill);
        assert!(m.kill_requested);
        assert_eq!(
            fx,
            vec![
                Effect::Signal(Signal::Term),
                Effect::Signal(Signal::Cont),
                Effect::EscalateKill
            ]
        );
        assert_eq!(step(&m, Input::Kill).unwrap_err(), Refusal::AlreadyKilling);
        // Even a worker that reports success ends the run as killed.
        let (m, _) = run(&m, ok(Phase::Prepare));
        assert_eq!(m.status, Status::Killed);
        assert_eq!(
            step(&m, Input::Kill).unwrap_err(),
            Refusal::Finished(Status::Killed)
        );
    }

    #[test]
    fn killing_a_queued_or_held_run_ends_it_at_once() {
        let (m, fx) = run(&Machine::new(), Input::Kill);
        assert_eq!(m.status, Status::Killed);
        assert!(matches!(fx[0], Effect::Finish { .. }));

        let held = run(
            &run(&started(), Input::Pause { reason: None }).0,
            ok(Phase::Prepare),
        )
        .0;
        let (m, _) = run(&held, Input::Kill);
        assert_eq!(m.status, Status::Killed);
        assert_eq!(m.pending, None);
    }

    #[test]
    fn retry_defaults_to_the_failed_phase_and_requeues() {
        let m = run(&started(), ok(Phase::Prepare)).0;
        let failed = run(
            &m,
            Input::PhaseFinished {
                phase: Phase::Agent,
                outcome: Outcome::Failed { reason: "x".into() },
            },
        )
        .0;
        let (m, fx) = run(&failed, Input::Retry { phase: None });
        assert_eq!((m.status, m.phase), (Status::Queued, Phase::Agent));
        assert_eq!(fx, vec![Effect::Enqueue]);
        let (m, fx) = run(&m, Input::Start);
        assert_eq!(
            fx,
            vec![Effect::RunPhase {
                phase: Phase::Agent,
                retry: true
            }]
        );
        assert_eq!(m.status, Status::Running);
    }

    #[test]
    fn retry_refusals() {
        assert_eq!(
            step(&started(), Input::Retry { phase: None }).unwrap_err(),
            Refusal::StillActive(Status::Running)
        );
        let failed_in_prepare = run(
            &started(),
            Input::PhaseFinished {
                phase: Phase::Prepare,
                outcome: Outcome::Failed { reason: "x".into() },
            },
        )
        .0;
        assert_eq!(
            step(
                &failed_in_prepare,
                Input::Retry {
                    phase: Some(Phase::Smoke)
                }
            )
            .unwrap_err(),
            Refusal::NotReached {
                wanted: Phase::Smoke,
                reached: Phase::Prepare
            }
        );
        assert_eq!(
            step(
                &failed_in_prepare,
                Input::Retry {
                    phase: Some(Phase::Done)
                }
            )
            .unwrap_err(),
            Refusal::NotRetryable(Phase::Done)
        );
        let mut done = started();
        for p in [
            Phase::Prepare,
            Phase::Agent,
            Phase::Smoke,
            Phase::Proof,
            Phase::Deliver,
        ] {
            done = run(&done, ok(p)).0;
        }
        assert_eq!(
            step(&done, Input::Retry { phase: None }).unwrap_err(),
            Refusal::NothingFailed
        );
        assert!(step(
            &done,
            Input::Retry {
                phase: Some(Phase::Smoke)
            }
        )
        .is_ok());
    }

    #[test]
    fn a_late_report_for_a_finished_run_changes_nothing() {
        let killed = run(&run(&started(), Input::Kill).0, ok(Phase::Prepare)).0;
        let (m, fx) = run(&killed, ok(Phase::Agent));
        assert_eq!(m, killed);
        assert!(fx.is_empty());
    }

    #[test]
    fn adopting_carries_on_in_the_same_phase_and_keeps_a_pause() {
        let running = Machine {
            status: Status::Running,
            phase: Phase::Agent,
            ..Machine::new()
        };
        let (m, fx) = run(&running, Input::Adopt { attach: true });
        assert!(m.busy);
        assert_eq!(m.reached, Phase::Agent);
        assert_eq!(
            fx,
            vec![Effect::AdoptPhase {
                phase: Phase::Agent
            }]
        );
        let paused = Machine {
            status: Status::Paused,
            ..running.clone()
        };
        let (m, fx) = run(&paused, Input::Adopt { attach: true });
        assert_eq!(m.status, Status::Paused);
        assert_eq!(fx[0], Effect::Signal(Signal::Stop));
        let smoke = Machine {
            phase: Phase::Smoke,
            ..running.clone()
        };
        let (_, fx) = run(&smoke, Input::Adopt { attach: false });
        assert_eq!(
            fx,
            vec![Effect::RunPhase {
                phase: Phase::Smoke,
                retry: false
            }]
        );
        // Adopting twice, or a finished run, does nothing.
        let (m2, fx) = run(&m, Input::Adopt { attach: true });
        assert_eq!(m2, m);
        assert!(fx.is_empty());
    }

    #[test]
    fn browser_findings_send_the_agent_round_again() {
        let m = Machine {
            status: Status::Running,
            phase: Phase::Browser,
            busy: true,
            reached: Phase::Browser,
            ..Machine::new()
        };
        let (next, fx) = run(
            &m,
            Input::PhaseFinished {
                phase: Phase::Browser,
                outcome: Outcome::Iterate {
                    reason: "2 problems".into(),
                },
            },
        );
        assert_eq!(next.phase, Phase::Agent);
        assert!(next.busy);
        assert_eq!(
            fx,
            vec![
                Effect::Note {
                    kind: "browser.iteration",
                    message: "2 problems".into()
                },
                Effect::RunPhase {
                    phase: Phase::Agent,
                    retry: false
                }
            ]
        );
        // Browser then comes after smoke again.
        assert_eq!(Phase::Smoke.next(), Phase::Browser);
        assert_eq!(Phase::Browser.next(), Phase::Proof);
    }

    #[test]
    fn interrupted_only_touches_unfinished_runs() {
        let (m, fx) = run(&started(), Input::Interrupted);
        assert_eq!(m.status, Status::Interrupted);
        assert_eq!(fx.len(), 1);
        let (m2, fx) = run(&m, Input::Interrupted);
        assert_eq!(m2, m);
        assert!(fx.is_empty());
    }
}
