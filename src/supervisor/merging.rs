//! Merging through the gate: `flightdeck merge`, `m` in the cockpit, and `gate.auto_merge`.
//! One merge at a time, so each is checked against the target as the previous one left it.

use tokio::sync::oneshot;

use crate::fields;
use crate::protocol::{ProtocolError, Reply};
use crate::run::{ConflictFinding, MergeState, Phase, Status};
use crate::workspace::{self, MergeOutcome, WorkspaceError};

use super::merge_gate::GateInput;
use super::{Answer, Internal, Supervisor};

impl Supervisor {
    pub(super) fn merge_command(&mut self, run: &str, reply: oneshot::Sender<Answer>) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        match self.merge_refusal(&id) {
            Some(why) => drop(reply.send(Err(ProtocolError::refused(format!(
                "not merging run {id}: {why}"
            ))))),
            None => {
                self.merge_queue.push_back((id, Some(reply)));
                self.next_merge();
            }
        }
    }

    /// Why the run may not merge now, if it may not.
    fn merge_refusal(&self, id: &str) -> Option<String> {
        let r = &self.runs.get(id)?.record;
        if r.merge == MergeState::Merged {
            return Some("it is already merged".into());
        }
        if r.status != Status::Succeeded {
            let why = r
                .reason
                .clone()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default();
            return Some(format!(
                "it is {}{why}; only a run that succeeded can merge",
                r.status
            ));
        }
        if r.cleaned {
            return Some("its worktree and branch were cleaned".into());
        }
        match r.merge {
            MergeState::Ready => None,
            MergeState::Blocked | MergeState::Conflict => Some(format!(
                "the merge gate is not green: {}",
                if r.gate_reasons.is_empty() {
                    conflict_text(&r.conflicts)
                } else {
                    r.gate_reasons.join("; ")
                }
            )),
            MergeState::None | MergeState::Pending => {
                Some("the merge gate has not been evaluated yet".into())
            }
            MergeState::Merged => None,
        }
    }

    /// After deliver: queue a green run when auto-merge is on.
    pub(super) fn maybe_auto_merge(&mut self, id: &str) {
        let auto = self
            .runs
            .get(id)
            .and_then(|e| e.config.as_ref())
            .is_some_and(|c| c.gate.auto_merge);
        if auto && self.merge_refusal(id).is_none() {
            self.merge_queue.push_back((id.to_string(), None));
            self.next_merge();
        }
    }

    pub(super) fn next_merge(&mut self) {
        while !self.merging {
            let Some((id, reply)) = self.merge_queue.pop_front() else {
                return;
            };
            // The state may have changed while it waited (the radar, a previous merge).
            if let Some(why) = self.merge_refusal(&id) {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(ProtocolError::refused(format!(
                        "not merging run {id}: {why}"
                    ))));
                }
                continue;
            }
            let r = &self.runs[&id].record;
            let Some(target) = r.target.clone() else {
                continue;
            };
            let (repo, branch, checked) =
                (r.repo.clone(), r.branch.clone(), r.checked_commit.clone());
            let subject = r
                .task
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect::<String>();
            let message = format!("Merge flightdeck run {id}: {subject}\n\nflightdeck-run: {id}\n");
            self.merging = true;
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let result = tokio::task::spawn_blocking(move || {
                    workspace::merge_run(&repo, &branch, &target, checked.as_deref(), &message)
                })
                .await
                .unwrap_or_else(|e| Err(WorkspaceError::Io(e.to_string())));
                Supervisor::send_internal(
                    &tx,
                    Internal::Merged {
                        run: id,
                        result: Box::new(result),
                        reply,
                    },
                );
            });
        }
    }

    pub(super) fn merged(
        &mut self,
        id: &str,
        result: Result<MergeOutcome, WorkspaceError>,
        reply: Option<oneshot::Sender<Answer>>,
    ) {
        self.merging = false;
        // What the merge means for the gate, fed to the run's machine below.
        let mut gate = None;
        let answer = match self.runs.get_mut(id) {
            None => Err(ProtocolError::internal("the run disappeared")),
            Some(e) => {
                let target = e.record.target.clone().unwrap_or_default();
                match result {
                    Ok(out) => {
                        gate = Some(GateInput::Merged);
                        e.record.merged_commit = Some(out.commit.clone());
                        let how = if out.already {
                            "was already in".to_string()
                        } else if out.fast_forward {
                            "fast-forwarded".to_string()
                        } else {
                            "merged into".to_string()
                        };
                        let updated: Vec<String> = out
                            .updated
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect();
                        e.ctx.emit(
                            Phase::Deliver,
                            "merge.done",
                            fields! {
                                "message" => format!("{} {how} {target} at {}", e.record.branch, out.commit),
                                "commit" => out.commit, "target" => target, "fast_forward" => out.fast_forward,
                                "checkouts_updated" => updated,
                            },
                        );
                        Ok(())
                    }
                    Err(WorkspaceError::Conflict(files)) => {
                        gate = Some(GateInput::MergeConflict {
                            target: target.clone(),
                            files: files.clone(),
                        });
                        let msg = format!(
                            "merging into {target} would conflict in {}",
                            files.join(", ")
                        );
                        e.ctx.emit(
                            Phase::Deliver,
                            "merge.conflict",
                            fields! {"message" => msg, "files" => files},
                        );
                        Err(ProtocolError::refused(format!("not merging run {id}: {msg}; rebase or retry the run on the new {target}")))
                    }
                    Err(WorkspaceError::Unchecked(msg)) => {
                        // Green no longer holds: the gate says why until smoke runs again.
                        gate = Some(GateInput::Unchecked(msg.clone()));
                        e.ctx
                            .emit(Phase::Deliver, "merge.refused", fields! {"message" => msg});
                        Err(ProtocolError::refused(format!(
                            "not merging run {id}: {msg}"
                        )))
                    }
                    Err(other) => {
                        let msg = other.to_string();
                        e.ctx
                            .emit(Phase::Deliver, "merge.refused", fields! {"message" => msg});
                        Err(ProtocolError::refused(format!(
                            "not merging run {id}: {msg}"
                        )))
                    }
                }
            }
        };
        if let Some(input) = gate {
            self.gate(id, input);
        }
        // The merged run as it is now, for whoever asked.
        let answer = answer.and_then(|()| {
            self.runs
                .get(id)
                .map(|e| Reply::Run {
                    run: Box::new(e.record.clone()),
                })
                .ok_or_else(|| ProtocolError::internal("the run disappeared"))
        });
        self.persist(id);
        self.refresh_pr(id);
        if let Some(reply) = reply {
            let _ = reply.send(answer);
        }
        self.next_merge();
    }
}

impl Supervisor {
    /// PR.md follows the record after deliver: the radar's findings, the merge.
    pub(super) fn refresh_pr(&self, id: &str) {
        let Some(e) = self.runs.get(id) else { return };
        if e.record.status != Status::Succeeded || e.record.cleaned {
            return;
        }
        let (dir, rec) = (e.ctx.dir.clone(), e.record.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(err) = super::phases::write_pr(&dir, &rec) {
                crate::log!("run {}: cannot rewrite PR.md: {err}", rec.id);
            }
        });
    }
}

pub fn conflict_text(c: &[ConflictFinding]) -> String {
    c.iter()
        .map(ConflictFinding::describe)
        .collect::<Vec<_>>()
        .join("; ")
}
