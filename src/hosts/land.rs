//! `land = "fetch"`: a run of another host lands there (its merge queue tests the merged
//! result in the host's copy), and then this machine fetches the landed target from that copy
//! over the host's ssh connection and fast-forwards its own repository to it, so the user's
//! checkout has what landed without pushing anywhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::hosts::HostConfig;
use crate::paths::Home;

/// `land = "push"`: the host pushes `target` (where run landed, in its copy `there`) to that
/// copy's `origin`, as a fast-forward only.
pub async fn push_landed(
    home: &Home,
    name: &str,
    host: &HostConfig,
    there: &Path,
    target: &str,
) -> Result<(), String> {
    let h = home.clone();
    let control = tokio::task::spawn_blocking(move || super::ssh::control_dir(&h))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot make the ssh directory: {e}"))?;
    let there = there.display().to_string();
    let refspec = format!("refs/heads/{target}:refs/heads/{target}");
    let script = format!(
        "git -C {} push --quiet --porcelain origin {}",
        super::ssh::quoted(&there),
        super::ssh::quoted(&refspec)
    );
    let out = super::ssh::command_line(&control, host, &script)
        .output()
        .await
        .map_err(|e| format!("cannot run ssh for host {name}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let why = stdout
        .lines()
        .find(|l| l.starts_with('!'))
        .or_else(|| said.lines().rfind(|l| !l.trim().is_empty()))
        .unwrap_or("git said nothing");
    Err(format!(
        "it landed on host {name}, but pushing {target} to the origin of {there} there failed: {}; push it from there (git -C {there} push origin {target}) once that is sorted",
        crate::text::printable(why.trim())
    ))
}

/// What fetching a landed run brought here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub repo: PathBuf,
    pub target: String,
    pub commit: String,
}

/// Bring the target run `id` landed on (`target` at `commit`, in the host's copy `there`) into
/// the repository of this machine that copy stands for. Blocking (git over ssh).
pub fn fetch_landed(
    home: &Home,
    name: &str,
    host: &HostConfig,
    there: &Path,
    target: &str,
    commit: &str,
) -> Result<Fetched, String> {
    let there_text = there.display().to_string();
    let repo = host.local_repo(&there_text).ok_or_else(|| {
        format!(
            "host {name} landed it in {there_text}, which no [hosts.{name}.repos] entry maps to a repository of this machine; add one (local path = \"{there_text}\") to fetch what lands there"
        )
    })?;
    let control =
        super::ssh::control_dir(home).map_err(|e| format!("cannot make the ssh directory: {e}"))?;
    let (options, destination) = super::ssh::options_and_destination(&control, host);
    // git runs `$GIT_SSH_COMMAND [-p port] DESTINATION git-upload-pack 'PATH'`: the options go
    // in the command (quoted for the shell git runs it with), the destination in the URL.
    let ssh = Ssh {
        command: std::iter::once("ssh".to_string())
            .chain(options.iter().map(|o| super::ssh::quoted(o)))
            .collect::<Vec<_>>()
            .join(" "),
        strip: &host.key_vars,
    };
    let url = format!("{destination}:{there_text}");
    let tracking = format!("refs/flightdeck/hosts/{name}/{target}");
    git(
        &repo,
        &ssh,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            &url,
            &format!("+refs/heads/{target}:{tracking}"),
        ],
    )
    .map_err(|e| format!("cannot fetch {target} from host {name} ({url}): {e}"))?;
    let fetched = git(&repo, &ssh, &["rev-parse", &tracking])?;
    if fetched != commit {
        return Err(format!(
            "host {name}'s {target} is at {} now, not at the landed {}; fetch it by hand (`git fetch {url} {target}`)",
            short(&fetched),
            short(commit)
        ));
    }
    let checked_out = git(&repo, &ssh, &["symbolic-ref", "--quiet", "--short", "HEAD"])
        .is_ok_and(|head| head == target);
    if checked_out {
        // The user's checkout moves with it, as a landing here moves it; git refuses (and
        // says why) when the checkout has changes the move would touch.
        git(&repo, &ssh, &["merge", "--ff-only", "--quiet", commit]).map_err(|e| {
            format!(
                "{target} in {} cannot be fast-forwarded to {} ({e}); it has moved here since, or the checkout has changes in the way: merge {tracking} by hand",
                repo.display(),
                short(commit)
            )
        })?;
    } else {
        let old = git(
            &repo,
            &ssh,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{target}"),
            ],
        )
        .unwrap_or_default();
        if !old.is_empty()
            && git(&repo, &ssh, &["merge-base", "--is-ancestor", &old, commit]).is_err()
        {
            return Err(format!(
                "{target} in {} has moved here since (it is not behind {}); merge {tracking} by hand",
                repo.display(),
                short(commit)
            ));
        }
        // Compare-and-swap: only from the value just read.
        git(
            &repo,
            &ssh,
            &["update-ref", &format!("refs/heads/{target}"), commit, &old],
        )?;
    }
    Ok(Fetched {
        repo,
        target: target.to_string(),
        commit: commit.to_string(),
    })
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// How git reaches the host: the ssh command, and the variables kept out of its environment.
struct Ssh<'a> {
    command: String,
    strip: &'a [String],
}

/// `git ARGS` in `repo`, its ssh through `ssh`; its trimmed output, or what it said.
fn git(repo: &Path, ssh: &Ssh, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("git");
    // The ssh git starts gets no provider key (no `SendEnv` may carry one to the host).
    for k in ssh.strip.iter().filter(|k| !k.is_empty()) {
        cmd.env_remove(k);
    }
    cmd.arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_SSH_COMMAND", &ssh.command)
        .env("GIT_TERMINAL_PROMPT", "0");
    let out = cmd.output().map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(if said.is_empty() {
            format!("git {} failed", args.first().copied().unwrap_or(""))
        } else {
            said
        })
    }
}
