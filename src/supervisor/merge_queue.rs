//! The merge queue: one lane per repository and target branch, one task per lane. The target
//! only ever moves to a commit whose required checks passed on exactly that commit: for each
//! queued run the lane makes the candidate (the target as it will be, with the runs ahead of it,
//! plus the run), checks it out in a scratch worktree, runs `[setup]` and the required smoke
//! checks there, and only then moves the target to it, in one compare-and-swap. The first
//! `gate.queue_depth` runs are tested at once, each on top of the candidates ahead of it
//! (speculatively: if one ahead fails or the target moves, those behind are tested again).
//! The lane reports to the supervisor, whose run machines own the merge state.

use crate::proof::kind::TimelineKind;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::{Config, MergeStyle};
use crate::fields;
use crate::run::{Phase, RunRecord};
use crate::workspace::{self, scratch, Candidate, LandSpec, Landing, WorkspaceError};

use super::context::RunCtx;
use super::jobs::Jobs;
use super::merge_test::{test_candidate, Tested};
use super::phases::blocking;
use super::{Internal, Msg, Supervisor};

/// A run put in the queue: what the lane needs to make and test its candidate.
pub(super) struct QueuedRun {
    pub record: RunRecord,
    pub ctx: Arc<RunCtx>,
    /// The run's config; None: read again from its repository (a run loaded from disk).
    pub config: Option<Arc<Config>>,
}

pub(super) enum LaneMsg {
    Add(Box<QueuedRun>),
    /// The run left the queue (retried, cleaned, killed): stop testing it.
    Remove(String),
}

/// How a run left the queue.
#[derive(Debug)]
pub(super) enum LaneReport {
    Landed {
        run: String,
        commit: String,
        target: String,
        updated: Vec<PathBuf>,
        already: bool,
    },
    Refused {
        run: String,
        why: Refused,
    },
    /// The run's place in the queue, or what is under test, changed.
    Progress {
        run: String,
        slot: crate::run::QueueSlot,
    },
    /// The lane's task ended: its sender was dropped (`why` None), or it failed.
    Stopped {
        repo: PathBuf,
        target: String,
        why: Option<String>,
    },
}

#[derive(Debug)]
pub(super) enum Refused {
    /// The required checks failed on the candidate: the message says which and how.
    ChecksFailed(String),
    Conflict(Vec<String>),
    /// The branch moved after its checks: green no longer holds.
    Unchecked(String),
    /// Anything else (a dirty checkout of the target, a missing branch): the gate stays as it was.
    Other(String),
}

/// Start a lane's task; it lives as long as the supervisor keeps its sender.
pub(super) fn start_lane(
    repo: PathBuf,
    target: String,
    config_source: super::submit::ConfigSource,
    notify: mpsc::UnboundedSender<Msg>,
    ports: Ports,
) -> mpsc::UnboundedSender<LaneMsg> {
    let (tx, rx) = mpsc::unbounded_channel();
    let lane = Lane {
        repo: repo.clone(),
        target: target.clone(),
        ports,
        config_source,
        notify: notify.clone(),
        slots: VecDeque::new(),
        depth: 2,
    };
    // Through the job runner: a lane that panics reports it, and its runs are refused with
    // the reason, instead of waiting in a queue nobody serves.
    Jobs::new(notify).task(lane.run(rx), move |ended| {
        Msg::Internal(Internal::Lane(Box::new(LaneReport::Stopped {
            repo,
            target,
            why: ended.err().map(|e| e.0),
        })))
    });
    tx
}

struct Slot {
    run: QueuedRun,
    config: Arc<Config>,
    cand: Option<Candidate>,
    test: Option<Arc<AtomicBool>>,
    /// The outcome of testing `cand` (None while under way or not started).
    result: Option<Tested>,
    /// The runs ahead of this one in its candidate.
    ahead: Vec<String>,
    /// Its place as last told to the supervisor.
    told: Option<crate::run::QueueSlot>,
}

/// The dev-server ports the supervisor leases, shared with the queue's browser checks.
pub(super) type Ports = crate::browser::ports::Shared;

impl Slot {
    /// Stop the test under way, if any: the flag tells it, and the command it runs is killed.
    fn stop_test(&mut self) {
        if let Some(flag) = self.test.take() {
            flag.store(true, Ordering::SeqCst);
            self.run.ctx.procs.unregister_and_reap();
        }
    }
}

struct Lane {
    repo: PathBuf,
    target: String,
    ports: Ports,
    config_source: super::submit::ConfigSource,
    notify: mpsc::UnboundedSender<Msg>,
    slots: VecDeque<Slot>,
    depth: usize,
}

impl Lane {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<LaneMsg>) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Tested)>();
        loop {
            if self.slots.is_empty() {
                match rx.recv().await {
                    Some(m) => self.on_msg(m).await,
                    None => return,
                }
                continue;
            }
            self.plan(&done_tx).await;
            self.tell_progress();
            if self.slots.is_empty() {
                continue;
            }
            if let Some(result) = self.slots[0].result.clone() {
                self.settle_head(result).await;
                continue;
            }
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => self.on_msg(m).await,
                    None => return,
                },
                Some((run, tested)) = done_rx.recv() => {
                    if let Some(s) = self.slots.iter_mut().find(|s| s.run.record.id == run) {
                        // A result for a candidate since replaced is stale.
                        if s.cand.as_ref().is_some_and(|c| c.commit == tested.commit) && s.test.is_some() {
                            s.test = None;
                            s.result = Some(tested);
                        }
                    }
                }
            }
        }
    }

    async fn on_msg(&mut self, m: LaneMsg) {
        match m {
            LaneMsg::Add(q) => {
                if self.slots.iter().any(|s| s.run.record.id == q.record.id) {
                    return;
                }
                let config = match q.config.clone() {
                    Some(c) => c,
                    None => {
                        let (repo, explicit, source) = (
                            q.record.repo.clone(),
                            q.record.config_file.clone(),
                            self.config_source.clone(),
                        );
                        match blocking(move || {
                            source.load(Some(repo), explicit).map_err(|e| e.message)
                        })
                        .await
                        {
                            Ok(c) => Arc::new(c),
                            Err(e) => {
                                let run = q.record.id.clone();
                                return self.report(LaneReport::Refused {
                                    run,
                                    why: Refused::Other(format!("cannot read its config: {e}")),
                                });
                            }
                        }
                    }
                };
                self.depth = config.gate.queue_depth.max(1);
                self.slots.push_back(Slot {
                    run: *q,
                    config,
                    cand: None,
                    test: None,
                    result: None,
                    ahead: Vec::new(),
                    told: None,
                });
            }
            LaneMsg::Remove(run) => {
                if let Some(i) = self.slots.iter().position(|s| s.run.record.id == run) {
                    if let Some(s) = self.slots.remove(i) {
                        self.drop_slot(s).await;
                    }
                }
            }
        }
    }

    /// Make sure the first `depth` runs have a candidate on top of what is ahead of them, and
    /// a test of it under way or done; refuse those that cannot be made.
    async fn plan(&mut self, done: &mpsc::UnboundedSender<(String, Tested)>) {
        let tip = {
            let (repo, target) = (self.repo.clone(), self.target.clone());
            blocking(move || workspace::target_tip(&repo, &target).map_err(|e| e.to_string())).await
        };
        let mut parent = match tip {
            Ok(t) => t,
            Err(e) => {
                // No target to land on: every queued run is told so.
                while !self.slots.is_empty() {
                    self.refuse(0, Refused::Other(e.clone())).await;
                }
                return;
            }
        };
        let mut ahead: Vec<String> = Vec::new();
        let mut i = 0;
        while i < self.slots.len().min(self.depth) {
            let current = self.slots[i]
                .cand
                .as_ref()
                .is_some_and(|c| c.parent == parent);
            if !current {
                if let Some(stale) = &self.slots[i].cand {
                    // What it was tested on is no longer what it would land on.
                    let why = if i == 0 {
                        format!("{} moved to {}", self.target, short(&parent))
                    } else {
                        "the runs ahead of it changed".to_string()
                    };
                    self.slots[i].run.ctx.emit(
                        Phase::Deliver,
                        TimelineKind::MergeRetest,
                        fields! {
                            "message" => format!("{why} while {} was tested; testing again on it", short(&stale.commit)),
                            "parent" => parent.clone(), "was" => stale.parent.clone(),
                        },
                    );
                }
                self.cancel(i);
                let made = self.make_candidate(i, &parent).await;
                match made {
                    Ok(c) => {
                        self.slots[i].cand = Some(c);
                        self.slots[i].ahead = ahead.clone();
                        self.start_test(i, done.clone());
                    }
                    Err(e) => {
                        let why = match e {
                            WorkspaceError::Conflict(files) => Refused::Conflict(files),
                            WorkspaceError::Unchecked(m) => Refused::Unchecked(m),
                            other => Refused::Other(other.to_string()),
                        };
                        self.refuse(i, why).await;
                        continue;
                    }
                }
            }
            let s = &self.slots[i];
            ahead.push(s.run.record.id.clone());
            parent = s.cand.as_ref().map(|c| c.commit.clone()).unwrap_or(parent);
            i += 1;
        }
    }

    async fn make_candidate(&self, i: usize, parent: &str) -> Result<Candidate, WorkspaceError> {
        let s = &self.slots[i];
        candidate_for(&self.repo, parent, &s.run.record, s.config.gate.merge_style).await
    }

    /// Stop the test of slot `i`, if one is under way; its result is forgotten.
    fn cancel(&mut self, i: usize) {
        let s = &mut self.slots[i];
        s.stop_test();
        s.result = None;
        s.cand = None;
    }

    fn start_test(&mut self, i: usize, done: mpsc::UnboundedSender<(String, Tested)>) {
        let s = &mut self.slots[i];
        let Some(cand) = s.cand.clone() else { return };
        let cancel = Arc::new(AtomicBool::new(false));
        s.test = Some(cancel.clone());
        s.result = None;
        let ctx = s.run.ctx.clone();
        let record = s.run.record.clone();
        let config = s.config.clone();
        let ahead = s.ahead.clone();
        let target = self.target.clone();
        let ports = self.ports.clone();
        ctx.emit(
            Phase::Deliver,
            TimelineKind::MergeTesting,
            fields! {
                "message" => format!(
                    "testing {} merged into {target}{} as {}",
                    record.branch,
                    if ahead.is_empty() { String::new() } else { format!(" after {}", ahead.join(", ")) },
                    short(&cand.commit)
                ),
                "commit" => cand.commit, "parent" => cand.parent, "target" => target, "ahead" => ahead,
            },
        );
        // A result that comes back after the test was stopped or its candidate replaced is
        // recognised as stale where it is received; a test that panics fails its candidate.
        let (id, commit) = (record.id.clone(), cand.commit.clone());
        Jobs::new(done).task(
            async move { test_candidate(&ctx, record, &config, &cand, &cancel, &ports).await },
            move |tested| {
                let tested = tested.unwrap_or_else(|e| Tested {
                    commit,
                    passed: false,
                    why: format!("the test of the merged result {e}"),
                });
                (id, tested)
            },
        );
    }

    /// The head's test is done: land it, or refuse it.
    async fn settle_head(&mut self, result: Tested) {
        let Some(cand) = self.slots[0].cand.clone() else {
            return;
        };
        if !result.passed {
            self.refuse(0, Refused::ChecksFailed(result.why)).await;
            return;
        }
        let (repo, target, c) = (self.repo.clone(), self.target.clone(), cand.clone());
        let journal = self.slots[0].run.ctx.path(workspace::JOURNAL);
        let landed = tokio::task::spawn_blocking(move || {
            let landed = workspace::land(&repo, &target, &c, &journal);
            // Nothing moved: no landing to finish after a crash. (Landed: the supervisor
            // removes the journal once the landing is in the run's record.)
            if landed.is_err() {
                let _ = std::fs::remove_file(&journal);
            }
            landed
        })
        .await
        .unwrap_or_else(|e| Err(WorkspaceError::Io(format!("the landing job failed: {e}"))));
        match landed {
            Ok(Landing::Moved { .. }) => {
                // Someone moved the target meanwhile: the next plan tests everything again on
                // it (and says so in each run's timeline).
                for s in self.slots.iter_mut() {
                    s.result = None;
                }
            }
            Ok(Landing::Landed { updated }) => {
                if let Some(s) = self.slots.pop_front() {
                    let run = s.run.record.id.clone();
                    self.drop_slot(s).await;
                    self.report(LaneReport::Landed {
                        run,
                        commit: cand.commit,
                        target: self.target.clone(),
                        updated,
                        already: cand.already,
                    });
                }
            }
            Err(e) => self.refuse(0, Refused::Other(e.to_string())).await,
        }
    }

    /// Slot `i` leaves the queue refused, and the supervisor is told why.
    async fn refuse(&mut self, i: usize, why: Refused) {
        if let Some(s) = self.slots.remove(i) {
            let run = s.run.record.id.clone();
            self.drop_slot(s).await;
            self.report(LaneReport::Refused { run, why });
        }
    }

    /// A run leaves the queue: its test stops and its scratch worktree goes.
    async fn drop_slot(&self, mut s: Slot) {
        s.stop_test();
        let (repo, wt, id) = (
            self.repo.clone(),
            s.run.record.worktree.clone(),
            s.run.record.id.clone(),
        );
        let _ = blocking(move || {
            if let Some(dir) = scratch::dir_for(&wt, &id) {
                scratch::remove(&repo, &dir, &id);
            }
            Ok::<(), String>(())
        })
        .await;
    }

    /// Each run's place and test, to the supervisor, when they changed.
    fn tell_progress(&mut self) {
        let mut reports = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            let slot = crate::run::QueueSlot {
                position: i + 1,
                testing: s
                    .test
                    .as_ref()
                    .and(s.cand.as_ref())
                    .map(|c| c.commit.clone()),
            };
            if s.told.as_ref() != Some(&slot) {
                s.told = Some(slot.clone());
                reports.push(LaneReport::Progress {
                    run: s.run.record.id.clone(),
                    slot,
                });
            }
        }
        for r in reports {
            self.report(r);
        }
    }

    fn report(&self, r: LaneReport) {
        Supervisor::send_internal(&self.notify, Internal::Lane(Box::new(r)));
    }
}

/// The candidate of run `r` in `repo`: its branch merged onto `parent` as the merge style
/// says, off the runtime. The local queue's and the forge landing's.
pub(super) async fn candidate_for(
    repo: &std::path::Path,
    parent: &str,
    r: &RunRecord,
    style: MergeStyle,
) -> Result<Candidate, WorkspaceError> {
    let (repo, parent) = (repo.to_path_buf(), parent.to_string());
    let (branch, checked) = (r.branch.clone(), r.checked_commit.clone());
    let message = commit_message(r, style);
    tokio::task::spawn_blocking(move || {
        workspace::candidate(
            &repo,
            &parent,
            &LandSpec {
                branch: &branch,
                checked: checked.as_deref(),
                style,
                message: &message,
            },
        )
    })
    .await
    .unwrap_or_else(|e| Err(WorkspaceError::Io(format!("the merge job failed: {e}"))))
}

/// The commit message a run lands with: the task's first line as the subject, the rest as the
/// body, trailers naming the run and its score.
pub(super) fn commit_message(r: &RunRecord, style: MergeStyle) -> String {
    let mut lines = r.task.lines();
    let first: String = lines.next().unwrap_or("").trim().chars().take(72).collect();
    let subject = match style {
        MergeStyle::Squash => first,
        MergeStyle::Merge => format!("Merge flightdeck run {}: {first}", r.id),
    };
    let body: String = lines.collect::<Vec<_>>().join("\n");
    let mut msg = subject;
    if !body.trim().is_empty() {
        msg.push_str("\n\n");
        msg.push_str(body.trim());
    }
    msg.push_str(&format!("\n\nFlightdeck-Run: {}\n", r.id));
    if let Some(score) = r.score {
        msg.push_str(&format!("Flightdeck-Score: {score:.2}\n"));
    }
    msg
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}

/// The lane a run lands through.
pub(super) fn lane_key(r: &RunRecord) -> Option<(PathBuf, String)> {
    Some((r.repo.clone(), r.target.clone()?))
}
