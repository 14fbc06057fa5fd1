//! The team's forge (GitHub, GitLab): push a run's branch, open or update its pull request with
//! the proof, read its state back, merge it. The server alone holds the token.

pub mod body;
pub mod deliver;
mod github;
mod gitlab;
pub mod http;
mod poll;
pub use poll::Polled;
pub mod push;
pub mod remote;

use std::collections::HashMap;

use crate::config::forge::{ForgeConfig, ForgeKind};
use crate::run::PullRequest;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Auth(String),
    #[error("the forge answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("the forge asks to wait {seconds}s before the next request (its rate limit)")]
    RateLimited { seconds: u64 },
    #[error("{0}")]
    Network(String),
    #[error("{0}")]
    Push(String),
}

/// What a pull request is opened or updated with.
pub struct OpenSpec<'a> {
    pub branch: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

/// What opening did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Created,
    Updated,
}

/// A pull request as the forge reports it, with what the run's record does not keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub pr: PullRequest,
    pub merge_commit: Option<String>,
    /// The newest change request's id (GitHub review id; GitLab discussion ids), for answering
    /// each once.
    pub review_id: Option<String>,
}

/// What the poller remembers of a PR between polls, to ask only for what may have changed.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub updated_at: String,
    pub head: String,
    pub checks: crate::run::PrChecks,
    pub review: crate::run::PrReview,
    pub polls_since_checks: u32,
    pub failing: Vec<crate::run::PrNote>,
    pub requested: Vec<crate::run::PrNote>,
    pub review_id: Option<String>,
}

/// One forge repository, as the server talks to it.
pub struct Forge {
    pub kind: ForgeKind,
    /// `owner/name`, or GitLab's project path.
    pub repo: String,
    http: http::Http,
    /// Per PR number, what the last poll saw.
    known: tokio::sync::Mutex<HashMap<u64, Known>>,
}

/// Per poll, at most this many detail requests (checks, reviews) beyond the one list: the rest
/// wait for the next poll, so many PRs never burst past the forge's limits.
pub const DETAIL_BUDGET: usize = 40;

impl Forge {
    pub fn new(cfg: &ForgeConfig, repo: String, token: String) -> Result<Self, ForgeError> {
        Ok(Forge {
            kind: cfg.kind,
            repo,
            http: http::Http::new(cfg.kind, cfg.api(), token)?,
            known: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn api(&self) -> &str {
        self.http.api()
    }

    /// Find the branch's open pull request and update it, or open one.
    pub async fn open(&self, spec: &OpenSpec<'_>) -> Result<(Seen, Opened), ForgeError> {
        match self.kind {
            ForgeKind::Github => github::open(&self.http, &self.repo, spec).await,
            ForgeKind::Gitlab => gitlab::open(&self.http, &self.repo, spec).await,
        }
    }

    /// The state of these pull requests now: one list of the repository's pull requests
    /// (conditional), and details only for those that may have changed. Those the forge
    /// would not tell about are left out (`poll_all` says why).
    pub async fn poll(&self, numbers: &[u64]) -> Result<Vec<Seen>, ForgeError> {
        Ok(self.poll_all(numbers).await?.seen)
    }

    /// As `poll`, with each pull request the forge answered an error about (one that 404s
    /// does not fail the others); Err only for what fails the whole poll.
    pub async fn poll_all(&self, numbers: &[u64]) -> Result<Polled, ForgeError> {
        let mut known = self.known.lock().await;
        match self.kind {
            ForgeKind::Github => {
                let api = github::Poll {
                    http: &self.http,
                    repo: &self.repo,
                };
                poll::poll(&api, numbers, &mut known).await
            }
            ForgeKind::Gitlab => {
                let api = gitlab::Poll {
                    http: &self.http,
                    repo: &self.repo,
                };
                poll::poll(&api, numbers, &mut known).await
            }
        }
    }

    /// Whether the forge would merge it now, and if not why (its own view).
    pub async fn mergeable(&self, number: u64) -> Result<Result<(), String>, ForgeError> {
        match self.kind {
            ForgeKind::Github => github::mergeable(&self.http, &self.repo, number).await,
            ForgeKind::Gitlab => gitlab::mergeable(&self.http, &self.repo, number).await,
        }
    }

    /// Merge it through the forge at `head` (refused if the branch moved); the merge commit.
    pub async fn merge(
        &self,
        number: u64,
        head: &str,
        title: &str,
        squash: bool,
    ) -> Result<Option<String>, ForgeError> {
        match self.kind {
            ForgeKind::Github => {
                github::merge(&self.http, &self.repo, number, head, title, squash).await
            }
            ForgeKind::Gitlab => gitlab::merge(&self.http, &self.repo, number, head, squash).await,
        }
    }
}

/// The token the server uses: the variable's value; for GitHub without one, what
/// `gh auth token` prints. Blocking (it may run `gh`).
pub fn token(cfg: &ForgeConfig) -> Result<String, ForgeError> {
    let var = cfg.token_var();
    if let Ok(t) = std::env::var(var) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    if cfg.kind == ForgeKind::Github && cfg.token_env.trim().is_empty() {
        let out = std::process::Command::new("gh")
            .args(["auth", "token"])
            .stdin(std::process::Stdio::null())
            .output();
        if let Ok(out) = out {
            let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !t.is_empty() {
                return Ok(t);
            }
        }
    }
    Err(ForgeError::Config(format!(
        "no forge token: the server's environment has no {var}{}; export it where you start flightdeck (then `flightdeck serve --replace`), or set [forge] token_env",
        if cfg.kind == ForgeKind::Github {
            " and `gh auth token` gave none"
        } else {
            ""
        }
    )))
}

/// Whether the run's newest failure or change request has been answered already.
pub fn feedback_key(seen: &Seen) -> Option<String> {
    use crate::run::{PrChecks, PrReview};
    if seen.pr.checks == PrChecks::Failing {
        return Some(format!("checks:{}", seen.pr.head));
    }
    if seen.pr.review == PrReview::ChangesRequested {
        return Some(format!(
            "review:{}",
            seen.review_id.as_deref().unwrap_or(&seen.pr.head)
        ));
    }
    None
}
