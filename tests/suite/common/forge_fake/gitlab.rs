//! GitLab's REST v4, the part flightdeck uses: merge requests, approvals, discussions, the
//! head pipeline and its jobs, merges. A project is named by its URL-encoded path
//! (`group%2Fname`), routed on the raw path.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::http::Reply;
use super::{git, message, paginate, pct_decode, reply, split_query, stamp, stamp_opt, user_id};
use super::{FakeCheck, Pr, Req, State, BOT};

pub(super) fn handle(st: &mut State, req: &Req) -> Reply {
    let authorized = req.header("private-token") == Some(st.token.as_str())
        || req.header("authorization").is_some_and(|v| {
            let (scheme, token) = v.split_once(' ').unwrap_or(("", ""));
            scheme.eq_ignore_ascii_case("bearer") && token.trim() == st.token
        });
    if !authorized {
        return message(401, "401 Unauthorized");
    }
    let (path, query) = split_query(&req.path);
    // Parameters: the query's, overridden by a JSON body's.
    let mut params: Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if !req.body.trim().is_empty() {
        match serde_json::from_str::<Value>(&req.body) {
            Ok(Value::Object(m)) => params.extend(m),
            _ => {
                return reply(
                    400,
                    json!({"error": "The provided content-type is not supported"}),
                )
            }
        }
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let Some(["projects", id, rest @ ..]) = segs.strip_prefix(&["api", "v4"]) else {
        return match (req.method.as_str(), segs.as_slice()) {
            ("GET", ["api", "v4", "user"]) => reply(200, user(BOT)),
            _ => not_found(),
        };
    };
    let project = pct_decode(id, false);
    st.refresh_heads();
    let number = |s: &str| s.parse::<u64>().ok();
    match (req.method.as_str(), rest) {
        ("GET", ["merge_requests"]) => list(st, &project, &query),
        ("POST", ["merge_requests"]) => create(st, &project, &params),
        (_, ["merge_requests", iid, more @ ..]) => {
            let Some(i) = number(iid).and_then(|n| st.pr_index(&project, n)) else {
                return message(404, "404 Not found");
            };
            match (req.method.as_str(), more) {
                ("GET", []) => reply(200, mr_json(st, &st.prs[i], true)),
                ("PUT", []) => update(st, i, &params),
                ("PUT", ["merge"]) => merge(st, i, &params),
                ("GET", ["approvals"]) => approvals(st, i),
                ("GET", ["discussions"]) => discussions(st, i, &query),
                _ => not_found(),
            }
        }
        ("GET", ["jobs", job, "trace"]) => {
            // A job's log: the check's summary, after what a runner prints first.
            let found = st
                .checks
                .values()
                .flat_map(|c| c.runs.iter())
                .find(|(id, _)| Some(*id) == number(job));
            match found {
                Some((_, c)) => Reply {
                    status: 200,
                    headers: vec![("Content-Type".into(), "text/plain".into())],
                    body: format!(
                        "\u{1b}[0KRunning with gitlab-runner 16.0.0\nsection_start:1:step_script\r\u{1b}[0K$ make test\n{}\n\u{1b}[31;1mERROR: Job failed: exit code 1\u{1b}[0;m\n",
                        c.summary
                    ),
                },
                None => message(404, "404 Not found"),
            }
        }
        ("GET", ["pipelines", pid, more @ ..]) => {
            let found = st
                .checks
                .iter()
                .find(|(_, c)| Some(c.pipeline) == number(pid));
            let Some((sha, c)) = found else {
                return message(404, "404 Not found");
            };
            match more {
                [] => {
                    let (id, status) = st.pipeline_status(sha).unwrap();
                    reply(200, pipeline_json(st, &project, sha, id, status))
                }
                ["jobs"] => {
                    let scopes: Vec<&String> = query
                        .iter()
                        .filter(|(k, _)| k.as_str() == "scope" || k.as_str() == "scope[]")
                        .map(|(_, v)| v)
                        .collect();
                    let jobs = c
                        .runs
                        .iter()
                        .filter(|(_, r)| scopes.is_empty() || scopes.contains(&&job_status(r)))
                        .map(|(id, r)| job_json(st, &project, *id, r))
                        .collect();
                    reply(200, paginate(jobs, &query, 20))
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn not_found() -> Reply {
    message(404, "404 Not Found")
}

fn user(name: &str) -> Value {
    json!({"id": user_id(name), "username": name, "name": name, "state": "active"})
}

fn draft_title(title: &str) -> bool {
    let t = title.to_ascii_lowercase();
    t.starts_with("draft:") || t.starts_with("[draft]") || t.starts_with("(draft)")
}

/// A list parameter: `"a,b"` or `["a","b"]`.
fn names(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

fn text(params: &Map<String, Value>, name: &str) -> Option<String> {
    params.get(name).and_then(Value::as_str).map(String::from)
}

fn truthy(params: &Map<String, Value>, name: &str) -> bool {
    match params.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn job_status(c: &FakeCheck) -> String {
    match (c.status.as_str(), c.conclusion.as_deref()) {
        ("queued", _) => "pending",
        ("in_progress", _) => "running",
        (_, Some("success" | "neutral")) => "success",
        (_, Some("skipped")) => "skipped",
        (_, Some("cancelled")) => "canceled",
        _ => "failed",
    }
    .to_string()
}

fn job_json(st: &State, project: &str, id: u64, c: &FakeCheck) -> Value {
    let status = job_status(c);
    json!({
        "id": id,
        "name": c.name,
        "status": status,
        "stage": "test",
        "allow_failure": false,
        "failure_reason": if status == "failed" { json!("script_failure") } else { Value::Null },
        "web_url": format!("{}/{project}/-/jobs/{id}", st.root),
    })
}

fn pipeline_json(st: &State, project: &str, sha: &str, id: u64, status: &str) -> Value {
    json!({
        "id": id,
        "iid": id,
        "sha": sha,
        "status": status,
        "source": "push",
        "web_url": format!("{}/{project}/-/pipelines/{id}", st.root),
    })
}

/// A merge request as GitLab shows it; `full` (a single one) adds `head_pipeline`.
fn mr_json(st: &State, p: &Pr, full: bool) -> Value {
    let (merge_status, detailed) = if !p.open {
        (
            if p.mergeable {
                "can_be_merged"
            } else {
                "cannot_be_merged"
            },
            "not_open",
        )
    } else if !p.mergeable {
        ("cannot_be_merged", "conflict")
    } else if !p.changes_requested.is_empty() {
        ("can_be_merged", "requested_changes")
    } else if p.draft {
        ("can_be_merged", "draft_status")
    } else {
        ("can_be_merged", "mergeable")
    };
    let state = match (p.open, p.merged) {
        (true, _) => "opened",
        (false, true) => "merged",
        (false, false) => "closed",
    };
    let mut v = json!({
        "id": p.id,
        "iid": p.number,
        "project_id": user_id(&p.repo),
        "title": p.title,
        "description": p.body,
        "state": state,
        "created_at": stamp(p.created_at),
        "updated_at": stamp(p.updated_at),
        "merged_at": stamp_opt(p.merged_at),
        "closed_at": if p.merged { Value::Null } else { stamp_opt(p.closed_at) },
        "target_branch": p.base,
        "source_branch": p.head,
        "author": user(BOT),
        "draft": p.draft,
        "work_in_progress": p.draft,
        "labels": p.labels,
        "sha": p.head_sha,
        "merge_commit_sha": if p.squash { None } else { p.merge_sha.clone() },
        "squash_commit_sha": if p.squash { p.merge_sha.clone() } else { None },
        "merge_status": merge_status,
        "detailed_merge_status": detailed,
        "has_conflicts": !p.mergeable,
        "web_url": format!("{}/{}/-/merge_requests/{}", st.root, p.repo, p.number),
        "references": {"short": format!("!{}", p.number), "full": format!("{}!{}", p.repo, p.number)},
    });
    if full {
        v["head_pipeline"] = match st.pipeline_status(&p.head_sha) {
            Some((id, status)) => pipeline_json(st, &p.repo, &p.head_sha, id, status),
            None => Value::Null,
        };
    }
    v
}

fn list(st: &State, project: &str, query: &HashMap<String, String>) -> Reply {
    let state = query.get("state").map(String::as_str).unwrap_or("all");
    let labels = query
        .get("labels")
        .map(|l| names(&Value::String(l.clone())))
        .unwrap_or_default();
    let mut items: Vec<&Pr> = st
        .prs
        .iter()
        .filter(|p| p.repo == project)
        .filter(|p| match state {
            "opened" => p.open,
            "closed" => !p.open && !p.merged,
            "merged" => p.merged,
            _ => true,
        })
        .filter(|p| query.get("source_branch").is_none_or(|b| &p.head == b))
        .filter(|p| query.get("target_branch").is_none_or(|b| &p.base == b))
        .filter(|p| labels.iter().all(|l| p.labels.contains(l)))
        .collect();
    if query.get("sort").map(String::as_str) != Some("asc") {
        items.reverse();
    }
    let items = items.iter().map(|p| mr_json(st, p, false)).collect();
    reply(200, paginate(items, query, 20))
}

fn create(st: &mut State, project: &str, params: &Map<String, Value>) -> Reply {
    for field in ["source_branch", "target_branch", "title"] {
        if text(params, field).is_none_or(|v| v.is_empty()) {
            return reply(400, json!({"error": format!("{field} is missing")}));
        }
    }
    let head = text(params, "source_branch").unwrap();
    let base = text(params, "target_branch").unwrap();
    let title = text(params, "title").unwrap();
    if let Some(p) = st
        .prs
        .iter()
        .find(|p| p.repo == project && p.open && p.head == head)
    {
        return reply(
            409,
            json!({"message": [format!("Another open merge request already exists for this source branch: !{}", p.number)]}),
        );
    }
    if let Some(dir) = st.remotes.get(project) {
        if git::rev_parse(dir, &format!("refs/heads/{head}")).is_none() {
            return reply(
                422,
                json!({"message": [format!("Source branch \"{head}\" does not exist")]}),
            );
        }
    }
    let description = text(params, "description").unwrap_or_default();
    let i = st.open_pr(project, &head, &base, &title, &description);
    let p = &mut st.prs[i];
    p.draft = draft_title(&title) || truthy(params, "draft");
    p.labels = params.get("labels").map(names).unwrap_or_default();
    reply(201, mr_json(st, &st.prs[i], true))
}

fn update(st: &mut State, i: usize, params: &Map<String, Value>) -> Reply {
    match text(params, "state_event").as_deref() {
        Some("close") if st.prs[i].open => {
            let t = st.tick();
            st.prs[i].open = false;
            st.prs[i].closed_at = Some(t);
        }
        Some("reopen") if !st.prs[i].open && !st.prs[i].merged => {
            st.prs[i].open = true;
            st.prs[i].closed_at = None;
        }
        _ => {}
    }
    let t = st.tick();
    let p = &mut st.prs[i];
    if let Some(title) = text(params, "title") {
        p.draft = draft_title(&title);
        p.title = title;
    }
    if let Some(d) = text(params, "description") {
        p.body = d;
    }
    if let Some(b) = text(params, "target_branch") {
        p.base = b;
    }
    if let Some(l) = params.get("labels") {
        p.labels = names(l);
    }
    for l in params.get("add_labels").map(names).unwrap_or_default() {
        if !p.labels.contains(&l) {
            p.labels.push(l);
        }
    }
    let remove = params.get("remove_labels").map(names).unwrap_or_default();
    p.labels.retain(|l| !remove.contains(l));
    p.updated_at = t;
    reply(200, mr_json(st, &st.prs[i], true))
}

fn merge(st: &mut State, i: usize, params: &Map<String, Value>) -> Reply {
    let p = &st.prs[i];
    if !p.open || p.draft || !p.mergeable || !p.changes_requested.is_empty() {
        return message(405, "405 Method Not Allowed");
    }
    if text(params, "sha").is_some_and(|sha| sha != p.head_sha) {
        return message(
            409,
            &format!("SHA does not match HEAD of source branch: {}", p.head_sha),
        );
    }
    let method = if truthy(params, "squash") {
        "squash"
    } else {
        "merge"
    };
    let title = text(params, "squash_commit_message").or(text(params, "merge_commit_message"));
    match st.merge_pr(i, method, title.as_deref(), true) {
        Ok(_) => reply(200, mr_json(st, &st.prs[i], true)),
        Err(_) => {
            st.prs[i].mergeable = false;
            message(405, "405 Method Not Allowed")
        }
    }
}

fn approvals(st: &State, i: usize) -> Reply {
    let p = &st.prs[i];
    reply(
        200,
        json!({
            "id": p.id,
            "iid": p.number,
            "title": p.title,
            "state": if p.open { "opened" } else if p.merged { "merged" } else { "closed" },
            "approved": !p.approved_by.is_empty(),
            "approvals_required": 0,
            "approvals_left": 0,
            "approved_by": p.approved_by.iter().map(|u| json!({"user": user(u)})).collect::<Vec<_>>(),
        }),
    )
}

/// A review becomes: a system note for an approval or a request for changes, a note with its
/// body, and one diff thread per comment.
fn discussions(st: &State, i: usize, query: &HashMap<String, String>) -> Reply {
    let p = &st.prs[i];
    let mut out = Vec::new();
    let note = |id: u64, author: &str, body: &str, at: i64, system: bool| {
        json!({
            "id": id,
            "type": null,
            "body": body,
            "author": user(author),
            "created_at": stamp(at),
            "updated_at": stamp(at),
            "system": system,
            "resolvable": false,
            "noteable_type": "MergeRequest",
            "noteable_iid": p.number,
        })
    };
    for r in &p.reviews {
        let system = match r.state.as_str() {
            "APPROVED" => Some("approved this merge request"),
            "CHANGES_REQUESTED" => Some("requested changes"),
            _ => None,
        };
        if let Some(text) = system {
            out.push(
                json!({"id": format!("{:040x}", r.id * 3), "individual_note": true,
                "notes": [note(r.id * 3, &r.user, text, r.at, true)]}),
            );
        }
        if !r.body.is_empty() {
            out.push(
                json!({"id": format!("{:040x}", r.id * 3 + 1), "individual_note": true,
                "notes": [note(r.id * 3 + 1, &r.user, &r.body, r.at, false)]}),
            );
        }
        for c in &r.comments {
            let mut n = note(c.id * 3 + 2, &r.user, &c.body, r.at, false);
            n["type"] = json!("DiffNote");
            n["resolvable"] = json!(true);
            n["resolved"] = json!(false);
            n["position"] = json!({
                "base_sha": null, "start_sha": null, "head_sha": r.commit_id,
                "position_type": "text", "old_path": c.path, "new_path": c.path,
                "old_line": null, "new_line": c.line,
            });
            out.push(json!({"id": format!("{:040x}", c.id * 3 + 2), "individual_note": false, "notes": [n]}));
        }
    }
    reply(200, paginate(out, query, 20))
}
