//! `[hosts.NAME.repos]` values that are clone URLs: the host keeps its own clone of the URL
//! under its FLIGHTDECK_HOME (`clones/NAME`), made the first time a run goes there and
//! fetched before each one. The host's own flightdeck does the git work
//! (`flightdeck repo-clone`, over the host's ssh connection), so the clone is under the home
//! the host's server uses, whether `[hosts.NAME].home` names it or the host's default does.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use color_eyre::eyre::{eyre, Result};
use serde::{Deserialize, Serialize};

use crate::config::hosts::{clone_dir_name, is_clone_url, HostConfig, CLONES};
use crate::paths::Home;

use super::bridge::VERSION;

/// What the host's `repo-clone` answers: one JSON line on stdout.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Answer {
    /// The clone, up to date, with the commit in it.
    Ready {
        path: PathBuf,
        /// The clone's branch of this name is at the commit: the run starts from the branch
        /// (and lands on it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    /// `git clone` failed; the last line git said.
    CloneFailed { said: String },
    /// `git fetch` failed; the last line git said.
    FetchFailed { said: String },
    /// Fetched, and the commit is still not there: it was never pushed.
    Missing,
    /// Anything else on the host (a directory it cannot make, another version).
    Failed { said: String },
}

/// A run's repository on the host, ready: the clone's path and the commit the run starts from.
#[derive(Debug)]
pub struct Ready {
    pub path: String,
    /// What the run starts from there: the branch, when the clone's is at the commit, else
    /// the commit itself.
    pub base: String,
}

/// Before a run of `repo` (a repository of this machine) goes to host `name`: the commit it
/// starts from here (`base`, or HEAD), and the host's clone of `url` made or fetched, with
/// that commit in it; `rest` is the path under the repository the run was asked for.
pub async fn prepare(
    home: &Home,
    name: &str,
    host: &HostConfig,
    url: &str,
    rest: &Path,
    repo: &Path,
    base: Option<&str>,
) -> Result<Ready> {
    let (r, b) = (repo.to_path_buf(), base.map(str::to_string));
    let (commit, branch) = tokio::task::spawn_blocking(move || local_commit(&r, b.as_deref()))
        .await?
        .map_err(|e| eyre!("{e}"))?;
    let branch_arg = branch.map(|b| format!("--branch={b}"));
    let h = home.clone();
    let control = tokio::task::spawn_blocking(move || super::ssh::control_dir(&h))
        .await?
        .map_err(|e| eyre!("cannot make {}/ssh: {e}", home.root().display()))?;
    let out = super::ssh::command(
        &control,
        host,
        // `--url=…`: one word, never read as an option of its own.
        &[
            "repo-clone",
            &format!("--url={url}"),
            &format!("--commit={commit}"),
            &format!("--expect-version={VERSION}"),
        ]
        .into_iter()
        .chain(branch_arg.as_deref())
        .collect::<Vec<_>>(),
    )
    .stdin(Stdio::null())
    .output()
    .await
    .map_err(|e| eyre!("cannot run ssh to reach host {name}: {e}"))?;
    let answer = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Answer>(l).ok());
    let said = |s: &str| crate::text::printable(s).into_owned();
    match answer {
        Some(Answer::Ready { path, branch }) => {
            let path = if rest.as_os_str().is_empty() {
                path
            } else {
                path.join(rest)
            };
            Ok(Ready {
                path: path.display().to_string(),
                base: branch.unwrap_or(commit),
            })
        }
        Some(Answer::CloneFailed { said: s }) => Err(eyre!(
            "cannot clone {url} on host {name}: {}; check that the host can reach it",
            said(&s)
        )),
        Some(Answer::FetchFailed { said: s }) => Err(eyre!(
            "cannot fetch {url} on host {name}: {}; check that the host can reach it",
            said(&s)
        )),
        Some(Answer::Missing) => Err(eyre!(
            "commit {commit} ({} in {}) is not in {url}, which host {name} has just fetched: push that commit first, then run again",
            base.unwrap_or("HEAD"),
            repo.display()
        )),
        Some(Answer::Failed { said: s }) => Err(eyre!(
            "host {name}, its clone of {url}: {}",
            said(&s)
        )),
        None => Err(eyre!(
            "{}",
            super::bridge::unreachable(name, &String::from_utf8_lossy(&out.stderr))
        )),
    }
}

/// The commit `base` (or HEAD) names in the repository at `repo`. Blocking.
fn local_commit(repo: &Path, base: Option<&str>) -> Result<(String, Option<String>), String> {
    let r = git2::Repository::discover(repo).map_err(|_| {
        format!(
            "{} is not a git repository, and a clone URL on a host needs one here: the run starts from its commit",
            repo.display()
        )
    })?;
    let spec = base.unwrap_or("HEAD");
    let commit = r
        .revparse_single(spec)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| {
            format!(
                "`{spec}` names no commit in {}; commit something first, or pass --base",
                repo.display()
            )
        })?;
    // The branch it names (HEAD's, or --base when that is a branch here).
    let branch = match base {
        None => r
            .head()
            .ok()
            .filter(|h| h.is_branch())
            .and_then(|h| h.shorthand().map(str::to_string)),
        Some(b) => r
            .find_branch(b, git2::BranchType::Local)
            .ok()
            .map(|_| b.to_string()),
    };
    Ok((commit.id().to_string(), branch.filter(|b| plain_branch(b))))
}

/// A branch name that is safe to hand to git as one (no option, no revision syntax).
fn plain_branch(b: &str) -> bool {
    !b.is_empty()
        && !b.starts_with('-')
        && git2::Reference::is_valid_name(&format!("refs/heads/{b}"))
}

pub async fn serve(
    url: String,
    commit: String,
    branch: Option<String>,
    expect_version: Option<String>,
) -> Result<i32> {
    let answer = match expect_version.filter(|v| *v != VERSION) {
        Some(v) => Answer::Failed {
            said: super::bridge::version_refusal(&v),
        },
        None => match Home::from_env() {
            Ok(home) => {
                tokio::task::spawn_blocking(move || ensure(&home, &url, &commit, branch.as_deref()))
                    .await?
            }
            Err(e) => Answer::Failed {
                said: e.to_string(),
            },
        },
    };
    println!("{}", serde_json::to_string(&answer)?);
    Ok(if matches!(answer, Answer::Ready { .. }) {
        0
    } else {
        1
    })
}

/// This home's clone of `url`, made or fetched, and whether `commit` is in it. Blocking.
fn ensure(home: &Home, url: &str, commit: &str, branch: Option<&str>) -> Answer {
    let failed = |said: String| Answer::Failed { said };
    // Only what this machine's flightdeck sends; anything else could be a git option.
    if !is_clone_url(url) {
        return failed(format!("`{url}` is not a clone URL"));
    }
    if !(commit.len() == 40 || commit.len() == 64) || !commit.chars().all(|c| c.is_ascii_hexdigit())
    {
        return failed(format!("`{commit}` is not a commit id"));
    }
    let clones = home.root().join(CLONES);
    if let Err(e) = crate::owner_only::create_dir_all(&clones) {
        return failed(format!("cannot make {}: {e}", clones.display()));
    }
    let name = clone_dir_name(url);
    let dir = clones.join(&name);
    // Runs sent at once (`--host auto`) clone or fetch one after another, not over each other.
    let lock_path = clones.join(format!("{name}.lock"));
    let lock = match crate::owner_only::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(e) => return failed(format!("cannot open {}: {e}", lock_path.display())),
    };
    let _held = match nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive) {
        Ok(l) => l,
        Err((_, e)) => return failed(format!("cannot lock {}: {e}", lock_path.display())),
    };
    if dir.join(".git").exists() {
        if let Err(said) = git(Some(&dir), &["fetch", "--quiet", "--prune", "origin"]) {
            return Answer::FetchFailed { said };
        }
    } else {
        // Cloned beside it and moved in whole: a clone cut short is never taken for one.
        let part = clones.join(format!("{name}.part"));
        if part.exists() {
            if let Err(e) = std::fs::remove_dir_all(&part) {
                return failed(format!("cannot remove {}: {e}", part.display()));
            }
        }
        let target = part.display().to_string();
        if let Err(said) = git(None, &["clone", "--quiet", "--", url, &target]) {
            let _ = std::fs::remove_dir_all(&part);
            return Answer::CloneFailed { said };
        }
        if let Err(e) = std::fs::rename(&part, &dir) {
            let _ = std::fs::remove_dir_all(&part);
            return failed(format!(
                "cannot move the new clone to {}: {e}",
                dir.display()
            ));
        }
    }
    match git(
        Some(&dir),
        &["cat-file", "-e", &format!("{commit}^{{commit}}")],
    ) {
        // Still under the lock: two runs sent at once move the branch one after the other.
        Ok(_) => Answer::Ready {
            branch: branch
                .filter(|b| plain_branch(b) && follow(&dir, b, commit))
                .map(str::to_string),
            path: dir,
        },
        Err(_) => Answer::Missing,
    }
}

/// `git ARGS` (in `dir`), never asking for a password; its last line on failure.
/// Bring the clone's `branch` to `commit` when that is a fast-forward (or the branch is new
/// there), so the run starts from the branch and lands on it; whether the branch has the
/// commit now (at it, or ahead with runs landed there). A branch gone another way is left as
/// it is. Blocking; under the clone's lock.
fn follow(dir: &Path, branch: &str, commit: &str) -> bool {
    let checked_out =
        git_out(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]).as_deref() == Some(branch);
    let old = git_out(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    );
    let moved = match old.as_deref() {
        Some(o) if o == commit => Ok(()),
        // Ahead of it (runs landed there since): the run starts from the branch, on top of
        // them, as a run here starts from the tip of its branch.
        Some(o) if git(Some(dir), &["merge-base", "--is-ancestor", commit, o]).is_ok() => {
            return true
        }
        // Gone another way: the host's, left as it is; the run starts from the commit.
        Some(o) if git(Some(dir), &["merge-base", "--is-ancestor", o, commit]).is_err() => {
            return false
        }
        // Its checkout moves with it (a clean one: nobody works in this clone).
        Some(_) if checked_out => git(Some(dir), &["merge", "--ff-only", "--quiet", commit]),
        Some(o) => git(
            Some(dir),
            &["update-ref", &format!("refs/heads/{branch}"), commit, o],
        ),
        None => git(
            Some(dir),
            &["update-ref", &format!("refs/heads/{branch}"), commit, ""],
        ),
    };
    moved.is_ok()
        && git_out(dir, &["rev-parse", &format!("refs/heads/{branch}")]).as_deref() == Some(commit)
}

/// What `git -C dir args` prints, trimmed; None when it fails.
fn git_out(dir: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn git(dir: Option<&Path>, args: &[&str]) -> Result<(), String> {
    let mut cmd = std::process::Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    let out = cmd
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(why(&String::from_utf8_lossy(&out.stderr))
        .unwrap_or_else(|| format!("git {} failed", args.first().copied().unwrap_or(""))))
}

/// The line of git's stderr that says why it failed: the first that is not a warning or a
/// hint (the last is often the boilerplate "and the repository exists."), `fatal: ` dropped.
fn why(stderr: &str) -> Option<String> {
    let lines = || stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find(|l| !l.starts_with("warning:") && !l.starts_with("hint:"))
        .or_else(|| lines().next_back())
        .map(|l| l.strip_prefix("fatal: ").unwrap_or(l).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_one_line_of_json() {
        let ready = Answer::Ready {
            path: PathBuf::from("/srv/fd/clones/app-0123456789ab"),
            branch: Some("main".into()),
        };
        let line = serde_json::to_string(&ready).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Answer>(&line).unwrap(), ready);
        assert_eq!(
            serde_json::to_string(&Answer::Missing).unwrap(),
            r#"{"outcome":"missing"}"#
        );
    }

    #[test]
    fn what_git_says_is_its_line_that_says_why() {
        let missing = "fatal: '/srv/nowhere.git' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n";
        assert_eq!(
            why(missing).as_deref(),
            Some("'/srv/nowhere.git' does not appear to be a git repository")
        );
        let dns = "warning: redirecting to https://x/\nssh: Could not resolve hostname gitx: Name or service not known\r\nfatal: Could not read from remote repository.\n";
        assert_eq!(
            why(dns).as_deref(),
            Some("ssh: Could not resolve hostname gitx: Name or service not known")
        );
        assert_eq!(
            why("hint: only a hint\n").as_deref(),
            Some("hint: only a hint")
        );
        assert_eq!(why("\n"), None);
    }

    #[test]
    fn the_host_refuses_what_is_not_a_url_or_a_commit_id() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().to_path_buf());
        let commit = "a".repeat(40);
        assert!(matches!(
            ensure(&home, "--upload-pack=touch /tmp/x", &commit, None),
            Answer::Failed { .. }
        ));
        assert!(matches!(
            ensure(&home, "file:///nowhere", "--help", None),
            Answer::Failed { .. }
        ));
        assert!(!dir.path().join(CLONES).exists());
    }
}
