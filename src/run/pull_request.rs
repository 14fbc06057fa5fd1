//! A run's pull request (GitHub) or merge request (GitLab), as the forge last reported it:
//! the record's `pr`.

use serde::{Deserialize, Serialize};

use crate::config::forge::ForgeKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    #[default]
    Open,
    Draft,
    Merged,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrChecks {
    Pending,
    Passing,
    Failing,
    #[default]
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrReview {
    Approved,
    ChangesRequested,
    Commented,
    #[default]
    None,
}

macro_rules! names {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
names!(PrState { Open => "open", Draft => "draft", Merged => "merged", Closed => "closed" });
names!(PrChecks { Pending => "pending", Passing => "passing", Failing => "failing", None => "none" });
names!(PrReview { Approved => "approved", ChangesRequested => "changes_requested", Commented => "commented", None => "none" });

/// A failing check on the forge, or a reviewer's comment: what the agent is shown.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PrNote {
    /// The check's name, or the reviewer.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PullRequest {
    pub forge: ForgeKind,
    /// The forge repository (`owner/name`, or GitLab's project path).
    #[serde(default)]
    pub repo: String,
    pub number: u64,
    pub url: String,
    pub state: PrState,
    pub checks: PrChecks,
    pub review: PrReview,
    /// The commit the forge has as the PR's head.
    pub head: String,
    /// The forge would merge it now (its own view: conflicts, branch protection).
    #[serde(default)]
    pub mergeable: Option<bool>,
    /// The failing checks (name and summary), while `checks` is failing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<PrNote>,
    /// The latest change request's comments, while `review` is changes_requested.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requested: Vec<PrNote>,
    /// The commit flightdeck last pushed to the PR's branch: the lease of the next push (the
    /// forge's `head` may lag behind a push, or move by someone else's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<String>,
    /// Feedback rounds sent to the agent from this PR (checks, reviews, `reply`).
    #[serde(default)]
    pub feedback_rounds: u32,
    /// What the last round answered (`checks:<head>` or `review:<id>`), so one is sent once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<String>,
    /// Why the last poll could not read it (the forge's answer), until one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PullRequest {
    /// Landed or given up on the forge: nothing more will change.
    pub fn settled(&self) -> bool {
        matches!(self.state, PrState::Merged | PrState::Closed)
    }

    /// `#123 ✓ approved`, `#124 ✗ checks`, `#125 draft`: the cockpit's PR cell.
    pub fn cell(&self) -> String {
        let what = match (self.state, self.checks, self.review) {
            (PrState::Merged, _, _) => "merged",
            (PrState::Closed, _, _) => "closed",
            (_, PrChecks::Failing, _) => "✗ checks",
            (_, _, PrReview::ChangesRequested) => "✗ changes",
            (PrState::Draft, _, _) => "draft",
            (_, PrChecks::Pending, _) => "… checks",
            (_, _, PrReview::Approved) => "✓ approved",
            (_, PrChecks::Passing, _) => "✓ checks",
            _ => "open",
        };
        format!("#{} {what}", self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_records() {
        let pr = PullRequest {
            number: 12,
            review: PrReview::ChangesRequested,
            ..Default::default()
        };
        let json = serde_json::to_value(&pr).unwrap_or_default();
        assert_eq!(json["review"], "changes_requested");
        assert_eq!(json["checks"], "none");
        assert_eq!(json["state"], "open");
        assert_eq!(json["forge"], "github");
        assert_eq!(pr.cell(), "#12 ✗ changes");
    }
}
