//! The run record: `runs/<id>/run.json`, `ls --json` items and `show --json`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::state::RunState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Running,
    Paused,
    Succeeded,
    Failed,
    Killed,
    Interrupted,
}

impl Status {
    /// A finished run: nothing runs for it until it is retried.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Failed | Status::Killed | Status::Interrupted
        )
    }

    /// A run holding one of the `max_parallel` slots.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Killed => "killed",
            Status::Interrupted => "interrupted",
        }
    }
}

impl Status {
    /// How a finished run ended, as a sentence's verb: `failed`, `was killed`.
    pub fn ended(self) -> String {
        match self {
            Status::Killed | Status::Interrupted => format!("was {}", self.as_str()),
            other => other.as_str().to_string(),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Prepare,
    Agent,
    Smoke,
    Browser,
    Proof,
    Deliver,
    Done,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Prepare,
        Phase::Agent,
        Phase::Smoke,
        Phase::Browser,
        Phase::Proof,
        Phase::Deliver,
        Phase::Done,
    ];

    /// The phases a run goes through, in order (`browser` passes at once without `[browser]`).
    pub const PIPELINE: [Phase; 7] = [
        Phase::Prepare,
        Phase::Agent,
        Phase::Smoke,
        Phase::Browser,
        Phase::Proof,
        Phase::Deliver,
        Phase::Done,
    ];

    /// The phase after this one in the pipeline (`done` stays `done`).
    pub fn next(self) -> Phase {
        let pos = Self::PIPELINE.iter().position(|p| *p == self);
        match pos {
            Some(i) if i + 1 < Self::PIPELINE.len() => Self::PIPELINE[i + 1],
            _ => Phase::Done,
        }
    }

    /// Phases that `retry --phase` accepts.
    pub fn is_retryable(self) -> bool {
        Self::PIPELINE.contains(&self) && self != Phase::Done
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Agent => "agent",
            Phase::Smoke => "smoke",
            Phase::Browser => "browser",
            Phase::Proof => "proof",
            Phase::Deliver => "deliver",
            Phase::Done => "done",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Phase::PIPELINE[..Phase::PIPELINE.len() - 1]
                    .iter()
                    .map(|p| p.as_str())
                    .collect();
                format!("unknown phase `{s}`; use one of {}", names.join(", "))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeState {
    #[default]
    None,
    Pending,
    Blocked,
    Ready,
    Merged,
    Conflict,
}

impl MergeState {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeState::None => "none",
            MergeState::Pending => "pending",
            MergeState::Blocked => "blocked",
            MergeState::Ready => "ready",
            MergeState::Merged => "merged",
            MergeState::Conflict => "conflict",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }
}

/// How the run's working directory was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceKind {
    /// A git worktree of the user's repository on the run's own branch.
    Worktree,
    /// A copy of a directory that is not a git repository, with a private repository of its own
    /// holding the original state as the base commit.
    Copy,
}

/// The run record. Field names are part of the contract (DESIGN.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub task: String,
    pub agent: String,
    /// The repository (or plain directory) the run works on.
    pub repo: PathBuf,
    /// The base commit id; empty until the workspace exists.
    pub base: String,
    pub branch: String,
    pub worktree: PathBuf,
    pub created_at: String,
    pub exit_code: Option<i32>,
    pub tokens: Tokens,
    pub cost_usd: Option<f64>,
    pub score: Option<f64>,

    // Beyond the contract's minimum.
    /// `worktree` or `copy`.
    pub workspace: WorkspaceKind,
    /// What `--base` named (or `HEAD`), and the branch the base commit came from, if any.
    pub base_ref: String,
    pub base_branch: Option<String>,
    /// The commit each phase started from, for `retry --phase`.
    pub checkpoints: BTreeMap<Phase, String>,
    /// A config file given with `--config` / `FLIGHTDECK_CONFIG`, reloaded on retry.
    pub config_file: Option<PathBuf>,
    /// Files and folders setup put in the worktree (copied or made by setup commands), and
    /// those the agent keeps there for itself (aider's repo-map cache): kept out of the run's
    /// commits.
    #[serde(default)]
    pub setup_excludes: Vec<String>,
    /// The branch the run merges into (`gate.target`, or the base's branch).
    #[serde(default)]
    pub target: Option<String>,
    /// The agent's own session id (Claude Code session, Codex thread), for resuming.
    #[serde(default)]
    pub agent_session: Option<String>,
    /// The cost the agent itself reported, beside flightdeck's own figure (`cost_usd`).
    #[serde(default)]
    pub agent_reported_cost_usd: Option<f64>,
    /// Problems the last browser check found (None: no browser check ran).
    #[serde(default)]
    pub browser_problems: Option<usize>,
    /// What the run's state machine decided: status, phase, merge, reasons, times.
    #[serde(flatten)]
    pub state: RunState,
}

/// Reading a run's state through its record (`record.status`); writing it is the machine's
/// alone (`supervisor::machine::advance`), which is why there is no `DerefMut`.
impl std::ops::Deref for RunRecord {
    type Target = RunState;

    fn deref(&self) -> &RunState {
        &self.state
    }
}

/// A queued run's place: 1 is next to land; `testing`: the commit its checks run on now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSlot {
    pub position: usize,
    #[serde(default)]
    pub testing: Option<String>,
}

/// How the description of a blocking finding begins.
const PREDICTED: &str = "predicted conflict";

/// A predicted conflict: with the target branch or another run, on these files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictFinding {
    /// `target:<branch>` or `run:<id>`.
    pub with: String,
    pub files: Vec<String>,
    /// Both runs are finished and waiting to merge: merging either makes the other conflict.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub both_waiting: bool,
}

impl ConflictFinding {
    /// Whether it stands in the way of merging: a conflict with the target or with a run still
    /// at work does; one between two runs both waiting to merge only says which to merge first.
    pub fn blocks(&self) -> bool {
        !self.both_waiting
    }

    /// The other run's id, when it is a run.
    pub fn run_id(&self) -> Option<&str> {
        self.with.strip_prefix("run:")
    }

    /// `target:main` → `main`, `run:ab12` → `run ab12`.
    pub fn other(&self) -> String {
        match self.with.split_once(':') {
            Some(("target", b)) => b.to_string(),
            Some(("run", id)) => format!("run {id}"),
            _ => self.with.clone(),
        }
    }

    /// Whether a sentence is one `describe` wrote for a blocking finding (said here, beside the
    /// words it looks for). Only records from before reasons were typed need it.
    pub fn is_description(reason: &str) -> bool {
        reason.starts_with(PREDICTED)
    }

    /// One line for people: what it conflicts with, where, and what that means.
    pub fn describe(&self) -> String {
        if self.both_waiting {
            format!(
                "conflicts with {} in {} (both ready: merging one blocks the other)",
                self.other(),
                self.files.join(", ")
            )
        } else {
            format!(
                "{PREDICTED} with {} in {}",
                self.with,
                self.files.join(", ")
            )
        }
    }
}

impl RunRecord {
    /// The status in words, with why flightdeck paused it: `paused (budget)`.
    pub fn status_label(&self) -> String {
        match (&self.pause_reason, self.status) {
            (Some(why), Status::Paused) => format!("paused ({why})"),
            _ => self.status.as_str().to_string(),
        }
    }

    /// What merging this run does to the runs waiting beside it: (their id, one sentence).
    /// Cleaned, and finished more than a day ago: `ls` and the cockpit leave it out unless
    /// asked for all runs.
    pub fn is_stale_cleaned(&self) -> bool {
        self.cleaned
            && self
                .finished_at
                .as_deref()
                .and_then(|f| crate::time::elapsed_secs(f, None))
                .is_some_and(|s| s > 24 * 3600)
    }

    pub fn merge_effects(&self) -> Vec<(String, String)> {
        let target = self.target.as_deref().unwrap_or("the target");
        self.conflicts
            .iter()
            .filter(|c| c.both_waiting)
            .filter_map(|c| {
                let id = c.run_id()?;
                Some((
                    id.to_string(),
                    format!(
                        "run {id} edits the same lines in {}: once this run is merged it conflicts with {target}; `flightdeck rebase {id}` then replays it onto the new {target}",
                        c.files.join(", ")
                    ),
                ))
            })
            .collect()
    }

    /// A run just accepted: queued in `prepare`, branch `flightdeck/<id>`, nothing measured yet.
    pub fn queued(
        id: &str,
        task: &str,
        agent: &str,
        repo: PathBuf,
        worktree: PathBuf,
        workspace: WorkspaceKind,
    ) -> Self {
        RunRecord {
            id: id.to_string(),
            task: task.to_string(),
            agent: agent.to_string(),
            repo,
            base: String::new(),
            branch: format!("flightdeck/{id}"),
            worktree,
            created_at: crate::time::now_rfc3339(),
            exit_code: None,
            tokens: Tokens::default(),
            cost_usd: None,
            score: None,
            workspace,
            base_ref: String::new(),
            base_branch: None,
            checkpoints: BTreeMap::new(),
            config_file: None,
            setup_excludes: Vec::new(),
            target: None,
            agent_session: None,
            browser_problems: None,
            agent_reported_cost_usd: None,
            state: RunState::queued(),
        }
    }

    pub fn tokens_total(&self) -> u64 {
        self.tokens.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_order() {
        assert_eq!(Phase::Prepare.next(), Phase::Agent);
        assert_eq!(Phase::Agent.next(), Phase::Smoke);
        assert_eq!(Phase::Smoke.next(), Phase::Browser);
        assert_eq!(Phase::Browser.next(), Phase::Proof);
        assert_eq!(Phase::Proof.next(), Phase::Deliver);
        assert_eq!(Phase::Deliver.next(), Phase::Done);
        assert_eq!(Phase::Done.next(), Phase::Done);
    }

    #[test]
    fn phase_names_round_trip() {
        for p in Phase::ALL {
            assert_eq!(p.as_str().parse::<Phase>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        let err = "build".parse::<Phase>().unwrap_err();
        assert!(
            err.contains("prepare, agent, smoke, browser, proof, deliver"),
            "{err}"
        );
    }

    #[test]
    fn status_names_match_contract() {
        let all = [
            (Status::Queued, "queued"),
            (Status::Running, "running"),
            (Status::Paused, "paused"),
            (Status::Succeeded, "succeeded"),
            (Status::Failed, "failed"),
            (Status::Killed, "killed"),
            (Status::Interrupted, "interrupted"),
        ];
        for (s, name) in all {
            assert_eq!(serde_json::to_value(s).unwrap(), name);
        }
        assert_eq!(Status::Killed.ended(), "was killed");
        assert_eq!(Status::Failed.ended(), "failed");
    }
}
