//! Delivery to the forge, end to end on the real binary: the run's branch is pushed to a real
//! git remote (`git daemon` on loopback) and its pull request opened on a loopback server that
//! speaks GitHub's (or GitLab's) REST API; checks and reviews there come back to the run and
//! send its agent round again; merge lands through the API.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::forge_fake::{git_remote, FakeCheck, FakeForge, GitRemote};
use crate::common::*;

pub(crate) const TOKEN: &str = "forge-secret-token-4242";
pub(crate) const TOKEN_VAR: &str = "FD_TEST_FORGE_TOKEN";
/// A pattern matching the token that is not the token (commands are recorded in the proof).
const LEAK: &str = "forge-secret-token-42[4]2";

/// An agent that notes each prompt it is given (so the PR's feedback can be read on the
/// branch) and a check that always passes.
pub(crate) fn config(kind: &str, api: &str, open: &str, extra: &str) -> String {
    format!(
        r#"
max_parallel = 2
[agents.noter]
command = ["sh", "-c", "printf '%s\n---\n' \"$FLIGHTDECK_TASK\" >> notes.txt; env | grep -c {LEAK} >> ../leaks; true"]
[[smoke]]
name = "ok"
command = ["sh", "-c", "env | grep -c {LEAK} >> ../leaks; true"]
[gate]
min_score = 0.0
[forge]
kind = "{kind}"
api_url = "{api}"
token_env = "{TOKEN_VAR}"
open = "{open}"
poll = "1s"
max_feedback = 2
{extra}
"#
    )
}

/// A repository whose `origin` is a real git remote holding its main branch.
pub(crate) fn repo_with_remote(env: &Env) -> (PathBuf, GitRemote) {
    let repo = git_repo(env.path(), "repo");
    let remote = git_remote(env.path());
    git(&repo, &["remote", "add", "origin", &remote.url]);
    git(&repo, &["push", "-q", "origin", "main"]);
    (repo, remote)
}

/// `repo_with_remote`, its remote served by `forge` as repository `name`.
pub(crate) fn repo_on_forge(env: &Env, forge: &FakeForge, name: &str) -> (PathBuf, GitRemote) {
    let (repo, remote) = repo_with_remote(env);
    forge.attach_remote(name, &remote.dir);
    (repo, remote)
}

pub(crate) fn env_with(config: &str) -> Env {
    let mut env = Env::new(config);
    env.vars.push((TOKEN_VAR.into(), TOKEN.into()));
    env
}

fn remote_head(remote: &Path, branch: &str) -> String {
    git(remote, &["rev-parse", &format!("refs/heads/{branch}")])
        .trim()
        .to_string()
}

fn pr_of(r: &Value) -> &Value {
    &r["pr"]
}

fn notes_on_branch(repo: &Path, branch: &str) -> String {
    git(repo, &["show", &format!("{branch}:notes.txt")])
}

/// The token is in no file under FLIGHTDECK_HOME (the server holds it in memory only).
fn assert_token_nowhere(env: &Env) {
    for f in files_under(&env.home) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(TOKEN),
            "the forge token is in {}",
            f.display()
        );
    }
}

#[test]
fn github_a_ready_run_opens_a_pr_checks_and_reviews_send_it_round_and_merge_lands_through_the_api()
{
    let forge = FakeForge::github(TOKEN);
    // The forge repository comes from [forge] repo: a git:// URL on loopback names no owner.
    // The token's variable is even named for passing through: it still reaches no process.
    let env = env_with(&format!(
        "env_passthrough = [\"{TOKEN_VAR}\"]\n{}",
        config("github", &forge.url(), "ready", "repo = \"o/r\"")
    ));
    let (repo, remote) = repo_on_forge(&env, &forge, "o/r");
    let id = env.start(&repo, "noter", "add a note");
    let r = env.wait_for(&id, "a pull request", |r| r["pr"]["number"].is_u64());
    let branch = r["branch"].as_str().unwrap().to_string();
    let prs = forge.prs();
    assert_eq!(prs.len(), 1);
    let pr = &prs[0];
    assert_eq!(pr.head, branch);
    assert_eq!(pr.base, "main");
    assert!(pr.body.contains("score"), "the body is PR.md: {}", pr.body);
    assert!(pr.labels.contains(&"flightdeck".to_string()));
    let first_head = remote_head(&remote.dir, &branch);
    assert_eq!(pr_of(&r)["head"], first_head.as_str());
    assert!(pr_of(&r)["url"].as_str().unwrap().ends_with("/o/r/pull/1"));
    assert_eq!(env.events_of(&id, "pr.pushed").len(), 1);
    assert_eq!(env.events_of(&id, "pr.opened").len(), 1);

    // A failing check on the PR: the agent goes round once with it; the fix goes to the same PR.
    forge.set_checks(
        &first_head,
        vec![FakeCheck::completed(
            "unit",
            "failure",
            "test_total failed: expected 3, got 2",
        )],
    );
    let r = env.wait_for(&id, "the fix pushed", |r| {
        r["pr"]["feedback_rounds"] == 1
            && r["status"] == "succeeded"
            && r["pr"]["head"] != first_head.as_str()
    });
    let second_head = remote_head(&remote.dir, &branch);
    assert_eq!(pr_of(&r)["head"], second_head.as_str());
    assert_eq!(forge.prs().len(), 1, "the same PR, no second one");
    assert_eq!(forge.prs()[0].head_sha, second_head);
    assert!(notes_on_branch(&repo, &branch).contains("test_total failed: expected 3, got 2"));
    assert_eq!(env.events_of(&id, "pr.feedback").len(), 1);
    assert!(!env.events_of(&id, "pr.checks").is_empty());

    // A change request with a comment on a line: the same, with the comment and its place.
    forge.set_checks(
        &second_head,
        vec![FakeCheck::completed("unit", "success", "")],
    );
    forge.review(
        pr.number,
        "alice",
        "CHANGES_REQUESTED",
        "not yet",
        vec![("notes.txt".into(), 1, "say why the total is 3".into())],
    );
    let r = env.wait_for(&id, "the second round", |r| {
        r["pr"]["feedback_rounds"] == 2
            && r["status"] == "succeeded"
            && r["pr"]["head"] != second_head.as_str()
    });
    let notes = notes_on_branch(&repo, &branch);
    assert!(notes.contains("say why the total is 3"), "{notes}");
    assert!(notes.contains("notes.txt:1"), "{notes}");
    let third_head = r["pr"]["head"].as_str().unwrap().to_string();

    // Merging while the forge refuses says which side refuses and why.
    let refused = env.fails(&["merge", &id]);
    assert!(refused.contains("forge"), "{refused}");
    // Approved, checks passing: merge lands through the API.
    forge.set_checks(
        &third_head,
        vec![FakeCheck::completed("unit", "success", "")],
    );
    forge.review(pr.number, "alice", "APPROVED", "good", vec![]);
    env.wait_for(&id, "approved and green", |r| {
        r["pr"]["review"] == "approved" && r["pr"]["checks"] == "passing"
    });
    let out = env.ok(&["merge", &id]);
    assert!(out.contains("through pull request #1"), "{out}");
    let r = env.record(&id);
    assert_eq!(r["merge"], "merged");
    assert_eq!(pr_of(&r)["state"], "merged");
    assert_eq!(
        r["merged_commit"],
        remote_head(&remote.dir, "main").as_str()
    );
    assert!(forge.prs()[0].merged);
    let merges = forge
        .requests()
        .into_iter()
        .filter(|q| q.method == "PUT" && q.path.ends_with("/merge"))
        .count();
    assert_eq!(merges, 1);
    // Each request carried the token; no file under FLIGHTDECK_HOME does.
    assert!(forge
        .requests()
        .iter()
        .all(|q| q.header("authorization") == Some(&format!("Bearer {TOKEN}"))));
    assert_token_nowhere(&env);
    // Three agent rounds and three smoke runs (and the merge queue's test of the merged
    // result, when its scratch worktree sits beside the run's) looked at their environment:
    // no token.
    let worktree = PathBuf::from(r["worktree"].as_str().unwrap());
    let leaks = std::fs::read_to_string(worktree.parent().unwrap().join("leaks")).unwrap();
    let lines: Vec<&str> = leaks.lines().collect();
    assert!(
        lines.len() >= 6 && lines.iter().all(|l| *l == "0"),
        "{leaks}"
    );
}

#[test]
fn a_pr_merged_or_closed_on_the_forge_by_a_person_shows_in_the_run() {
    let forge = FakeForge::github(TOKEN);
    let env = env_with(&config(
        "github",
        &forge.url(),
        "succeeded",
        "repo = \"o/r\"",
    ));
    let (repo, _remote) = repo_on_forge(&env, &forge, "o/r");
    let a = env.start(&repo, "noter", "first");
    let ra = env.wait_for(&a, "a draft PR", |r| r["pr"]["number"].is_u64());
    // Green already when it succeeded: no draft (one that is not green is, see forge_rounds).
    assert_eq!(ra["pr"]["state"], "open", "{ra}");
    forge.merge_by_person(ra["pr"]["number"].as_u64().unwrap());
    let ra = env.wait_for(&a, "merged", |r| r["merge"] == "merged");
    assert_eq!(ra["pr"]["state"], "merged");
    assert_eq!(env.events_of(&a, "pr.merged").len(), 1);

    let b = env.start(&repo, "noter", "second");
    let rb = env.wait_for(&b, "a draft PR", |r| r["pr"]["number"].is_u64());
    forge.close_by_person(rb["pr"]["number"].as_u64().unwrap());
    let rb = env.wait_for(&b, "closed", |r| r["pr"]["state"] == "closed");
    assert_eq!(rb["merge"], "blocked");
    assert!(rb["gate_reasons"][0]
        .as_str()
        .unwrap()
        .contains("closed on the forge"));
}

#[test]
fn gitlab_a_merge_request_is_opened_a_failing_pipeline_sends_the_agent_round_and_merge_lands() {
    let forge = FakeForge::gitlab(TOKEN);
    let env = env_with(&config(
        "gitlab",
        &forge.url(),
        "ready",
        "repo = \"group/name\"",
    ));
    let (repo, _remote) = repo_on_forge(&env, &forge, "group/name");
    let id = env.start(&repo, "noter", "add a note");
    let r = env.wait_for(&id, "a merge request", |r| r["pr"]["number"].is_u64());
    assert_eq!(r["pr"]["forge"], "gitlab");
    let mr = forge.prs()[0].clone();
    assert!(mr.body.contains("score"));
    let head = r["pr"]["head"].as_str().unwrap().to_string();
    forge.set_checks(&head, vec![FakeCheck::completed("lint", "failure", "")]);
    let r = env.wait_for(&id, "the fix pushed", |r| {
        r["pr"]["feedback_rounds"] == 1
            && r["status"] == "succeeded"
            && r["pr"]["head"] != head.as_str()
    });
    let branch = r["branch"].as_str().unwrap();
    assert!(notes_on_branch(&repo, branch).contains("lint"));
    let new_head = r["pr"]["head"].as_str().unwrap().to_string();
    forge.set_checks(&new_head, vec![FakeCheck::completed("lint", "success", "")]);
    forge.review(mr.number, "bob", "APPROVED", "", vec![]);
    env.wait_for(&id, "approved and green", |r| {
        r["pr"]["review"] == "approved" && r["pr"]["checks"] == "passing"
    });
    env.ok(&["merge", &id]);
    let r = env.wait_for(&id, "merged", |r| r["merge"] == "merged");
    assert_eq!(r["pr"]["state"], "merged");
    assert!(forge.prs()[0].merged);
    assert!(forge
        .requests()
        .iter()
        .all(|q| q.header("private-token") == Some(TOKEN)));
    assert_token_nowhere(&env);
}

#[test]
fn bad_forge_setups_get_a_sentence_that_says_what_to_do() {
    let forge = FakeForge::github(TOKEN);
    // No remote at all.
    let env = env_with(&config("github", &forge.url(), "manual", "repo = \"o/r\""));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "noter", "note");
    env.wait_status(&id, "succeeded");
    let err = env.fails(&["pr", &id]);
    assert!(err.contains("no git remote `origin`"), "{err}");
    assert!(forge.prs().is_empty());

    // A wrong token: the forge's refusal, said as such.
    let mut wrong = Env::new(&config("github", &forge.url(), "manual", "repo = \"o/r\""));
    wrong.vars.push((TOKEN_VAR.into(), "not-the-token".into()));
    let (repo, remote) = repo_with_remote(&wrong);
    forge.attach_remote("o/r", &remote.dir);
    let id = wrong.start(&repo, "noter", "note");
    wrong.wait_status(&id, "succeeded");
    let err = wrong.fails(&["pr", &id]);
    assert!(err.contains("refused the token"), "{err}");
    assert!(forge.prs().is_empty());

    // No token in the server's environment.
    let none = Env::new(&config("github", &forge.url(), "manual", "repo = \"o/r\""));
    let (repo, _remote) = repo_with_remote(&none);
    let id = none.start(&repo, "noter", "note");
    none.wait_status(&id, "succeeded");
    let err = none.fails(&["pr", &id]);
    assert!(
        err.contains(TOKEN_VAR) && err.contains("no forge token"),
        "{err}"
    );

    // A token without rights, a server error, a protected branch: each said as such.
    let env = env_with(&config("github", &forge.url(), "manual", "repo = \"o/r\""));
    let (repo, remote) = repo_on_forge(&env, &forge, "o/r");
    let id = env.start(&repo, "noter", "note");
    env.wait_status(&id, "succeeded");
    forge.fail_next(403, "Resource not accessible by integration");
    let err = env.fails(&["pr", &id]);
    assert!(
        err.contains("Resource not accessible by integration")
            && err.contains("Pull requests: write"),
        "{err}"
    );
    forge.fail_next(500, "boom");
    let err = env.fails(&["pr", &id]);
    assert!(err.contains("500") && err.contains("boom"), "{err}");
    assert_eq!(env.events_of(&id, "pr.error").len(), 2);
    let out = env.ok(&["pr", &id]);
    assert!(out.trim().ends_with("/o/r/pull/1"), "{out}");
    let again = env.ok(&["pr", &id]);
    assert_eq!(again, out, "the same PR, updated");
    assert_eq!(forge.prs().len(), 1);
    assert_eq!(env.events_of(&id, "pr.updated").len(), 1);
    // Someone else pushed to the run's branch: nothing is overwritten.
    let r = env.record(&id);
    let branch = r["branch"].as_str().unwrap().to_string();
    let other = git(&remote.dir, &["rev-parse", "main"]);
    git(
        &remote.dir,
        &["update-ref", &format!("refs/heads/{branch}"), other.trim()],
    );
    // The forge's poll sees that push first (the PR's head is theirs now): still not ours to
    // overwrite.
    env.wait_for(&id, "the poll to see the other push", |r| {
        r["pr"]["head"] == other.trim()
    });
    let worktree = PathBuf::from(r["worktree"].as_str().unwrap());
    git(
        &worktree,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "a later commit of the run's",
        ],
    );
    let err = env.fails(&["pr", &id]);
    assert!(err.contains("nothing was overwritten"), "{err}");
    assert_eq!(remote_head(&remote.dir, &branch), other.trim());

    // A remote that is not the forge's (the public API, a remote elsewhere).
    let public = env_with(&config("github", "", "manual", ""));
    let repo = git_repo(public.path(), "repo");
    git(
        &repo,
        &["remote", "add", "origin", "git://127.0.0.1:9/o/r.git"],
    );
    let id = public.start(&repo, "noter", "note");
    public.wait_status(&id, "succeeded");
    let err = public.fails(&["pr", &id]);
    assert!(err.contains("is on 127.0.0.1, not github.com"), "{err}");

    // A repository's file may not set [forge].
    std::fs::write(
        repo.join(".flightdeck.toml"),
        "[forge]\napi_url = \"http://evil.example\"\n",
    )
    .unwrap();
    let err = none.fails(&["trust", "--repo", repo.to_str().unwrap()]);
    assert!(
        err.contains("forge") && err.contains("only your own config"),
        "{err}"
    );
}

#[test]
fn reply_sends_the_agent_round_again_with_a_persons_words() {
    let env = Env::new(
        "[agents.noter]\ncommand = [\"sh\", \"-c\", \"printf '%s\\\\n' \\\"$FLIGHTDECK_TASK\\\" >> notes.txt\"]\n\
         [agents.slow]\ncommand = [\"sleep\", \"30\"]\n[gate]\nmin_score = 0.0\n",
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "noter", "write notes");
    env.wait_status(&id, "succeeded");
    let out = env.ok(&["reply", &id, "also", "say", "hello"]);
    assert!(out.contains("goes again"), "{out}");
    let r = env.wait_for(&id, "the second round", |r| {
        r["attempt"] == 2 && r["status"] == "succeeded"
    });
    let notes = notes_on_branch(&repo, r["branch"].as_str().unwrap());
    assert!(
        notes.contains("A person reviewing this run says") && notes.contains("also say hello"),
        "{notes}"
    );
    assert!(
        notes.starts_with("write notes"),
        "the task comes first: {notes}"
    );
    assert_eq!(env.events_of(&id, "pr.feedback").len(), 1);
    // A run still at work is not sent round; an empty reply is refused.
    let busy = env.start(&repo, "slow", "wait");
    env.wait_status(&busy, "running");
    let err = env.fails(&["reply", &busy, "stop"]);
    assert!(err.contains("cannot reply"), "{err}");
    let err = env.fails(&["reply", &id, " "]);
    assert!(err.contains("empty"), "{err}");
    env.ok(&["kill", &busy]);
}
