//! What the cockpit says about a run's merge gate: whether `m` can go ahead, and in what words.
//! The server decides (`allowed.merge`, the gate's own answer); this only says it.

use crate::protocol::RunSnapshot;

/// Why `m` cannot merge this run now, or None when it can.
pub fn refusal(r: &RunSnapshot) -> Option<String> {
    r.allowed.merge.as_ref().map(|m| m.keys(&r.id))
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
