//! A run's state: what its state machine (`supervisor::machine`) decides, and nothing else
//! writes. It is embedded, flattened, in the run record that is persisted and sent, so
//! `run.json` and `show --json` keep their fields where they always were.

use serde::{Deserialize, Serialize};

use super::allowed::Allowed;
use super::gate_reason::GateReasons;
use super::record::{ConflictFinding, MergeState, Phase, QueueSlot, Status};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub phase: Phase,
    pub status: Status,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// When the run was paused, while it is (its clock stops there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<String>,
    /// Seconds this attempt spent paused, left out of its elapsed time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub paused_secs: u64,
    /// Seconds the earlier attempts worked (paused time left out), added to this one's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub earlier_attempts_secs: u64,
    pub merge: MergeState,
    /// Why the run stopped where it did (failure reason, `killed by request`, ...).
    pub reason: Option<String>,
    /// 1 for the first attempt, +1 for each retry or rebase.
    pub attempt: u32,
    /// Set once `clean` removed the worktree.
    pub cleaned: bool,
    /// The commit the smoke checks ran on: the gate and merge hold the branch to it.
    #[serde(default)]
    pub checked_commit: Option<String>,
    /// Why the merge gate is not green (empty when it is, or before it was evaluated):
    /// `gate_reasons` (sentences) and `gate` (typed) in JSON.
    #[serde(flatten)]
    pub gate_reasons: GateReasons,
    /// The conflict radar's findings: other runs or the target this run would conflict with.
    #[serde(default)]
    pub conflicts: Vec<ConflictFinding>,
    /// The merge commit (or fast-forwarded tip) once merged.
    #[serde(default)]
    pub merged_commit: Option<String>,
    /// Why a paused run was paused when flightdeck did it (`budget`).
    #[serde(default)]
    pub pause_reason: Option<String>,
    /// Something the run's reviewer should see at a glance (a budget nearly spent).
    #[serde(default)]
    pub warning: Option<String>,
    /// Where the run is in its target's merge queue, while `merge` is `pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueSlot>,
    /// The merge queue refused it because its checks fail once merged with the target (a
    /// rebase onto the new target is the way on).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fails_once_merged: bool,
    /// Its pull request on the forge, once one is open (with `[forge]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr: Option<super::PullRequest>,
    /// What may be done with the run now, and why not (the machine's guard and the gate).
    #[serde(default)]
    pub allowed: Allowed,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl RunState {
    /// Seconds the run has worked, across its attempts, paused time left out (ELAPSED):
    /// None before it started. `now` for a run still under way.
    pub fn active_secs(&self, now: &str) -> Option<u64> {
        let start = self.started_at.as_deref()?;
        let end = self
            .finished_at
            .as_deref()
            .or(self.paused_at.as_deref())
            .unwrap_or(now);
        let this = crate::time::elapsed_secs(start, Some(end))?.max(0) as u64;
        Some(self.earlier_attempts_secs + this.saturating_sub(self.paused_secs))
    }

    /// The seconds since `from`, by the machine's clock (0 for a time it cannot read).
    pub fn secs_between(from: &str, to: &str) -> u64 {
        crate::time::elapsed_secs(from, Some(to))
            .unwrap_or(0)
            .max(0) as u64
    }

    /// A run just accepted: queued in `prepare`, first attempt, nothing decided yet.
    pub fn queued() -> Self {
        RunState {
            phase: Phase::Prepare,
            status: Status::Queued,
            started_at: None,
            finished_at: None,
            paused_at: None,
            paused_secs: 0,
            earlier_attempts_secs: 0,
            merge: MergeState::None,
            reason: None,
            attempt: 1,
            cleaned: false,
            checked_commit: None,
            gate_reasons: GateReasons::default(),
            conflicts: Vec::new(),
            merged_commit: None,
            pause_reason: None,
            warning: None,
            queue: None,
            fails_once_merged: false,
            pr: None,
            allowed: Allowed::default(),
        }
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self::queued()
    }
}
