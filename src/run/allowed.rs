//! What may be done with a run now, and if not why: decided once, by the server (the run's
//! machine and its gate), and sent with the record so every client says the same. Each
//! refusal is typed and said two ways: for the command line (`Display`) and for the cockpit,
//! whose advice names keys (`keys`).

use serde::{Deserialize, Serialize};

use super::record::{MergeState, Phase, Status};

/// Why the run's machine does not take an action now, with what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    #[error(
        "the run has already finished ({status}); nothing to do (retry it with `flightdeck retry`)"
    )]
    Finished { status: Status },
    #[error("the run is {status}, not running; only a running run can be paused")]
    NotRunning { status: Status },
    #[error("the run is {status}, not paused; only a paused run can be resumed")]
    NotPaused { status: Status },
    #[error("the run is still {status}; kill it or wait for it to finish before retrying")]
    StillActive { status: Status },
    #[error("the run never reached phase {wanted} (it stopped in {reached}); retry --phase {reached} or an earlier phase")]
    NotReached { wanted: Phase, reached: Phase },
    #[error("phase {phase} cannot be retried; retry one of prepare, agent, smoke, proof, deliver")]
    NotRetryable { phase: Phase },
    #[error("the run succeeded; pass --phase to say which phase to run again")]
    NothingFailed,
    #[error("a kill is already under way")]
    AlreadyKilling,
    #[error("the run has already landed; there is nothing to rebase")]
    Merged,
}

impl Refusal {
    /// The same, with the cockpit's keys for advice.
    pub fn keys(&self) -> String {
        match self {
            Refusal::Finished { status } => {
                format!("the run has already finished ({status}); nothing to do (retry it: press r)")
            }
            Refusal::StillActive { status } => format!(
                "the run is still {status}; kill it (x) or wait for it to finish before retrying"
            ),
            Refusal::NotReached { wanted, reached } => format!(
                "the run never reached phase {wanted} (it stopped in {reached}); press r and pick {reached} or an earlier phase"
            ),
            Refusal::NotRetryable { phase } => {
                format!("phase {phase} cannot be retried; press r and pick another")
            }
            Refusal::NothingFailed => {
                "the run succeeded; press r and pick the phase to run again".into()
            }
            other => other.to_string(),
        }
    }
}

/// Why the run may not merge now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum MergeRefusal {
    #[error("it is already merged")]
    Merged { target: Option<String> },
    #[error("it is {status}{}; only a run that succeeded can merge", .reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    NotSucceeded {
        status: Status,
        reason: Option<String>,
    },
    #[error("its worktree and branch were cleaned")]
    Cleaned,
    #[error("it has no target branch; set gate.target")]
    NoTarget,
    /// In its target's merge queue already: it lands in turn.
    #[error("it is in the merge queue already")]
    Queued,
    #[error("the merge gate has not been evaluated yet")]
    NotEvaluated,
    /// `why`: the gate's reasons, or the conflicts when it recorded none.
    #[error("the merge gate is not green: {}", .why.join("; "))]
    NotGreen { merge: MergeState, why: Vec<String> },
}

impl MergeRefusal {
    /// The gate's decision for a run in this state: None when `merge` may go ahead.
    pub fn of(r: &super::RunRecord) -> Option<Self> {
        if r.merge == MergeState::Merged {
            return Some(MergeRefusal::Merged {
                target: r.target.clone(),
            });
        }
        if r.status != Status::Succeeded {
            return Some(MergeRefusal::NotSucceeded {
                status: r.status,
                reason: r.reason.clone(),
            });
        }
        if r.cleaned {
            return Some(MergeRefusal::Cleaned);
        }
        if r.target.is_none() {
            return Some(MergeRefusal::NoTarget);
        }
        match r.merge {
            MergeState::Ready => None,
            MergeState::Pending => Some(MergeRefusal::Queued),
            MergeState::None | MergeState::Merged => Some(MergeRefusal::NotEvaluated),
            MergeState::Blocked | MergeState::Conflict => {
                let mut why = r.gate_reasons.sentences();
                if why.is_empty() {
                    why = r
                        .conflicts
                        .iter()
                        .filter(|c| c.blocks())
                        .map(|c| c.describe())
                        .collect();
                }
                if why.is_empty() {
                    why.push("no reason recorded; `flightdeck show` has the proof".into());
                }
                Some(MergeRefusal::NotGreen {
                    merge: r.merge,
                    why,
                })
            }
        }
    }

    /// The same, as the cockpit says it, for run `run`.
    pub fn keys(&self, run: &str) -> String {
        match self {
            MergeRefusal::Merged { target } => format!(
                "it is merged already (into {})",
                target.as_deref().unwrap_or("its target")
            ),
            MergeRefusal::NotSucceeded { status, .. } => {
                format!("it is {status}; only a run that succeeded can merge")
            }
            MergeRefusal::Queued => "it is in the merge queue already (merge: pending)".into(),
            MergeRefusal::NotEvaluated => {
                "the merge gate has not been evaluated yet (merge: none)".into()
            }
            MergeRefusal::NotGreen { merge, why } => format!(
                "the merge gate is not green ({}): {}",
                merge.as_str(),
                why.iter()
                    .map(|w| crate::advice::for_keys(w, Some(run)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            other => other.to_string(),
        }
    }
}

/// For each action on a run: None when it may be done now, else why not.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Allowed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Refusal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Refusal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<Refusal>,
    /// Retry from some phase (the cockpit then asks which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Refusal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeRefusal>,
}
