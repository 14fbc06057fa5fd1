//! Landing through the gate: `flightdeck merge`, `m` in the cockpit and `gate.auto_merge` put a
//! green run in its target's merge queue (merge_queue.rs); the lane's reports come back here
//! and go to the run's machine. Waiters (`merge` without `--no-wait`) are answered when the run
//! has landed or been refused.

use crate::proof::kind::TimelineKind;
use tokio::sync::oneshot;

use crate::fields;
use crate::protocol::{ProtocolError, Reply};
use crate::run::{ConflictFinding, MergeState, Phase, Status};

use super::merge_gate::GateInput;
use super::merge_queue::{self, LaneMsg, LaneReport, QueuedRun, Refused};
use crate::run::allowed::MergeRefusal;

use super::{Answer, Supervisor};

impl Supervisor {
    /// `merge RUN`: queue it; answer now (`no_wait`) or once it landed or was refused.
    pub(super) fn merge_command(
        &mut self,
        run: &str,
        no_wait: bool,
        reply: oneshot::Sender<Answer>,
    ) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        if self.lands_on_forge(&id) {
            return self.merge_on_forge(&id, Some(reply));
        }
        let queued = self.runs[&id].record.merge == MergeState::Pending;
        if !queued {
            if let Some(why) = self.merge_refusal(&id) {
                return drop(reply.send(Err(ProtocolError::refused(format!(
                    "not merging run {id}: {why}"
                )))));
            }
            self.enqueue(&id);
        }
        if no_wait {
            self.answer(reply, Ok(self.run_reply(&id)));
        } else {
            self.merge_waiters.entry(id).or_default().push(reply);
        }
    }

    /// `merge` waiting on a run already queued: answered when it leaves the queue.
    pub(super) fn await_merge(&mut self, run: &str, reply: oneshot::Sender<Answer>) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let answer = match self.runs[&id].record.merge {
            MergeState::Pending => {
                self.merge_waiters.entry(id).or_default().push(reply);
                return;
            }
            MergeState::Merged => Ok(self.run_reply(&id)),
            _ => Err(ProtocolError::refused(format!(
                "not merging run {id}: {}",
                self.refusals
                    .get(&id)
                    .cloned()
                    .or_else(|| self.merge_refusal(&id))
                    .unwrap_or_else(|| "it left the merge queue".into())
            ))),
        };
        self.answer(reply, answer);
    }

    pub(super) fn run_reply(&self, id: &str) -> Reply {
        Reply::Run {
            run: Box::new(self.runs[id].record.clone()),
        }
    }

    /// Why the run may not merge now, if it may not (the gate's decision, as `show` and the
    /// cockpit have it; a run already queued may).
    pub(super) fn merge_refusal(&self, id: &str) -> Option<String> {
        let r = &self.runs.get(id)?.record;
        MergeRefusal::of(r)
            .filter(|m| *m != MergeRefusal::Queued)
            .map(|m| m.to_string())
    }

    /// After deliver: queue a green run when auto-merge is on.
    pub(super) fn maybe_auto_merge(&mut self, id: &str) {
        let auto = self
            .runs
            .get(id)
            .and_then(|e| e.config.as_ref())
            .is_some_and(|c| c.gate.auto_merge);
        // With `[forge]`, landing is the forge's: auto-merge waits for the run's pull request
        // and lands it through the forge's merge API (`maybe_auto_merge_forge`), never here.
        if auto && self.merge_refusal(id).is_none() && self.forge_config(id).is_none() {
            self.enqueue(id);
        }
    }

    /// Put a run that may merge at the back of its target's queue.
    pub(super) fn enqueue(&mut self, id: &str) {
        let Some(e) = self.runs.get(id) else { return };
        let Some(key) = merge_queue::lane_key(&e.record) else {
            return;
        };
        self.refusals.remove(id);
        self.gate(id, GateInput::Queued);
        let e = &self.runs[id];
        let position = self
            .runs
            .values()
            .filter(|o| o.record.merge == MergeState::Pending && o.record.id != id)
            .filter(|o| merge_queue::lane_key(&o.record).as_ref() == Some(&key))
            .count()
            + 1;
        e.ctx.emit(
            Phase::Deliver,
            TimelineKind::MergeQueued,
            fields! {
                "message" => format!("in the merge queue of {} (position {position})", key.1),
                "target" => key.1.clone(), "position" => position,
            },
        );
        let queued = QueuedRun {
            record: e.record.clone(),
            ctx: e.ctx.clone(),
            config: e.config.clone(),
        };
        if let Err(unsent) = self.lane(&key).send(LaneMsg::Add(Box::new(queued))) {
            // The lane's task ended (it never should): a new one takes the run.
            self.lanes.remove(&key);
            let _ = self.lane(&key).send(unsent.0);
        }
        self.persist(id);
    }

    /// The lane of `key`, started when it has none.
    fn lane(
        &mut self,
        key: &(std::path::PathBuf, String),
    ) -> &tokio::sync::mpsc::UnboundedSender<LaneMsg> {
        let (source, notify, ports) = (
            self.config_source.clone(),
            self.tx.clone(),
            self.ports.clone(),
        );
        self.lanes.entry(key.clone()).or_insert_with(|| {
            merge_queue::start_lane(key.0.clone(), key.1.clone(), source, notify, ports)
        })
    }

    /// A lane's task ended. Dropped by us: nothing to do. Failed: the lane is forgotten (the
    /// next merge starts a new one) and each run waiting in it is refused with the reason.
    fn lane_stopped(&mut self, repo: std::path::PathBuf, target: String, why: Option<String>) {
        let Some(why) = why else { return };
        tracing::error!("the merge queue of {target} stopped: {why}");
        let key = (repo, target);
        if self.lanes.get(&key).is_some_and(|l| l.is_closed()) {
            self.lanes.remove(&key);
        }
        let waiting: Vec<String> = self
            .runs
            .iter()
            .filter(|(_, e)| {
                e.record.merge == MergeState::Pending
                    && merge_queue::lane_key(&e.record).as_ref() == Some(&key)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for run in waiting {
            let why = format!(
                "the merge queue of {} stopped ({why}); `flightdeck merge {run}` queues it again",
                key.1
            );
            self.lane_report(LaneReport::Refused {
                run,
                why: Refused::Other(why),
            });
        }
    }

    /// The run leaves its merge queue (retried, cleaned): its test stops, waiters are told.
    pub(super) fn leave_queue(&mut self, id: &str, why: &str) {
        let Some(e) = self.runs.get(id) else { return };
        if e.record.merge != MergeState::Pending {
            return;
        }
        if let Some(lane) = merge_queue::lane_key(&e.record).and_then(|k| self.lanes.get(&k)) {
            let _ = lane.send(LaneMsg::Remove(id.to_string()));
        }
        self.gate(id, GateInput::Dequeued);
        self.answer_merge_waiters(
            id,
            Err(ProtocolError::refused(format!(
                "not merging run {id}: {why}"
            ))),
        );
    }

    fn answer_merge_waiters(&mut self, id: &str, answer: Answer) {
        for w in self.merge_waiters.remove(id).unwrap_or_default() {
            self.answer(w, answer.clone());
        }
    }

    /// A lane's report: the run landed or was refused.
    pub(super) fn lane_report(&mut self, report: LaneReport) {
        match report {
            LaneReport::Stopped { repo, target, why } => self.lane_stopped(repo, target, why),
            LaneReport::Progress { run, slot } => {
                if self.gate(&run, GateInput::QueueMoved(slot)) {
                    self.persist(&run);
                }
            }
            LaneReport::Landed {
                run,
                commit,
                target,
                updated,
                already,
            } => {
                let Some(e) = self.runs.get(&run) else {
                    return;
                };
                let updated: Vec<String> =
                    updated.iter().map(|p| p.display().to_string()).collect();
                let message = if already {
                    format!("the run's work was already in {target} at {commit}")
                } else {
                    format!("landed on {target} as {commit}, the commit the checks passed on")
                };
                e.ctx.emit(
                    Phase::Deliver,
                    TimelineKind::MergeLanded,
                    fields! {
                        "message" => message,
                        "commit" => commit.clone(), "target" => target, "already" => already,
                        "checkouts_updated" => updated,
                    },
                );
                self.gate(&run, GateInput::Merged { commit });
                self.persist(&run);
                self.forget_journal(&run);
                self.refresh_pr(&run);
                let answer = Ok(self.run_reply(&run));
                self.answer_merge_waiters(&run, answer);
                let clean = self.runs.get(&run).is_some_and(|e| {
                    e.config
                        .as_ref()
                        .map_or(self.global.gate.clean_merged, |c| c.gate.clean_merged)
                });
                if clean {
                    // Nobody waits on this answer; a refusal is in the timeline of the clean.
                    let (tx, _) = oneshot::channel();
                    self.clean(&run, false, tx);
                }
            }
            LaneReport::Refused { run, why } => {
                let Some(e) = self.runs.get(&run) else {
                    return;
                };
                let target = e.record.target.clone().unwrap_or_default();
                let (input, message) = match why {
                    Refused::ChecksFailed(msg) => (GateInput::Refused(msg.clone()), msg),
                    Refused::Conflict(files) => {
                        let msg = format!(
                            "merging into {target} would conflict in {}; `flightdeck rebase {run}` replays it onto the new {target}",
                            files.join(", ")
                        );
                        (GateInput::MergeConflict { target, files }, msg)
                    }
                    Refused::Unchecked(msg) => (GateInput::Unchecked(msg.clone()), msg),
                    Refused::Other(msg) => (GateInput::Dequeued, msg),
                };
                e.ctx.emit(
                    Phase::Deliver,
                    TimelineKind::MergeRefused,
                    fields! {"message" => message.clone()},
                );
                self.gate(&run, input);
                self.refusals.insert(run.clone(), message.clone());
                self.persist(&run);
                self.refresh_pr(&run);
                self.answer_merge_waiters(
                    &run,
                    Err(ProtocolError::refused(format!(
                        "not merging run {run}: {message}"
                    ))),
                );
            }
        }
    }

    /// The landing is in the run's record: its journal goes, once that record is on disk.
    fn forget_journal(&mut self, id: &str) {
        let Some(e) = self.runs.get(id) else { return };
        let journal = e.ctx.path(crate::workspace::JOURNAL);
        let flushed = e.ctx.flushed();
        self.jobs
            .detached_after("removing a landing's journal", flushed, move || {
                let _ = std::fs::remove_file(journal);
            });
    }

    /// Landings a dead server left half-done are finished before anything else: the target
    /// and its checkouts end at the tested commit, and the run is recorded as landed once.
    /// Blocking (start-up, before the supervisor's loop runs).
    pub(super) fn finish_landings(&mut self) {
        let ids: Vec<String> = self
            .runs
            .values()
            .filter(|e| e.ctx.path(crate::workspace::JOURNAL).exists())
            .map(|e| e.record.id.clone())
            .collect();
        for id in ids {
            let path = self.runs[&id].ctx.path(crate::workspace::JOURNAL);
            let journal: Option<crate::workspace::Journal> = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let Some(j) = journal else {
                tracing::warn!(
                    "run {id}: an unreadable landing journal {} was removed",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                continue;
            };
            match crate::workspace::finish_interrupted(&j) {
                Ok(crate::workspace::Finished::Landed { updated }) => {
                    let Some(e) = self.runs.get_mut(&id) else {
                        continue;
                    };
                    // Its test's scratch worktree has done its job.
                    if let Some(dir) = crate::workspace::scratch::dir_for(&e.record.worktree, &id) {
                        crate::workspace::scratch::remove(&e.record.repo, &dir, &id);
                    }
                    let already = e.record.merge == MergeState::Merged
                        || crate::proof::timeline::read_all(
                            &e.ctx.path(crate::paths::pack::TIMELINE),
                        )
                        .unwrap_or_default()
                        .iter()
                        .any(|l| {
                            l["type"] == TimelineKind::MergeLanded.as_str()
                                && l["commit"] == j.to.as_str()
                        });
                    if !already {
                        let updated: Vec<String> =
                            updated.iter().map(|p| p.display().to_string()).collect();
                        e.ctx.emit(
                            Phase::Deliver,
                            TimelineKind::MergeLanded,
                            fields! {
                                "message" => format!("landed on {} as {} (a landing a stopped server left half-done, finished)", j.target, j.to),
                                "commit" => j.to.clone(), "target" => j.target.clone(), "already" => false,
                                "checkouts_updated" => updated, "resumed" => true,
                            },
                        );
                    }
                    self.gate(&id, GateInput::Dequeued);
                    self.gate(&id, GateInput::Queued);
                    self.gate(
                        &id,
                        GateInput::Merged {
                            commit: j.to.clone(),
                        },
                    );
                    self.persist(&id);
                    self.forget_journal(&id);
                }
                Ok(crate::workspace::Finished::Abandoned { now }) => {
                    let e = &self.runs[&id];
                    e.ctx.emit(
                        Phase::Deliver,
                        TimelineKind::MergeInterrupted,
                        fields! {"message" => format!("a landing on {} was cut short and {} has moved to {now} since; the run is tested again", j.target, j.target)},
                    );
                    let _ = std::fs::remove_file(&path);
                }
                Err(err) => {
                    tracing::error!("run {id}: cannot finish an interrupted landing: {err}");
                }
            }
        }
    }

    /// Runs a previous server left in the queue go back in, oldest first. Blocking: start-up
    /// (`Supervisor::start`, off the runtime), looking for landing journals.
    pub(super) fn requeue_pending(&mut self) {
        let mut pending: Vec<(String, String)> = self
            .runs
            .values()
            .filter(|e| e.record.merge == MergeState::Pending)
            .map(|e| {
                (
                    e.record.finished_at.clone().unwrap_or_default(),
                    e.record.id.clone(),
                )
            })
            .collect();
        pending.sort();
        for (_, id) in pending {
            // A landing that could not be finished stays as it is: testing it again would
            // find flightdeck's own half-written files and blame the user for them.
            if self.runs[&id].ctx.path(crate::workspace::JOURNAL).exists() {
                let e = &self.runs[&id];
                e.ctx.emit(
                    Phase::Deliver,
                    TimelineKind::MergeInterrupted,
                    fields! {"message" => "a landing cut short could not be finished (see the server log); the next server start tries again"},
                );
                continue;
            }
            // Back to ready first, so the gate takes it in as any queued run.
            self.gate(&id, GateInput::Dequeued);
            // A landing through the forge that a stopped server left is not finished locally:
            // `merge` (or auto-merge) asks the forge again.
            if self.merge_refusal(&id).is_none() && !self.lands_on_forge(&id) {
                self.enqueue(&id);
            }
        }
    }
}

impl Supervisor {
    /// PR.md follows the record after deliver (the radar's findings, the merge), and a run
    /// that failed after its agent's phase gets one too, its failure first.
    pub(super) fn refresh_pr(&self, id: &str) {
        let Some(e) = self.runs.get(id) else { return };
        // Failed in a phase after the agent's: its work is committed on the branch.
        let failed_with_work =
            e.record.status == Status::Failed && e.record.phase > crate::run::Phase::Agent;
        if !(e.record.status == Status::Succeeded || failed_with_work) || e.record.cleaned {
            return;
        }
        let (ctx, rec) = (e.ctx.clone(), e.record.clone());
        // Keyed by run, in order: a slow refresh never overwrites a newer one.
        let n = ctx.pr.ask();
        self.jobs.detached("rewriting PR.md", move || {
            ctx.pr.write(n, || {
                if let Err(err) = super::phases::write_pr(&ctx.dir, &rec) {
                    tracing::warn!("run {}: cannot rewrite PR.md: {err}", rec.id);
                }
            });
        });
    }
}

pub fn conflict_text(c: &[ConflictFinding]) -> String {
    c.iter()
        .map(ConflictFinding::describe)
        .collect::<Vec<_>>()
        .join("; ")
}
