//! The runs table's columns: which fit, in what order, how wide.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::protocol::RunSnapshot;

use super::super::attempt;
use super::super::pr;
use super::text::{repo_name, width};
use super::theme;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Col {
    Id,
    Status,
    Phase,
    Task,
    Elapsed,
    Agent,
    Tokens,
    Cost,
    Score,
    Merge,
    /// The run's pull request: number and what it waits for (`#12 ✓ approved`).
    Pr,
    /// Why the run stopped or waits for a person.
    Reason,
    /// The browser check: ✓, or ✗ and how many problems.
    Browser,
    /// The repository's directory name, when the runs come from more than one.
    Repo,
    /// The host the run is on, when `[hosts]` names another.
    Host,
    Worktree,
}

impl Col {
    pub(super) fn title(self) -> &'static str {
        match self {
            Col::Id => "ID",
            Col::Status => "STATUS",
            Col::Phase => "PHASE",
            Col::Task => "TASK",
            Col::Elapsed => "ELAPSED",
            Col::Agent => "AGENT",
            Col::Tokens => "TOKENS",
            Col::Cost => "COST",
            Col::Score => "SCORE",
            Col::Merge => "MERGE",
            Col::Pr => "PR",
            Col::Reason => "REASON",
            Col::Browser => "WEB",
            Col::Repo => "REPO",
            Col::Host => "HOST",
            Col::Worktree => "WORKTREE",
        }
    }

    /// Fixed width (Task, Reason and Worktree share what is left; 0 for them).
    pub(super) fn width(self, sizes: &Sizes) -> u16 {
        match self {
            Col::Id => 8,
            Col::Status => sizes.status,
            Col::Phase => 7,
            Col::Task => 0,
            Col::Elapsed => 7,
            Col::Agent => sizes.agent,
            Col::Tokens => 6,
            Col::Cost => 6,
            Col::Score => 5,
            Col::Merge => 8,
            Col::Pr => sizes.pr,
            Col::Browser => 4,
            Col::Repo => sizes.repo,
            Col::Host => sizes.host,
            Col::Reason | Col::Worktree => 0,
        }
    }

    /// The least a flexible column gets.
    fn min_width(self, sizes: &Sizes) -> u16 {
        match self {
            Col::Worktree => MIN_WORKTREE,
            Col::Reason => MIN_REASON,
            Col::Task => MIN_TASK,
            other => other.width(sizes),
        }
    }
}

/// Widths that depend on the runs shown.
pub(super) struct Sizes {
    /// As wide as the longest agent name, within bounds.
    pub(super) agent: u16,
    /// As wide as the widest status (`‖ paused (budget) ⚠`), at least 13.
    pub(super) status: u16,
    /// As wide as the widest PR cell (`#1234 ✓ approved`), within bounds.
    pub(super) pr: u16,
    /// As wide as the widest repository label, within bounds.
    pub(super) repo: u16,
    /// Each repository's label: its directory name, with its parent's where two share one.
    pub(super) repos: BTreeMap<PathBuf, String>,
    /// As wide as the longest host name, within bounds (set by the table, which knows them).
    pub(super) host: u16,
}

impl Sizes {
    /// For the runs shown; repository labels are told apart across `all` runs.
    pub(super) fn of(runs: &[&RunSnapshot], all: &[RunSnapshot]) -> Self {
        let longest = runs.iter().map(|r| width(&r.agent)).max().unwrap_or(0);
        let status = runs
            .iter()
            .map(|r| width(&status_text(r)))
            .max()
            .unwrap_or(0);
        let pr = runs
            .iter()
            .filter(|r| r.pr.is_some())
            .map(|r| width(&pr::cell(r)))
            .max()
            .unwrap_or(0);
        let repos = repo_labels(all);
        let repo = runs
            .iter()
            .filter_map(|r| repos.get(&r.repo))
            .map(|l| width(l))
            .max()
            .unwrap_or(0);
        Sizes {
            agent: (longest as u16).clamp(Col::Agent.title().len() as u16, MAX_AGENT),
            status: (status as u16).clamp(13, MAX_STATUS),
            pr: (pr as u16).clamp(Col::Pr.title().len() as u16, MAX_PR),
            repo: (repo as u16).clamp(Col::Repo.title().len() as u16, MAX_REPO),
            repos,
            host: Col::Host.title().len() as u16,
        }
    }
}

/// Each repository's directory name; where two repositories share a name, with the name of
/// the directory above (`work/app`, `play/app`).
fn repo_labels(all: &[RunSnapshot]) -> BTreeMap<PathBuf, String> {
    let paths: BTreeSet<&Path> = all.iter().map(|r| r.repo.as_path()).collect();
    let name = |p: &Path| repo_name(p);
    paths
        .iter()
        .map(|p| {
            let shared = paths.iter().any(|q| q != p && name(q) == name(p));
            let label = match (shared, p.parent()) {
                (true, Some(up)) if up.file_name().is_some() => {
                    format!("{}/{}", repo_name(up), name(p))
                }
                _ => name(p),
            };
            (p.to_path_buf(), label)
        })
        .collect()
}

/// Columns in the order they are given up when space runs out (last first).
const PRIORITY: [Col; 15] = [
    Col::Id,
    Col::Status,
    Col::Phase,
    Col::Reason,
    Col::Repo,
    Col::Host,
    Col::Merge,
    Col::Pr,
    Col::Elapsed,
    Col::Agent,
    Col::Tokens,
    Col::Cost,
    Col::Score,
    Col::Browser,
    Col::Worktree,
];
const MIN_TASK: u16 = 16;
const MIN_REASON: u16 = 16;
const MIN_WORKTREE: u16 = 18;
const MAX_AGENT: u16 = 20;
const MAX_STATUS: u16 = 22;
const MAX_REPO: u16 = 16;
pub(super) const MAX_HOST: u16 = 12;
/// `#123456 ✓ approved`; a longer number is cut with `…`.
const MAX_PR: u16 = 18;

/// The STATUS cell: symbol, status, why flightdeck paused it, ⚠ for a warning, the attempt
/// past the first (`#2`).
pub(super) fn status_text(r: &RunSnapshot) -> String {
    format!(
        "{} {}{}{}",
        theme::symbol(r.status),
        r.status_label(),
        if r.warning.is_some() { " ⚠" } else { "" },
        attempt::label(r)
            .map(|l| format!(" {l}"))
            .unwrap_or_default()
    )
}

/// Which optional columns have anything to show.
#[derive(Clone, Copy, Default)]
pub(super) struct Shown {
    /// Some run has had a browser check.
    pub(super) browser: bool,
    /// Some run has a reason to show.
    pub(super) reason: bool,
    /// Some run shown has a pull request.
    pub(super) pr: bool,
    /// The runs come from more than one repository.
    pub(super) repo: bool,
    /// `[hosts]` names another host.
    pub(super) host: bool,
}

/// The columns that fit in `width`; WEB, REASON and PR only when some run has something for
/// them (without a forge, no run has a PR, and the column would be all `-`).
pub(super) fn columns(width: u16, shown: Shown, sizes: &Sizes) -> Vec<Col> {
    let mut chosen = vec![];
    let mut used = MIN_TASK + 1;
    for col in PRIORITY.into_iter().filter(|c| match c {
        Col::Browser => shown.browser,
        Col::Reason => shown.reason,
        Col::Pr => shown.pr,
        Col::Repo => shown.repo,
        Col::Host => shown.host,
        _ => true,
    }) {
        let w = col.min_width(sizes) + 1;
        if used + w <= width {
            used += w;
            chosen.push(col);
        } else {
            break;
        }
    }
    // Display order: the host, the repository and the task after the phase.
    let repo = chosen.contains(&Col::Repo);
    let host = chosen.contains(&Col::Host);
    chosen.retain(|c| *c != Col::Repo && *c != Col::Host);
    let pos = chosen
        .iter()
        .position(|c| *c == Col::Phase)
        .map_or(chosen.len(), |p| p + 1);
    chosen.insert(pos, Col::Task);
    if repo {
        chosen.insert(pos, Col::Repo);
    }
    if host {
        chosen.insert(pos, Col::Host);
    }
    chosen
}

/// Widths of the flexible columns: Task, Reason, Worktree.
#[derive(Clone, Copy)]
pub(super) struct Flex {
    pub(super) task: u16,
    pub(super) reason: u16,
    pub(super) worktree: u16,
}

pub(super) fn flex(cols: &[Col], flexible: u16) -> Flex {
    let worktree = if cols.contains(&Col::Worktree) {
        (flexible / 4).max(MIN_WORKTREE)
    } else {
        0
    };
    let rest = flexible.saturating_sub(worktree);
    let reason = if cols.contains(&Col::Reason) {
        (rest * 2 / 5).max(MIN_REASON)
    } else {
        0
    };
    Flex {
        task: rest.saturating_sub(reason),
        reason,
        worktree,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes() -> Sizes {
        Sizes {
            agent: 10,
            status: 13,
            pr: 15,
            repo: 8,
            repos: BTreeMap::new(),
            host: 5,
        }
    }

    #[test]
    fn the_repo_column_comes_with_several_repositories_before_the_task() {
        let sizes = sizes();
        assert!(!columns(158, Shown::default(), &sizes).contains(&Col::Repo));
        let repo = Shown {
            repo: true,
            ..Shown::default()
        };
        let wide = columns(158, repo, &sizes);
        let at = wide.iter().position(|c| *c == Col::Repo).unwrap();
        assert_eq!(wide[at + 1], Col::Task);
        assert_eq!(&wide[..at], &[Col::Id, Col::Status, Col::Phase]);
        // 80 columns keep it, with the reason, before merge and the rest.
        let both = Shown {
            repo: true,
            reason: true,
            ..Shown::default()
        };
        let c = columns(78, both, &sizes);
        assert!(c.contains(&Col::Repo) && c.contains(&Col::Reason), "{c:?}");
        // Narrower, it goes before ID, STATUS and TASK do.
        let c = columns(50, both, &sizes);
        assert!(!c.contains(&Col::Repo), "{c:?}");
        assert!(c.contains(&Col::Id) && c.contains(&Col::Status) && c.contains(&Col::Task));
    }

    #[test]
    fn repositories_sharing_a_name_are_told_apart() {
        let run = |repo: &str| {
            crate::run::RunRecord::queued(
                "x",
                "t",
                "a",
                repo.into(),
                "/wt".into(),
                crate::run::WorkspaceKind::Worktree,
            )
        };
        let labels = repo_labels(&[run("/w/app"), run("/p/app"), run("/w/site")]);
        let got: Vec<&str> = labels.values().map(String::as_str).collect();
        assert_eq!(got, vec!["p/app", "w/app", "site"]);
    }

    #[test]
    fn narrow_terminals_keep_the_essentials() {
        let sizes = sizes();
        let none = Shown::default();
        let browser = Shown {
            browser: true,
            ..Shown::default()
        };
        let c = columns(78, none, &sizes);
        assert!(c.contains(&Col::Id) && c.contains(&Col::Status) && c.contains(&Col::Task));
        assert!(!c.contains(&Col::Worktree));
        assert!(!columns(158, none, &sizes).contains(&Col::Browser));
        assert!(columns(158, browser, &sizes).contains(&Col::Browser));
        assert!(
            !columns(78, browser, &sizes).contains(&Col::Browser),
            "WEB goes before the essentials"
        );
        let wide = columns(158, none, &sizes);
        assert!(
            wide.contains(&Col::Worktree)
                && wide.contains(&Col::Cost)
                && wide.contains(&Col::Merge)
        );
        let with_reason = Shown {
            reason: true,
            ..Shown::default()
        };
        let c = columns(78, with_reason, &sizes);
        assert!(
            c.contains(&Col::Reason) && c.contains(&Col::Merge),
            "80 columns show why runs wait"
        );
        assert_eq!(
            &c[..5],
            &[Col::Id, Col::Status, Col::Phase, Col::Task, Col::Reason]
        );
    }

    #[test]
    fn the_pr_column_comes_after_merge_and_only_with_a_pull_request() {
        let sizes = sizes();
        let pr = Shown {
            pr: true,
            ..Shown::default()
        };
        assert!(!columns(158, Shown::default(), &sizes).contains(&Col::Pr));
        let wide = columns(158, pr, &sizes);
        let at = wide.iter().position(|c| *c == Col::Pr).unwrap();
        assert_eq!(wide[at - 1], Col::Merge);
        assert!(wide.contains(&Col::Worktree));
        // 120 columns (78 inside an 80-column terminal without reasons) keep it.
        assert!(columns(118, pr, &sizes).contains(&Col::Pr));
        assert!(columns(78, pr, &sizes).contains(&Col::Pr));
        // 80 columns with reasons: REASON and MERGE first; the reason names the PR.
        let both = Shown {
            reason: true,
            pr: true,
            ..Shown::default()
        };
        let c = columns(78, both, &sizes);
        assert!(c.contains(&Col::Reason) && c.contains(&Col::Merge) && !c.contains(&Col::Pr));
        assert!(columns(118, both, &sizes).contains(&Col::Pr));
    }
}
