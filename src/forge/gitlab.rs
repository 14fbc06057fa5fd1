//! GitLab's REST API (v4): merge requests, their pipelines, approvals and discussions, merge.
//! A self-hosted GitLab is the same API under its own URL.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::http::{message_of, Http};
use super::poll::{spend, Api};
use super::{ForgeError, OpenSpec, Opened, Seen};
use crate::config::forge::ForgeKind;
use crate::run::{PrChecks, PrNote, PrReview, PrState, PullRequest};

/// The project's path as the API takes it in a URL (`group%2Fname`).
fn project(repo: &str) -> String {
    let mut out = String::new();
    for b in repo.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn query(value: &str) -> String {
    project(value)
}

pub async fn open(
    http: &Http,
    repo: &str,
    spec: &OpenSpec<'_>,
) -> Result<(Seen, Opened), ForgeError> {
    let id = project(repo);
    let existing = http
        .get(&format!(
            "/projects/{id}/merge_requests?source_branch={}&state=opened&per_page=100",
            query(spec.branch)
        ))
        .await?;
    let found = existing
        .as_array()
        .and_then(|a| a.iter().find(|m| m["source_branch"] == spec.branch))
        .and_then(|m| m["iid"].as_u64());
    let title = if spec.draft {
        format!("Draft: {}", spec.title)
    } else {
        spec.title.to_string()
    };
    let (mr, how) = match found {
        Some(iid) => {
            let mr = http
                .send_ok(
                    Method::PUT,
                    &format!("/projects/{id}/merge_requests/{iid}"),
                    &json!({"title": title, "description": spec.body, "add_labels": "flightdeck"}),
                )
                .await?;
            (mr, Opened::Updated)
        }
        None => {
            let path = format!("/projects/{id}/merge_requests");
            let answer = http
                .send(
                    Method::POST,
                    &path,
                    &json!({
                        "source_branch": spec.branch,
                        "target_branch": spec.base,
                        "title": title,
                        "description": spec.body,
                        "labels": "flightdeck",
                    }),
                )
                .await?;
            if matches!(
                answer.status,
                StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST
            ) {
                return Err(ForgeError::Api {
                    status: answer.status.as_u16(),
                    message: format!(
                        "GitLab would not open the merge request of {} into {}: {}",
                        spec.branch,
                        spec.base,
                        message_of(&answer.body)
                    ),
                });
            }
            if !answer.status.is_success() {
                return Err(http.refusal(&Method::POST, &path, answer));
            }
            (answer.body, Opened::Created)
        }
    };
    Ok((seen_from(&mr), how))
}

fn seen_from(m: &Value) -> Seen {
    let state = match m["state"].as_str() {
        Some("merged") => PrState::Merged,
        Some("closed" | "locked") => PrState::Closed,
        _ if m["draft"] == true || m["work_in_progress"] == true => PrState::Draft,
        _ => PrState::Open,
    };
    let merge_commit = (state == PrState::Merged)
        .then(|| {
            m["merge_commit_sha"]
                .as_str()
                .or_else(|| m["squash_commit_sha"].as_str())
                .map(str::to_string)
        })
        .flatten();
    Seen {
        pr: PullRequest {
            forge: ForgeKind::Gitlab,
            number: m["iid"].as_u64().unwrap_or(0),
            url: m["web_url"].as_str().unwrap_or_default().to_string(),
            state,
            head: m["sha"].as_str().unwrap_or_default().to_string(),
            mergeable: match m["detailed_merge_status"].as_str() {
                Some("mergeable") => Some(true),
                Some("checking" | "unchecked") | None => None,
                Some(_) => Some(false),
            },
            ..Default::default()
        },
        merge_commit,
        review_id: None,
    }
}

/// GitLab's side of a poll.
pub struct Poll<'a> {
    pub http: &'a Http,
    pub repo: &'a str,
}

impl Api for Poll<'_> {
    async fn list(&self) -> Result<Value, ForgeError> {
        let id = project(self.repo);
        self.http
            .get(&format!(
                "/projects/{id}/merge_requests?state=all&labels=flightdeck&order_by=updated_at&per_page=100"
            ))
            .await
    }

    async fn one(&self, n: u64) -> Result<Value, ForgeError> {
        let id = project(self.repo);
        self.http
            .get(&format!("/projects/{id}/merge_requests/{n}"))
            .await
    }

    fn seen(&self, item: &Value) -> Seen {
        seen_from(item)
    }

    /// The MR's head pipeline (only the single MR says which), and its failed jobs.
    async fn checks(
        &self,
        n: u64,
        _head: &str,
        budget: &mut usize,
    ) -> Result<(PrChecks, Vec<PrNote>), ForgeError> {
        spend(budget);
        let one = self.one(n).await?;
        pipeline_of(
            self.http,
            &project(self.repo),
            &one["head_pipeline"],
            budget,
        )
        .await
    }

    async fn reviews(
        &self,
        n: u64,
        item: &Value,
        budget: &mut usize,
    ) -> Result<(PrReview, Option<String>, Vec<PrNote>), ForgeError> {
        spend(budget);
        spend(budget);
        let status = item["detailed_merge_status"].as_str().unwrap_or_default();
        review_of(self.http, &project(self.repo), n, status).await
    }
}

async fn pipeline_of(
    http: &Http,
    id: &str,
    pipeline: &Value,
    budget: &mut usize,
) -> Result<(PrChecks, Vec<PrNote>), ForgeError> {
    let status = pipeline["status"].as_str().unwrap_or_default();
    let checks = match status {
        "success" => PrChecks::Passing,
        "failed" | "canceled" => PrChecks::Failing,
        "" | "skipped" | "manual" => PrChecks::None,
        _ => PrChecks::Pending,
    };
    let mut failing = Vec::new();
    if checks == PrChecks::Failing {
        if let (Some(pid), true) = (pipeline["id"].as_u64(), *budget > 0) {
            *budget -= 1;
            let jobs = http
                .get(&format!("/projects/{id}/pipelines/{pid}/jobs?per_page=100"))
                .await?;
            for j in jobs.as_array().into_iter().flatten() {
                if matches!(j["status"].as_str(), Some("failed" | "canceled")) {
                    let mut text = format!(
                        "job {} in stage {}",
                        j["status"].as_str().unwrap_or("failed"),
                        j["stage"].as_str().unwrap_or("?")
                    );
                    // Its log's tail says why (GitLab's failed jobs carry no summary).
                    if let (Some(job), true) = (j["id"].as_u64(), *budget > 0) {
                        *budget -= 1;
                        let log = http
                            .get_text(&format!("/projects/{id}/jobs/{job}/trace"), 64 << 10)
                            .await
                            .unwrap_or_default();
                        let tail = log_tail(&log);
                        if !tail.is_empty() {
                            text.push_str(":\n");
                            text.push_str(&tail);
                        }
                    }
                    failing.push(PrNote {
                        by: j["name"].as_str().unwrap_or("job").to_string(),
                        path: None,
                        line: None,
                        text,
                    });
                }
            }
        }
        if failing.is_empty() {
            failing.push(PrNote {
                by: "pipeline".into(),
                path: None,
                line: None,
                text: format!("pipeline {status}"),
            });
        }
    }
    Ok((checks, failing))
}

/// The last lines of a job's log, without its terminal colours and GitLab's section markers.
fn log_tail(log: &str) -> String {
    let lines: Vec<String> = log
        .lines()
        .map(|l| {
            crate::text::printable(&strip_ansi(l))
                .trim_end()
                .to_string()
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    let from = lines.len().saturating_sub(20);
    let tail = lines[from..].join("\n");
    let n = tail.chars().count();
    tail.chars().skip(n.saturating_sub(2000)).collect()
}

/// `line` without ANSI escape sequences (`ESC [ ... letter`) and GitLab's `section_start:`
/// and `section_end:` markers.
fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    if out.starts_with("section_start:") || out.starts_with("section_end:") {
        return String::new();
    }
    out
}

/// Approved, changes requested (GitLab's "requested changes", or threads left unresolved), or
/// only commented on.
async fn review_of(
    http: &Http,
    id: &str,
    n: u64,
    merge_status: &str,
) -> Result<(PrReview, Option<String>, Vec<PrNote>), ForgeError> {
    let approvals = http
        .get(&format!("/projects/{id}/merge_requests/{n}/approvals"))
        .await?;
    let discussions = http
        .get(&format!(
            "/projects/{id}/merge_requests/{n}/discussions?per_page=100"
        ))
        .await?;
    let mut open_notes = Vec::new();
    let mut ids = Vec::new();
    let mut commented = false;
    for d in discussions.as_array().into_iter().flatten() {
        for note in d["notes"].as_array().into_iter().flatten() {
            if note["system"] == true {
                continue;
            }
            commented = true;
            if note["resolvable"] == true && note["resolved"] != true {
                ids.push(note["id"].to_string());
                open_notes.push(PrNote {
                    by: note["author"]["username"]
                        .as_str()
                        .unwrap_or("reviewer")
                        .to_string(),
                    path: note["position"]["new_path"].as_str().map(str::to_string),
                    line: note["position"]["new_line"].as_u64(),
                    text: note["body"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
    }
    let approved = approvals["approved"] == true
        && approvals["approved_by"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
    if merge_status == "requested_changes" || (!open_notes.is_empty() && !approved) {
        return Ok((PrReview::ChangesRequested, Some(ids.join(",")), open_notes));
    }
    let review = if approved {
        PrReview::Approved
    } else if commented {
        PrReview::Commented
    } else {
        PrReview::None
    };
    Ok((review, None, Vec::new()))
}

pub async fn mergeable(http: &Http, repo: &str, n: u64) -> Result<Result<(), String>, ForgeError> {
    let m = http
        .get(&format!("/projects/{}/merge_requests/{n}", project(repo)))
        .await?;
    let status = m["detailed_merge_status"]
        .as_str()
        .or_else(|| m["merge_status"].as_str())
        .unwrap_or("unknown");
    Ok(match status {
        "mergeable" | "can_be_merged" => Ok(()),
        "checking" | "unchecked" => Err(format!(
            "GitLab is still working out whether merge request !{n} can be merged; try again in a moment"
        )),
        other => Err(format!(
            "GitLab says merge request !{n} cannot be merged ({other}); resolve it there or `flightdeck rebase` the run"
        )),
    })
}

pub async fn merge(
    http: &Http,
    repo: &str,
    n: u64,
    head: &str,
    squash: bool,
) -> Result<Option<String>, ForgeError> {
    let path = format!("/projects/{}/merge_requests/{n}/merge", project(repo));
    let answer = http
        .send(Method::PUT, &path, &json!({"sha": head, "squash": squash}))
        .await?;
    match answer.status {
        s if s.is_success() => Ok(answer.body["merge_commit_sha"]
            .as_str()
            .or_else(|| answer.body["squash_commit_sha"].as_str())
            .map(str::to_string)),
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_ACCEPTABLE | StatusCode::CONFLICT => {
            Err(ForgeError::Api {
                status: answer.status.as_u16(),
                message: format!(
                    "GitLab refused to merge merge request !{n}: {} (approvals, pipeline or branch protection, or the branch moved)",
                    message_of(&answer.body)
                ),
            })
        }
        _ => Err(http.refusal(&Method::PUT, &path, answer)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn project_paths_are_encoded_whole() {
        assert_eq!(super::project("group/sub/name"), "group%2Fsub%2Fname");
    }
}
