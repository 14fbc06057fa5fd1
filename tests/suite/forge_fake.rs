//! The fake forge itself (test support for the forge client): GitHub pull requests with
//! validation, ETags, auth, rate limits and merges; a push to the loopback git remote moving
//! a pull request's head; GitLab merge requests under a `%2F` project path, approvals,
//! discussions, pipelines and merges.

use serde_json::{json, Value};

use crate::common::forge_fake::{git_remote, send, FakeCheck, FakeForge, Resp, ZERO_SHA};
use crate::common::{git, git_repo};

const TOKEN: &str = "fake-token-7";

fn gh_with(f: &FakeForge, method: &str, path: &str, body: Value, extra: &[(&str, &str)]) -> Resp {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("User-Agent", "fd-test"), ("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    let (url, body) = (format!("{}{path}", f.url()), body.to_string());
    let body = Some(body.as_str()).filter(|b| *b != "null");
    send(method, &url, &headers, body)
}

fn gh(f: &FakeForge, method: &str, path: &str, body: Value) -> Resp {
    gh_with(f, method, path, body, &[])
}

fn get(f: &FakeForge, path: &str) -> Resp {
    gh(f, "GET", path, Value::Null)
}

fn gl(f: &FakeForge, method: &str, path: &str, body: Value) -> Resp {
    let url = format!("{}/projects/group%2Fname{path}", f.url());
    let body = body.to_string();
    let body = Some(body.as_str()).filter(|b| *b != "null");
    send(method, &url, &[("PRIVATE-TOKEN", TOKEN)], body)
}

/// The values at these JSON pointers (space-separated), as an array.
fn pick(v: &Value, pointers: &str) -> Value {
    let fields: Vec<_> = pointers.split(' ').map(|p| v.pointer(p)).collect();
    json!(fields)
}

/// The status, then the values at these JSON pointers.
fn at(r: &Resp, pointers: &str) -> Value {
    let mut fields = vec![json!(r.status)];
    for p in pointers.split_whitespace() {
        fields.push(r.json().pointer(p).cloned().unwrap_or_default());
    }
    json!(fields)
}

fn remaining(r: &Resp) -> u64 {
    r.header("x-ratelimit-remaining").unwrap().parse().unwrap()
}

const P1: &str = "/repos/o/r/pulls/1";

#[test]
fn github_pull_requests_validate_answer_etags_and_check_auth() {
    let f = FakeForge::github(TOKEN);
    let pr = json!({"title": "Run 1", "head": "fd/run-1", "base": "main", "body": "hi"});
    let r = gh(&f, "POST", "/repos/o/r/pulls", pr.clone());
    let url = format!("{}/o/r/pull/1", f.url());
    let want = json!([201, 1, url, ZERO_SHA]);
    assert_eq!(at(&r, "/number /html_url /head/sha"), want);
    let dup = gh(&f, "POST", "/repos/o/r/pulls", pr);
    let msg = "A pull request already exists for o:fd/run-1.";
    assert_eq!(at(&dup, "/errors/0/message"), json!([422, msg]));
    let long = json!({"title": "t", "head": "fd/b", "base": "main", "body": "x".repeat(65537)});
    let r = gh(&f, "POST", "/repos/o/r/pulls", long);
    assert_eq!(at(&r, "/errors/0/field"), json!([422, "body"]));

    let list = get(&f, "/repos/o/r/pulls?state=all&head=o:fd/run-1");
    assert_eq!(at(&list, "/0/number /1"), json!([200, 1, null]));
    let none = get(&f, "/repos/o/r/pulls?state=all&head=o:fd/other");
    assert_eq!(none.json(), json!([]));

    // ETags: a 304 costs nothing; a change makes a new one.
    let first = get(&f, P1);
    assert_eq!(at(&first, "/mergeable /merged"), json!([200, true, false]));
    let etag = first.header("etag").unwrap().to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    let cached = [("If-None-Match", etag.as_str())];
    let again = gh_with(&f, "GET", P1, Value::Null, &cached);
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    assert_eq!(remaining(&again), remaining(&first));
    let labels = json!({"labels": ["flightdeck"]});
    let r = gh(&f, "POST", "/repos/o/r/issues/1/labels", labels);
    assert_eq!(at(&r, "/0/name /1"), json!([200, "flightdeck", null]));
    assert_eq!(f.pr(1).labels, vec!["flightdeck"]);
    let changed = gh_with(&f, "GET", P1, Value::Null, &cached);
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag").unwrap(), etag);
    assert_eq!(remaining(&changed), remaining(&first) - 2);

    let pr1 = format!("{}{P1}", f.url());
    let bare = send("GET", &pr1, &[("User-Agent", "x")], None);
    assert_eq!(at(&bare, "/message"), json!([401, "Bad credentials"]));
    let wrong = [("User-Agent", "x"), ("Authorization", "token nope")];
    assert_eq!(send("GET", &pr1, &wrong, None).status, 401);
    let auth = format!("token {TOKEN}");
    let r = send("GET", &pr1, &[("Authorization", &auth)], None);
    assert_eq!(r.status, 403);

    f.rate_limit_next(1, 7);
    f.fail_next(502, "boom");
    let limited = get(&f, P1);
    let wait = limited.header("retry-after");
    assert_eq!((limited.status, wait), (429, Some("7")));
    assert_eq!(at(&get(&f, P1), "/message"), json!([502, "boom"]));
    assert_eq!(get(&f, P1).status, 200);
    let log = f.requests();
    let last: Vec<u16> = log[log.len() - 3..].iter().map(|r| r.status).collect();
    assert_eq!(last, [429, 502, 200]);
    assert_eq!(log[0].header("user-agent"), Some("fd-test"));
}

#[test]
fn github_merges_only_when_mergeable_and_shows_reviews_and_checks() {
    let f = FakeForge::github(TOKEN);
    let pr = json!({"title": "Run", "head": "fd/a", "base": "main", "body": ""});
    assert_eq!(gh(&f, "POST", "/repos/o/r/pulls", pr).status, 201);
    let comment = ("src/lib.rs".to_string(), 3, "off by one".to_string());
    f.review(1, "alice", "CHANGES_REQUESTED", "fix it", vec![comment]);
    let reviews = get(&f, "/repos/o/r/pulls/1/reviews");
    let want = json!([200, "CHANGES_REQUESTED", "alice", "fix it"]);
    assert_eq!(at(&reviews, "/0/state /0/user/login /0/body"), want);
    let comments = get(&f, "/repos/o/r/pulls/1/comments");
    let want = json!([200, "src/lib.rs", 3, reviews.json()[0]["id"]]);
    let fields = "/0/path /0/line /0/pull_request_review_id";
    assert_eq!(at(&comments, fields), want);

    let checks = vec![
        FakeCheck::completed("test", "failure", "2 failed"),
        FakeCheck::in_progress("lint"),
    ];
    f.set_checks(ZERO_SHA, checks);
    let runs = get(&f, &format!("/repos/o/r/commits/{ZERO_SHA}/check-runs"));
    let first = "/total_count /check_runs/0/conclusion /check_runs/0/output/summary";
    assert_eq!(at(&runs, first), json!([200, 2, "failure", "2 failed"]));
    let status = get(&f, &format!("/repos/o/r/commits/{ZERO_SHA}/status"));
    assert_eq!(at(&status, "/total_count"), json!([200, 0]));

    f.set_mergeable(1, false);
    let merge = json!({"merge_method": "squash"});
    let r = gh(&f, "PUT", "/repos/o/r/pulls/1/merge", merge.clone());
    let want = json!([405, "Pull Request is not mergeable"]);
    assert_eq!(at(&r, "/message"), want);
    f.set_mergeable(1, true);
    let stale = json!({"merge_method": "squash", "sha": "1".repeat(40)});
    assert_eq!(gh(&f, "PUT", "/repos/o/r/pulls/1/merge", stale).status, 409);
    let r = gh(&f, "PUT", "/repos/o/r/pulls/1/merge", merge);
    assert_eq!(at(&r, "/merged"), json!([200, true]));
    let v = get(&f, P1);
    assert_eq!(at(&v, "/state /merged"), json!([200, "closed", true]));
    assert!(v.json()["merged_at"].is_string());
    assert!(f.pr(1).merged);
}

#[test]
fn a_push_to_the_git_remote_moves_the_head_and_a_merge_lands_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let work = git_repo(tmp.path(), "work");
    let remote = git_remote(tmp.path());
    assert!(remote.url.starts_with("git://127.0.0.1:") && remote.url.ends_with("/repo.git"));
    git(&work, &["push", "-q", &remote.url, "main"]);
    git(&work, &["checkout", "-q", "-b", "fd/x"]);
    std::fs::write(work.join("new.txt"), "one\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["push", "-q", &remote.url, "fd/x"]);

    let f = FakeForge::github(TOKEN);
    f.attach_remote("o/r", &remote.dir);
    let missing = json!({"title": "t", "head": "fd/none", "base": "main"});
    assert_eq!(gh(&f, "POST", "/repos/o/r/pulls", missing).status, 422);
    let pr = json!({"title": "Run x", "head": "o:fd/x", "base": "main"});
    let r = gh(&f, "POST", "/repos/o/r/pulls", pr);
    let head = git(&work, &["rev-parse", "HEAD"]);
    assert_eq!(at(&r, "/head/sha"), json!([201, head.trim()]));

    std::fs::write(work.join("new.txt"), "two\n").unwrap();
    git(&work, &["commit", "-q", "-am", "two"]);
    git(&work, &["push", "-q", &remote.url, "fd/x"]);
    let head = git(&work, &["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(at(&get(&f, P1), "/head/sha"), json!([200, head]));
    assert_eq!(f.pr(1).head_sha, head);

    let merge = json!({"merge_method": "squash", "sha": head});
    let r = gh(&f, "PUT", "/repos/o/r/pulls/1/merge", merge);
    let main = git(&remote.dir, &["rev-parse", "main"]);
    assert_eq!(at(&r, "/sha"), json!([200, main.trim()]), "{}", r.body);
    assert_eq!(git(&remote.dir, &["show", "main:new.txt"]), "two\n");
}

#[test]
fn gitlab_merge_requests_approvals_discussions_pipelines_and_merge() {
    let f = FakeForge::gitlab(TOKEN);
    assert!(f.url().ends_with("/api/v4"));
    let mr = json!({"source_branch": "fd/g", "target_branch": "main", "title": "Draft: Run g",
        "description": "d", "labels": "flightdeck"});
    let r = gl(&f, "POST", "/merge_requests", mr.clone());
    let web = format!("{}/group/name/-/merge_requests/1", f.root());
    let want = json!([201, 1, true, ["flightdeck"], web, "opened"]);
    assert_eq!(at(&r, "/iid /draft /labels /web_url /state"), want);
    let dup = gl(&f, "POST", "/merge_requests", mr);
    let msg = "Another open merge request already exists for this source branch: !1";
    assert_eq!(at(&dup, "/message/0"), json!([409, msg]));
    let list = gl(&f, "GET", "/merge_requests?source_branch=fd/g", Value::Null);
    assert_eq!(at(&list, "/0/iid /1"), json!([200, 1, null]));
    let other = gl(&f, "GET", "/merge_requests?source_branch=fd/h", json!(null));
    assert_eq!(other.json(), json!([]));
    let mr1 = format!("{}/projects/group%2Fname/merge_requests/1", f.url());
    let anon = send("GET", &mr1, &[], None);
    assert_eq!(at(&anon, "/message"), json!([401, "401 Unauthorized"]));
    let bearer = format!("Bearer {TOKEN}");
    let r = send("GET", &mr1, &[("Authorization", &bearer)], None);
    assert_eq!(r.status, 200);

    f.review(1, "alice", "APPROVED", "", vec![]);
    let a = gl(&f, "GET", "/merge_requests/1/approvals", Value::Null);
    let want = json!([200, true, "alice"]);
    assert_eq!(at(&a, "/approved /approved_by/0/user/username"), want);
    let comment = ("src/lib.rs".to_string(), 7, "why?".to_string());
    f.review(1, "bob", "CHANGES_REQUESTED", "", vec![comment]);
    let d = gl(&f, "GET", "/merge_requests/1/discussions", Value::Null).json();
    let threads = d.as_array().unwrap().iter();
    let diff = threads
        .map(|d| &d["notes"][0])
        .find(|n| n["type"] == "DiffNote");
    let fields = "/body /position/new_path /position/new_line /resolved";
    let note = pick(diff.unwrap(), fields);
    assert_eq!(note, json!(["why?", "src/lib.rs", 7, false]));
    let v = gl(&f, "GET", "/merge_requests/1", Value::Null);
    let want = json!([200, "requested_changes"]);
    assert_eq!(at(&v, "/detailed_merge_status"), want);

    let checks = vec![
        FakeCheck::completed("unit", "failure", ""),
        FakeCheck::completed("lint", "success", ""),
    ];
    f.set_checks(ZERO_SHA, checks);
    let v = gl(&f, "GET", "/merge_requests/1", Value::Null).json();
    assert_eq!(v["head_pipeline"]["status"], "failed");
    let pipeline = &v["head_pipeline"]["id"];
    let path = format!("/pipelines/{pipeline}/jobs?scope[]=failed");
    let jobs = gl(&f, "GET", &path, Value::Null);
    let want = json!([200, "unit", "failed", null]);
    assert_eq!(at(&jobs, "/0/name /0/status /1"), want);

    let squash = json!({"squash": true});
    assert_eq!(
        gl(&f, "PUT", "/merge_requests/1/merge", squash.clone()).status,
        405
    );
    let undraft = json!({"title": "Run g", "add_labels": "ready"});
    let r = gl(&f, "PUT", "/merge_requests/1", undraft);
    assert_eq!(
        at(&r, "/draft /labels"),
        json!([200, false, ["flightdeck", "ready"]])
    );
    f.review(1, "bob", "APPROVED", "ok now", vec![]);
    let stale = json!({"sha": "f".repeat(40)});
    assert_eq!(gl(&f, "PUT", "/merge_requests/1/merge", stale).status, 409);
    let r = gl(&f, "PUT", "/merge_requests/1/merge", squash);
    assert_eq!(at(&r, "/state"), json!([200, "merged"]));
    assert!(f.pr(1).merged);
}
