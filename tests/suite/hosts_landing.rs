//! Landing a run of another host with `land = "fetch"`: it lands in the host's copy (through
//! the host's merge queue), and this machine fetches the landed target from there over the
//! host's ssh connection and fast-forwards its own repository, checkout included; when its own
//! target has moved meanwhile, it says so and moves nothing.

use crate::common::*;
use crate::hosts::{run_on, wait_shown, OneHost};

/// b1 with `land = "fetch"`, its copy of the repository a clone of this machine's (as a
/// user's would be); the copy's path.
fn land_by_fetch(w: &OneHost) -> std::path::PathBuf {
    let copy = w.dir.path().join("host-copy");
    git(
        w.dir.path(),
        &[
            "clone",
            "-q",
            w.repo.to_str().unwrap(),
            copy.to_str().unwrap(),
        ],
    );
    let remote_repo = w.remote.repo.display().to_string();
    w.configure("b1", |c| {
        c.replace(
            &format!("{remote_repo:?}"),
            &format!("{:?}", copy.display().to_string()),
        )
        .replace("max_parallel = 3\n", "max_parallel = 3\nland = \"fetch\"\n")
    });
    copy
}

/// Merged without waiting (or from the cockpit), a run of a `land = "fetch"` host lands there
/// only; merging it again once landed brings it here.
#[test]
fn a_remote_run_merged_without_waiting_is_fetched_by_merging_it_again() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let (env, repo) = (&w.env, &w.repo);
    land_by_fetch(&w);
    let id = run_on(env, "b1", repo, "noop", "make remote.txt there");
    wait_shown(env, &id, "ready", |s| s["merge"] == "ready");
    let out = env.ok(&["merge", "--no-wait", &id]);
    assert!(
        out.contains(&format!("`flightdeck merge {id}` once it has landed")),
        "{out}"
    );
    let landed = wait_shown(env, &id, "merged", |s| s["merge"] == "merged");
    let out = env.ok(&["merge", &id]);
    assert!(out.contains("landed on host b1 already"), "{out}");
    assert!(out.contains("fetched main at"), "{out}");
    assert_eq!(
        git(repo, &["rev-parse", "main"]).trim(),
        landed["merged_commit"].as_str().unwrap()
    );
}

#[test]
fn a_remote_run_lands_there_and_this_machine_fetches_what_landed() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let (env, repo) = (&w.env, &w.repo);
    let copy = land_by_fetch(&w);

    let id = run_on(env, "b1", repo, "noop", "make remote.txt there");
    wait_shown(env, &id, "ready", |s| s["merge"] == "ready");
    let out = env.ok(&["merge", &id]);
    assert!(out.contains("fetched main at"), "{out}");
    let landed = wait_shown(env, &id, "merged", |s| s["merge"] == "merged");
    let commit = landed["merged_commit"].as_str().unwrap().to_string();
    // Landed in the host's copy, and here: the branch and the checkout.
    assert_eq!(git(&copy, &["rev-parse", "main"]).trim(), commit);
    assert_eq!(git(repo, &["rev-parse", "main"]).trim(), commit);
    assert!(repo.join("remote.txt").exists());
    assert_eq!(git(repo, &["status", "--porcelain"]).trim(), "");

    // Main moves here meanwhile: the next landing there is not forced over it.
    let id = run_on(env, "b1", repo, "short", "make done.txt there");
    wait_shown(env, &id, "ready", |s| s["merge"] == "ready");
    std::fs::write(repo.join("here.txt"), "made here\n").unwrap();
    git(repo, &["add", "here.txt"]);
    git(repo, &["commit", "-q", "-m", "here"]);
    let here = git(repo, &["rev-parse", "main"]).trim().to_string();
    let said = env.fails(&["merge", &id]);
    assert!(said.contains("cannot be fast-forwarded"), "{said}");
    assert!(said.contains("refs/flightdeck/hosts/b1/main"), "{said}");
    assert_eq!(git(repo, &["rev-parse", "main"]).trim(), here);
}

/// `merge` and `clean` of runs on two hosts at once: each run goes to its own host's queue
/// (a merge queue is one host's), and `clean --merged` cleans every host's landed runs.
#[test]
fn runs_of_two_hosts_merge_and_clean_each_on_its_own() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let (env, repo) = (&w.env, &w.repo);
    w.configure("b1", |c| {
        format!("{c}\n[agents.make-local]\ncommand = [\"sh\", \"-c\", \"echo here > local.txt\"]\n")
    });
    let there = run_on(env, "b1", repo, "noop", "make remote.txt there");
    let here = env.start(repo, "make-local", "make local.txt here");
    wait_shown(env, &there, "ready there", |s| s["merge"] == "ready");
    wait_shown(env, &here, "ready here", |s| s["merge"] == "ready");

    env.ok(&["merge", &here, &there]);
    let landed_here = wait_shown(env, &here, "merged here", |s| s["merge"] == "merged");
    let landed_there = wait_shown(env, &there, "merged there", |s| s["merge"] == "merged");
    assert_eq!(
        git(repo, &["rev-parse", "main"]).trim(),
        landed_here["merged_commit"].as_str().unwrap()
    );
    assert_eq!(
        git(&w.remote.repo, &["rev-parse", "main"]).trim(),
        landed_there["merged_commit"].as_str().unwrap()
    );

    // Both landed: one clean --merged cleans both, each on its host.
    let out = env.ok(&["clean", "--merged"]);
    assert_eq!(out.matches("removed ").count(), 2, "{out}");
    for id in [&here, &there] {
        let r = wait_shown(env, id, "cleaned", |s| s["cleaned"] == true);
        assert!(
            !std::path::Path::new(r["worktree"].as_str().unwrap()).exists(),
            "{r:#}"
        );
    }
}

/// `rebase` and `reply` on a host's runs, from here: the second of two runs editing one line
/// conflicts once the first lands there; rebase sends the conflict to its agent there, which
/// resolves it; reply sends it round again with a person's words.
#[test]
fn a_host_s_run_is_rebased_and_replied_to_from_here() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let (env, repo) = (&w.env, &w.repo);
    w.configure("b1", |c| c);
    let mut theirs = std::fs::read_to_string(w.remote_config()).unwrap();
    theirs.push_str(
        r#"
[agents.first]
command = ["sh", "-c", "echo first > shared.txt"]
[agents.second]
command = ["sh", "-c", "if [ -n \"$FLIGHTDECK_FEEDBACK_FILE\" ] && grep -q conflict \"$FLIGHTDECK_FEEDBACK_FILE\"; then printf 'first\\nsecond\\n' > shared.txt; else echo second > shared.txt; fi; printf '%s\\n' \"$FLIGHTDECK_TASK\" > ../task-$FLIGHTDECK_RUN_ID"]
"#,
    );
    std::fs::write(w.remote_config(), theirs).unwrap();
    let a = run_on(env, "b1", repo, "first", "first edit");
    let b = run_on(env, "b1", repo, "second", "second edit");
    wait_shown(env, &a, "a ready", |r| r["merge"] == "ready");
    wait_shown(env, &b, "b done", |r| r["status"] == "succeeded");
    env.ok(&["merge", &a]);
    wait_shown(env, &b, "b in conflict there", |r| r["merge"] == "conflict");

    let out = env.ok(&["rebase", &b]);
    assert!(out.contains("the agent gets one more iteration"), "{out}");
    let r = wait_shown(env, &b, "b ready after the rebase", |r| {
        r["status"] == "succeeded" && r["merge"] == "ready" && r["attempt"] == 2
    });
    assert_eq!(
        r["base"].as_str().unwrap(),
        git(&w.remote.repo, &["rev-parse", "main"]).trim()
    );

    let out = env.ok(&["reply", &b, "also", "say", "hello"]);
    assert!(out.contains("goes again"), "{out}");
    let r = wait_shown(env, &b, "b's third round", |r| {
        r["attempt"] == 3 && r["status"] == "succeeded"
    });
    let wt = std::path::Path::new(r["worktree"].as_str().unwrap());
    let task = std::fs::read_to_string(wt.parent().unwrap().join(format!("task-{b}"))).unwrap();
    assert!(task.contains("also say hello"), "{task}");
}
