//! The run machine's transitions, one behaviour per test.

use super::*;
use crate::proof::kind::TimelineKind;

/// A run's state and control together, as the supervisor holds them.
#[derive(Debug, Clone, PartialEq, Default)]
struct Machine {
    s: RunState,
    c: Control,
}

impl std::ops::Deref for Machine {
    type Target = RunState;

    fn deref(&self) -> &RunState {
        &self.s
    }
}

impl Machine {
    fn new() -> Self {
        Self::default()
    }

    /// A run in `status` at `phase`, as a server would load it.
    fn at(status: Status, phase: Phase) -> Self {
        let s = RunState {
            status,
            phase,
            ..RunState::queued()
        };
        Self {
            c: Control::loaded(&s, None),
            s,
        }
    }
}

const NOW: &str = "2026-12-02T12:00:00Z";

fn step(m: &Machine, input: Input) -> Result<(Machine, Vec<Effect>), Refusal> {
    super::step(&m.s, &m.c, input, NOW).map(|n| {
        (
            Machine {
                s: n.state,
                c: n.control,
            },
            n.effects,
        )
    })
}

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
fn the_machine_keeps_why_a_run_ended_and_the_gate_follows() {
    let m = run(&started(), ok(Phase::Prepare)).0;
    let failed = run(
        &m,
        Input::PhaseFinished {
            phase: Phase::Agent,
            outcome: Outcome::Failed {
                reason: "exit 1".into(),
            },
        },
    )
    .0;
    assert_eq!(failed.reason.as_deref(), Some("exit 1"));
    assert_eq!(failed.merge, crate::run::MergeState::Blocked);
    assert_eq!(
        failed.gate_reasons.sentences(),
        vec!["the run failed in phase agent: exit 1"]
    );
    // A retry starts the gate and the reason afresh.
    let retried = run(&failed, Input::Retry { phase: None }).0;
    assert_eq!(retried.reason, None);
    assert_eq!(
        (retried.merge, retried.gate_reasons.is_empty()),
        (crate::run::MergeState::None, true)
    );
    // The gate's own inputs change the gate only.
    let gated = run(
        &retried,
        Input::Gate(GateInput::Evaluated {
            state: crate::run::MergeState::Ready,
            reasons: vec![],
        }),
    );
    assert_eq!(gated.1, vec![]);
    assert_eq!(gated.0.merge, crate::run::MergeState::Ready);
    assert_eq!(gated.0.status, retried.status);
}

#[test]
fn shutdown_kills_an_unfinished_run_and_leaves_a_finished_one() {
    let (m, fx) = run(&started(), Input::Shutdown);
    assert_eq!((m.status, m.c.busy), (Status::Killed, false));
    assert_eq!(m.reason.as_deref(), Some("the server was shut down"));
    assert_eq!(m.merge, crate::run::MergeState::Blocked);
    assert!(matches!(
        fx[..],
        [Effect::Finish {
            status: Status::Killed,
            ..
        }]
    ));
    let (again, fx) = run(&m, Input::Shutdown);
    assert_eq!((again, fx), (m, vec![]));
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
        Refusal::NotRunning {
            status: Status::Paused
        }
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
    assert_eq!(m.c.pending, Some(Phase::Agent));
    assert!(!m.c.busy);
    assert!(fx.iter().all(|e| !matches!(e, Effect::RunPhase { .. })));
    let (m, fx) = run(&m, Input::Resume);
    assert!(m.c.busy);
    assert!(fx.contains(&Effect::RunPhase {
        phase: Phase::Agent,
        retry: false
    }));
}

#[test]
fn kill_terminates_then_escalates_and_ends_killed() {
    let (m, fx) = run(&started(), Input::Kill);
    assert!(m.c.kill_requested);
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
        Refusal::Finished {
            status: Status::Killed
        }
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
    assert_eq!(m.c.pending, None);
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
fn retry_after_checks_failed_with_their_output_sends_the_agent_round() {
    let m = run(&started(), ok(Phase::Prepare)).0;
    let m = run(&m, ok(Phase::Agent)).0;
    let reason = format!(
        "{}: unit; {}",
        crate::proof::smoke::CHECKS_FAILED,
        crate::proof::smoke::RETRY_WITH_OUTPUT
    );
    let failed = run(
        &m,
        Input::PhaseFinished {
            phase: Phase::Smoke,
            outcome: Outcome::Failed { reason },
        },
    )
    .0;
    let (m, _) = run(&failed, Input::Retry { phase: None });
    assert_eq!((m.status, m.phase), (Status::Queued, Phase::Agent));
    // Checks that failed with no output for the agent (feedback off) are checked again.
    let plain = run(
        &run(&run(&started(), ok(Phase::Prepare)).0, ok(Phase::Agent)).0,
        Input::PhaseFinished {
            phase: Phase::Smoke,
            outcome: Outcome::Failed {
                reason: format!("{}: unit", crate::proof::smoke::CHECKS_FAILED),
            },
        },
    )
    .0;
    let (m, _) = run(&plain, Input::Retry { phase: None });
    assert_eq!(m.phase, Phase::Smoke);
}

#[test]
fn retry_refusals() {
    assert_eq!(
        step(&started(), Input::Retry { phase: None }).unwrap_err(),
        Refusal::StillActive {
            status: Status::Running
        }
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
        Refusal::NotRetryable { phase: Phase::Done }
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
    let running = Machine::at(Status::Running, Phase::Agent);
    let (m, fx) = run(&running, Input::Adopt { attach: true });
    assert!(m.c.busy);
    assert_eq!(m.c.reached, Phase::Agent);
    assert_eq!(
        fx,
        vec![Effect::AdoptPhase {
            phase: Phase::Agent
        }]
    );
    let paused = Machine::at(Status::Paused, Phase::Agent);
    let (m, fx) = run(&paused, Input::Adopt { attach: true });
    assert_eq!(m.status, Status::Paused);
    assert_eq!(fx[0], Effect::Signal(Signal::Stop));
    let smoke = Machine::at(Status::Running, Phase::Smoke);
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
    let mut m = Machine::at(Status::Running, Phase::Browser);
    m.c.busy = true;
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
    assert!(next.c.busy);
    assert_eq!(
        fx,
        vec![
            Effect::Note {
                kind: TimelineKind::BrowserIteration,
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
fn failing_smoke_checks_send_the_agent_round_again_noted_as_a_smoke_iteration() {
    let mut m = Machine::at(Status::Running, Phase::Smoke);
    m.c.busy = true;
    let (next, fx) = run(
        &m,
        Input::PhaseFinished {
            phase: Phase::Smoke,
            outcome: Outcome::Iterate {
                reason: "unit failed".into(),
            },
        },
    );
    assert_eq!((next.status, next.phase), (Status::Running, Phase::Agent));
    assert_eq!(
        fx,
        vec![
            Effect::Note {
                kind: TimelineKind::SmokeIteration,
                message: "unit failed".into()
            },
            Effect::RunPhase {
                phase: Phase::Agent,
                retry: false
            }
        ]
    );
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

fn succeeded() -> Machine {
    let mut m = started();
    for p in Phase::PIPELINE.into_iter().filter(|p| *p != Phase::Done) {
        m = run(&m, ok(p)).0;
    }
    assert_eq!(m.status, Status::Succeeded);
    m
}

#[test]
fn a_clean_rebase_checks_again_without_resetting_the_worktree() {
    let (m, fx) = run(&succeeded(), Input::Rebased(AfterRebase::Check));
    assert_eq!(
        (m.status, m.phase, m.c.retry),
        (Status::Queued, Phase::Smoke, false)
    );
    assert_eq!(fx, vec![Effect::Enqueue]);
    assert_eq!(m.merge, crate::run::MergeState::None);
    let (m, fx) = run(&m, Input::Start);
    assert_eq!(
        fx,
        vec![Effect::RunPhase {
            phase: Phase::Smoke,
            retry: false
        }]
    );
    assert_eq!(m.status, Status::Running);
}

#[test]
fn a_conflicted_rebase_goes_to_the_agent_or_waits_for_a_person() {
    let (m, _) = run(&succeeded(), Input::Rebased(AfterRebase::Agent));
    assert_eq!(
        (m.status, m.phase, m.c.retry),
        (Status::Queued, Phase::Agent, false)
    );
    let why = "rebase onto main conflicts in a.txt".to_string();
    let (m, fx) = run(
        &succeeded(),
        Input::Rebased(AfterRebase::Person(why.clone())),
    );
    assert!(fx.is_empty());
    assert_eq!((m.status, m.phase), (Status::Failed, Phase::Smoke));
    assert_eq!(m.reason.as_deref(), Some(why.as_str()));
    assert_eq!(m.merge, crate::run::MergeState::Blocked);
    // The person resolves, then a plain retry runs the checks.
    let (m, _) = run(&m, Input::Retry { phase: None });
    assert_eq!((m.status, m.phase), (Status::Queued, Phase::Smoke));
}

#[test]
fn a_landed_or_live_run_is_not_rebased() {
    let merged = run(
        &succeeded(),
        Input::Gate(GateInput::Merged {
            commit: "c0ffee".into(),
        }),
    )
    .0;
    assert_eq!(
        step(&merged, Input::Rebased(AfterRebase::Check)),
        Err(Refusal::Merged)
    );
    assert!(matches!(
        step(&started(), Input::Rebased(AfterRebase::Check)),
        Err(Refusal::StillActive { .. })
    ));
}

#[test]
fn the_machine_counts_attempts_and_keeps_the_times() {
    let m = started();
    assert_eq!(m.started_at.as_deref(), Some(NOW));
    assert_eq!(m.attempt, 1);
    let failed = run(
        &m,
        Input::PhaseFinished {
            phase: Phase::Prepare,
            outcome: Outcome::Failed {
                reason: "no disk".into(),
            },
        },
    )
    .0;
    assert_eq!(failed.finished_at.as_deref(), Some(NOW));
    let retried = run(&failed, Input::Retry { phase: None }).0;
    assert_eq!(retried.attempt, 2);
    let later = "2026-12-02T13:00:00Z";
    let again = super::step(&retried.s, &retried.c, Input::Start, later).unwrap();
    assert_eq!(again.state.started_at.as_deref(), Some(later));
    assert_eq!(again.state.finished_at, None);
    // A rebase is another attempt too.
    let rebased = run(&succeeded(), Input::Rebased(AfterRebase::Check)).0;
    assert_eq!(rebased.attempt, 2);
    // Adoption keeps the start: the time before the crash counts.
    let mut running = Machine::at(Status::Running, Phase::Agent);
    running.s.started_at = Some("2026-12-02T11:00:00Z".into());
    let adopted = run(&running, Input::Adopt { attach: false }).0;
    assert_eq!(adopted.started_at.as_deref(), Some("2026-12-02T11:00:00Z"));
}

#[test]
fn the_gate_records_the_checked_and_merged_commits_and_a_clean() {
    let m = succeeded();
    let checked = run(&m, Input::Gate(GateInput::Checked("abc".into()))).0;
    assert_eq!(checked.checked_commit.as_deref(), Some("abc"));
    let merged = run(
        &checked,
        Input::Gate(GateInput::Merged {
            commit: "def".into(),
        }),
    )
    .0;
    assert_eq!(merged.merged_commit.as_deref(), Some("def"));
    let cleaned = run(&merged, Input::Gate(GateInput::Cleaned)).0;
    assert!(cleaned.cleaned);
    assert_eq!(cleaned.merge, crate::run::MergeState::Merged);
}

#[test]
fn what_may_be_done_follows_each_step() {
    use crate::run::allowed::MergeRefusal;
    let mut rec = crate::run::RunRecord::queued(
        "ab12cd34",
        "t",
        "a",
        "/r".into(),
        "/w".into(),
        crate::run::WorkspaceKind::Worktree,
    );
    rec.target = Some("main".into());
    let mut c = Control::new();
    refresh(&mut rec, &c);
    let a = &rec.allowed;
    assert!(matches!(a.pause, Some(Refusal::NotRunning { .. })));
    assert!(matches!(a.retry, Some(Refusal::StillActive { .. })));
    assert!(a.kill.is_none());
    assert!(matches!(a.merge, Some(MergeRefusal::NotSucceeded { .. })));
    advance(&mut rec, &mut c, Input::Start, NOW).unwrap();
    assert!(rec.allowed.pause.is_none());
    assert!(matches!(
        rec.allowed.resume,
        Some(Refusal::NotPaused { .. })
    ));
    for p in [
        Phase::Prepare,
        Phase::Agent,
        Phase::Smoke,
        Phase::Browser,
        Phase::Proof,
    ] {
        advance(&mut rec, &mut c, ok(p), NOW).unwrap();
    }
    advance(
        &mut rec,
        &mut c,
        Input::Gate(GateInput::Evaluated {
            state: crate::run::MergeState::Ready,
            reasons: vec![],
        }),
        NOW,
    )
    .unwrap();
    advance(&mut rec, &mut c, ok(Phase::Deliver), NOW).unwrap();
    assert_eq!(rec.status, Status::Succeeded);
    assert_eq!(rec.allowed.merge, None, "a green, succeeded run may merge");
    assert!(rec.allowed.retry.is_none());
    assert!(matches!(rec.allowed.kill, Some(Refusal::Finished { .. })));
    // The cockpit says the same refusals with keys.
    assert!(Refusal::StillActive {
        status: Status::Running
    }
    .keys()
    .contains("kill it (x)"));
}

/// A transition at a given minute past noon.
fn at(m: &Machine, input: Input, minute: u32) -> Machine {
    let now = format!("2026-12-02T12:{minute:02}:00Z");
    let n = super::step(&m.s, &m.c, input, &now).expect("transition allowed");
    Machine {
        s: n.state,
        c: n.control,
    }
}

#[test]
fn elapsed_leaves_paused_time_out_and_adds_up_across_attempts() {
    let m = at(&Machine::new(), Input::Start, 0);
    let m = at(&m, ok(Phase::Prepare), 1);
    // Paused from minute 2 to 7: the clock stops while paused.
    let m = at(&m, Input::Pause { reason: None }, 2);
    assert_eq!(m.s.active_secs("2026-12-02T12:05:00Z"), Some(120));
    let m = at(&m, Input::Resume, 7);
    assert_eq!(m.s.paused_secs, 300);
    assert_eq!(m.s.active_secs("2026-12-02T12:08:00Z"), Some(180));
    let failed = at(
        &m,
        Input::PhaseFinished {
            phase: Phase::Agent,
            outcome: Outcome::Failed { reason: "x".into() },
        },
        10,
    );
    // 10 minutes, 5 of them paused.
    assert_eq!(failed.s.active_secs("2026-12-02T13:00:00Z"), Some(300));
    // Retried at minute 30 (the time between attempts does not count), ends at 32.
    let m = at(&failed, Input::Retry { phase: None }, 30);
    let m = at(&m, Input::Start, 30);
    assert_eq!(m.s.earlier_attempts_secs, 300);
    assert_eq!(m.s.active_secs("2026-12-02T12:31:00Z"), Some(360));
    // Killed while paused: paused up to its end.
    let m = at(&m, Input::Pause { reason: None }, 32);
    let m = at(&m, Input::Kill, 40);
    let m = at(
        &m,
        Input::PhaseFinished {
            phase: Phase::Agent,
            outcome: Outcome::Failed {
                reason: "killed".into(),
            },
        },
        41,
    );
    assert!(m.s.status.is_terminal(), "{:?}", m.s.status);
    assert_eq!(m.s.paused_at, None);
    assert_eq!(m.s.active_secs("2026-12-02T14:00:00Z"), Some(300 + 120));
}
