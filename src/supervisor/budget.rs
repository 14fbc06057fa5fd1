//! Budgets in the supervisor: the gateway's meter for a run, pausing a run whose budget is
//! spent (reason `budget`), and resuming it once the cap was raised in config.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::fields;
use crate::gateway::{Meter, Refused};
use crate::models::calls::ModelCall;
use crate::protocol::{ProtocolError, Reply};
use crate::run::{Phase, Status};

use super::context::RunCtx;
use super::machine::Input;
use super::{Answer, Internal, Msg, Supervisor};

pub const BUDGET: &str = "budget";

/// What the gateway reports for one run.
struct RunMeter {
    ctx: Arc<RunCtx>,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Meter for RunMeter {
    fn record(&self, call: ModelCall) {
        self.ctx.record_call(Phase::Agent, call);
    }

    fn warn(&self, message: String) {
        self.ctx.emit(
            Phase::Agent,
            "budget.warning",
            fields! {"message" => message.clone()},
        );
        let _ = self.tx.send(Msg::Internal(Internal::BudgetWarn {
            run: self.ctx.id.clone(),
            message,
        }));
    }

    fn stop(&self, message: String) {
        let _ = self.tx.send(Msg::Internal(Internal::BudgetStop {
            run: self.ctx.id.clone(),
            message,
        }));
    }

    fn refused(&self, r: Refused) {
        self.ctx.emit(
            Phase::Agent,
            "gateway.refused",
            fields! {
                "method" => r.method,
                "path" => r.path,
                "provider" => r.provider,
                "reason" => r.reason,
                "status" => r.status,
                "message" => r.message,
            },
        );
    }

    /// The pause the state machine ordered (its Stop/Cont effects set the run's process slot).
    fn paused(&self) -> bool {
        self.ctx.procs.is_paused()
    }
}

/// The gateway's meter for this run.
pub fn meter_for(ctx: &Arc<RunCtx>) -> Arc<dyn Meter> {
    Arc::new(RunMeter {
        ctx: ctx.clone(),
        tx: ctx.notify.clone(),
    })
}

impl Supervisor {
    pub(super) fn budget_warn(&mut self, id: &str, message: String) {
        if let Some(e) = self.runs.get_mut(id) {
            e.record.warning = Some(message);
            self.persist(id);
        }
    }

    pub(super) fn budget_stop(&mut self, id: &str, message: String) {
        let Some(e) = self.runs.get_mut(id) else {
            return;
        };
        e.record.warning = Some(message.clone());
        if e.machine.status != Status::Running {
            return;
        }
        e.record.pause_reason = Some(BUDGET.into());
        let phase = e.record.phase;
        e.ctx.emit(
            phase,
            "run.paused",
            fields! {"reason" => BUDGET, "message" => message},
        );
        self.step(id, Input::Pause);
    }

    /// Resume; a run paused for its budget first reads its config again, for a raised cap.
    pub(super) fn resume_command(&mut self, run: &str, reply: oneshot::Sender<Answer>) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let rec = &self.runs[&id].record;
        if rec.pause_reason.as_deref() != Some(BUDGET) || rec.status != Status::Paused {
            let answer = self.simple_resume(&id);
            return drop(reply.send(answer));
        }
        self.reload_config(&id, move |run, config| Internal::ResumeReady {
            run,
            config,
            reply,
        });
    }

    pub(super) fn resume_ready(
        &mut self,
        id: &str,
        config: Result<Box<crate::config::Config>, ProtocolError>,
        reply: oneshot::Sender<Answer>,
    ) {
        let answer = config.and_then(|config| {
            if let Some(g) = &self.gateway {
                g.set_caps(id, config.budget);
            }
            if let Some(e) = self.runs.get_mut(id) {
                e.config = Some(Arc::new(*config));
            }
            self.simple_resume(id)
        });
        let _ = reply.send(answer);
    }

    fn simple_resume(&mut self, id: &str) -> Answer {
        let answer = self.simple(id, Input::Resume, "run.resumed", "resumed");
        if answer.is_ok() {
            if let Some(e) = self.runs.get_mut(id) {
                e.record.pause_reason = None;
            }
            self.persist(id);
        }
        answer.map(|_| Reply::Run {
            run: Box::new(self.runs[id].record.clone()),
        })
    }
}
