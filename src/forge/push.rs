//! Push a run's branch with the user's own git (their credential helpers, SSH agent and config
//! apply), leased to what flightdeck last pushed so that nobody's work is overwritten. Blocking.

use std::path::Path;
use std::process::{Command, Stdio};

use super::ForgeError;

/// The remote's URL, or a sentence saying there is no such remote.
pub fn remote_url(repo: &Path, remote: &str, hide: &[&str]) -> Result<String, ForgeError> {
    let out = git(repo, &["remote", "get-url", remote], hide)?;
    if !out.status.success() {
        return Err(ForgeError::Config(format!(
            "the repository {} has no git remote `{remote}`; add one (`git remote add {remote} URL`) or set [forge] remote",
            repo.display()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Where the remote's branch is now (None: it has no such branch).
pub fn remote_head(
    repo: &Path,
    remote: &str,
    branch: &str,
    hide: &[&str],
) -> Result<Option<String>, ForgeError> {
    let out = git(
        repo,
        &[
            "ls-remote",
            "--heads",
            remote,
            &format!("refs/heads/{branch}"),
        ],
        hide,
    )?;
    if !out.status.success() {
        return Err(ForgeError::Push(format!(
            "cannot read the remote `{remote}`: {}",
            last_line(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string))
}

/// Fetch the remote's `target` into `refs/remotes/<remote>/<target>` (as the user's own
/// `git fetch` would) and say where it is: what landing through the forge is tested on.
pub fn fetch(repo: &Path, remote: &str, target: &str, hide: &[&str]) -> Result<String, ForgeError> {
    let tracking = format!("refs/remotes/{remote}/{target}");
    let refspec = format!("+refs/heads/{target}:{tracking}");
    let out = git(
        repo,
        &["fetch", "--quiet", "--no-tags", remote, &refspec],
        hide,
    )?;
    if !out.status.success() {
        return Err(ForgeError::Push(format!(
            "cannot fetch {target} from `{remote}`: {}",
            last_line(&out.stderr)
        )));
    }
    let out = git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "-q",
            &format!("{tracking}^{{commit}}"),
        ],
        hide,
    )?;
    let tip = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || tip.is_empty() {
        return Err(ForgeError::Push(format!(
            "`{remote}` has no branch {target} to land on"
        )));
    }
    Ok(tip)
}

/// Push `branch` to `remote`, replacing the remote's branch only if it is still at `expected`
/// (None: only if it does not exist).
pub fn push(
    repo: &Path,
    remote: &str,
    branch: &str,
    expected: Option<&str>,
    hide: &[&str],
) -> Result<(), ForgeError> {
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let lease = format!(
        "--force-with-lease=refs/heads/{branch}:{}",
        expected.unwrap_or("")
    );
    let out = git(
        repo,
        &["push", "--porcelain", &lease, remote, &refspec],
        hide,
    )?;
    if out.status.success() {
        return Ok(());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rejected = stdout.lines().find(|l| l.starts_with('!'));
    Err(ForgeError::Push(match rejected {
        Some(line) if line.contains("stale info") => format!(
            "the remote's {branch} moved since flightdeck last pushed it (someone else pushed to it); nothing was overwritten. Look at it, then `flightdeck pr` again"
        ),
        Some(line) => format!(
            "`{remote}` refused the push of {branch}: {} (a protected branch or a hook)",
            line.split('\t').next_back().unwrap_or(line).trim()
        ),
        None => format!(
            "cannot push {branch} to `{remote}`: {}",
            last_line(&out.stderr)
        ),
    }))
}

/// `git -C repo args`; `hide` names variables git (and what it runs) must not see: the token's.
fn git(repo: &Path, args: &[&str], hide: &[&str]) -> Result<std::process::Output, ForgeError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(repo)
        .args(args)
        .stdin(Stdio::null())
        // Never wait on a prompt no one sees: credentials come from helpers and agents.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never");
    // SSH must not wait on a passphrase or host-key prompt either, but how the user reaches
    // the remote is theirs: a GIT_SSH_COMMAND or GIT_SSH in the server's environment, or
    // `core.sshCommand` in their git config, is left as it is (setting GIT_SSH_COMMAND would
    // override every one of them). Only when none is set does git get plain `ssh` in batch
    // mode (which still reads ~/.ssh/config and uses the agent).
    if ssh_is_default(repo, hide) {
        cmd.env(
            "GIT_SSH_COMMAND",
            "ssh -o BatchMode=yes -o ConnectTimeout=15",
        );
    }
    for var in hide {
        cmd.env_remove(var);
    }
    cmd.output()
        .map_err(|e| ForgeError::Push(format!("cannot run git: {e}")))
}

/// Whether git would run plain `ssh`: no GIT_SSH_COMMAND or GIT_SSH in the environment and
/// no `core.sshCommand` in the repository's config (its own, the user's, the system's).
fn ssh_is_default(repo: &Path, hide: &[&str]) -> bool {
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    if set("GIT_SSH_COMMAND") || set("GIT_SSH") {
        return false;
    }
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(repo)
        .args(["config", "--get", "core.sshCommand"])
        .stdin(Stdio::null());
    for var in hide {
        cmd.env_remove(var);
    }
    let configured = cmd
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty());
    !configured
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("hint:"))
        .unwrap_or("git gave no reason");
    crate::text::printable(line.trim()).into_owned()
}
