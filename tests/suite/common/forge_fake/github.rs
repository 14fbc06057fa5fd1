//! GitHub's REST API, the part flightdeck uses: pull requests, labels, check runs and the
//! combined status, reviews and review comments, merges; and `POST /graphql` (`/api/graphql`
//! on GitHub Enterprise) for `gh pr view` (see `graphql`).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::http::Reply;
use super::{git, message, paginate, reply, split_query, stamp, stamp_opt, user_id};
use super::{Pr, Req, State, BOT};

const MAX_BODY: usize = 65536;

pub(super) fn handle(st: &mut State, req: &Req) -> Reply {
    if req.header("user-agent").is_none_or(|v| v.is_empty()) {
        return message(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).",
        );
    }
    let authorized = req.header("authorization").is_some_and(|v| {
        let (scheme, token) = v.split_once(' ').unwrap_or(("", ""));
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
            && token.trim() == st.token
    });
    if !authorized {
        return reply(
            401,
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
        );
    }
    let body: Value = if req.body.trim().is_empty() {
        json!({})
    } else {
        match serde_json::from_str(&req.body) {
            Ok(v) => v,
            Err(_) => return message(400, "Problems parsing JSON"),
        }
    };
    let (path, query) = split_query(&req.path);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    st.refresh_heads();
    let number = |s: &str| s.parse::<u64>().ok();
    match (req.method.as_str(), segs.as_slice()) {
        ("POST", ["graphql"] | ["api", "graphql"]) => {
            super::graphql::mutate(st, &body).unwrap_or_else(|| super::graphql::handle(st, &body))
        }
        ("GET", ["user"]) => reply(200, json!({"login": BOT, "id": user_id(BOT)})),
        ("GET", ["repos", o, r, "pulls"]) => list(st, &format!("{o}/{r}"), &query),
        ("POST", ["repos", o, r, "pulls"]) => create(st, &format!("{o}/{r}"), &body),
        ("GET" | "PATCH" | "PUT", ["repos", o, r, "pulls" | "issues", n, rest @ ..]) => {
            let repo = format!("{o}/{r}");
            let Some(i) = number(n).and_then(|n| st.pr_index(&repo, n)) else {
                return not_found();
            };
            match (req.method.as_str(), segs[3], rest) {
                ("GET", "pulls", []) => reply(200, pr_json(st, &st.prs[i], true)),
                ("PATCH", "pulls", []) => update(st, i, &body),
                ("PUT", "pulls", ["merge"]) => merge(st, i, &body),
                ("GET", "pulls", ["merge"]) if st.prs[i].merged => Reply {
                    status: 204,
                    headers: Vec::new(),
                    body: String::new(),
                },
                ("GET", "pulls", ["reviews"]) => reviews(st, i, &query),
                ("GET", "pulls", ["comments"]) => comments(st, i, &query),
                _ => not_found(),
            }
        }
        ("POST", ["repos", o, r, "issues", n, "labels"]) => {
            let repo = format!("{o}/{r}");
            match number(n).and_then(|n| st.pr_index(&repo, n)) {
                Some(i) => add_labels(st, i, &body),
                None => not_found(),
            }
        }
        ("GET", ["repos", o, r, "commits", sha, "check-runs"]) => {
            check_runs(st, &format!("{o}/{r}"), sha, &query)
        }
        ("GET", ["repos", _, _, "commits", sha, "status"]) => reply(
            200,
            json!({"state": "pending", "sha": sha, "total_count": 0, "statuses": []}),
        ),
        _ => not_found(),
    }
}

/// A pull request's GraphQL id, as its REST `node_id` gives it.
pub(super) fn node_id(p: &Pr) -> String {
    format!("PR_kwfake{}", p.id)
}

fn not_found() -> Reply {
    reply(
        404,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
    )
}

fn invalid(errors: Value) -> Reply {
    reply(
        422,
        json!({"message": "Validation Failed", "errors": errors, "documentation_url": "https://docs.github.com/rest", "status": "422"}),
    )
}

fn body_too_long() -> Reply {
    invalid(
        json!([{"resource": "Issue", "field": "body", "code": "custom", "message": "body is too long (maximum is 65536 characters)"}]),
    )
}

fn owner(repo: &str) -> &str {
    repo.split('/').next().unwrap_or("")
}

/// A pull request as GitHub shows it; `full` (a single one) adds what a listing leaves out:
/// `merged`, `mergeable`, `mergeable_state`.
fn pr_json(st: &State, p: &Pr, full: bool) -> Value {
    let repo = json!({"full_name": p.repo, "name": p.repo.split('/').nth(1), "owner": {"login": owner(&p.repo)}});
    let mut v = json!({
        "id": p.id,
        "node_id": node_id(p),
        "number": p.number,
        "url": format!("{}/repos/{}/pulls/{}", st.root, p.repo, p.number),
        "html_url": format!("{}/{}/pull/{}", st.root, p.repo, p.number),
        "state": if p.open { "open" } else { "closed" },
        "locked": false,
        "title": p.title,
        "body": p.body,
        "user": {"login": BOT, "id": user_id(BOT)},
        "labels": p.labels.iter().map(|l| json!({"id": super::hash_of(l) % 100_000, "name": l})).collect::<Vec<_>>(),
        "draft": p.draft,
        "created_at": stamp(p.created_at),
        "updated_at": stamp(p.updated_at),
        "closed_at": stamp_opt(p.closed_at),
        "merged_at": stamp_opt(p.merged_at),
        "merge_commit_sha": p.merge_sha,
        "head": {"label": format!("{}:{}", owner(&p.repo), p.head), "ref": p.head, "sha": p.head_sha, "repo": repo.clone()},
        "base": {"label": format!("{}:{}", owner(&p.repo), p.base), "ref": p.base, "repo": repo},
    });
    if full {
        let state = if p.draft {
            "draft"
        } else if !p.mergeable {
            "dirty"
        } else if !p.changes_requested.is_empty()
            || (st.require_approval && p.approved_by.is_empty())
        {
            "blocked"
        } else {
            "clean"
        };
        v["merged"] = json!(p.merged);
        v["mergeable"] = json!(p.mergeable);
        v["mergeable_state"] = json!(state);
        v["merged_by"] = if p.merged {
            json!({"login": BOT})
        } else {
            Value::Null
        };
        v["review_comments"] = json!(p.reviews.iter().map(|r| r.comments.len()).sum::<usize>());
    }
    v
}

fn list(st: &State, repo: &str, query: &HashMap<String, String>) -> Reply {
    let state = query.get("state").map(String::as_str).unwrap_or("open");
    // Like GitHub, `head` filters only in its `owner:branch` form.
    let head = query.get("head").and_then(|h| h.split_once(':'));
    let base = query.get("base");
    let mut items: Vec<&Pr> = st
        .prs
        .iter()
        .filter(|p| p.repo == repo)
        .filter(|p| match state {
            "all" => true,
            "closed" => !p.open,
            _ => p.open,
        })
        .filter(|p| head.is_none_or(|(o, b)| o.eq_ignore_ascii_case(owner(repo)) && p.head == *b))
        .filter(|p| base.is_none_or(|b| &p.base == b))
        .collect();
    // Newest first unless asked otherwise.
    if query.get("direction").map(String::as_str) != Some("asc") {
        items.reverse();
    }
    let items = items.iter().map(|p| pr_json(st, p, false)).collect();
    reply(200, paginate(items, query, 30))
}

fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

fn create(st: &mut State, repo: &str, body: &Value) -> Reply {
    for field in ["title", "head", "base"] {
        if str_field(body, field).is_none_or(str::is_empty) {
            return invalid(
                json!([{"resource": "PullRequest", "code": "missing_field", "field": field}]),
            );
        }
    }
    let title = str_field(body, "title").unwrap();
    let head_arg = str_field(body, "head").unwrap();
    let head = head_arg.split_once(':').map_or(head_arg, |(_, b)| b);
    let base = str_field(body, "base").unwrap();
    let text = str_field(body, "body").unwrap_or("");
    if text.chars().count() > MAX_BODY {
        return body_too_long();
    }
    if st
        .prs
        .iter()
        .any(|p| p.repo == repo && p.open && p.head == head)
    {
        return invalid(json!([{"resource": "PullRequest", "code": "custom",
            "message": format!("A pull request already exists for {}:{head}.", owner(repo))}]));
    }
    if let Some(dir) = st.remotes.get(repo) {
        let field_invalid =
            |field: &str| json!([{"resource": "PullRequest", "field": field, "code": "invalid"}]);
        let Some(head_sha) = git::rev_parse(dir, &format!("refs/heads/{head}")) else {
            return invalid(field_invalid("head"));
        };
        let Some(base_sha) = git::rev_parse(dir, &format!("refs/heads/{base}")) else {
            return invalid(field_invalid("base"));
        };
        if git::is_ancestor(dir, &head_sha, &base_sha) {
            return invalid(json!([{"resource": "PullRequest", "code": "custom",
                "message": format!("No commits between {base} and {head}")}]));
        }
    }
    let i = st.open_pr(repo, head, base, title, text);
    st.prs[i].draft = body.get("draft").and_then(Value::as_bool).unwrap_or(false);
    reply(201, pr_json(st, &st.prs[i], true))
}

fn update(st: &mut State, i: usize, body: &Value) -> Reply {
    if let Some(text) = str_field(body, "body") {
        if text.chars().count() > MAX_BODY {
            return body_too_long();
        }
    }
    match str_field(body, "state") {
        Some("closed") if st.prs[i].open => {
            let t = st.tick();
            st.prs[i].open = false;
            st.prs[i].closed_at = Some(t);
        }
        None | Some("closed") => {}
        Some("open") => {
            let p = &st.prs[i];
            if p.merged {
                return invalid(json!([{"resource": "PullRequest", "code": "custom",
                    "message": "Cannot reopen a merged pull request"}]));
            }
            let dup = st
                .prs
                .iter()
                .any(|q| q.repo == p.repo && q.open && q.head == p.head && q.number != p.number);
            if dup {
                return invalid(json!([{"resource": "PullRequest", "code": "custom",
                    "message": format!("A pull request already exists for {}:{}.", owner(&p.repo), p.head)}]));
            }
            st.prs[i].open = true;
            st.prs[i].closed_at = None;
        }
        Some(_) => {
            return invalid(
                json!([{"resource": "PullRequest", "field": "state", "code": "invalid"}]),
            )
        }
    }
    let t = st.tick();
    let p = &mut st.prs[i];
    if let Some(t) = str_field(body, "title") {
        p.title = t.into();
    }
    if body.get("body").is_some() {
        p.body = str_field(body, "body").unwrap_or("").into();
    }
    if let Some(b) = str_field(body, "base") {
        p.base = b.into();
    }
    p.updated_at = t;
    reply(200, pr_json(st, &st.prs[i], true))
}

fn merge(st: &mut State, i: usize, body: &Value) -> Reply {
    let method = str_field(body, "merge_method").unwrap_or("merge");
    if !matches!(method, "merge" | "squash" | "rebase") {
        return invalid(
            json!([{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}]),
        );
    }
    let p = &st.prs[i];
    if !p.open || p.draft || !p.mergeable {
        return message(405, "Pull Request is not mergeable");
    }
    if let Some(why) = &st.protected {
        return message(405, why);
    }
    if st.require_approval && p.approved_by.is_empty() {
        return message(
            405,
            "At least 1 approving review is required by reviewers with write access.",
        );
    }
    if str_field(body, "sha").is_some_and(|sha| sha != p.head_sha) {
        return message(
            409,
            "Head branch was modified. Review and try the merge again.",
        );
    }
    match st.merge_pr(i, method, str_field(body, "commit_title"), true) {
        Ok(sha) => reply(
            200,
            json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
        ),
        Err(_) => {
            st.prs[i].mergeable = false;
            message(405, "Pull Request is not mergeable")
        }
    }
}

fn add_labels(st: &mut State, i: usize, body: &Value) -> Reply {
    let names = body.get("labels").unwrap_or(body);
    let Some(names) = names.as_array() else {
        return invalid(json!([{"resource": "Label", "field": "labels", "code": "invalid"}]));
    };
    let t = st.tick();
    let p = &mut st.prs[i];
    for name in names {
        let name = name
            .as_str()
            .or_else(|| name.get("name").and_then(Value::as_str));
        if let Some(name) = name {
            if !p.labels.iter().any(|l| l == name) {
                p.labels.push(name.into());
            }
        }
    }
    p.updated_at = t;
    let labels = p
        .labels
        .iter()
        .map(|l| json!({"id": super::hash_of(l) % 100_000, "name": l, "color": "ededed", "default": false}))
        .collect();
    reply(200, Value::Array(labels))
}

fn check_runs(st: &State, repo: &str, sha: &str, query: &HashMap<String, String>) -> Reply {
    let runs: Vec<Value> = st
        .checks
        .get(sha)
        .map(|c| c.runs.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|(_, c)| query.get("check_name").is_none_or(|n| n == &c.name))
        .filter(|(_, c)| query.get("status").is_none_or(|s| s == &c.status))
        .map(|(id, c)| {
            json!({
                "id": id,
                "name": c.name,
                "status": c.status,
                "conclusion": c.conclusion,
                "head_sha": sha,
                "html_url": format!("{}/{repo}/runs/{id}", st.root),
                "details_url": format!("{}/{repo}/runs/{id}", st.root),
                "output": {"title": c.name, "summary": c.summary, "text": null, "annotations_count": 0},
                "app": {"slug": "fake-ci", "name": "Fake CI"},
            })
        })
        .collect();
    let total = runs.len();
    let page = paginate(runs, query, 30);
    reply(200, json!({"total_count": total, "check_runs": page}))
}

fn reviews(st: &State, i: usize, query: &HashMap<String, String>) -> Reply {
    let p = &st.prs[i];
    let items = p
        .reviews
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "user": {"login": r.user, "id": user_id(&r.user)},
                "body": r.body,
                "state": r.state,
                "html_url": format!("{}/{}/pull/{}#pullrequestreview-{}", st.root, p.repo, p.number, r.id),
                "submitted_at": stamp(r.at),
                "commit_id": r.commit_id,
            })
        })
        .collect();
    reply(200, paginate(items, query, 30))
}

fn comments(st: &State, i: usize, query: &HashMap<String, String>) -> Reply {
    let p = &st.prs[i];
    let items = p
        .reviews
        .iter()
        .flat_map(|r| r.comments.iter().map(move |c| (r, c)))
        .map(|(r, c)| {
            json!({
                "id": c.id,
                "pull_request_review_id": r.id,
                "path": c.path,
                "line": c.line,
                "original_line": c.line,
                "side": "RIGHT",
                "body": c.body,
                "user": {"login": r.user, "id": user_id(&r.user)},
                "commit_id": r.commit_id,
                "original_commit_id": r.commit_id,
                "created_at": stamp(r.at),
                "updated_at": stamp(r.at),
                "html_url": format!("{}/{}/pull/{}#discussion_r{}", st.root, p.repo, p.number, c.id),
                "diff_hunk": "",
            })
        })
        .collect();
    reply(200, paginate(items, query, 30))
}
