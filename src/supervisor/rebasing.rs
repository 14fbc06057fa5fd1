//! `flightdeck rebase RUN`: the run's work replayed onto its target's current head in its own
//! worktree (workspace/rebase.rs), then checked again. Where the replay conflicts, the agent
//! gets one more iteration with the conflicted files and both sides, or (`--by-hand`) the run
//! waits for a person to resolve them in the worktree and `retry` it.

use crate::proof::kind::TimelineKind;
use tokio::sync::oneshot;

use crate::fields;
use crate::protocol::{ProtocolError, Reply};
use crate::run::{Phase, WorkspaceKind};
use crate::workspace::{self, rebase, WorkspaceError};

use super::machine::{self, AfterRebase, Input};
use super::{Answer, Internal, Supervisor};

impl Supervisor {
    pub(super) fn rebase_command(
        &mut self,
        run: &str,
        by_hand: bool,
        reply: oneshot::Sender<Answer>,
    ) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let refuse = |why: String| {
            Err(ProtocolError::refused(format!(
                "cannot rebase run {id}: {why}"
            )))
        };
        let e = &self.runs[&id];
        if let Err(why) = machine::guard(
            &e.record.state,
            &e.control,
            &Input::Rebased(AfterRebase::Check),
        ) {
            return drop(reply.send(refuse(why.to_string())));
        }
        let r = &e.record;
        let gone =
            "its worktree and branch were cleaned; start the task again with `flightdeck run`";
        if r.cleaned {
            return drop(reply.send(refuse(gone.into())));
        }
        if r.workspace != WorkspaceKind::Worktree {
            return drop(reply.send(refuse(
                "it works in a plain copy, which has no branch to replay".into(),
            )));
        }
        let Some(target) = r.target.clone().or_else(|| r.base_branch.clone()) else {
            return drop(reply.send(refuse("it has no target branch; set gate.target".into())));
        };
        self.leave_queue(&id, "the run is being rebased");
        let r = &self.runs[&id].record;
        let keep_ref = format!("refs/flightdeck/{id}/attempt-{}", r.attempt);
        let (repo, worktree, excludes) =
            (r.repo.clone(), r.worktree.clone(), r.setup_excludes.clone());
        let task = r.task.clone();
        let run = id.clone();
        let feedback = self.runs[&id].ctx.path(super::phases::REBASE_FEEDBACK);
        self.jobs.blocking(
            move || {
                // Looked at here, off the supervisor's task.
                if !worktree.exists() {
                    return Err(WorkspaceError::Refused(gone.into()));
                }
                let onto = workspace::target_tip(&repo, &target)?;
                let message = workspace::message_for(
                    &task,
                    &run,
                    &format!("replayed onto {target} at {}", &onto[..onto.len().min(10)]),
                );
                let replayed = rebase::replay(&rebase::RebaseSpec {
                    worktree: &worktree,
                    onto: &onto,
                    keep_ref: &keep_ref,
                    message: &message,
                    excludes: &excludes,
                })?;
                // Conflicts the agent resolves: it is told which, in its next prompt.
                let told = match &replayed {
                    rebase::Replayed::Conflicts { files, .. } if !by_hand => {
                        let text = conflict_prompt(&target, files);
                        feedback
                            .parent()
                            .map(crate::owner_only::create_dir_all)
                            .unwrap_or(Ok(()))
                            .and_then(|()| crate::owner_only::write(&feedback, text.as_bytes()))
                            .map_err(|e| e.to_string())
                    }
                    _ => Ok(()),
                };
                Ok(Replay {
                    replayed,
                    target,
                    kept: keep_ref,
                    told,
                })
            },
            move |result| {
                let result = result
                    .unwrap_or_else(|e| Err(WorkspaceError::Io(format!("the rebase job {e}"))));
                Internal::Rebased {
                    run: id,
                    by_hand,
                    result: Box::new(result),
                    reply,
                }
                .into()
            },
        );
    }

    pub(super) fn rebased(
        &mut self,
        id: &str,
        by_hand: bool,
        result: Result<Replay, WorkspaceError>,
        reply: oneshot::Sender<Answer>,
    ) {
        let Some(e) = self.runs.get_mut(id) else {
            return drop(reply.send(Err(ProtocolError::internal("the run disappeared"))));
        };
        let Replay {
            replayed,
            target,
            kept,
            told,
        } = match result {
            Ok(r) => r,
            Err(err) => {
                let msg = format!("cannot rebase run {id}: {err}");
                e.ctx.emit(
                    e.record.phase,
                    TimelineKind::WorkspaceRebaseFailed,
                    fields! {"message" => msg.clone()},
                );
                return drop(reply.send(Err(ProtocolError::refused(msg))));
            }
        };
        let onto = match &replayed {
            rebase::Replayed::Clean { onto, .. }
            | rebase::Replayed::Nothing { onto }
            | rebase::Replayed::Conflicts { onto, .. } => onto.clone(),
        };
        // The run starts from the target's head now; its old head is kept on `kept`.
        e.record.base = onto.clone();
        e.record.checkpoints.insert(Phase::Agent, onto.clone());
        e.ctx.procs.reset();
        // `workspace.rebased` names the attempt the replay starts, which the machine counts.
        let mut rebased = None;
        let after = match &replayed {
            rebase::Replayed::Clean { commit, .. } => {
                rebased = Some(fields! {
                    "message" => format!("replayed the run's work onto {target} at {onto} as {commit}; the old head is kept on {kept}; the checks run again"),
                    "onto" => onto, "commit" => commit.clone(), "kept" => kept,
                });
                AfterRebase::Check
            }
            rebase::Replayed::Nothing { .. } => {
                rebased = Some(fields! {
                    "message" => format!("{target} at {onto} already holds all of the run's work; the old head is kept on {kept}"),
                    "onto" => onto, "kept" => kept,
                });
                AfterRebase::Check
            }
            rebase::Replayed::Conflicts { files, .. } => {
                let message = format!(
                    "replaying the run's work onto {target} at {} conflicts in {}",
                    &onto[..onto.len().min(10)],
                    files.join(", ")
                );
                e.ctx.emit(
                    Phase::Agent,
                    TimelineKind::WorkspaceRebaseConflict,
                    fields! {"message" => message.clone(), "files" => files.clone(), "onto" => onto, "kept" => kept},
                );
                if by_hand {
                    AfterRebase::Person(format!(
                        "{message}; resolve them in {} (the conflict markers are in the files), then `flightdeck retry {id}`",
                        e.record.worktree.display()
                    ))
                } else {
                    match told {
                        Ok(()) => AfterRebase::Agent,
                        Err(err) => AfterRebase::Person(format!(
                            "{message}; the agent could not be told ({err}); resolve them in {}, then `flightdeck retry {id}`",
                            e.record.worktree.display()
                        )),
                    }
                }
            }
        };
        let note = |rec: &crate::run::RunRecord| {
            rebased.map(|mut f| {
                f.insert("attempt".into(), rec.attempt.into());
                (Phase::Agent, TimelineKind::WorkspaceRebased, f)
            })
        };
        if let Err(why) = self.step_noted(id, Input::Rebased(after), note) {
            return drop(reply.send(Err(ProtocolError::refused(format!(
                "cannot rebase run {id}: {why}"
            )))));
        }
        let answer = self
            .runs
            .get(id)
            .map(|e| Reply::Run {
                run: Box::new(e.record.clone()),
            })
            .ok_or_else(|| ProtocolError::internal("the run disappeared"));
        self.answer(reply, answer);
    }
}

/// What a replay did: its outcome, onto which branch, the ref the old head is kept on, and
/// (conflicts left to the agent) whether the agent could be told which.
pub(super) struct Replay {
    replayed: rebase::Replayed,
    target: String,
    kept: String,
    told: Result<(), String>,
}

/// What the agent is told when the replay conflicts: which files, and how to see both sides.
fn conflict_prompt(target: &str, files: &[String]) -> String {
    format!(
        "flightdeck replayed your change onto the current {target}, which changed since you started, \
and git could not merge these files:\n\n{}\n\nEach holds conflict markers: between `<<<<<<<` and `=======` is \
{target}'s version, between `=======` and `>>>>>>>` is yours. Resolve every conflict so that both \
{target}'s changes and your task's change are kept, remove the markers, and make sure the tests pass. \
Do not undo {target}'s changes.\n",
        files
            .iter()
            .map(|f| format!("- {f}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}
