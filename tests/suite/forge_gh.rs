//! What users' `gh pr view` shows and what flightdeck recorded agree: Debian's `gh` (2.23)
//! asks the same loopback GitHub the run delivered to, at each step of a pull request's life
//! (opened with a passing check, approved, merged by a person).
//!
//! gh is pointed at the fake with `GH_HOST=github.localhost`, for which gh talks plain HTTP
//! to `http://api.github.localhost/` (its local-development host), and `HTTP_PROXY` = the
//! fake, which takes the proxy's absolute-form requests; `gh pr view` is one GraphQL query.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::forge_fake::{send, FakeCheck, FakeForge};
use crate::forge::{config, env_with, repo_on_forge, TOKEN};

const FIELDS: &str = "number,state,url,isDraft,headRefOid,headRefName,baseRefName,\
                      reviewDecision,mergeable,title,statusCheckRollup";

/// `gh` on PATH, if it is installed. Without it these tests are skipped, except with
/// FLIGHTDECK_GH=required (CI sets it), where they fail.
fn gh_on_path() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("gh"))
            .find(|f| f.is_file())
    });
    assert!(
        found.is_some() || !gh_required(),
        "FLIGHTDECK_GH=required but gh is not on PATH (apt-get install gh)"
    );
    found
}

fn gh_required() -> bool {
    std::env::var("FLIGHTDECK_GH").as_deref() == Ok("required")
}

#[test]
fn without_gh_the_gh_tests_skip_unless_it_is_required() {
    // The switch reads as CI sets it; the tests above fail rather than skip under it.
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(
        ci.lines()
            .any(|l| l.starts_with("export ") && l.contains("FLIGHTDECK_GH=required")),
        ".ci/run exports FLIGHTDECK_GH=required"
    );
}

/// `gh pr view <args> --repo o/r` against the fake, with nothing from the user's own gh
/// (config, token, host, proxies) reaching it.
fn gh(bin: &Path, forge: &FakeForge, dir: &Path, args: &[&str]) -> std::process::Output {
    std::fs::create_dir_all(dir.join("gh-config")).unwrap();
    Command::new(bin)
        .args(["pr", "view"])
        .args(args)
        .args(["--repo", "o/r"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GH_HOST", "github.localhost")
        .env("HTTP_PROXY", forge.root())
        .env("GH_TOKEN", TOKEN)
        .env("GH_CONFIG_DIR", dir.join("gh-config"))
        .env("GH_PROMPT_DISABLED", "1")
        .env("GH_NO_UPDATE_NOTIFIER", "1")
        .env("NO_COLOR", "1")
        .env("GH_PAGER", "cat")
        .current_dir(dir)
        .output()
        .expect("run gh")
}

fn gh_view(bin: &Path, forge: &FakeForge, dir: &Path, n: u64) -> Value {
    let out = gh(bin, forge, dir, &[&n.to_string(), "--json", FIELDS]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "gh pr view failed: {stderr}{stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("gh said no JSON ({e}): {stdout}"))
}

/// flightdeck's record (`show --json`) and gh's view of its pull request say the same.
fn assert_agree(r: &Value, v: &Value) {
    let pr = &r["pr"];
    let said = format!("flightdeck: {pr}\ngh: {v}");
    assert_eq!(v["number"], pr["number"], "{said}");
    assert_eq!(v["url"], pr["url"], "{said}");
    assert_eq!(v["headRefOid"], pr["head"], "{said}");
    assert_eq!(v["headRefName"], r["branch"], "{said}");
    assert_eq!(v["baseRefName"], r["target"], "{said}");
    assert_eq!(
        v["title"].as_str(),
        r["task"].as_str().and_then(|t| t.lines().next()),
        "{said}"
    );
    let state = match (v["state"].as_str(), v["isDraft"].as_bool()) {
        (Some("OPEN"), Some(false)) => "open",
        (Some("OPEN"), Some(true)) => "draft",
        (Some("MERGED"), _) => "merged",
        (Some("CLOSED"), _) => "closed",
        _ => panic!("gh's state: {said}"),
    };
    assert_eq!(pr["state"], state, "{said}");
    let review = pr["review"].as_str().unwrap();
    match v["reviewDecision"].as_str() {
        Some("APPROVED") => assert_eq!(review, "approved", "{said}"),
        Some("CHANGES_REQUESTED") => assert_eq!(review, "changes_requested", "{said}"),
        // The fake's base branch requires a review: none decisive yet.
        Some("REVIEW_REQUIRED") => assert!(matches!(review, "none" | "commented"), "{said}"),
        _ => panic!("gh's reviewDecision: {said}"),
    }
    // flightdeck asks the forge whether it would merge only when merging.
    if let Some(m) = pr["mergeable"].as_bool() {
        let gh = match v["mergeable"].as_str() {
            Some("MERGEABLE") => true,
            Some("CONFLICTING") => false,
            _ => panic!("gh's mergeable: {said}"),
        };
        assert_eq!(m, gh, "{said}");
    }
    let rollup = v["statusCheckRollup"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let checks = if rollup.is_empty() {
        "none"
    } else if rollup.iter().any(|c| {
        matches!(
            c["conclusion"].as_str(),
            Some("FAILURE" | "TIMED_OUT" | "CANCELLED" | "ACTION_REQUIRED" | "STARTUP_FAILURE")
        )
    }) {
        "failing"
    } else if rollup.iter().any(|c| c["status"] != "COMPLETED") {
        "pending"
    } else {
        "passing"
    };
    assert_eq!(pr["checks"], checks, "{said}");
}

#[test]
fn gh_pr_view_against_the_same_forge_agrees_with_the_run_record() {
    let Some(bin) = gh_on_path() else {
        eprintln!("gh not installed: skipped");
        return;
    };
    let forge = FakeForge::github(TOKEN);
    let env = env_with(&config("github", &forge.url(), "ready", "repo = \"o/r\""));
    let (repo, _remote) = repo_on_forge(&env, &forge, "o/r");
    let id = env.start(&repo, "noter", "add a note\n\nwith more said below");
    let r = env.wait_for(&id, "a pull request", |r| r["pr"]["number"].is_u64());
    let n = r["pr"]["number"].as_u64().unwrap();
    let head = r["pr"]["head"].as_str().unwrap().to_string();

    // Open, a passing check on its head, no review yet.
    forge.set_checks(
        &head,
        vec![FakeCheck::completed("unit", "success", "all good")],
    );
    let r = env.wait_for(&id, "checks passing", |r| r["pr"]["checks"] == "passing");
    let v = gh_view(&bin, &forge, env.path(), n);
    assert_eq!(v["state"], "OPEN");
    assert_eq!(v["isDraft"], false);
    assert_eq!(v["reviewDecision"], "REVIEW_REQUIRED");
    assert_eq!(v["mergeable"], "MERGEABLE");
    assert_eq!(v["statusCheckRollup"][0]["name"], "unit");
    assert_eq!(v["statusCheckRollup"][0]["conclusion"], "SUCCESS");
    assert_agree(&r, &v);

    // Approved by a person: flightdeck's next poll and gh both say so.
    forge.review(n, "alice", "APPROVED", "good", vec![]);
    let r = env.wait_for(&id, "approved", |r| r["pr"]["review"] == "approved");
    let v = gh_view(&bin, &forge, env.path(), n);
    assert_eq!(v["reviewDecision"], "APPROVED");
    assert_agree(&r, &v);

    // Merged by a person on the forge.
    forge.merge_by_person(n);
    let r = env.wait_for(&id, "merged", |r| r["pr"]["state"] == "merged");
    let v = gh_view(&bin, &forge, env.path(), n);
    assert_eq!(v["state"], "MERGED");
    assert_agree(&r, &v);

    // gh went to the fake, with its token: one GraphQL query per view.
    let asked: Vec<_> = forge
        .requests()
        .into_iter()
        .filter(|q| q.path == "/graphql")
        .collect();
    assert_eq!(asked.len(), 3);
    assert!(asked.iter().all(
        |q| q.header("authorization") == Some(&format!("token {TOKEN}"))
            && q.header("host") == Some("api.github.localhost")
    ));

    // A pull request the forge does not have: gh says so, as for GitHub's own answer.
    let out = gh(&bin, &forge, env.path(), &["9", "--json", "number,title"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Could not resolve to a PullRequest with the number of 9"),
        "{err}"
    );
}

/// The fake answers only the fields it has: gh asking for more (plain `gh pr view` wants the
/// author, comments, reviews…) gets GraphQL's error for a field that does not exist, never
/// blanks that would look like an answer.
#[test]
fn gh_asking_the_fake_for_a_field_it_lacks_fails_loudly() {
    let Some(bin) = gh_on_path() else {
        eprintln!("gh not installed: skipped");
        return;
    };
    let forge = FakeForge::github(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let auth = format!("Bearer {TOKEN}");
    let pr = r#"{"title": "T", "head": "b", "base": "main", "body": "hello"}"#;
    let url = format!("{}/repos/o/r/pulls", forge.url());
    let headers = [("User-Agent", "fd-test"), ("Authorization", auth.as_str())];
    assert_eq!(send("POST", &url, &headers, Some(pr)).status, 201);

    let out = gh(
        &bin,
        &forge,
        dir.path(),
        &["1", "--json", "state,body", "-q", ".state"],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OPEN\n");
    let out = gh(&bin, &forge, dir.path(), &["1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("doesn't exist on type 'PullRequest'"), "{err}");
}
