//! What the cockpit says about a run's merge gate: whether `m` can go ahead, and in what words.
//! Pure: from the run snapshot the server sent (the server decides; this only reads).

use crate::protocol::RunSnapshot;
use crate::run::MergeState;

/// Why `m` cannot merge this run now, or None when its gate is green.
pub fn refusal(r: &RunSnapshot) -> Option<String> {
    if r.cleaned {
        return Some("its worktree and branch were cleaned".into());
    }
    match r.merge {
        MergeState::Ready => None,
        MergeState::Merged => Some(format!(
            "it is merged already (into {})",
            r.target.as_deref().unwrap_or("its target")
        )),
        MergeState::None | MergeState::Pending => Some(format!(
            "the merge gate has not been evaluated yet (merge: {})",
            r.merge.as_str()
        )),
        MergeState::Blocked | MergeState::Conflict => Some(format!(
            "the merge gate is not green ({}): {}",
            r.merge.as_str(),
            reasons(r).join("; ")
        )),
    }
}

/// The gate's reasons, or what stands in the way when it recorded none.
pub fn reasons(r: &RunSnapshot) -> Vec<String> {
    let mut out: Vec<String> = r
        .gate_reasons
        .iter()
        .map(|g| super::wording::for_cockpit(g))
        .collect();
    if out.is_empty() {
        out.extend(
            r.conflicts
                .iter()
                .filter(|c| c.blocks())
                .map(|c| c.describe()),
        );
    }
    if out.is_empty() && r.merge != MergeState::Ready {
        out.push("no reason recorded; v shows the proof".into());
    }
    out
}

/// One line on the gate, for the merge question: green, with the score when there is one.
pub fn state_line(r: &RunSnapshot) -> String {
    let score = r
        .score
        .map(|s| format!(", score {s:.2}"))
        .unwrap_or_default();
    match refusal(r) {
        None => format!("Gate: green{score}."),
        Some(why) => format!("Gate: {why}."),
    }
}
