//! GitHub's REST API (v3, `X-GitHub-Api-Version: 2022-11-28`): pulls, check runs, reviews,
//! merge. GitHub Enterprise is the same API under its own URL.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::http::{message_of, Http};
use super::poll::{spend, Api};
use super::{ForgeError, OpenSpec, Opened, Seen};
use crate::config::forge::ForgeKind;
use crate::run::{PrChecks, PrNote, PrReview, PrState, PullRequest};

pub async fn open(
    http: &Http,
    repo: &str,
    spec: &OpenSpec<'_>,
) -> Result<(Seen, Opened), ForgeError> {
    let owner = repo.split('/').next().unwrap_or(repo);
    let existing = http
        .get(&format!(
            "/repos/{repo}/pulls?head={owner}:{}&state=open&per_page=100",
            spec.branch
        ))
        .await?;
    let found = existing
        .as_array()
        .and_then(|a| a.iter().find(|p| p["head"]["ref"] == spec.branch));
    let (pr, how) = match found.and_then(|p| Some((p["number"].as_u64()?, p))) {
        Some((n, item)) => {
            let mut pr = http
                .send_ok(
                    Method::PATCH,
                    &format!("/repos/{repo}/pulls/{n}"),
                    &json!({"title": spec.title, "body": spec.body}),
                )
                .await?;
            // A draft flightdeck opened whose run is green now: ready for review. REST cannot
            // change a draft; GraphQL's markPullRequestReadyForReview does.
            if pr["draft"] == true && !spec.draft {
                let id = pr["node_id"]
                    .as_str()
                    .or_else(|| item["node_id"].as_str())
                    .unwrap_or_default()
                    .to_string();
                mark_ready(http, &id).await?;
                pr["draft"] = json!(false);
            }
            (pr, Opened::Updated)
        }
        None => {
            let path = format!("/repos/{repo}/pulls");
            let body = json!({
                "title": spec.title,
                "head": spec.branch,
                "base": spec.base,
                "body": spec.body,
                "draft": spec.draft,
            });
            let answer = http.send(Method::POST, &path, &body).await?;
            if answer.status == StatusCode::UNPROCESSABLE_ENTITY {
                let why = message_of(&answer.body);
                return Err(ForgeError::Api {
                    status: 422,
                    message: format!(
                        "GitHub would not open the pull request of {} into {}: {why}",
                        spec.branch, spec.base
                    ),
                });
            }
            if !answer.status.is_success() {
                return Err(http.refusal(&Method::POST, &path, answer));
            }
            (answer.body, Opened::Created)
        }
    };
    let number = pr["number"].as_u64().unwrap_or(0);
    // Labels are a courtesy: a token that may open PRs but not label them still opens them.
    let _ = http
        .send(
            Method::POST,
            &format!("/repos/{repo}/issues/{number}/labels"),
            &json!({"labels": ["flightdeck"]}),
        )
        .await;
    Ok((seen_from(&pr), how))
}

/// Mark a draft pull request (its GraphQL node id) ready for review.
async fn mark_ready(http: &Http, node_id: &str) -> Result<(), ForgeError> {
    if node_id.is_empty() {
        return Err(ForgeError::Api {
            status: 200,
            message: "GitHub gave no node_id for the draft pull request; mark it ready for review on GitHub".into(),
        });
    }
    let data = http
        .graphql(
            "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }",
            json!({"id": node_id}),
        )
        .await?;
    if data["markPullRequestReadyForReview"]["pullRequest"]["isDraft"] == true {
        return Err(ForgeError::Api {
            status: 200,
            message: "GitHub kept the pull request a draft; mark it ready for review there".into(),
        });
    }
    Ok(())
}

fn seen_from(p: &Value) -> Seen {
    let merged = !p["merged_at"].is_null() || p["merged"] == true;
    let state = if merged {
        PrState::Merged
    } else if p["state"] == "closed" {
        PrState::Closed
    } else if p["draft"] == true {
        PrState::Draft
    } else {
        PrState::Open
    };
    Seen {
        pr: PullRequest {
            forge: ForgeKind::Github,
            number: p["number"].as_u64().unwrap_or(0),
            url: p["html_url"].as_str().unwrap_or_default().to_string(),
            state,
            head: p["head"]["sha"].as_str().unwrap_or_default().to_string(),
            mergeable: p["mergeable"].as_bool(),
            ..Default::default()
        },
        merge_commit: merged
            .then(|| p["merge_commit_sha"].as_str().map(str::to_string))
            .flatten(),
        review_id: None,
    }
}

/// GitHub's side of a poll.
pub struct Poll<'a> {
    pub http: &'a Http,
    pub repo: &'a str,
}

impl Api for Poll<'_> {
    async fn list(&self) -> Result<Value, ForgeError> {
        let repo = self.repo;
        self.http
            .get(&format!(
                "/repos/{repo}/pulls?state=all&sort=updated&direction=desc&per_page=100"
            ))
            .await
    }

    async fn one(&self, n: u64) -> Result<Value, ForgeError> {
        self.http
            .get(&format!("/repos/{}/pulls/{n}", self.repo))
            .await
    }

    fn seen(&self, item: &Value) -> Seen {
        seen_from(item)
    }

    async fn checks(
        &self,
        _n: u64,
        head: &str,
        budget: &mut usize,
    ) -> Result<(PrChecks, Vec<PrNote>), ForgeError> {
        spend(budget);
        checks_of(self.http, self.repo, head, budget).await
    }

    async fn reviews(
        &self,
        n: u64,
        _item: &Value,
        budget: &mut usize,
    ) -> Result<(PrReview, Option<String>, Vec<PrNote>), ForgeError> {
        spend(budget);
        reviews_of(self.http, self.repo, n, budget).await
    }
}

/// The commit's check runs (and, when it has none, its commit statuses), summed up.
async fn checks_of(
    http: &Http,
    repo: &str,
    sha: &str,
    budget: &mut usize,
) -> Result<(PrChecks, Vec<PrNote>), ForgeError> {
    let runs = http
        .get(&format!(
            "/repos/{repo}/commits/{sha}/check-runs?per_page=100"
        ))
        .await?;
    let runs: Vec<&Value> = runs["check_runs"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut failing = Vec::new();
    let mut pending = false;
    for r in &runs {
        if r["status"] != "completed" {
            pending = true;
            continue;
        }
        let concl = r["conclusion"].as_str().unwrap_or_default();
        if matches!(
            concl,
            "failure" | "timed_out" | "cancelled" | "action_required" | "startup_failure"
        ) {
            let out = &r["output"];
            let text = [&out["title"], &out["summary"], &out["text"]]
                .iter()
                .filter_map(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            failing.push(PrNote {
                by: r["name"].as_str().unwrap_or("check").to_string(),
                path: None,
                line: None,
                text: if text.is_empty() {
                    concl.to_string()
                } else {
                    text
                },
            });
        }
    }
    if runs.is_empty() && *budget > 0 {
        *budget -= 1;
        let status = http
            .get(&format!("/repos/{repo}/commits/{sha}/status"))
            .await?;
        for s in status["statuses"].as_array().into_iter().flatten() {
            match s["state"].as_str() {
                Some("failure" | "error") => failing.push(PrNote {
                    by: s["context"].as_str().unwrap_or("status").to_string(),
                    path: None,
                    line: None,
                    text: s["description"].as_str().unwrap_or_default().to_string(),
                }),
                Some("pending") => pending = true,
                _ => {}
            }
        }
        if status["total_count"].as_u64().unwrap_or(0) == 0 {
            return Ok((PrChecks::None, failing));
        }
    }
    let checks = if !failing.is_empty() {
        PrChecks::Failing
    } else if pending {
        PrChecks::Pending
    } else {
        // Check runs, or commit statuses, all green.
        PrChecks::Passing
    };
    Ok((checks, failing))
}

/// Each reviewer's latest verdict; changes requested by anyone outweighs approvals.
async fn reviews_of(
    http: &Http,
    repo: &str,
    n: u64,
    budget: &mut usize,
) -> Result<(PrReview, Option<String>, Vec<PrNote>), ForgeError> {
    let reviews = http
        .get(&format!("/repos/{repo}/pulls/{n}/reviews?per_page=100"))
        .await?;
    let mut latest: HashMap<String, &Value> = HashMap::new();
    let mut commented = false;
    for r in reviews.as_array().into_iter().flatten() {
        match r["state"].as_str() {
            Some("COMMENTED") => commented = true,
            Some("APPROVED" | "CHANGES_REQUESTED" | "DISMISSED") => {
                let who = r["user"]["login"].as_str().unwrap_or_default().to_string();
                latest.insert(who, r);
            }
            _ => {}
        }
    }
    let asking: Vec<&&Value> = latest
        .values()
        .filter(|r| r["state"] == "CHANGES_REQUESTED")
        .collect();
    if let Some(newest) = asking.iter().max_by_key(|r| r["id"].as_u64().unwrap_or(0)) {
        let id = newest["id"].as_u64().unwrap_or(0);
        let who = newest["user"]["login"].as_str().unwrap_or("reviewer");
        let mut notes = Vec::new();
        if let Some(body) = newest["body"].as_str().filter(|b| !b.trim().is_empty()) {
            notes.push(PrNote {
                by: who.to_string(),
                path: None,
                line: None,
                text: body.to_string(),
            });
        }
        if *budget > 0 {
            *budget -= 1;
            let comments = http
                .get(&format!("/repos/{repo}/pulls/{n}/comments?per_page=100"))
                .await?;
            for c in comments.as_array().into_iter().flatten() {
                if c["pull_request_review_id"].as_u64() == Some(id) {
                    notes.push(PrNote {
                        by: who.to_string(),
                        path: c["path"].as_str().map(str::to_string),
                        line: c["line"].as_u64().or_else(|| c["original_line"].as_u64()),
                        text: c["body"].as_str().unwrap_or_default().to_string(),
                    });
                }
            }
        }
        return Ok((PrReview::ChangesRequested, Some(id.to_string()), notes));
    }
    let review = if latest.values().any(|r| r["state"] == "APPROVED") {
        PrReview::Approved
    } else if commented {
        PrReview::Commented
    } else {
        PrReview::None
    };
    Ok((review, None, Vec::new()))
}

pub async fn mergeable(http: &Http, repo: &str, n: u64) -> Result<Result<(), String>, ForgeError> {
    let p = http.get(&format!("/repos/{repo}/pulls/{n}")).await?;
    Ok(match p["mergeable"].as_bool() {
        // Mergeable as far as git goes, but branch protection wants more first.
        Some(true) if p["mergeable_state"] == "blocked" => Err(format!(
            "GitHub's branch protection blocks pull request #{n} (a required approving review or required check is missing)"
        )),
        Some(true) => Ok(()),
        Some(false) => Err(format!(
            "GitHub says pull request #{n} cannot be merged ({}); resolve it there or `flightdeck rebase` the run",
            p["mergeable_state"].as_str().unwrap_or("not mergeable")
        )),
        None => Err(format!(
            "GitHub is still working out whether pull request #{n} can be merged; try again in a moment"
        )),
    })
}

pub async fn merge(
    http: &Http,
    repo: &str,
    n: u64,
    head: &str,
    title: &str,
    squash: bool,
) -> Result<Option<String>, ForgeError> {
    let path = format!("/repos/{repo}/pulls/{n}/merge");
    let answer = http
        .send(
            Method::PUT,
            &path,
            &json!({
                "merge_method": if squash { "squash" } else { "merge" },
                "sha": head,
                "commit_title": title,
            }),
        )
        .await?;
    match answer.status {
        s if s.is_success() => Ok(answer.body["sha"].as_str().map(str::to_string)),
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::CONFLICT => Err(ForgeError::Api {
            status: answer.status.as_u16(),
            message: format!(
                "GitHub refused to merge pull request #{n}: {} (branch protection: a required review or check, or the branch moved)",
                message_of(&answer.body)
            ),
        }),
        _ => Err(http.refusal(&Method::PUT, &path, answer)),
    }
}
