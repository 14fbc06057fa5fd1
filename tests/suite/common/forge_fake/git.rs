//! A loopback git remote (a bare repository served by `git daemon`, pushes allowed) and the
//! git the fake forge does in it: read a branch, merge a pull request into its base.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A bare repository served at `url` (`git://127.0.0.1:PORT/NAME.git`); dropping it kills the
/// daemon and the processes it started.
pub struct GitRemote {
    pub url: String,
    /// The bare repository.
    pub dir: PathBuf,
    daemon: Child,
}

/// A bare repository (HEAD on `main`) under `parent`, named `repo.git` (or `repoN.git` when
/// that is taken), served by its own `git daemon`.
pub fn git_remote(parent: &Path) -> GitRemote {
    let base = parent.join("forge-remotes");
    let name = (1..)
        .map(|n| match n {
            1 => "repo".to_string(),
            n => format!("repo{n}"),
        })
        .find(|n| !base.join(n).exists())
        .unwrap();
    git_remote_named(parent, &name)
}

/// As `git_remote`, served as `NAME.git`.
pub fn git_remote_named(parent: &Path, name: &str) -> GitRemote {
    let base = parent.join("forge-remotes").join(name);
    let dir = base.join(format!("{name}.git"));
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "--bare", "-b", "main"]).expect("git init --bare");
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(base.join("daemon.log")).unwrap();
        let mut daemon = {
            use std::os::unix::process::CommandExt;
            Command::new("git")
                .args([
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--enable=receive-pack",
                    "--informative-errors",
                    "--verbose",
                    "--listen=127.0.0.1",
                ])
                .arg(format!("--base-path={}", base.display()))
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                // Its own group, so the drop kills the upload-pack and receive-pack it forks.
                .process_group(0)
                .spawn()
                .expect("git daemon")
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return GitRemote {
                    url: format!("git://127.0.0.1:{port}/{name}.git"),
                    dir,
                    daemon,
                };
            }
            // Exited (the port was taken meanwhile) or slow: another port.
            if daemon.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = daemon.kill();
                let _ = daemon.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!(
        "git daemon never listened: {}",
        std::fs::read_to_string(base.join("daemon.log")).unwrap_or_default()
    );
}

impl Drop for GitRemote {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.daemon.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.daemon.wait();
    }
}

/// `git args` in `dir`: stdout, or stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "forge")
        .env("GIT_AUTHOR_EMAIL", "forge@example.com")
        .env("GIT_COMMITTER_NAME", "forge")
        .env("GIT_COMMITTER_EMAIL", "forge@example.com")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "git {args:?}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// The commit `refname` names in the repository at `dir`, if any.
pub(super) fn rev_parse(dir: &Path, refname: &str) -> Option<String> {
    git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "-q",
            &format!("{refname}^{{commit}}"),
        ],
    )
    .ok()
}

/// Whether `a` is an ancestor of (or is) `b`.
pub(super) fn is_ancestor(dir: &Path, a: &str, b: &str) -> bool {
    git(dir, &["merge-base", "--is-ancestor", a, b]).is_ok()
}

/// Merges commit `head` into branch `base` of the bare repository at `dir`: a merge commit
/// (`merge_commit`) or one commit with the merged tree on the base (squash; a rebase is made
/// the same way). The new base commit, or Err when it conflicts.
pub(super) fn merge(
    dir: &Path,
    base: &str,
    head: &str,
    merge_commit: bool,
    message: &str,
) -> Result<String, String> {
    let base_ref = format!("refs/heads/{base}");
    let base_sha = rev_parse(dir, &base_ref).ok_or(format!("no branch {base}"))?;
    let tree = git(dir, &["merge-tree", "--write-tree", &base_sha, head])?;
    let tree = tree.lines().next().unwrap_or("").to_string();
    let mut args = vec!["commit-tree", &tree, "-p", &base_sha];
    if merge_commit {
        args.extend(["-p", head]);
    }
    args.extend(["-m", message]);
    let commit = git(dir, &args)?;
    git(dir, &["update-ref", &base_ref, &commit, &base_sha])?;
    Ok(commit)
}
