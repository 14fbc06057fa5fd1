//! A fake forge on loopback: GitHub's REST API (pull requests, labels, check runs, reviews,
//! merges) or GitLab's REST v4 (merge requests, approvals, discussions, pipelines), with
//! ETags, rate-limit headers and scripted failures, keeping every request it received. The
//! GitHub side also answers the GraphQL query `gh pr view --json` sends (see `graphql`), and
//! takes requests sent to it as an HTTP proxy (absolute-form targets), so `gh` can be pointed
//! at it. The
//! test drives the other side through controls (a person reviews, merges, closes; CI reports
//! checks). A pull request's head sha comes from a bare repository attached to its project
//! (see `git_remote`), so a push moves it as on the real forge.
#![allow(dead_code)]

mod git;
mod github;
mod gitlab;
mod graphql;
mod http;
mod state;

#[allow(unused_imports)]
pub use git::{git_remote, git_remote_named, GitRemote};
pub use http::{send, Resp};
pub use state::{BOT, ZERO_SHA};

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{message, paginate, pct_decode, reply, split_query};
use state::{hash_of, stamp, stamp_opt, user_id, Checks, Comment, Kind, Pr, Review, State};

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// The raw path with its query, as sent (`%2F` kept); for an absolute-form target
    /// (`http://host/path`, as a client sends to a proxy) the path part.
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status the fake answered.
    pub status: u16,
    /// When the fake had read it.
    pub at: Instant,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A pull request (GitHub) or merge request (GitLab) as the test sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakePr {
    /// `owner/repo` (GitHub) or `group/name` (GitLab, decoded).
    pub repo: String,
    /// The PR number or MR iid (numbered across the whole fake, from 1).
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub head_sha: String,
    /// "open" or "closed" (a merged one is closed).
    pub state: String,
    pub merged: bool,
    pub draft: bool,
    pub labels: Vec<String>,
    pub mergeable: bool,
    /// The commit the merge made (in the attached remote when there is one).
    pub merge_sha: Option<String>,
}

/// A CI check on a commit: a GitHub check run, or a GitLab pipeline job.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeCheck {
    pub name: String,
    /// "queued", "in_progress" or "completed".
    pub status: String,
    /// When completed: "success", "failure", "neutral", "cancelled", "skipped", "timed_out"…
    pub conclusion: Option<String>,
    pub summary: String,
}

impl FakeCheck {
    pub fn completed(name: &str, conclusion: &str, summary: &str) -> Self {
        FakeCheck {
            name: name.into(),
            status: "completed".into(),
            conclusion: Some(conclusion.into()),
            summary: summary.into(),
        }
    }

    pub fn in_progress(name: &str) -> Self {
        FakeCheck {
            name: name.into(),
            status: "in_progress".into(),
            conclusion: None,
            summary: String::new(),
        }
    }

    fn failed(&self) -> bool {
        matches!(
            self.conclusion.as_deref(),
            Some("failure" | "timed_out" | "cancelled" | "action_required" | "startup_failure")
        )
    }
}

/// What the fake answers `req`: scripted rate limits and failures first, then the forge's
/// own answer, with an ETag (and a 304 for a matching If-None-Match) on a 200 to a GET.
fn answer(state: &Mutex<State>, req: &Req) -> http::Reply {
    let mut st = state.lock().unwrap();
    let mut r = if st.rate_limited > 0 {
        st.rate_limited -= 1;
        match st.kind {
            Kind::Github => message(429, "API rate limit exceeded for user ID 1."),
            Kind::Gitlab => message(429, "Retry later"),
        }
    } else if let Some((status, text)) = st.failures.pop_front() {
        message(status, &text)
    } else {
        match st.kind {
            Kind::Github => github::handle(&mut st, req),
            Kind::Gitlab => gitlab::handle(&mut st, req),
        }
    };
    if req.method == "GET" && r.status == 200 {
        let etag = format!("W/\"{:016x}\"", hash_of(&r.body));
        let strip = |s: &str| s.trim().trim_start_matches("W/").to_string();
        let matched = req
            .header("if-none-match")
            .is_some_and(|v| v.split(',').any(|t| strip(t) == strip(&etag)));
        if matched {
            r.status = 304;
            r.body.clear();
        }
        r.headers.push(("ETag".into(), etag));
    }
    if r.status != 304 && r.status != 429 {
        st.remaining = st.remaining.saturating_sub(1);
    }
    let rate = st.rate_headers(r.status);
    r.headers.extend(rate);
    r
}

pub struct FakeForge {
    port: u16,
    kind: Kind,
    state: Arc<Mutex<State>>,
    log: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeForge {
    /// GitHub: its paths at the root of `url()`, like api.github.com.
    pub fn github(token: &str) -> Self {
        Self::start(Kind::Github, token)
    }

    /// GitLab: `url()` ends in `/api/v4`.
    pub fn gitlab(token: &str) -> Self {
        Self::start(Kind::Gitlab, token)
    }

    fn start(kind: Kind, token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::new(
            kind,
            token,
            format!("http://127.0.0.1:{port}"),
        )));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, l, st) = (state.clone(), log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            http::serve(listener, st, move |req| answer(&s, req), l);
        });
        FakeForge {
            port,
            kind,
            state,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// The API base: what flightdeck's `[forge] api_url` is set to.
    pub fn url(&self) -> String {
        match self.kind {
            Kind::Github => self.root(),
            Kind::Gitlab => format!("{}/api/v4", self.root()),
        }
    }

    /// `http://127.0.0.1:PORT`: where `html_url` and `web_url` point.
    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request so far, in the order answered.
    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    /// Pull request heads of `owner_repo` (GitHub `owner/repo`, GitLab `group/name`) come
    /// from `refs/heads/<branch>` of this bare repository, read on every request.
    pub fn attach_remote(&self, owner_repo: &str, bare_dir: &Path) {
        self.state
            .lock()
            .unwrap()
            .remotes
            .insert(owner_repo.to_string(), bare_dir.to_path_buf());
    }

    pub fn prs(&self) -> Vec<FakePr> {
        let mut st = self.state.lock().unwrap();
        st.refresh_heads();
        st.prs
            .iter()
            .map(|p| FakePr {
                repo: p.repo.clone(),
                number: p.number,
                title: p.title.clone(),
                body: p.body.clone(),
                head: p.head.clone(),
                base: p.base.clone(),
                head_sha: p.head_sha.clone(),
                state: if p.open { "open" } else { "closed" }.into(),
                merged: p.merged,
                draft: p.draft,
                labels: p.labels.clone(),
                mergeable: p.mergeable,
                merge_sha: p.merge_sha.clone(),
            })
            .collect()
    }

    pub fn pr(&self, number: u64) -> FakePr {
        self.prs()
            .into_iter()
            .find(|p| p.number == number)
            .unwrap_or_else(|| panic!("the fake forge has no pull request {number}"))
    }

    /// CI reports `checks` on commit `sha` (replacing what it reported before; a check of the
    /// same name keeps its id, the commit keeps its GitLab pipeline).
    pub fn set_checks(&self, sha: &str, checks: Vec<FakeCheck>) {
        let mut st = self.state.lock().unwrap();
        let old = st.checks.remove(sha);
        let pipeline = match &old {
            Some(c) => c.pipeline,
            None => st.id(),
        };
        let mut runs = Vec::new();
        for c in checks {
            let id = old
                .as_ref()
                .and_then(|o| o.runs.iter().find(|(_, r)| r.name == c.name))
                .map(|(id, _)| *id)
                .unwrap_or_else(|| st.id());
            runs.push((id, c));
        }
        let at = st.tick();
        st.checks
            .insert(sha.to_string(), Checks { pipeline, runs, at });
    }

    /// A person reviews pull request `number`: `state` is APPROVED, CHANGES_REQUESTED or
    /// COMMENTED; `comments` are (path, line, body) on the head commit.
    pub fn review(
        &self,
        number: u64,
        user: &str,
        state: &str,
        body: &str,
        comments: Vec<(String, u64, String)>,
    ) {
        assert!(
            matches!(state, "APPROVED" | "CHANGES_REQUESTED" | "COMMENTED"),
            "review state {state}"
        );
        let mut st = self.state.lock().unwrap();
        st.refresh_heads();
        let t = st.tick();
        let id = st.id();
        let comments: Vec<Comment> = comments
            .into_iter()
            .map(|(path, line, body)| Comment {
                id: st.id(),
                path,
                line,
                body,
            })
            .collect();
        let p = st.by_number(number);
        let review = Review {
            id,
            user: user.into(),
            state: state.into(),
            body: body.into(),
            at: t,
            commit_id: p.head_sha.clone(),
            comments,
        };
        p.reviews.push(review);
        p.updated_at = t;
        match state {
            "APPROVED" => {
                p.changes_requested.retain(|u| u != user);
                if !p.approved_by.iter().any(|u| u == user) {
                    p.approved_by.push(user.into());
                }
            }
            "CHANGES_REQUESTED" => {
                p.approved_by.retain(|u| u != user);
                if !p.changes_requested.iter().any(|u| u == user) {
                    p.changes_requested.push(user.into());
                }
            }
            _ => {}
        }
    }

    /// A person merges it on the forge (a merge commit into the base branch of the attached
    /// remote; a made-up sha when there is none or the merge conflicts).
    pub fn merge_by_person(&self, number: u64) {
        let mut st = self.state.lock().unwrap();
        st.refresh_heads();
        let i = st.prs.iter().position(|p| p.number == number).unwrap();
        assert!(st.prs[i].open, "pull request {number} is not open");
        if st.merge_pr(i, "merge", None, true).is_err() {
            st.merge_pr(i, "merge", None, false).unwrap();
        }
    }

    pub fn close_by_person(&self, number: u64) {
        let mut st = self.state.lock().unwrap();
        let t = st.tick();
        let p = st.by_number(number);
        p.open = false;
        p.closed_at = Some(t);
        p.updated_at = t;
    }

    pub fn set_mergeable(&self, number: u64, mergeable: bool) {
        let mut st = self.state.lock().unwrap();
        st.by_number(number).mergeable = mergeable;
        st.touch(number);
    }

    /// Branch protection on every base branch: a merge needs one approving review.
    pub fn require_approval(&self) {
        self.state.lock().unwrap().require_approval = true;
    }

    /// Branch protection refuses merges through the API with `message` (405), as GitHub
    /// does for a required status check or review it is missing.
    pub fn protect(&self, message: &str) {
        self.state.lock().unwrap().protected = Some(message.to_string());
    }

    /// The pull request is gone from the forge (asked for, it answers 404).
    pub fn delete_pr(&self, number: u64) {
        self.state
            .lock()
            .unwrap()
            .prs
            .retain(|p| p.number != number);
    }

    /// The next `n` requests get 429 with `Retry-After: retry_after_secs` (and a remaining of
    /// 0 in the rate-limit headers).
    pub fn rate_limit_next(&self, n: usize, retry_after_secs: u64) {
        let mut st = self.state.lock().unwrap();
        st.rate_limited = n;
        st.retry_after = retry_after_secs;
    }

    /// The next request (after those queued before) gets `status` with `{"message": ...}`.
    pub fn fail_next(&self, status: u16, message: &str) {
        let mut st = self.state.lock().unwrap();
        st.failures.push_back((status, message.to_string()));
    }
}

impl Drop for FakeForge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
