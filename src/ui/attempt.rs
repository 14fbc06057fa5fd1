//! Attempts: a retried run is labelled `#2`, and what an earlier attempt measured (its score,
//! its browser check, its proof pack) is not shown as the current attempt's.

use crate::protocol::RunSnapshot;
use crate::run::{Phase, Status};

/// `#2` for a run's second attempt; nothing for its first.
pub fn label(r: &RunSnapshot) -> Option<String> {
    (r.attempt > 1).then(|| format!("#{}", r.attempt))
}

/// The run's browser check (WEB) belongs to this attempt: the first, or one that has passed
/// its browser phase (a retry from a later phase keeps the commit that was checked).
pub fn web_current(r: &RunSnapshot) -> bool {
    r.attempt <= 1
        || r.phase > Phase::Browser
        || (r.phase == Phase::Browser && r.status.is_terminal())
}

/// The run's score belongs to this attempt: the first, or one past its proof phase.
pub fn score_current(r: &RunSnapshot) -> bool {
    r.attempt <= 1 || r.phase > Phase::Proof || r.status == Status::Succeeded
}

/// Said above a proof-pack text while a later attempt is under way: the files are an earlier
/// attempt's until this one writes them.
pub fn earlier_note(r: &RunSnapshot) -> Option<String> {
    if r.attempt <= 1 || r.status.is_terminal() {
        return None;
    }
    Some(format!(
        "attempt #{} is under way: this is what an earlier attempt left",
        r.attempt
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{RunRecord, RunState, WorkspaceKind};

    fn run(attempt: u32, status: Status, phase: Phase) -> RunSnapshot {
        RunRecord {
            score: Some(0.9),
            browser_problems: Some(2),
            state: RunState {
                attempt,
                status,
                phase,
                ..RunState::queued()
            },
            ..RunRecord::queued(
                "r",
                "t",
                "a",
                "/r".into(),
                "/w".into(),
                WorkspaceKind::Worktree,
            )
        }
    }

    #[test]
    fn a_retry_hides_the_earlier_attempts_figures_until_it_has_its_own() {
        let first = run(1, Status::Running, Phase::Agent);
        assert_eq!(label(&first), None);
        assert!(web_current(&first) && score_current(&first));
        assert_eq!(earlier_note(&first), None);

        let retry = run(2, Status::Running, Phase::Agent);
        assert_eq!(label(&retry).as_deref(), Some("#2"));
        assert!(!web_current(&retry) && !score_current(&retry));
        assert!(earlier_note(&retry).unwrap().contains("attempt #2"));

        // Past its browser check, the WEB mark is this attempt's; the score once proof ran.
        let proof = run(2, Status::Running, Phase::Proof);
        assert!(web_current(&proof) && !score_current(&proof));
        assert!(score_current(&run(3, Status::Succeeded, Phase::Done)));
        assert_eq!(earlier_note(&run(3, Status::Succeeded, Phase::Done)), None);
        // Failed in its browser check: that check was this attempt's.
        assert!(web_current(&run(2, Status::Failed, Phase::Browser)));
        assert!(!score_current(&run(2, Status::Failed, Phase::Smoke)));
    }
}
