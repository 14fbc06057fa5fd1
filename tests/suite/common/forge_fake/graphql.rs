//! GitHub's GraphQL endpoint (`POST /graphql`), only as far as `gh pr view N --json …` (gh
//! 2.23) needs it: `repository(owner:, name:) { pullRequest(number:) { … } }`, answered from
//! the same pull requests the REST side serves.
//!
//! Not a GraphQL parser: the query's selections are split at brace depth to find the
//! repository, its pull request and the pull request's fields (with their aliases); each
//! field is answered whole. A field the fake does not know is a GraphQL error, as GitHub
//! answers a field that does not exist, so a gh that asks for more fails loudly instead of
//! showing blanks.
//!
//! `reviewDecision` is answered as for a base branch that requires one approving review
//! (GitHub says null when no review is required): REVIEW_REQUIRED until someone approves,
//! CHANGES_REQUESTED while anyone's latest decisive review requests changes.

use serde_json::{json, Map, Value};

use super::http::Reply;
use super::{reply, stamp, stamp_opt, Pr, State};

/// One selection: `alias: name(args) { sub }`, args and sub as written (without brackets).
struct Field<'a> {
    key: &'a str,
    name: &'a str,
    args: &'a str,
    sub: &'a str,
}

/// The one mutation flightdeck sends: `markPullRequestReadyForReview(input: {pullRequestId:
/// $id})`, the id a pull request's REST `node_id`; None for anything else (a query).
pub(super) fn mutate(st: &mut State, body: &Value) -> Option<Reply> {
    let query = body["query"].as_str().unwrap_or("");
    if !query.trim_start().starts_with("mutation") {
        return None;
    }
    if !query.contains("markPullRequestReadyForReview") {
        return Some(errors(Value::Null, "the fake knows no such mutation", &[]));
    }
    let id = body["variables"]["id"].as_str().unwrap_or("");
    let Some(i) = st.prs.iter().position(|p| super::github::node_id(p) == id) else {
        return Some(errors(
            json!({"markPullRequestReadyForReview": null}),
            &format!("Could not resolve to a node with the global id of '{id}'"),
            &["markPullRequestReadyForReview"],
        ));
    };
    let t = st.tick();
    st.prs[i].draft = false;
    st.prs[i].updated_at = t;
    Some(reply(
        200,
        json!({"data": {"markPullRequestReadyForReview": {"pullRequest": {"isDraft": false}}}}),
    ))
}

pub(super) fn handle(st: &State, body: &Value) -> Reply {
    let query = body["query"].as_str().unwrap_or("");
    let vars = &body["variables"];
    let Some(op) = operation(query) else {
        return errors(Value::Null, "the query has no selection set", &[]);
    };
    let top = selections(op);
    let [repo_sel] = top.as_slice() else {
        return unsupported(&top);
    };
    if repo_sel.name != "repository" {
        return unsupported(&top);
    }
    let inner = selections(repo_sel.sub);
    let [pr_sel] = inner.as_slice() else {
        return unsupported(&inner);
    };
    if pr_sel.name != "pullRequest" {
        return unsupported(&inner);
    }
    let owner = arg(repo_sel.args, "owner", vars);
    let name = arg(repo_sel.args, "name", vars);
    let number = arg(pr_sel.args, "number", vars);
    let (Some(owner), Some(name), Some(number)) = (
        owner.as_ref().and_then(Value::as_str),
        name.as_ref().and_then(Value::as_str),
        number.as_ref().and_then(Value::as_u64),
    ) else {
        return errors(
            Value::Null,
            "repository needs owner and name, pullRequest a number",
            &[],
        );
    };
    let repo = format!("{owner}/{name}");
    let known = st.remotes.contains_key(&repo) || st.prs.iter().any(|p| p.repo == repo);
    if !known {
        return not_found(
            json!({ repo_sel.key: null }),
            &format!("Could not resolve to a Repository with the name '{repo}'."),
            &[repo_sel.key],
        );
    }
    let Some(i) = st.pr_index(&repo, number) else {
        return not_found(
            json!({ repo_sel.key: { pr_sel.key: null } }),
            &format!("Could not resolve to a PullRequest with the number of {number}."),
            &[repo_sel.key, pr_sel.key],
        );
    };
    let p = &st.prs[i];
    let mut out = Map::new();
    for f in selections(pr_sel.sub) {
        match field(st, p, &f) {
            Some(v) => out.insert(f.key.to_string(), v),
            None => {
                return errors(
                    Value::Null,
                    &format!(
                        "Field '{}' doesn't exist on type 'PullRequest' (not in the fake forge)",
                        f.name
                    ),
                    &[repo_sel.key, pr_sel.key, f.key],
                )
            }
        };
    }
    reply(
        200,
        json!({"data": { repo_sel.key: { pr_sel.key: Value::Object(out) } }}),
    )
}

/// A pull request's field as GitHub's GraphQL API has it; None for one the fake lacks.
fn field(st: &State, p: &Pr, f: &Field) -> Option<Value> {
    let upper = |s: &str| s.to_ascii_uppercase();
    Some(match f.name {
        "id" => json!(format!("PR_fake{}", p.id)),
        "number" => json!(p.number),
        "title" => json!(p.title),
        "body" => json!(p.body),
        "url" => json!(format!("{}/{}/pull/{}", st.root, p.repo, p.number)),
        "state" => json!(if p.merged {
            "MERGED"
        } else if p.open {
            "OPEN"
        } else {
            "CLOSED"
        }),
        "closed" => json!(!p.open),
        "isDraft" => json!(p.draft),
        "headRefName" => json!(p.head),
        "headRefOid" => json!(p.head_sha),
        "baseRefName" => json!(p.base),
        "isCrossRepository" => json!(false),
        "mergeable" => json!(if p.mergeable {
            "MERGEABLE"
        } else {
            "CONFLICTING"
        }),
        "reviewDecision" => json!(if !p.changes_requested.is_empty() {
            "CHANGES_REQUESTED"
        } else if !p.approved_by.is_empty() {
            "APPROVED"
        } else {
            "REVIEW_REQUIRED"
        }),
        "createdAt" => json!(stamp(p.created_at)),
        "updatedAt" => json!(stamp(p.updated_at)),
        "closedAt" => stamp_opt(p.closed_at),
        "mergedAt" => stamp_opt(p.merged_at),
        "mergeCommit" => match &p.merge_sha {
            Some(sha) => json!({"oid": sha}),
            None => Value::Null,
        },
        "labels" => {
            let nodes: Vec<Value> = p
                .labels
                .iter()
                .map(|l| json!({"id": format!("LA_fake{}", super::hash_of(l) % 100_000), "name": l, "description": "", "color": "ededed"}))
                .collect();
            json!({"totalCount": nodes.len(), "nodes": nodes})
        }
        // gh's `statusCheckRollup`: `commits(last: 1) { nodes { commit { statusCheckRollup
        // { contexts … } } } }`, the head commit's check runs (the fake has no commit
        // statuses, so no StatusContext).
        "commits" if f.args.replace(' ', "") == "last:1" && f.sub.contains("statusCheckRollup") => {
            let rollup = st.checks.get(&p.head_sha).map(|checks| {
                let nodes: Vec<Value> = checks
                    .runs
                    .iter()
                    .map(|(id, c)| {
                        let done = c.status == "completed";
                        json!({
                            "__typename": "CheckRun",
                            "name": c.name,
                            "checkSuite": {"workflowRun": null},
                            "status": upper(&c.status),
                            "conclusion": c.conclusion.as_deref().map(upper),
                            "startedAt": stamp(checks.at),
                            "completedAt": if done { json!(stamp(checks.at)) } else { Value::Null },
                            "detailsUrl": format!("{}/{}/runs/{id}", st.root, p.repo),
                        })
                    })
                    .collect();
                json!({"contexts": {"nodes": nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}}})
            });
            json!({"nodes": [{"commit": {"oid": p.head_sha, "statusCheckRollup": rollup}}]})
        }
        _ => return None,
    })
}

fn unsupported(found: &[Field]) -> Reply {
    let names: Vec<&str> = found.iter().map(|f| f.name).collect();
    errors(
        Value::Null,
        &format!(
            "the fake forge answers only repository {{ pullRequest {{ … }} }}, not {}",
            names.join(", ")
        ),
        &[],
    )
}

fn errors(data: Value, message: &str, path: &[&str]) -> Reply {
    reply(
        200,
        json!({"data": data, "errors": [{"message": message, "path": path}]}),
    )
}

fn not_found(data: Value, message: &str, path: &[&str]) -> Reply {
    reply(
        200,
        json!({"data": data, "errors": [{"type": "NOT_FOUND", "message": message, "path": path}]}),
    )
}

/// The value of argument `name` in `args` (`owner: $owner, name: "r"`): a `$variable` from
/// `vars`, a quoted string or a number.
fn arg(args: &str, name: &str, vars: &Value) -> Option<Value> {
    args.split(',').find_map(|a| {
        let (k, v) = a.split_once(':')?;
        if k.trim() != name {
            return None;
        }
        let v = v.trim();
        if let Some(var) = v.strip_prefix('$') {
            return vars.get(var).cloned();
        }
        if let Some(s) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            return Some(json!(s));
        }
        v.parse::<u64>().ok().map(|n| json!(n))
    })
}

/// The operation's selection set: the text inside its first `{ … }`, past the variable
/// definitions' `( … )`.
fn operation(query: &str) -> Option<&str> {
    let mut i = 0;
    while let Some(n) = query[i..].find(['{', '(']) {
        let open = i + n;
        let end = closing(query, open)?;
        if query.as_bytes()[open] == b'{' {
            return Some(&query[open + 1..end]);
        }
        i = end + 1;
    }
    None
}

/// The index of the bracket closing the one at `open`, skipping strings.
fn closing(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let bytes = text.as_bytes();
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'{' | b'(' if !in_str => depth += 1,
            b'}' | b')' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The selections of one level: `name`, `alias: name`, each maybe with `(args)` and
/// `{ sub }`. A fragment (`...on T { }`) is kept as a field named `...on`, which no level
/// answers.
fn selections(sel: &str) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    let word_end = |from: usize| {
        sel[from..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .map_or(sel.len(), |n| from + n)
    };
    let skip_space = |from: usize| {
        sel[from..]
            .find(|c: char| !(c.is_whitespace() || c == ','))
            .map_or(sel.len(), |n| from + n)
    };
    let mut i = skip_space(0);
    while i < sel.len() {
        let mut end = word_end(i);
        if end == i {
            // Not a name: step over the character.
            end += sel[i..].chars().next().map_or(1, char::len_utf8);
        }
        let mut key = &sel[i..end];
        let mut name = key;
        i = skip_space(end);
        if sel[i..].starts_with(':') {
            let start = skip_space(i + 1);
            let end = word_end(start);
            name = &sel[start..end];
            i = skip_space(end);
        }
        if name == "..." {
            key = "...on";
            name = key;
        }
        let (mut args, mut sub) = ("", "");
        if sel[i..].starts_with('(') {
            let end = closing(sel, i).unwrap_or(sel.len() - 1);
            args = &sel[i + 1..end];
            i = skip_space(end + 1);
        }
        // A fragment's type condition (`on T`) before its block.
        if name == "...on" && !sel[i..].starts_with('{') {
            i = skip_space(word_end(skip_space(word_end(i))));
        }
        if sel[i..].starts_with('{') {
            let end = closing(sel, i).unwrap_or(sel.len() - 1);
            sub = &sel[i + 1..end];
            i = skip_space(end + 1);
        }
        out.push(Field {
            key,
            name,
            args,
            sub,
        });
    }
    out
}
