//! Carrying out what the state machine decided: start phase workers, signal process groups,
//! finish runs, keep the queue moving, write records.

use crate::fields;
use crate::proof::kind::TimelineKind;
use crate::protocol::Reply;
use crate::run::{Phase, Status};

use crate::run::RunRecord;

use super::machine::{self, Effect, Input, Outcome, Refusal, Signal};
use super::merge_gate::GateInput;
use super::phases::{self, PhaseJob, PhaseReport, Update};
use super::{Internal, Supervisor};

impl Supervisor {
    /// Feed one input to a run's machine and carry out the effects. Refusals were checked by
    /// the caller where a person is waiting for the answer; here they are only logged.
    pub(super) fn step(&mut self, id: &str, input: Input) {
        if let Err(e) = self.step_noted(id, input, |_| None) {
            tracing::debug!("run {id}: an input was refused: {e}");
        }
    }

    /// Feed one input to a run's machine; once it is taken, write the note `note` makes of
    /// the run's new state (before the effects, so the timeline tells why first), carry out
    /// the effects and persist. A refusal changes nothing and is the caller's to tell.
    pub(super) fn step_noted(
        &mut self,
        id: &str,
        input: Input,
        note: impl FnOnce(&RunRecord) -> Option<Note>,
    ) -> Result<(), Refusal> {
        let now = self.clock.now();
        let Some(entry) = self.runs.get_mut(id) else {
            return Ok(());
        };
        let effects = machine::advance(&mut entry.record, &mut entry.control, input, &now)?;
        if let Some((phase, kind, fields)) = note(&entry.record) {
            entry.ctx.emit(phase, kind, fields);
        }
        for fx in effects {
            self.apply(id, fx);
        }
        self.persist(id);
        self.try_start();
        Ok(())
    }

    /// Feed the merge gate (the radar's findings, a merge's result): whether anything
    /// changed. No effects; the caller persists.
    pub(super) fn gate(&mut self, id: &str, input: GateInput) -> bool {
        let now = self.clock.now();
        let Some(entry) = self.runs.get_mut(id) else {
            return false;
        };
        let before = entry.record.state.clone();
        let taken = machine::advance(
            &mut entry.record,
            &mut entry.control,
            Input::Gate(input),
            &now,
        );
        taken.is_ok() && entry.record.state != before
    }

    fn apply(&mut self, id: &str, effect: Effect) {
        let Some(entry) = self.runs.get_mut(id) else {
            return;
        };
        match effect {
            Effect::AdoptPhase { phase } => self.start_phase(id, phase, false, true),
            Effect::RunPhase { phase, retry } => self.start_phase(id, phase, retry, false),
            Effect::Signal(sig) => match sig {
                Signal::Stop => entry.ctx.procs.set_paused(true),
                Signal::Cont => entry.ctx.procs.set_paused(false),
                Signal::Term => entry.ctx.procs.request_kill(),
            },
            Effect::EscalateKill => {
                let run = id.to_string();
                self.jobs
                    .after(self.kill_grace(), Internal::KillGraceOver { run }.into());
            }
            Effect::Enqueue => {
                if !self.queue.iter().any(|q| q == id) {
                    self.queue.push_back(id.to_string());
                }
            }
            Effect::Finish { status, reason } => self.finish(id, status, reason),
            Effect::Note { kind, message } => {
                let phase = entry.record.phase;
                entry.ctx.emit(phase, kind, fields! {"message" => message});
            }
        }
    }

    /// Start a worker for `phase` (`adopt`: take over an agent a previous server started).
    fn start_phase(&mut self, id: &str, phase: Phase, retry: bool, adopt: bool) {
        let Some(entry) = self.runs.get_mut(id) else {
            return;
        };
        entry.ctx.activate();
        entry.ctx.emit(
            phase,
            TimelineKind::PhaseStarted,
            fields! {"attempt" => entry.record.attempt, "retry" => retry, "adopted" => adopt},
        );
        let Some(config) = entry.config.clone() else {
            // Cannot happen: runs start only after a submit or a retry, which set it.
            let report = PhaseReport {
                outcome: Outcome::Failed {
                    reason: "internal error: the run has no configuration".into(),
                },
                updates: vec![],
                said: false,
            };
            Supervisor::send_internal(
                &self.tx,
                Internal::PhaseDone {
                    run: id.to_string(),
                    phase,
                    report,
                },
            );
            return;
        };
        // The browser phase's dev server gets a port of its own, for as long as the phase runs.
        let port = if phase == Phase::Browser && config.browser.enabled() {
            let port = self
                .ports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .lease(config.browser.ports);
            if let Some(p) = port {
                self.leased.insert(id.to_string(), p);
            }
            port
        } else {
            None
        };
        let Some(entry) = self.runs.get_mut(id) else {
            return;
        };
        let job = PhaseJob {
            phase,
            record: entry.record.clone(),
            config,
            retry,
            kill_grace: self.global.kill_grace.0,
            gateway: self.gateway.clone(),
            adopt,
            port,
            leases: port.map(|_| self.ports.clone()),
            pools: self.pools.clone(),
        };
        let run = id.to_string();
        self.jobs
            .task(phases::run(entry.ctx.clone(), job), move |report| {
                // A phase that panics still reports: its run fails with the panic's message
                // instead of staying busy for ever.
                let report = report.unwrap_or_else(|e| PhaseReport {
                    outcome: Outcome::Failed {
                        reason: format!("internal error: phase {phase} {e}"),
                    },
                    updates: vec![],
                    said: false,
                });
                Internal::PhaseDone { run, phase, report }.into()
            });
    }

    /// Record a run's end and answer whoever waits for it.
    pub(super) fn finish(&mut self, id: &str, status: Status, reason: Option<String>) {
        if !self.runs.contains_key(id) {
            return;
        }
        // Status, reason, end time and the gate's verdict were set by the machine.
        self.queue.retain(|q| q != id);
        let entry = &self.runs[id];
        let message = match reason {
            Some(r) if entry.told.as_ref() == Some(&r) => {
                format!("run {status} in phase {}", entry.record.phase)
            }
            Some(r) => r,
            None => format!("run {status}"),
        };
        entry.ctx.emit(
            entry.record.phase,
            TimelineKind::RunFinished,
            fields! {
                "status" => status,
                "message" => message,
                "exit_code" => entry.record.exit_code,
                "attempt" => entry.record.attempt,
            },
        );
        entry.ctx.deactivate();
        self.persist(id);
        if status == Status::Failed {
            self.refresh_pr(id);
        }
        let record = self.runs[id].record.clone();
        for w in self.waiters.remove(id).unwrap_or_default() {
            self.answer(
                w,
                Ok(Reply::Run {
                    run: Box::new(record.clone()),
                }),
            );
        }
    }

    pub(super) fn phase_done(&mut self, id: &str, phase: Phase, mut report: PhaseReport) {
        // The phase (or `phases::run` for it) wrote its failure's reason to the timeline.
        let told = match &report.outcome {
            Outcome::Failed { reason } => Some(reason.clone()),
            _ => None,
        };
        // A run whose writes failed (a full disk, or any other write error) has lost
        // evidence: it fails, saying why.
        let lost = self.runs.get(id).and_then(|e| {
            e.ctx
                .disk_full()
                .map(|what| crate::disk::sentence(self.home.root(), &what))
                .or_else(|| {
                    e.ctx
                        .write_failed()
                        .map(|what| crate::disk::write_sentence(self.home.root(), &what))
                })
        });
        if let Some(sentence) = lost {
            report.outcome = Outcome::Failed {
                reason: match report.outcome {
                    Outcome::Failed { reason } => format!("{sentence} ({reason})"),
                    _ => sentence,
                },
            };
        }
        if let Some(port) = self.leased.remove(id) {
            self.ports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .release(port);
        }
        let Some(entry) = self.runs.get_mut(id) else {
            return;
        };
        let mut gate = Vec::new();
        for update in report.updates {
            match update {
                Update::Base(b) => entry.record.base = b,
                Update::Checkpoint(p, c) => {
                    entry.record.checkpoints.insert(p, c);
                }
                Update::ExitCode(c) => entry.record.exit_code = c,
                Update::SetupExcludes(e) => entry.record.setup_excludes = e,
                Update::Session(s) => entry.record.agent_session = Some(s),
                Update::ReportedCost(c) => entry.record.agent_reported_cost_usd = Some(c),
                Update::Score(s) => entry.record.score = Some(s),
                Update::Checked(c) => gate.push(GateInput::Checked(c)),
                Update::Browser(n) => entry.record.browser_problems = Some(n),
                Update::Gate(state, reasons) => gate.push(GateInput::Evaluated { state, reasons }),
            }
        }
        for input in gate {
            self.gate(id, input);
        }
        let Some(entry) = self.runs.get_mut(id) else {
            return;
        };
        let (kind, mut f) = match &report.outcome {
            Outcome::Succeeded => (
                TimelineKind::PhaseFinished,
                fields! {"outcome" => "succeeded"},
            ),
            // The reason is the line above when the phase wrote it (`told`).
            Outcome::Failed { reason } if told.as_ref() == Some(reason) => (
                TimelineKind::PhaseFinished,
                fields! {"outcome" => "failed", "message" => format!("phase {phase} failed")},
            ),
            Outcome::Failed { reason } => (
                TimelineKind::PhaseFinished,
                fields! {"outcome" => "failed", "message" => reason},
            ),
            Outcome::Iterate { reason } => (
                TimelineKind::PhaseFinished,
                fields! {"outcome" => "iterate", "message" => reason},
            ),
        };
        f.insert("attempt".into(), entry.record.attempt.into());
        entry.ctx.emit(phase, kind, f);
        entry.told = told;
        let delivered = phase == Phase::Deliver && report.outcome == Outcome::Succeeded;
        self.step(
            id,
            Input::PhaseFinished {
                phase,
                outcome: report.outcome,
            },
        );
        if delivered {
            self.maybe_auto_merge(id);
            self.after_deliver_forge(id);
        }
    }

    /// Start queued runs while there are free slots, first come first served.
    pub(super) fn try_start(&mut self) {
        let limit = self.global.max_parallel.max(1);
        while self.active_count() < limit {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            let startable = self
                .runs
                .get(&id)
                .is_some_and(|e| e.record.status == Status::Queued);
            if startable {
                self.step(&id, Input::Start);
            }
        }
    }

    pub(super) fn persist(&mut self, id: &str) {
        let Some(entry) = self.runs.get(id) else {
            return;
        };
        entry.ctx.save(&entry.record);
    }
}

/// A timeline line a command writes once the machine took its input: phase, kind, fields.
pub(super) type Note = (
    Phase,
    TimelineKind,
    serde_json::Map<String, serde_json::Value>,
);
