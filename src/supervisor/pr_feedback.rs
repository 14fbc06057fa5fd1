//! Feedback rounds: what the pull request said (failing checks, a change request) or a
//! person's `reply` goes to the agent, which works again in the same worktree.

use tokio::sync::oneshot;

use crate::fields;
use crate::forge::Seen;
use crate::proof::kind::TimelineKind;
use crate::protocol::{ProtocolError, Reply};
use crate::run::{Phase, PrChecks, PrNote, Status};

use super::forge_link::{ForgeMsg, FEEDBACK};
use super::merge_gate::GateInput;
use super::{Answer, Internal, Supervisor};

impl Supervisor {
    /// Failing checks or a change request on the PR: the agent goes round again with them,
    /// at most `max_feedback` times, each failure or review once.
    pub(super) fn maybe_feedback(&mut self, id: &str, s: &Seen) {
        let Some(cfg) = self.forge_config(id) else {
            return;
        };
        let Some(e) = self.runs.get(id) else { return };
        let Some(pr) = e.record.pr.as_ref() else {
            return;
        };
        if !cfg.feedback || pr.settled() || e.record.status != Status::Succeeded || e.control.busy {
            return;
        }
        let Some(key) = crate::forge::feedback_key(s) else {
            return;
        };
        if pr.answered.as_deref() == Some(key.as_str()) {
            return;
        }
        if pr.feedback_rounds >= cfg.max_feedback {
            // Not sent round again: said once for each failure or review left unanswered.
            if self.forge.capped.insert((id.to_string(), key)) {
                let what = if s.pr.checks == PrChecks::Failing {
                    "the failing checks"
                } else {
                    "the change request"
                };
                e.ctx.emit(
                    Phase::Deliver,
                    TimelineKind::PrFeedback,
                    fields! {"rounds" => pr.feedback_rounds, "sent" => false,
                             "message" => format!(
                        "the agent is not sent round with {what} on #{}: it had its max_feedback ({}) rounds; `flightdeck reply {id} \"...\"` sends it again",
                        pr.number, cfg.max_feedback
                    )},
                );
            }
            return;
        }
        let text = if s.pr.checks == PrChecks::Failing {
            prompt("The pull request's checks fail on the forge", &s.pr.failing)
        } else {
            prompt(
                "A reviewer requested changes on the pull request",
                &s.pr.requested,
            )
        };
        self.send_feedback(id, Some(key), text);
    }

    /// Write the feedback for the agent, then send it round (from the agent phase). With
    /// `answered` (a PR's failure or review), the round counts against `max_feedback` and is
    /// marked answered now, so a poll meanwhile does not send it twice.
    pub(super) fn send_feedback(&mut self, id: &str, answered: Option<String>, text: String) {
        if let Some(answered) = answered.clone() {
            self.gate(id, GateInput::PrFeedback { answered });
            self.persist(id);
        }
        let Some(e) = self.runs.get(id) else { return };
        let path = e.ctx.dir.join(FEEDBACK);
        let run = id.to_string();
        self.jobs.blocking(
            move || {
                if let Some(dir) = path.parent() {
                    crate::owner_only::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                crate::owner_only::write(&path, text.as_bytes()).map_err(|e| e.to_string())
            },
            move |result| {
                let result = result.unwrap_or_else(|e| Err(e.to_string()));
                Internal::Forge(Box::new(ForgeMsg::FeedbackWritten {
                    run,
                    answered,
                    result,
                }))
                .into()
            },
        );
    }

    pub(super) fn feedback_written(
        &mut self,
        id: &str,
        answered: Option<String>,
        result: Result<(), String>,
    ) {
        let Some(e) = self.runs.get(id) else { return };
        if let Err(err) = result {
            e.ctx.emit(
                Phase::Deliver,
                TimelineKind::PrError,
                fields! {"message" => format!("cannot write {FEEDBACK}: {err}")},
            );
            return;
        }
        let message = match (&answered, e.record.pr.as_ref()) {
            (Some(_), Some(pr)) => format!(
                "the agent goes again with what pull request #{} said (round {})",
                pr.number, pr.feedback_rounds
            ),
            _ => "the agent goes again with a person's reply".to_string(),
        };
        e.ctx.emit(
            Phase::Deliver,
            TimelineKind::PrFeedback,
            fields! {"answers" => answered, "rounds" => e.record.pr.as_ref().map(|p| p.feedback_rounds),
                     "message" => message},
        );
        let (tx, _) = oneshot::channel();
        self.reload_config(id, move |run, config| Internal::RetryReady {
            run,
            phase: Some(Phase::Agent),
            config,
            reply: tx,
        });
    }

    /// `flightdeck reply RUN TEXT`: the agent goes again with a person's words.
    pub(super) fn reply_command(
        &mut self,
        run: &str,
        text: String,
        reply: oneshot::Sender<Answer>,
    ) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let e = &self.runs[&id];
        if let Err(why) = super::machine::guard(
            &e.record.state,
            &e.control,
            &super::machine::Input::Retry {
                phase: Some(Phase::Agent),
            },
        ) {
            return drop(reply.send(Err(ProtocolError::refused(format!(
                "cannot reply to run {id}: {why}"
            )))));
        }
        if text.trim().is_empty() {
            return drop(reply.send(Err(ProtocolError::refused(
                "the reply is empty; say what the agent should do, e.g. flightdeck reply RUN \"rename x to y\"",
            ))));
        }
        let body = format!("A person reviewing this run says:\n\n{}\n", text.trim());
        self.send_feedback(&id, None, body);
        self.answer(
            reply,
            Ok(Reply::Done {
                message: format!("run {id}: the agent goes again with your words"),
            }),
        );
    }
}

/// The agent's next prompt from the PR's notes: each check or comment, with file and line.
fn prompt(head: &str, notes: &[PrNote]) -> String {
    let mut out = format!("{head}. Fix what they point at, in this worktree:\n");
    for n in notes {
        let at = match (&n.path, n.line) {
            (Some(p), Some(l)) => format!(" ({p}:{l})"),
            (Some(p), None) => format!(" ({p})"),
            _ => String::new(),
        };
        out.push_str(&format!("\n- {}{at}: {}\n", n.by, n.text.trim()));
    }
    out
}
