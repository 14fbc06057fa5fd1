//! A run's merge state, pure: what the gate, the radar, a merge, a retry or the run's end make
//! of `merge`, `gate_reasons`, `conflicts` and the commits the gate holds a run to. Part of the
//! run's machine (machine.rs), which alone applies it to the run's state.

use crate::run::{
    ConflictFinding, GateReason, MergeState, Phase, PrState, PullRequest, QueueSlot, RunState,
    Status,
};

#[derive(Debug, Clone, PartialEq)]
pub enum GateInput {
    /// The run ended without succeeding: it cannot merge, and the gate says why.
    Ended {
        status: Status,
        phase: Phase,
        reason: Option<String>,
    },
    /// deliver evaluated the gate.
    Evaluated {
        state: MergeState,
        reasons: Vec<GateReason>,
    },
    /// The radar's findings for the run now; `succeeded`: the run is waiting to merge.
    Radar {
        found: Vec<ConflictFinding>,
        succeeded: bool,
    },
    /// The run is in its target's merge queue (or under test there).
    Queued,
    /// Its place in the queue changed, or its test started.
    QueueMoved(QueueSlot),
    /// It left the queue without landing, its gate unchanged (a dirty checkout of the target,
    /// a retry): ready again.
    Dequeued,
    /// The required checks failed on the merge of the target and the run.
    Refused(String),
    /// It landed: `commit` is the merge commit (or the fast-forwarded tip).
    Merged { commit: String },
    /// The smoke checks ran on `commit`: the gate and merge hold the branch to it.
    Checked(String),
    /// The run's worktree and branch were removed.
    Cleaned,
    /// Merging into `target` would conflict in `files`.
    MergeConflict { target: String, files: Vec<String> },
    /// The branch holds something the checks did not run on: green no longer holds.
    Unchecked(String),
    /// The run goes again: the gate is decided anew.
    Retried,
    /// Its pull request as the forge reports it now (opened, updated or polled).
    PrSeen {
        pr: Box<PullRequest>,
        /// The forge's merge commit, once merged there.
        merge_commit: Option<String>,
    },
    /// A feedback round from the pull request went to the agent; `answered` names what it
    /// answered (so the same failure or review is not sent twice).
    PrFeedback { answered: String },
    /// The forge would not tell how the pull request is (a poll's error): kept until it does.
    PrError(String),
}

pub fn step(g: &RunState, input: GateInput) -> RunState {
    let mut next = g.clone();
    // Only what changes the gate's verdict forgets a refusal by the queue's checks.
    let keeps_refusal = matches!(
        input,
        GateInput::Radar { .. }
            | GateInput::Queued
            | GateInput::QueueMoved(_)
            | GateInput::Dequeued
            | GateInput::Checked(_)
            | GateInput::Refused(_)
            | GateInput::PrSeen { .. }
            | GateInput::PrFeedback { .. }
            | GateInput::PrError(_)
    );
    if !keeps_refusal {
        next.fails_once_merged = false;
    }
    match input {
        GateInput::Ended {
            status,
            phase,
            reason,
        } => {
            if status != Status::Succeeded {
                next.merge = MergeState::Blocked;
                next.gate_reasons = vec![GateReason::RunEnded {
                    status,
                    phase,
                    reason,
                }]
                .into();
            }
        }
        GateInput::Evaluated { state, reasons } => {
            next.gate_reasons = reasons.into();
            next.merge = if g.conflicts.iter().any(ConflictFinding::blocks) {
                MergeState::Conflict
            } else {
                state
            };
        }
        GateInput::Radar { found, succeeded } => {
            if matches!(g.merge, MergeState::Merged | MergeState::Pending) || g.conflicts == found {
                return next;
            }
            next.conflicts = found;
            if next.conflicts.iter().any(ConflictFinding::blocks) {
                next.merge = MergeState::Conflict;
            } else if g.merge == MergeState::Conflict {
                // The reasons the radar's findings gave (any of them, from any earlier scan).
                next.gate_reasons.retain(|r| !r.is_conflict());
                next.merge = match succeeded {
                    true if next.gate_reasons.is_empty() => MergeState::Ready,
                    true => MergeState::Blocked,
                    false => MergeState::None,
                };
            }
        }
        GateInput::Queued => {
            if g.merge == MergeState::Ready {
                next.merge = MergeState::Pending;
            }
        }
        GateInput::QueueMoved(slot) => {
            if g.merge == MergeState::Pending {
                next.queue = Some(slot);
            }
        }
        GateInput::Dequeued => {
            if g.merge == MergeState::Pending {
                next.merge = MergeState::Ready;
            }
        }
        GateInput::Refused(msg) => {
            next.merge = MergeState::Blocked;
            next.gate_reasons = vec![GateReason::FailsOnceMerged { detail: msg }].into();
            next.fails_once_merged = true;
        }
        GateInput::Merged { commit } => {
            // Landed: it names no rivals and waits for nothing any more.
            next.merge = MergeState::Merged;
            next.merged_commit = Some(commit);
            // Landed through the forge: its PR is merged with it.
            if let Some(pr) = next.pr.as_mut() {
                pr.state = PrState::Merged;
            }
            next.conflicts.clear();
            next.gate_reasons.clear();
        }
        GateInput::Checked(commit) => next.checked_commit = Some(commit),
        GateInput::Cleaned => {
            next.cleaned = true;
            next.conflicts.clear();
            if g.merge != MergeState::Merged {
                next.merge = MergeState::Blocked;
                next.gate_reasons = vec![GateReason::Cleaned].into();
            }
        }
        GateInput::MergeConflict { target, files } => {
            next.merge = MergeState::Conflict;
            let finding = ConflictFinding {
                with: format!("target:{target}"),
                files,
                both_waiting: false,
            };
            if !next.conflicts.contains(&finding) {
                next.conflicts.push(finding);
            }
        }
        GateInput::Unchecked(msg) => {
            next.merge = MergeState::Blocked;
            next.gate_reasons = vec![GateReason::Unchecked { detail: msg }].into();
        }
        GateInput::Retried => {
            next.merge = MergeState::None;
            next.gate_reasons.clear();
        }
        GateInput::PrSeen { pr, merge_commit } => {
            let mut pr = *pr;
            // The rounds are flightdeck's count, not the forge's.
            if let Some(old) = &g.pr {
                pr.feedback_rounds = old.feedback_rounds;
                pr.answered = old.answered.clone();
                pr.pushed = pr.pushed.or_else(|| old.pushed.clone());
            }
            match pr.state {
                PrState::Merged if g.merge != MergeState::Merged => {
                    next.merge = MergeState::Merged;
                    next.merged_commit = merge_commit;
                    next.conflicts.clear();
                    next.gate_reasons.clear();
                }
                PrState::Closed if g.merge != MergeState::Merged => {
                    next.merge = MergeState::Blocked;
                    next.gate_reasons = vec![GateReason::PrClosed {
                        url: pr.url.clone(),
                    }]
                    .into();
                }
                // Reopened: the closing no longer stands in the way.
                PrState::Open | PrState::Draft
                    if g.gate_reasons
                        .iter()
                        .any(|r| matches!(r, GateReason::PrClosed { .. })) =>
                {
                    next.gate_reasons
                        .retain(|r| !matches!(r, GateReason::PrClosed { .. }));
                    if next.gate_reasons.is_empty() && g.status == Status::Succeeded {
                        next.merge = MergeState::Ready;
                    }
                }
                _ => {}
            }
            next.pr = Some(pr);
        }
        GateInput::PrFeedback { answered } => {
            if let Some(pr) = next.pr.as_mut() {
                pr.feedback_rounds += 1;
                pr.answered = Some(answered);
            }
        }
        GateInput::PrError(message) => {
            if let Some(pr) = next.pr.as_mut() {
                pr.error = Some(message);
            }
        }
    }
    if next.merge != MergeState::Pending {
        next.queue = None;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forge_merging_or_closing_the_pr_shows_in_the_run() {
        let pr = |state| PullRequest {
            number: 7,
            url: "http://forge/pull/7".into(),
            state,
            ..Default::default()
        };
        let seen = |g: &RunState, state| {
            step(
                g,
                GateInput::PrSeen {
                    pr: Box::new(pr(state)),
                    merge_commit: Some("m".into()),
                },
            )
        };
        let succeeded = RunState {
            status: Status::Succeeded,
            ..ready()
        };
        let opened = seen(&succeeded, PrState::Open);
        assert_eq!(opened.merge, MergeState::Ready);
        let fed = step(
            &opened,
            GateInput::PrFeedback {
                answered: "checks:abc".into(),
            },
        );
        let closed = seen(&fed, PrState::Closed);
        assert_eq!(closed.merge, MergeState::Blocked);
        assert!(closed.gate_reasons.sentences()[0].contains("closed on the forge"));
        let pr_kept = closed.pr.clone().unwrap_or_default();
        assert_eq!(
            pr_kept.feedback_rounds, 1,
            "the rounds are flightdeck's count"
        );
        // What flightdeck pushed stays its lease, whatever the forge reports as head.
        let pushed = step(
            &opened,
            GateInput::PrSeen {
                pr: Box::new(PullRequest {
                    pushed: Some("p1".into()),
                    ..pr(PrState::Open)
                }),
                merge_commit: None,
            },
        );
        let polled = seen(&pushed, PrState::Open);
        assert_eq!(polled.pr.and_then(|p| p.pushed).as_deref(), Some("p1"));
        let reopened = seen(&closed, PrState::Open);
        assert_eq!(reopened.merge, MergeState::Ready);
        let merged = seen(&reopened, PrState::Merged);
        assert_eq!(merged.merge, MergeState::Merged);
        assert_eq!(merged.merged_commit.as_deref(), Some("m"));
        assert_eq!(seen(&merged, PrState::Closed).merge, MergeState::Merged);
    }

    fn with_target(files: &[&str]) -> ConflictFinding {
        ConflictFinding {
            with: "target:main".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
            both_waiting: false,
        }
    }

    fn ready() -> RunState {
        step(
            &RunState::default(),
            GateInput::Evaluated {
                state: MergeState::Ready,
                reasons: vec![],
            },
        )
    }

    #[test]
    fn a_run_that_did_not_succeed_is_blocked_with_its_reason() {
        let g = step(
            &RunState::default(),
            GateInput::Ended {
                status: Status::Failed,
                phase: Phase::Agent,
                reason: Some("exit 1".into()),
            },
        );
        assert_eq!(g.merge, MergeState::Blocked);
        assert_eq!(
            g.gate_reasons.sentences(),
            vec!["the run failed in phase agent: exit 1"]
        );
        let same = step(
            &ready(),
            GateInput::Ended {
                status: Status::Succeeded,
                phase: Phase::Done,
                reason: None,
            },
        );
        assert_eq!(same, ready());
    }

    #[test]
    fn a_green_gate_is_a_conflict_while_the_radar_predicts_one() {
        let g = step(
            &RunState::default(),
            GateInput::Radar {
                found: vec![with_target(&["a.rs"])],
                succeeded: false,
            },
        );
        assert_eq!(g.merge, MergeState::Conflict);
        let g = step(
            &g,
            GateInput::Evaluated {
                state: MergeState::Ready,
                reasons: vec![],
            },
        );
        assert_eq!(g.merge, MergeState::Conflict);
        // The conflict goes away: ready again, the radar's reasons dropped, others kept.
        let mut blocked = g.clone();
        blocked.gate_reasons.push(GateReason::Conflict {
            finding: with_target(&["a.rs"]),
        });
        let cleared = step(
            &blocked,
            GateInput::Radar {
                found: vec![],
                succeeded: true,
            },
        );
        assert_eq!(cleared.merge, MergeState::Ready);
        assert!(cleared.gate_reasons.is_empty());
        blocked.gate_reasons.push(GateReason::Said {
            text: "score 0.2 < 0.5".into(),
        });
        let still = step(
            &blocked,
            GateInput::Radar {
                found: vec![],
                succeeded: true,
            },
        );
        assert_eq!(still.merge, MergeState::Blocked);
        assert_eq!(still.gate_reasons.sentences(), vec!["score 0.2 < 0.5"]);
        // A live run without conflicts has no merge state yet.
        let live = step(
            &g,
            GateInput::Radar {
                found: vec![],
                succeeded: false,
            },
        );
        assert_eq!(live.merge, MergeState::None);
    }

    #[test]
    fn a_merged_run_stays_merged_whatever_the_radar_says() {
        let merged = step(
            &ready(),
            GateInput::Merged {
                commit: "c0ffee".into(),
            },
        );
        let g = step(
            &merged,
            GateInput::Radar {
                found: vec![with_target(&["a.rs"])],
                succeeded: true,
            },
        );
        assert_eq!(g, merged);
    }

    #[test]
    fn a_landed_or_cleaned_run_names_no_rivals() {
        let mut g = ready();
        g.conflicts.push(ConflictFinding {
            with: "run:other".into(),
            files: vec!["a.rs".into()],
            both_waiting: true,
        });
        let merged = step(
            &g,
            GateInput::Merged {
                commit: "c0ffee".into(),
            },
        );
        assert!(merged.conflicts.is_empty());
        assert_eq!(step(&merged, GateInput::Cleaned).merge, MergeState::Merged);
        let cleaned = step(&g, GateInput::Cleaned);
        assert!(cleaned.conflicts.is_empty());
        assert_eq!(cleaned.merge, MergeState::Blocked);
        assert_eq!(
            cleaned.gate_reasons.sentences(),
            vec!["its worktree and branch were cleaned"]
        );
    }

    #[test]
    fn a_merge_that_conflicts_records_the_target_once() {
        let input = GateInput::MergeConflict {
            target: "main".into(),
            files: vec!["a.rs".into()],
        };
        let g = step(&step(&ready(), input.clone()), input);
        assert_eq!(g.merge, MergeState::Conflict);
        assert_eq!(g.conflicts, vec![with_target(&["a.rs"])]);
    }

    #[test]
    fn a_queued_run_is_pending_until_it_lands_or_is_refused() {
        let q = step(&ready(), GateInput::Queued);
        assert_eq!(q.merge, MergeState::Pending);
        // The radar leaves a queued run to the queue, which tests the real merge.
        let r = step(
            &q,
            GateInput::Radar {
                found: vec![with_target(&["a.rs"])],
                succeeded: true,
            },
        );
        assert_eq!(r, q);
        assert_eq!(step(&q, GateInput::Dequeued).merge, MergeState::Ready);
        let refused = step(&q, GateInput::Refused("tests fail once merged".into()));
        assert_eq!(refused.merge, MergeState::Blocked);
        assert_eq!(
            refused.gate_reasons.sentences(),
            vec!["tests fail once merged"]
        );
        // The cockpit offers a rebase first for it, until the gate is decided anew.
        assert!(refused.fails_once_merged);
        assert!(!step(&refused, GateInput::Retried).fails_once_merged);
        // Only a ready run is queued; a blocked one stays blocked.
        assert_eq!(step(&refused, GateInput::Queued), refused);
        assert_eq!(
            step(
                &q,
                GateInput::Merged {
                    commit: "c0ffee".into()
                }
            )
            .merge,
            MergeState::Merged
        );
        // Its place is known while it waits, and forgotten once it leaves.
        let slot = QueueSlot {
            position: 2,
            testing: Some("abc".into()),
        };
        let moved = step(&q, GateInput::QueueMoved(slot.clone()));
        assert_eq!(moved.queue, Some(slot.clone()));
        assert_eq!(
            step(
                &moved,
                GateInput::Merged {
                    commit: "c0ffee".into()
                }
            )
            .queue,
            None
        );
        assert_eq!(step(&moved, GateInput::Dequeued).queue, None);
        assert_eq!(step(&ready(), GateInput::QueueMoved(slot)).queue, None);
    }

    #[test]
    fn unchecked_work_blocks_and_a_retry_starts_the_gate_afresh() {
        let g = step(&ready(), GateInput::Unchecked("new commits".into()));
        assert_eq!(g.merge, MergeState::Blocked);
        assert_eq!(g.gate_reasons.sentences(), vec!["new commits"]);
        let g = step(&g, GateInput::Retried);
        assert_eq!(g.merge, MergeState::None);
        assert!(g.gate_reasons.is_empty());
    }
}
