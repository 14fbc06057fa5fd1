//! A run's pull request as the cockpit says it: the PR column's cell, the proof view's PR line,
//! what the attention list says about it, and the status line after `P`. Pure text from the
//! record the server sent; the cockpit never asks the forge itself.

use crate::protocol::RunSnapshot;
use crate::run::{PrChecks, PrReview, PullRequest, Status};

/// The PR column's cell: `#123 ✓ approved`, `#124 ✗ checks`, or `-` for a run without one.
pub fn cell(r: &RunSnapshot) -> String {
    r.pr.as_ref().map_or_else(|| "-".into(), PullRequest::cell)
}

/// What the forge says that waits for a person, for the attention list: failing checks, or a
/// reviewer's change request. Only on a run that is done: while the agent answers the forge's
/// feedback (the run is running again) nobody needs to act, and a failed run says why itself.
/// A merged or closed PR asks nothing more.
pub fn waits(r: &RunSnapshot) -> Option<(PrWait, u64)> {
    let pr = r.pr.as_ref().filter(|p| !p.settled())?;
    if r.status != Status::Succeeded || r.cleaned {
        return None;
    }
    let wait = match (pr.checks, pr.review) {
        (PrChecks::Failing, _) => PrWait::ChecksFailing,
        (_, PrReview::ChangesRequested) => PrWait::ChangesRequested,
        _ => return None,
    };
    Some((wait, pr.number))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrWait {
    ChecksFailing,
    ChangesRequested,
}

/// The REASON words for what the forge waits for.
pub fn wait_reason(wait: PrWait, number: u64) -> String {
    match wait {
        PrWait::ChecksFailing => format!("checks failing on #{number}"),
        PrWait::ChangesRequested => format!("changes requested on #{number}"),
    }
}

/// The proof view's PR line before the URL: `PR  #12 open · checks passing · review approved`.
pub fn summary(pr: &PullRequest) -> String {
    let mut out = format!(
        "PR  #{} {} · {} · {}",
        pr.number,
        pr.state,
        checks(pr),
        review(pr)
    );
    if pr.mergeable == Some(false) {
        out.push_str(" · not mergeable");
    }
    if let Some(e) = &pr.error {
        out.push_str(&format!(" · {}", crate::text::printable(e)));
    }
    out
}

fn checks(pr: &PullRequest) -> String {
    match pr.checks {
        PrChecks::None => "no checks".into(),
        c => format!("checks {c}"),
    }
}

fn review(pr: &PullRequest) -> String {
    match pr.review {
        PrReview::None => "no review".into(),
        PrReview::ChangesRequested => "changes requested".into(),
        r => format!("review {r}"),
    }
}

/// A URL that may go into an OSC 8 hyperlink (and be shown as it is): http(s), printable
/// ASCII only, so nothing in it can end the escape sequence or start another.
pub fn linkable(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.bytes().all(|b| b.is_ascii_graphic())
}

/// The status line once the server answered `P`: the PR and where it is.
pub fn opened(r: &RunSnapshot) -> String {
    match &r.pr {
        Some(pr) => format!(
            "run {}: pull request #{} {} ({}, {}) {}",
            r.id,
            pr.number,
            pr.state,
            checks(pr),
            review(pr),
            crate::text::printable(&pr.url)
        ),
        None => format!(
            "run {} has no pull request after all; its timeline says why (Enter)",
            r.id
        ),
    }
}
