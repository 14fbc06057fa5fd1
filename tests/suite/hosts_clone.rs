//! A repository mapped to a clone URL on a host (`[hosts.NAME.repos]`): the host clones the
//! URL under its own FLIGHTDECK_HOME the first time a run goes there, fetches it before each
//! run, and the run starts from this machine's HEAD commit; a commit not pushed is refused.

use std::path::Path;

use crate::common::*;
use crate::hosts::{run_on, shown, wait_shown, OneHost};

/// `flightdeck --host b1 run --wait` of the host's `noop` agent on `repo`.
fn run_there(env: &Env, repo: &Path, task: &str) -> std::process::Output {
    env.output(&[
        "--host",
        "b1",
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        "noop",
        "--wait",
        task,
    ])
}

fn commit(repo: &Path, file: &str) -> String {
    std::fs::write(repo.join(file), format!("{file}\n")).unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", file]);
    git(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

/// This machine's repository published where the host can reach it, as a forge would be (a
/// bare repository, this repository's `origin`), and mapped to b1 by its URL; `more` is added
/// to b1's section. The bare repository and the URL.
fn published(w: &OneHost, more: &str) -> (std::path::PathBuf, String) {
    let bare = w.dir.path().join("published.git");
    git(
        w.dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            w.repo.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git(
        &w.repo,
        &["remote", "add", "origin", bare.to_str().unwrap()],
    );
    let url = format!("file://{}", bare.display());
    let copy = format!("{:?}", w.remote.repo.display().to_string());
    w.configure("b1", |c| {
        c.replace(&copy, &format!("{url:?}"))
            .replace("max_parallel = 3\n", &format!("max_parallel = 3\n{more}"))
    });
    (bare, url)
}

/// `land = "push"`: a run landed in the host's clone is pushed from there to the URL, so this
/// machine pulls it like anyone's.
#[test]
fn a_run_landed_in_a_host_s_clone_is_pushed_to_its_url_with_land_push() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let (env, repo) = (&w.env, &w.repo);
    let (bare, _) = published(&w, "land = \"push\"\n");
    let id = run_on(env, "b1", repo, "noop", "make remote.txt there");
    wait_shown(env, &id, "ready", |r| r["merge"] == "ready");
    let out = env.ok(&["merge", &id]);
    assert!(out.contains("pushed main"), "{out}");
    let landed = wait_shown(env, &id, "merged", |r| r["merge"] == "merged");
    let commit = landed["merged_commit"].as_str().unwrap();
    assert_eq!(git(&bare, &["rev-parse", "main"]).trim(), commit);
    git(repo, &["pull", "-q", "--ff-only", "origin", "main"]);
    assert!(repo.join("remote.txt").exists());
}

#[test]
fn a_repository_mapped_to_a_clone_url_is_cloned_fetched_and_run_from_this_head() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let (env, repo, remote) = (&w.env, &w.repo, &w.remote);
    let (_, url) = published(&w, "");
    let copy = format!("{:?}", remote.repo.display().to_string());

    // The first run: cloned under the host's home, made there from this machine's HEAD.
    let head = git(repo, &["rev-parse", "HEAD"]).trim().to_string();
    let out = run_there(env, repo, "make a file there");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let r = shown(env, &id);
    assert_eq!(r["status"], "succeeded", "{r}");
    let clones = remote.home.join("clones");
    let clone = Path::new(r["repo"].as_str().unwrap()).to_path_buf();
    assert_eq!(clone.parent(), Some(clones.as_path()), "{r}");
    let name = clone.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("published-"), "{name}");
    assert_eq!(
        git(&clone, &["remote", "get-url", "origin"]).trim(),
        url,
        "the host's own clone of the URL"
    );
    let wt = Path::new(r["worktree"].as_str().unwrap());
    assert!(wt.starts_with(&remote.home), "{}", wt.display());
    assert!(wt.join("remote.txt").exists());
    assert_eq!(r["base"], head.as_str(), "{r}");

    // A new commit here, pushed: the next run fetches it and starts from it, in the same clone.
    let pushed = commit(repo, "second.txt");
    git(repo, &["push", "-q", "origin", "main"]);
    let out = run_there(env, repo, "again, from the new commit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let r = shown(env, &id);
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["base"], pushed.as_str(), "{r}");
    assert_eq!(r["repo"], clone.to_str().unwrap());
    assert!(Path::new(r["worktree"].as_str().unwrap())
        .join("second.txt")
        .exists());
    // The clone's main was brought to that commit (a fast-forward), so the run starts from
    // main there and lands on it.
    assert_eq!(git(&clone, &["rev-parse", "main"]).trim(), pushed);
    assert_eq!(r["base_branch"], "main", "{r}");
    assert_eq!(r["target"], "main", "{r}");
    wait_shown(env, &id, "ready to land", |r| r["merge"] == "ready");
    env.ok(&["merge", &id]);
    let landed = wait_shown(env, &id, "landed there", |r| r["merge"] == "merged");
    assert_eq!(
        git(&clone, &["rev-parse", "main"]).trim(),
        landed["merged_commit"].as_str().unwrap()
    );

    // `--host auto` counts the host as having the repository: its clone is where slots are.
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, format!("max_parallel = 1\n{config}")).unwrap();
    // (A server reads max_parallel when it starts: the next one has it.)
    env.kill_server();
    let auto = run_on(env, "auto", repo, "noop", "wherever slots are free");
    let r = wait_shown(env, &auto, "the run placed by auto to end", |r| {
        r["status"] == "succeeded" || r["status"] == "failed"
    });
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["repo"], clone.to_str().unwrap(), "{r}");
    // From main there, which has this machine's commit and the run landed on it since.
    assert_eq!(
        r["base"].as_str().unwrap(),
        git(&clone, &["rev-parse", "main"]).trim(),
        "{r}"
    );
    assert_ne!(r["base"], pushed.as_str(), "{r}");

    // A commit not pushed: the host cannot have it, and the run is refused saying so.
    let unpushed = commit(repo, "third.txt");
    let runs_before = env.json(&["ls", "--json"]).as_array().unwrap().len();
    let out = run_there(env, repo, "from a commit only here");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&unpushed) && said.contains("push that commit first"),
        "{said}"
    );
    assert_eq!(
        env.json(&["ls", "--json"]).as_array().unwrap().len(),
        runs_before,
        "no run made"
    );

    // A URL the host cannot clone: git's own words, with the host, the URL and what to do.
    let missing = format!("file://{}", w.dir.path().join("nowhere.git").display());
    w.configure("b1", |c| c.replace(&copy, &format!("{missing:?}")));
    let out = run_there(env, repo, "from nowhere");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("cannot clone {missing} on host b1: "))
            && said.contains("does not appear to be a git repository")
            && said.contains("check that the host can reach it"),
        "{said}"
    );
    // Nothing half-made is left where the next try would take it for a clone.
    let left: Vec<String> = std::fs::read_dir(&clones)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("nowhere-") && !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
