//! The forge's state coming back to runs, end to end on the real binary: a poll error reaches
//! the run (once, and one PR that 404s does not stop the others), GitLab's change requests and
//! failing pipelines (with the job's log) send the agent round, a person merging or closing a
//! merge request shows, a draft is marked ready once the run is green, `max_feedback` and
//! `feedback = false` hold the agent back, and the server's own poll keeps to its budget.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::forge_fake::{FakeCheck, FakeForge};
use crate::common::*;
use crate::forge::{config, env_with, repo_on_forge, TOKEN};

fn notes_on_branch(repo: &Path, branch: &str) -> String {
    git(repo, &["show", &format!("{branch}:notes.txt")])
}

#[test]
fn a_poll_error_reaches_the_run_once_and_one_missing_pr_does_not_stop_the_others() {
    let forge = FakeForge::github(TOKEN);
    let env = env_with(&config(
        "github",
        &forge.url(),
        "succeeded",
        "repo = \"o/r\"",
    ));
    let (repo, _remote) = repo_on_forge(&env, &forge, "o/r");
    let a = env.start(&repo, "noter", "first");
    let b = env.start(&repo, "noter", "second");
    let ra = env.wait_for(&a, "a PR", |r| r["pr"]["number"].is_u64());
    let rb = env.wait_for(&b, "a PR", |r| r["pr"]["number"].is_u64());
    // a's PR is gone from the forge (it answers 404); b's is closed by a person.
    forge.delete_pr(ra["pr"]["number"].as_u64().unwrap());
    forge.close_by_person(rb["pr"]["number"].as_u64().unwrap());
    env.wait_for(&b, "closed", |r| r["pr"]["state"] == "closed");
    let ra = env.wait_for(&a, "the error", |r| r["pr"]["error"].is_string());
    let error = ra["pr"]["error"].as_str().unwrap().to_string();
    assert!(error.contains("404"), "{error}");
    // Polls go on every second; the timeline says it once.
    std::thread::sleep(Duration::from_secs(5));
    let errors = env.events_of(&a, "pr.error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["message"], error.as_str());
    let shown = env.ok(&["show", &a]);
    assert!(shown.contains(&error), "{shown}");
}

#[test]
fn gitlab_change_requests_and_failing_pipelines_send_the_agent_round_and_a_person_merging_shows() {
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
    let n = r["pr"]["number"].as_u64().unwrap();
    let branch = r["branch"].as_str().unwrap().to_string();
    // A failing pipeline: the agent gets the job's log tail, not only its name.
    let head = r["pr"]["head"].as_str().unwrap().to_string();
    forge.set_checks(
        &head,
        vec![FakeCheck::completed(
            "lint",
            "failure",
            "src/total.rs:3: unused variable `x`",
        )],
    );
    let r = env.wait_for(&id, "the first round", |r| {
        r["pr"]["feedback_rounds"] == 1
            && r["status"] == "succeeded"
            && r["pr"]["head"] != head.as_str()
    });
    let notes = notes_on_branch(&repo, &branch);
    assert!(
        notes.contains("lint") && notes.contains("src/total.rs:3: unused variable `x`"),
        "{notes}"
    );
    assert!(!notes.contains("section_start"), "{notes}");
    let second = r["pr"]["head"].as_str().unwrap().to_string();
    forge.set_checks(&second, vec![FakeCheck::completed("lint", "success", "")]);
    // A reviewer requests changes on a line: the agent gets the comment with file and line.
    forge.review(
        n,
        "bob",
        "CHANGES_REQUESTED",
        "",
        vec![("notes.txt".into(), 1, "say why the total is 3".into())],
    );
    env.wait_for(&id, "the second round", |r| {
        r["pr"]["feedback_rounds"] == 2
            && r["status"] == "succeeded"
            && r["pr"]["head"] != second.as_str()
    });
    let notes = notes_on_branch(&repo, &branch);
    assert!(
        notes.contains("say why the total is 3") && notes.contains("notes.txt:1"),
        "{notes}"
    );
    // Merged by a person on GitLab: the run shows it.
    forge.merge_by_person(n);
    let r = env.wait_for(&id, "merged", |r| r["merge"] == "merged");
    assert_eq!(r["pr"]["state"], "merged");
    assert_eq!(env.events_of(&id, "pr.merged").len(), 1);

    // Another, closed by a person: blocked, saying so.
    let other = env.start(&repo, "noter", "another note");
    let r = env.wait_for(&other, "a merge request", |r| r["pr"]["number"].is_u64());
    forge.close_by_person(r["pr"]["number"].as_u64().unwrap());
    let r = env.wait_for(&other, "closed", |r| r["pr"]["state"] == "closed");
    assert_eq!(r["merge"], "blocked");
    assert_eq!(env.events_of(&other, "pr.closed").len(), 1);
}

/// `open = "succeeded"`: a run that succeeded with its gate not green (a protected path
/// touched) gets a draft; once a round makes it green, the draft is marked ready for review.
fn a_draft_is_marked_ready_once_the_run_is_green(forge: &FakeForge, kind: &str, repo_name: &str) {
    let cfg = config(kind, &forge.url(), "succeeded", &format!("repo = \"{repo_name}\""))
        .replace(
            "command = [\"sh\", \"-c\", \"printf",
            "command = [\"sh\", \"-c\", \"case \\\"$FLIGHTDECK_TASK\\\" in *unlock*) rm -rf locked;; *) mkdir -p locked; echo x > locked/f;; esac; printf",
        )
        .replace("[gate]\n", "[gate]\nprotected = [\"locked/**\"]\n");
    let env = env_with(&cfg);
    let (repo, _remote) = repo_on_forge(&env, forge, repo_name);
    let id = env.start(&repo, "noter", "add a note");
    let r = env.wait_for(&id, "a draft", |r| r["pr"]["number"].is_u64());
    assert_eq!(r["pr"]["state"], "draft", "{r}");
    assert_eq!(r["merge"], "blocked");
    let n = r["pr"]["number"].as_u64().unwrap();
    assert!(forge.pr(n).draft);
    env.ok(&["reply", &id, "unlock it"]);
    let r = env.wait_for(&id, "ready for review", |r| {
        r["attempt"] == 2 && r["merge"] == "ready" && r["pr"]["state"] == "open"
    });
    assert!(!forge.pr(n).draft, "the forge has it ready for review");
    assert_eq!(forge.prs().len(), 1);
    assert_eq!(r["pr"]["number"], n);
}

#[test]
fn github_a_draft_is_marked_ready_for_review_once_the_run_is_green() {
    let forge = FakeForge::github(TOKEN);
    a_draft_is_marked_ready_once_the_run_is_green(&forge, "github", "o/r");
    assert!(forge
        .requests()
        .iter()
        .any(|q| q.path == "/graphql" && q.body.contains("markPullRequestReadyForReview")));
}

#[test]
fn gitlab_a_draft_is_marked_ready_once_the_run_is_green() {
    let forge = FakeForge::gitlab(TOKEN);
    a_draft_is_marked_ready_once_the_run_is_green(&forge, "gitlab", "group/name");
    assert!(!forge.prs()[0].title.starts_with("Draft:"));
}

#[test]
fn max_feedback_caps_the_rounds_and_says_so() {
    let forge = FakeForge::github(TOKEN);
    let env = env_with(
        &config("github", &forge.url(), "ready", "repo = \"o/r\"")
            .replace("max_feedback = 2", "max_feedback = 1"),
    );
    let (repo, _remote) = repo_on_forge(&env, &forge, "o/r");
    let id = env.start(&repo, "noter", "add a note");
    let r = env.wait_for(&id, "a pull request", |r| r["pr"]["number"].is_u64());
    let head = r["pr"]["head"].as_str().unwrap().to_string();
    forge.set_checks(
        &head,
        vec![FakeCheck::completed("unit", "failure", "1 failed")],
    );
    let r = env.wait_for(&id, "the one round", |r| {
        r["pr"]["feedback_rounds"] == 1
            && r["status"] == "succeeded"
            && r["pr"]["head"] != head.as_str()
    });
    let second = r["pr"]["head"].as_str().unwrap().to_string();
    forge.set_checks(
        &second,
        vec![FakeCheck::completed("unit", "failure", "still 1 failed")],
    );
    env.wait_for(&id, "the cap said", |_| {
        env.events_of(&id, "pr.feedback").len() == 2
    });
    let said = env.events_of(&id, "pr.feedback");
    let message = said[1]["message"].as_str().unwrap();
    assert!(message.contains("max_feedback (1)"), "{message}");
    assert_eq!(said[1]["sent"], false);
    std::thread::sleep(Duration::from_secs(4));
    let r = env.record(&id);
    assert_eq!(r["attempt"], 2, "no third round: {r}");
    assert_eq!(r["pr"]["feedback_rounds"], 1);
    assert_eq!(env.events_of(&id, "pr.feedback").len(), 2, "said once");
}

#[test]
fn with_feedback_off_failing_checks_send_the_agent_nowhere() {
    let forge = FakeForge::github(TOKEN);
    let env = env_with(&format!(
        "{}feedback = false\n",
        config("github", &forge.url(), "ready", "repo = \"o/r\"")
    ));
    let (repo, _remote) = repo_on_forge(&env, &forge, "o/r");
    let id = env.start(&repo, "noter", "add a note");
    let r = env.wait_for(&id, "a pull request", |r| r["pr"]["number"].is_u64());
    let head = r["pr"]["head"].as_str().unwrap().to_string();
    forge.set_checks(
        &head,
        vec![FakeCheck::completed("unit", "failure", "1 failed")],
    );
    env.wait_for(&id, "the checks seen", |r| r["pr"]["checks"] == "failing");
    std::thread::sleep(Duration::from_secs(4));
    let r = env.record(&id);
    assert_eq!(r["attempt"], 1, "{r}");
    assert_eq!(r["pr"]["feedback_rounds"], 0);
    assert!(env.events_of(&id, "pr.feedback").is_empty());
}

/// The server's own forge tick, with `poll = "1s"`: per poll interval one conditional list of
/// the repository and details only for what changed, however often the tick comes.
#[test]
fn the_servers_poll_keeps_to_one_list_a_poll_and_little_else() {
    let forge = FakeForge::github(TOKEN);
    let env = env_with(&config(
        "github",
        &forge.url(),
        "succeeded",
        "repo = \"o/r\"",
    ));
    let (repo, _remote) = repo_on_forge(&env, &forge, "o/r");
    let ids: Vec<String> = (0..3)
        .map(|i| env.start(&repo, "noter", &format!("note {i}")))
        .collect();
    for id in &ids {
        env.wait_for(id, "a PR", |r| r["pr"]["number"].is_u64());
    }
    // Let the first polls look at everything once, then watch a quiet stretch.
    std::thread::sleep(Duration::from_secs(3));
    let from = Instant::now();
    let before = forge.requests().len();
    std::thread::sleep(Duration::from_secs(6));
    let window = from.elapsed().as_secs_f64();
    let asked: Vec<_> = forge.requests().into_iter().skip(before).collect();
    let lists: Vec<_> = asked
        .iter()
        .filter(|q| q.method == "GET" && q.path.starts_with("/repos/o/r/pulls?"))
        .collect();
    // The tick comes every 2 s (its floor for `poll`): at most one list per tick, each one
    // conditional, most answered 304; details only now and then.
    assert!(!lists.is_empty(), "the server polls");
    assert!(
        lists.len() as f64 <= window / 1.0 + 1.0,
        "{} lists in {window:.1}s",
        lists.len()
    );
    assert!(lists.iter().all(|q| q.header("if-none-match").is_some()));
    assert!(lists.iter().filter(|q| q.status == 304).count() * 2 >= lists.len());
    let per_poll = asked.len() as f64 / lists.len() as f64;
    assert!(
        per_poll <= 1.0 + 3.0,
        "{} requests for {} polls: {asked:?}",
        asked.len(),
        lists.len()
    );
}

/// The user's own `core.sshCommand` is how flightdeck's git reaches an SSH remote too:
/// flightdeck sets GIT_SSH_COMMAND only when the user has set nothing.
#[test]
fn the_users_core_ssh_command_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let repo = git_repo(dir.path(), "repo");
    let marker = dir.path().join("ssh-was-called");
    let script = dir.path().join("my-ssh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n", marker.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    git(
        &repo,
        &["config", "core.sshCommand", script.to_str().unwrap()],
    );
    git(
        &repo,
        &["remote", "add", "origin", "ssh://git@forge.invalid/o/r.git"],
    );
    let got = flightdeck::forge::push::remote_head(&repo, "origin", "main", &[]);
    assert!(got.is_err(), "{got:?}");
    let called = std::fs::read_to_string(&marker).unwrap_or_default();
    assert!(
        called.contains("forge.invalid") && called.contains("git-upload-pack"),
        "the user's ssh command was used: {called:?}"
    );
}
