//! Which runs need a person, in what order, and why: the table's sort and its REASON column.
//! Pure functions of the run snapshots.

use std::cmp::Ordering;

use crate::protocol::RunSnapshot;
use crate::run::{MergeState, Status};

use super::pr::PrWait;

/// Why a run waits for a person, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Failed,
    /// The run's pull request fails its checks on the forge.
    ChecksFailing,
    /// A reviewer asked for changes on the run's pull request.
    ChangesRequested,
    /// The merge gate said no.
    Blocked,
    Conflict,
    /// Green: waiting for `m`.
    Ready,
    /// Paused by flightdeck because the budget ran out.
    Budget,
    Interrupted,
}

/// What the run waits for a person for, if anything. A cleaned run has been dealt with.
pub fn need(r: &RunSnapshot) -> Option<Need> {
    if r.cleaned {
        return None;
    }
    if let Some((wait, _)) = super::pr::waits(r) {
        return Some(match wait {
            PrWait::ChecksFailing => Need::ChecksFailing,
            PrWait::ChangesRequested => Need::ChangesRequested,
        });
    }
    match (r.status, r.merge) {
        (Status::Failed, _) => Some(Need::Failed),
        (_, MergeState::Blocked) => Some(Need::Blocked),
        (_, MergeState::Conflict) => Some(Need::Conflict),
        (_, MergeState::Ready) => Some(Need::Ready),
        (Status::Paused, _) if r.pause_reason.is_some() => Some(Need::Budget),
        (Status::Interrupted, _) => Some(Need::Interrupted),
        _ => None,
    }
}

/// Queued runs' group in [`group`].
const QUEUED: u8 = 3;

/// The table's groups: runs that need a person, then running ones, ones paused by the user,
/// queued ones (the next to start on top), then everything else.
fn group(r: &RunSnapshot) -> (u8, Option<Need>) {
    match need(r) {
        Some(n) => (0, Some(n)),
        None => match r.status {
            Status::Running => (1, None),
            Status::Paused => (2, None),
            Status::Queued => (QUEUED, None),
            _ => (4, None),
        },
    }
}

/// Display order: see [`group`]; queued runs oldest first (the order they start in), the
/// others newest first.
pub fn order(a: &RunSnapshot, b: &RunSnapshot) -> Ordering {
    let (ga, gb) = (group(a), group(b));
    ga.cmp(&gb).then_with(|| {
        let newest_first = b
            .created_at
            .cmp(&a.created_at)
            .then_with(|| b.id.cmp(&a.id));
        if ga.0 == QUEUED {
            newest_first.reverse()
        } else {
            newest_first
        }
    })
}

/// The REASON cell: why the run stopped or waits, in the cockpit's words. What the forge
/// waits for comes first: it is what the person acts on (the gate's own reasons are in `v`).
pub fn reason(r: &RunSnapshot) -> Option<String> {
    if let Some((wait, number)) = super::pr::waits(r) {
        return Some(super::pr::wait_reason(wait, number));
    }
    let conflict = || r.conflicts.first().map(describe_conflict);
    let text = if r.merge == MergeState::Conflict && r.reason.is_none() {
        conflict()
    } else {
        None
    };
    let text = text
        .or_else(|| r.reason.clone())
        .or_else(|| {
            r.pause_reason
                .as_ref()
                .map(|p| match (&r.warning, p.as_str()) {
                    (Some(w), _) => format!("paused for {p}: {w}"),
                    (None, _) => format!("paused for {p}"),
                })
        })
        .or_else(|| r.gate_reasons.first().map(ToString::to_string))
        .or_else(conflict)?;
    Some(crate::advice::for_keys(&text, Some(&r.id)))
}

fn describe_conflict(c: &crate::run::ConflictFinding) -> String {
    let (other, is_run) = match c.with.strip_prefix("run:") {
        Some(id) => (id.to_string(), true),
        None => (
            c.with
                .strip_prefix("target:")
                .map(|t| format!("target {t}"))
                .unwrap_or_else(|| c.with.clone()),
            false,
        ),
    };
    if is_run && c.both_waiting {
        format!("conflicts with {other} (both ready: merging one blocks the other)")
    } else {
        format!("conflicts with {other} in {}", c.files.join(", "))
    }
}
