//! The fake forge's state: its pull requests, the checks CI reported, the attached remotes,
//! the rate-limit budget and scripted failures; what GitHub and GitLab share.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use serde_json::Value;

use super::{git, FakeCheck};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Github,
    Gitlab,
}

#[derive(Debug, Clone)]
pub(super) struct Comment {
    pub(super) id: u64,
    pub(super) path: String,
    pub(super) line: u64,
    pub(super) body: String,
}

#[derive(Debug, Clone)]
pub(super) struct Review {
    pub(super) id: u64,
    pub(super) user: String,
    pub(super) state: String,
    pub(super) body: String,
    pub(super) at: i64,
    pub(super) commit_id: String,
    pub(super) comments: Vec<Comment>,
}

#[derive(Debug, Clone)]
pub(super) struct Pr {
    pub(super) id: u64,
    pub(super) repo: String,
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: String,
    pub(super) head: String,
    pub(super) base: String,
    pub(super) head_sha: String,
    pub(super) open: bool,
    pub(super) merged: bool,
    pub(super) draft: bool,
    pub(super) labels: Vec<String>,
    pub(super) mergeable: bool,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) closed_at: Option<i64>,
    pub(super) merged_at: Option<i64>,
    pub(super) merge_sha: Option<String>,
    pub(super) squash: bool,
    pub(super) reviews: Vec<Review>,
    /// Users whose latest decisive review approved (GitLab approvals).
    pub(super) approved_by: Vec<String>,
    /// Users whose latest decisive review requested changes.
    pub(super) changes_requested: Vec<String>,
}

/// A commit's checks; `pipeline` is its GitLab pipeline id, `at` when CI last reported.
pub(super) struct Checks {
    pub(super) pipeline: u64,
    pub(super) runs: Vec<(u64, FakeCheck)>,
    pub(super) at: i64,
}

pub(super) struct State {
    pub(super) kind: Kind,
    pub(super) token: String,
    /// `http://127.0.0.1:PORT`
    pub(super) root: String,
    pub(super) prs: Vec<Pr>,
    pub(super) remotes: HashMap<String, PathBuf>,
    pub(super) checks: HashMap<String, Checks>,
    pub(super) next_id: u64,
    pub(super) next_number: u64,
    /// The last timestamp handed out (epoch seconds): every change gets a later one.
    pub(super) clock: i64,
    pub(super) remaining: u64,
    pub(super) reset: i64,
    pub(super) rate_limited: usize,
    pub(super) retry_after: u64,
    pub(super) failures: VecDeque<(u16, String)>,
    /// Branch protection: a merge needs an approving review (GitHub: `mergeable_state`
    /// "blocked" until then, and the merge API's 405).
    pub(super) require_approval: bool,
    /// Branch protection refuses every merge through the API with this message (405).
    pub(super) protected: Option<String>,
}

pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";
pub(super) const GITHUB_LIMIT: u64 = 5000;
pub(super) const GITLAB_LIMIT: u64 = 2000;
/// The login of whoever the token belongs to.
pub const BOT: &str = "flightdeck-bot";

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// RFC 3339 in UTC, whole seconds: `2025-01-02T03:04:05Z`.
pub(super) fn stamp(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub(super) fn stamp_opt(secs: Option<i64>) -> Value {
    secs.map(|s| Value::String(stamp(s))).unwrap_or(Value::Null)
}

pub(super) fn hash_of(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// A stable id for a user name (for `user.id` fields).
pub(super) fn user_id(name: &str) -> u64 {
    hash_of(name) % 1_000_000 + 1
}

impl State {
    pub(super) fn new(kind: Kind, token: &str, root: String) -> Self {
        State {
            kind,
            token: token.into(),
            root,
            prs: Vec::new(),
            remotes: HashMap::new(),
            checks: HashMap::new(),
            next_id: 1000,
            next_number: 1,
            clock: now(),
            remaining: match kind {
                Kind::Github => GITHUB_LIMIT,
                Kind::Gitlab => GITLAB_LIMIT,
            },
            reset: now() + 3600,
            rate_limited: 0,
            retry_after: 0,
            failures: VecDeque::new(),
            require_approval: false,
            protected: None,
        }
    }

    pub(super) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A timestamp later than every one before it.
    pub(super) fn tick(&mut self) -> i64 {
        self.clock = now().max(self.clock + 1);
        self.clock
    }

    pub(super) fn pr_index(&self, repo: &str, number: u64) -> Option<usize> {
        self.prs
            .iter()
            .position(|p| p.repo == repo && p.number == number)
    }

    pub(super) fn by_number(&mut self, number: u64) -> &mut Pr {
        self.prs
            .iter_mut()
            .find(|p| p.number == number)
            .unwrap_or_else(|| panic!("the fake forge has no pull request {number}"))
    }

    pub(super) fn touch(&mut self, number: u64) {
        let t = self.tick();
        self.by_number(number).updated_at = t;
    }

    /// The sha of `branch` in the remote attached to `repo`: Some(None) when the remote has
    /// no such branch, None when no remote is attached.
    pub(super) fn branch_sha(&self, repo: &str, branch: &str) -> Option<Option<String>> {
        self.remotes
            .get(repo)
            .map(|dir| git::rev_parse(dir, &format!("refs/heads/{branch}")))
    }

    /// Open pull requests follow their head branch in the attached remote.
    pub(super) fn refresh_heads(&mut self) {
        for i in 0..self.prs.len() {
            let (repo, head, open) = {
                let p = &self.prs[i];
                (p.repo.clone(), p.head.clone(), p.open)
            };
            if !open {
                continue;
            }
            if let Some(Some(sha)) = self.branch_sha(&repo, &head) {
                if sha != self.prs[i].head_sha {
                    let t = self.tick();
                    self.prs[i].head_sha = sha;
                    self.prs[i].updated_at = t;
                }
            }
        }
    }

    /// A new open pull request; its head sha from the remote (zeros without one).
    pub(super) fn open_pr(
        &mut self,
        repo: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> usize {
        let t = self.tick();
        let head_sha = self
            .branch_sha(repo, head)
            .flatten()
            .unwrap_or_else(|| ZERO_SHA.to_string());
        let pr = Pr {
            id: self.id(),
            repo: repo.into(),
            number: self.next_number,
            title: title.into(),
            body: body.into(),
            head: head.into(),
            base: base.into(),
            head_sha,
            open: true,
            merged: false,
            draft: false,
            labels: Vec::new(),
            mergeable: true,
            created_at: t,
            updated_at: t,
            closed_at: None,
            merged_at: None,
            merge_sha: None,
            squash: false,
            reviews: Vec::new(),
            approved_by: Vec::new(),
            changes_requested: Vec::new(),
        };
        self.next_number += 1;
        self.prs.push(pr);
        self.prs.len() - 1
    }

    /// Merge pull request `i`: into the base branch of the attached remote when there is one
    /// (method "merge": a merge commit; "squash" or "rebase": one commit on the base), else
    /// a made-up sha (also when not `in_git`). Err when the merge conflicts.
    pub(super) fn merge_pr(
        &mut self,
        i: usize,
        method: &str,
        title: Option<&str>,
        in_git: bool,
    ) -> Result<String, String> {
        let p = &self.prs[i];
        let message = match (title, method) {
            (Some(t), _) => t.to_string(),
            (None, "merge") => format!("Merge pull request #{} from {}", p.number, p.head),
            (None, _) => format!("{} (#{})", p.title, p.number),
        };
        let sha = match self.remotes.get(&p.repo).filter(|_| in_git) {
            Some(dir) => git::merge(dir, &p.base, &p.head_sha, method == "merge", &message)?,
            None => format!("{:016x}{:024x}", hash_of(&message), p.number),
        };
        let t = self.tick();
        let p = &mut self.prs[i];
        p.open = false;
        p.merged = true;
        p.merged_at = Some(t);
        p.closed_at = Some(t);
        p.updated_at = t;
        p.merge_sha = Some(sha.clone());
        p.squash = method != "merge";
        Ok(sha)
    }

    /// A GitLab pipeline status for a commit's checks (None: no pipeline).
    pub(super) fn pipeline_status(&self, sha: &str) -> Option<(u64, &'static str)> {
        let c = self.checks.get(sha)?;
        let status = if c.runs.iter().any(|(_, r)| r.status != "completed") {
            "running"
        } else if c.runs.iter().any(|(_, r)| r.failed()) {
            "failed"
        } else {
            "success"
        };
        Some((c.pipeline, status))
    }

    pub(super) fn rate_headers(&self, status: u16) -> Vec<(String, String)> {
        let limited = status == 429;
        let remaining = if limited { 0 } else { self.remaining };
        let reset = if limited {
            now() + self.retry_after as i64
        } else {
            self.reset
        };
        let mut h = match self.kind {
            Kind::Github => vec![
                ("x-ratelimit-limit", GITHUB_LIMIT.to_string()),
                ("x-ratelimit-remaining", remaining.to_string()),
                ("x-ratelimit-reset", reset.to_string()),
                ("x-ratelimit-used", (GITHUB_LIMIT - remaining).to_string()),
                ("x-ratelimit-resource", "core".to_string()),
            ],
            Kind::Gitlab => vec![
                ("RateLimit-Limit", GITLAB_LIMIT.to_string()),
                ("RateLimit-Remaining", remaining.to_string()),
                ("RateLimit-Reset", reset.to_string()),
                ("RateLimit-Observed", (GITLAB_LIMIT - remaining).to_string()),
            ],
        };
        if limited {
            h.push(("Retry-After", self.retry_after.to_string()));
        }
        h.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}
