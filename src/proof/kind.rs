//! The kinds of timeline line (`type` in `timeline.jsonl`): one enum, so a line's kind is
//! spelled once and every writer and reader agrees. Serialised as today's strings.

use std::fmt;
use std::str::FromStr;

macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum TimelineKind {
            $($(#[$doc])* $variant,)*
        }

        impl TimelineKind {
            pub const ALL: &'static [TimelineKind] = &[$(TimelineKind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(TimelineKind::$variant => $name,)*
                }
            }
        }
    };
}

kinds! {
    AgentError = "agent.error",
    AgentExited = "agent.exited",
    AgentItem = "agent.item",
    AgentMessage = "agent.message",
    AgentOutput = "agent.output",
    /// Where output was cut (the run printed more than the timeline keeps).
    AgentOutputTruncated = "agent.output.truncated",
    AgentReasoning = "agent.reasoning",
    AgentResult = "agent.result",
    AgentRetry = "agent.retry",
    AgentSession = "agent.session",
    AgentSpawnFailed = "agent.spawn_failed",
    AgentStarted = "agent.started",
    AgentTimeout = "agent.timeout",

    BrowserFinished = "browser.finished",
    BrowserIteration = "browser.iteration",
    BrowserPage = "browser.page",
    BrowserStarted = "browser.started",
    BrowserWarning = "browser.warning",

    BudgetWarning = "budget.warning",

    CheckFinished = "check.finished",
    CheckStarted = "check.started",

    FileChanged = "file.changed",

    GateEvaluated = "gate.evaluated",

    GatewayHeld = "gateway.held",
    GatewayRefused = "gateway.refused",
    GatewayReleased = "gateway.released",

    LlmCall = "llm.call",
    LlmPriceUnknown = "llm.price_unknown",

    MergeInterrupted = "merge.interrupted",
    MergeLanded = "merge.landed",
    MergeQueued = "merge.queued",
    MergeRefused = "merge.refused",
    PrChecks = "pr.checks",
    PrClosed = "pr.closed",
    PrError = "pr.error",
    /// A feedback round from the pull request (failing checks, a change request, `reply`).
    PrFeedback = "pr.feedback",
    PrMerged = "pr.merged",
    PrOpened = "pr.opened",
    PrPushed = "pr.pushed",
    PrReview = "pr.review",
    PrUpdated = "pr.updated",
    MergeRetest = "merge.retest",
    MergeTested = "merge.tested",
    MergeTesting = "merge.testing",

    PhaseFailed = "phase.failed",
    PhaseFinished = "phase.finished",
    PhaseHeld = "phase.held",
    PhaseStarted = "phase.started",

    ProofPatch = "proof.patch",
    ProofScore = "proof.score",

    RadarClear = "radar.clear",
    RadarConflict = "radar.conflict",

    RunAdopted = "run.adopted",
    RunCreated = "run.created",
    RunFinished = "run.finished",
    RunInterrupted = "run.interrupted",
    RunKillRequested = "run.kill_requested",
    RunPaused = "run.paused",
    RunResumed = "run.resumed",
    RunRetried = "run.retried",

    SetupCopied = "setup.copied",
    SetupCopySkipped = "setup.copy_skipped",
    SetupFinished = "setup.finished",
    SetupOutput = "setup.output",
    SetupStarted = "setup.started",

    /// Required checks failed: the agent goes again with their output.
    SmokeIteration = "smoke.iteration",

    ToolCall = "tool.call",
    ToolError = "tool.error",
    ToolResult = "tool.result",

    WorkspaceCheckpoint = "workspace.checkpoint",
    WorkspaceCleanRefused = "workspace.clean_refused",
    WorkspaceCleaned = "workspace.cleaned",
    /// The agent's changes committed on the run's branch (once `checkpoint`, not a dotted name).
    WorkspaceCommitted = "workspace.committed",
    WorkspaceCreated = "workspace.created",
    /// A stale `index.lock` in the worktree (a git that died mid-write) removed before a commit.
    WorkspaceLockCleared = "workspace.lock_cleared",
    WorkspaceIncomplete = "workspace.incomplete",
    WorkspaceRebaseConflict = "workspace.rebase_conflict",
    WorkspaceRebaseFailed = "workspace.rebase_failed",
    WorkspaceRebased = "workspace.rebased",
    WorkspaceRemoved = "workspace.removed",
    WorkspaceReset = "workspace.reset",
    WorkspaceSaved = "workspace.saved",
    WorkspaceScanFailed = "workspace.scan_failed",
    WorkspaceUncommittedNotCarried = "workspace.uncommitted_not_carried",
}

impl fmt::Display for TimelineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TimelineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TimelineKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown timeline line type `{s}`"))
    }
}

impl serde::Serialize for TimelineKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TimelineKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The kind of a timeline line read back, if it is one flightdeck writes.
pub fn of(line: &serde_json::Value) -> Option<TimelineKind> {
    line.get("type")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for k in TimelineKind::ALL {
            assert_eq!(k.as_str().parse::<TimelineKind>(), Ok(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            let (group, rest) = k.as_str().split_once('.').unwrap();
            assert!(!group.is_empty() && !rest.is_empty(), "{k}");
        }
        assert_eq!(TimelineKind::RunFinished.as_str(), "run.finished");
        assert!("run.nope".parse::<TimelineKind>().is_err());
    }
}
