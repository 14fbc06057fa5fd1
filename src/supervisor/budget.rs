//! Budgets in the supervisor: the gateway's meter for a run, pausing a run whose budget is
//! spent (reason `budget`), and resuming it once the cap was raised in config.

use crate::proof::kind::TimelineKind;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::fields;
use crate::gateway::{Meter, Refused};
use crate::models::calls::ModelCall;
use crate::protocol::ProtocolError;
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

    fn recorded(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(self.ctx.flushed())
    }

    fn warn(&self, message: String) {
        self.ctx.emit(
            Phase::Agent,
            TimelineKind::BudgetWarning,
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
            TimelineKind::GatewayRefused,
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

    fn held(&self, reason: &'static str, message: String) {
        self.ctx.emit(
            Phase::Agent,
            TimelineKind::GatewayHeld,
            fields! {"reason" => reason, "message" => message},
        );
    }

    fn released(&self, waited: std::time::Duration) {
        self.ctx.emit(
            Phase::Agent,
            TimelineKind::GatewayReleased,
            fields! {"waited_ms" => waited.as_millis() as u64},
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
        if self.runs.contains_key(id) {
            self.step(id, Input::Warn(message));
        }
    }

    /// A call found the budget spent and is held at the gateway: pause the run (once) so
    /// that raising the cap and resuming carries on from here.
    pub(super) fn budget_stop(&mut self, id: &str, message: String) {
        let Some(e) = self.runs.get(id) else {
            return;
        };
        let running = e.record.status == Status::Running;
        let phase = e.record.phase;
        if running {
            e.ctx.emit(
                phase,
                TimelineKind::RunPaused,
                fields! {"reason" => BUDGET, "message" => message.clone()},
            );
        }
        self.step(id, Input::Warn(message));
        if running {
            self.step(
                id,
                Input::Pause {
                    reason: Some(BUDGET.into()),
                },
            );
        }
    }

    /// Resume; a run paused for its budget first reads its config again, for a raised cap.
    pub(super) fn resume_command(&mut self, run: &str, reply: oneshot::Sender<Answer>) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let rec = &self.runs[&id].record;
        if rec.pause_reason.as_deref() != Some(BUDGET) || rec.status != Status::Paused {
            let answer = self.still_spent(&id).and_then(|_| self.simple_resume(&id));
            return self.answer(reply, answer);
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
            if let (Some(g), Some(e)) = (&self.gateway, self.runs.get(id)) {
                g.set_caps(id, config.budget, config.agent_cap(&e.record.agent));
            }
            self.still_spent(id)?;
            if let Some(e) = self.runs.get_mut(id) {
                e.config = Some(Arc::new(*config));
            }
            self.simple_resume(id)
        });
        self.answer(reply, answer);
    }

    /// Resuming into a refusal helps no one: say what is still spent.
    fn still_spent(&self, id: &str) -> Result<(), ProtocolError> {
        match self.gateway.as_ref().and_then(|g| g.budget_spent(id)) {
            Some(spent) => Err(ProtocolError::refused(format!(
                "run {id} stays paused: {}",
                spent.replace(
                    "; raise it in config and resume the run",
                    "; raise that cap in config, then resume again"
                )
            ))),
            None => Ok(()),
        }
    }

    fn simple_resume(&mut self, id: &str) -> Answer {
        let answer = self.simple(id, Input::Resume, TimelineKind::RunResumed, "resumed");
        // Calls held while the run was paused go on now.
        if let (Ok(_), Some(g)) = (&answer, &self.gateway) {
            g.wake();
        }
        answer
    }
}
